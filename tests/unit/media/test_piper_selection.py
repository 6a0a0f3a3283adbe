"""Choosing piper per application: the engine puts it in the Prompt, PromptAudio obeys it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from trunkline.door.prompts import PromptAudio, PromptError
from trunkline.engine.ports import Prompt
from trunkline.media.piper import PiperEngine
from trunkline.media.tts import AsyncTts, EspeakEngine
from trunkline.testing.harness import Harness
from trunkline.webhooks.guard import UrlGuard

CALLER = "447700900100"
CALLEE = "447700900200"


def _prompts_playing(h: Harness) -> list[Prompt]:
    return [p for call in h.sim.calls.values() for _, p in call.playing.values()]


@pytest.mark.parametrize(("tts", "engine"), [("piper", "piper"), ("espeak", "espeak")])
def test_talk_on_the_sim_network_names_the_applications_engine(tts: str, engine: str) -> None:
    h = Harness()
    h.store.put_application(replace(h.application, tts=tts))
    h.answer([{"action": "talk", "text": "Welcome", "loop": 0}])
    h.phone(CALLER)
    h.sim.call(CALLER, h.number)
    h.run(5)
    assert h.phone(CALLER).heard() == ["Welcome"]
    assert [(p.kind, p.text, p.engine) for p in _prompts_playing(h)] == [("tts", "Welcome", engine)]


def test_a_connected_legs_talk_uses_the_same_applications_engine() -> None:
    h = Harness()
    h.store.put_application(replace(h.application, tts="piper"))
    h.answer(
        [
            {
                "action": "connect",
                "endpoint": [{"type": "phone", "number": CALLEE}],
                "eventUrl": ["http://app.test/connect"],
            }
        ]
    )
    h.on("/connect", None)
    h.phone(CALLER)
    h.phone(CALLEE)
    h.sim.call(CALLER, h.number)
    h.run(5)
    legs = [leg for leg in h.switch.legs.values() if leg.to_str == CALLEE]
    assert legs and all(leg.app is not None and leg.app.tts == "piper" for leg in legs)


def test_stream_prompts_have_no_engine() -> None:
    h = Harness()
    h.store.put_application(replace(h.application, tts="piper"))
    h.answer([{"action": "stream", "streamUrl": ["https://example.com/a.mp3"], "loop": 0}])
    h.phone(CALLER)
    h.sim.call(CALLER, h.number)
    h.run(5)
    assert [(p.kind, p.engine) for p in _prompts_playing(h)] == [("stream", "")]


@pytest.fixture
async def prompts() -> AsyncIterator[tuple[PromptAudio, PiperEngine]]:
    piper = PiperEngine()
    audio = PromptAudio(
        AsyncTts(EspeakEngine()), guard=UrlGuard(), engines={"piper": AsyncTts(piper)}
    )
    yield audio, piper
    await audio.aclose()


async def test_prompt_audio_keeps_one_tts_per_engine(
    prompts: tuple[PromptAudio, PiperEngine],
) -> None:
    audio, piper = prompts
    text = "Thank you for calling."
    neural = await audio.render(Prompt(kind="tts", text=text, engine="piper"))
    robotic = await audio.render(Prompt(kind="tts", text=text, engine="espeak"))
    default = await audio.render(Prompt(kind="tts", text=text))
    assert default is robotic  # "" is espeak-ng, and the same cached audio
    assert neural.size != robotic.size
    assert 0.8 < neural.size / 8000 < 4.0 and float(np.abs(neural).max()) > 3000
    assert len(audio.engines["piper"].cache) == 1 and len(audio.engines["espeak"].cache) == 1
    assert piper.starts == piper.running == 1
    await audio.aclose()
    assert piper.running == 0  # closing PromptAudio stopped piper's worker process


async def test_prompt_audio_errors_are_prompt_errors_naming_the_cause(
    prompts: tuple[PromptAudio, PiperEngine], tmp_path: Path
) -> None:
    audio, _ = prompts
    with pytest.raises(PromptError, match="TTS engine 'festival' is not available"):
        await audio.render(Prompt(kind="tts", text="Hi", engine="festival"))
    with pytest.raises(PromptError, match="'de-DE' has no piper voice"):
        await audio.render(Prompt(kind="tts", text="Hallo", language="de-DE", engine="piper"))
    # the same language with espeak-ng is fine: no silent fallback either way
    assert (await audio.render(Prompt(kind="tts", text="Hallo", language="de-DE"))).size > 0
    lost = PromptAudio(
        AsyncTts(EspeakEngine()),
        guard=UrlGuard(),
        engines={"piper": AsyncTts(PiperEngine(voices={"en-US": tmp_path / "gone.onnx"}))},
    )
    with pytest.raises(PromptError, match=r"gone\.onnx is missing"):
        await lost.render(Prompt(kind="tts", text="Hi", engine="piper"))
    await lost.aclose()


async def test_without_a_piper_engine_piper_prompts_fail_clearly() -> None:
    audio = PromptAudio(AsyncTts(EspeakEngine()), guard=UrlGuard())
    with pytest.raises(PromptError, match="'piper' is not available"):
        await audio.render(Prompt(kind="tts", text="Hi", engine="piper"))
    await audio.aclose()
