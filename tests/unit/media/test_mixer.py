"""The conference mixer on synthetic tones: who hears which frequency.

Each participant sends a pure tone on its own 50 Hz-multiple frequency, so a 20 ms frame
holds whole cycles and each tone falls on one FFT bin. Hearing sets come from the real
:meth:`Conversations.hears` (canHear, canSpeak, mute, earmuff), as the media pump gets them.
"""

from __future__ import annotations

import ast
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, cast

import numpy as np
import numpy.typing as npt
import pytest

from trunkline.engine.conversations import Conversations, Membership, NamedConversation
from trunkline.media import mixer as mixer_module
from trunkline.media.mixer import Mixer, level_to_gain

if TYPE_CHECKING:
    from trunkline.engine.leg import Leg
    from trunkline.engine.switch import Switch

Samples = npt.NDArray[np.int16]
AMPLITUDE = 6000
FREQS = {"alice": 400.0, "bob": 650.0, "carol": 900.0, "dave": 1150.0, "erin": 1400.0}


def tone(freq: float, rate: int = 8000, amplitude: int = AMPLITUDE) -> Samples:
    t = np.arange(rate // 50) / rate
    return np.rint(amplitude * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def amplitude_at(frame: Samples, freq: float, rate: int = 8000) -> float:
    """The amplitude of the ``freq`` component (exact for whole cycles in the frame)."""
    spectrum = np.fft.rfft(frame.astype(np.float64))
    return float(np.abs(spectrum[round(freq * len(frame) / rate)]) * 2 / len(frame))


def heard(frame: Samples, rate: int = 8000) -> set[str]:
    """Which participants' tones are in ``frame`` (present: ≥ half amplitude; absent: ≤ 1%)."""
    out = set()
    for name, freq in FREQS.items():
        a = amplitude_at(frame, freq, rate)
        assert a >= AMPLITUDE / 2 or a <= AMPLITUDE / 100, f"{name} ambiguous: {a:.0f}"
        if a >= AMPLITUDE / 2:
            out.add(name)
    return out


def hearing(
    members: dict[str, Membership],
    *,
    muted: tuple[str, ...] = (),
    earmuffed: tuple[str, ...] = (),
) -> dict[str, list[str]]:
    """Each member's hearing set, computed by the engine's own rules."""
    conv = NamedConversation(key=(None, "room"), uuid="CON-test", started=True)
    for uuid, membership in members.items():
        leg = SimpleNamespace(muted=uuid in muted, earmuffed=uuid in earmuffed)
        conv.members[uuid] = (cast("Leg", leg), membership)
    rules = Conversations(cast("Switch", None))
    return {uuid: rules.hears(conv, uuid) for uuid in members}


def frames_of(*names: str, rate: int = 8000) -> dict[str, Samples | None]:
    return {name: tone(FREQS[name], rate) for name in names}


def test_three_parties_each_hear_the_other_two_never_themselves() -> None:
    names = ("alice", "bob", "carol")
    hears = hearing({n: Membership() for n in names})
    out = Mixer().mix(frames_of(*names), hears)
    assert {n: heard(f) for n, f in out.items()} == {
        "alice": {"bob", "carol"},
        "bob": {"alice", "carol"},
        "carol": {"alice", "bob"},
    }
    bob, carol = (tone(FREQS[n]).astype(np.int32) for n in ("bob", "carol"))
    assert np.array_equal(out["alice"], bob + carol)  # exact sum below full scale


def test_own_frame_is_never_mixed_back_even_if_named() -> None:
    out = Mixer().mix(frames_of("alice", "bob"), {"alice": ["alice", "bob"], "bob": ["bob"]})
    assert heard(out["alice"]) == {"bob"}
    assert not out["bob"].any()


def test_coaching_the_coach_hears_only_the_agent() -> None:
    # alice: agent, bob: customer, carol: coach (canHear: the agent)
    hears = hearing(
        {"alice": Membership(), "bob": Membership(), "carol": Membership(can_hear=("alice",))}
    )
    out = Mixer().mix(frames_of("alice", "bob", "carol"), hears)
    assert heard(out["carol"]) == {"alice"}
    assert heard(out["alice"]) == {"bob", "carol"}
    assert heard(out["bob"]) == {"alice", "carol"}


def test_whisper_only_the_agent_hears_the_supervisor() -> None:
    # alice: agent, bob: customer, carol: supervisor (canSpeak: the agent)
    hears = hearing(
        {"alice": Membership(), "bob": Membership(), "carol": Membership(can_speak=("alice",))}
    )
    out = Mixer().mix(frames_of("alice", "bob", "carol"), hears)
    assert heard(out["alice"]) == {"bob", "carol"}
    assert heard(out["bob"]) == {"alice"}
    assert heard(out["carol"]) == {"alice", "bob"}


def test_a_muted_speaker_reaches_nobody_but_still_hears() -> None:
    names = ("alice", "bob", "carol", "dave")
    hears = hearing({n: Membership() for n in names}, muted=("bob",))
    out = Mixer().mix(frames_of(*names), hears)
    assert heard(out["alice"]) == {"carol", "dave"}
    assert heard(out["carol"]) == {"alice", "dave"}
    assert heard(out["dave"]) == {"alice", "carol"}
    assert heard(out["bob"]) == {"alice", "carol", "dave"}


def test_an_earmuffed_listener_gets_silence_and_is_still_heard() -> None:
    names = ("alice", "bob", "carol")
    hears = hearing({n: Membership() for n in names}, earmuffed=("bob",))
    out = Mixer().mix(frames_of(*names), hears)
    assert out["bob"].dtype == np.int16 and out["bob"].shape == (160,)
    assert not out["bob"].any()
    assert heard(out["alice"]) == {"bob", "carol"}
    assert heard(out["carol"]) == {"alice", "bob"}


def test_full_scale_sums_saturate_instead_of_wrapping() -> None:
    high = np.full(160, 32767, dtype=np.int16)
    low = np.full(160, -32768, dtype=np.int16)
    frames: dict[str, Samples | None] = {"a": high, "b": high, "c": low, "d": low, "x": None}
    out = Mixer().mix(frames, {"x": ["a", "b"], "y": ["c", "d"], "z": ["a", "c"]})
    assert (out["x"] == 32767).all()
    assert (out["y"] == -32768).all()
    assert (out["z"] == -1).all()  # 32767 - 32768: exact below the clip


def test_clipping_a_tone_keeps_its_sign_and_peak() -> None:
    loud = {n: tone(FREQS[n], amplitude=30000) for n in ("alice", "bob", "carol")}
    frames = cast("dict[str, Samples | None]", loud)
    out = Mixer().mix(frames, {"dave": ["alice", "bob", "carol"]})["dave"]
    exact = sum(f.astype(np.int32) for f in loud.values())
    assert exact.max() > 32767 and exact.min() < -32768  # the sum would wrap in int16
    assert np.array_equal(out, np.clip(exact, -32768, 32767))


def test_missing_frames_are_silence() -> None:
    frames: dict[str, Samples | None] = {"alice": tone(FREQS["alice"]), "bob": None}
    hears = hearing({n: Membership() for n in ("alice", "bob", "carol")})  # carol: no entry
    out = Mixer().mix(frames, hears)
    assert heard(out["bob"]) == {"alice"}
    assert heard(out["carol"]) == {"alice"}
    assert not out["alice"].any()


def test_16_khz_frames() -> None:
    names = ("alice", "bob", "carol")
    mixer = Mixer(16000)
    assert mixer.frame_samples == 320
    hears = hearing({n: Membership() for n in names})
    out = mixer.mix(frames_of(*names, rate=16000), hears)
    assert all(f.shape == (320,) for f in out.values())
    assert heard(out["bob"], rate=16000) == {"alice", "carol"}
    with pytest.raises(ValueError, match="shape"):
        mixer.mix(frames_of("alice", "bob"), {"alice": ["bob"]})  # 8 kHz frames


def test_an_empty_conference_and_a_lone_member() -> None:
    mixer = Mixer()
    assert mixer.mix({}, {}) == {}
    lone = mixer.mix(frames_of("alice"), hearing({"alice": Membership()}))
    assert list(lone) == ["alice"] and lone["alice"].shape == (160,)
    assert not lone["alice"].any()


def test_levels_scale_what_others_hear() -> None:
    mixer = Mixer()
    mixer.set_level("alice", -1.0)  # -20 dB
    mixer.set_level("bob", 0.5)  # +10 dB
    out = mixer.mix(frames_of("alice", "bob", "carol"), {"carol": ["alice", "bob"]})["carol"]
    assert amplitude_at(out, FREQS["alice"]) == pytest.approx(AMPLITUDE / 10, rel=0.01)
    assert amplitude_at(out, FREQS["bob"]) == pytest.approx(AMPLITUDE * 10**0.5, rel=0.01)
    mixer.set_level("bob", 0.0)
    mixer.forget("alice")
    assert mixer.level_gain("alice") == mixer.level_gain("bob") == 1.0
    out = mixer.mix(frames_of("alice", "bob", "carol"), {"carol": ["alice", "bob"]})["carol"]
    assert heard(out) == {"alice", "bob"}


def test_level_mapping_and_its_limits() -> None:
    assert level_to_gain(0) == 1.0
    assert level_to_gain(1) == pytest.approx(10.0)
    assert level_to_gain(-0.3) == pytest.approx(10 ** (-6 / 20), rel=1e-3)  # about -6 dB
    for bad in (-1.01, 1.5):
        with pytest.raises(ValueError, match="level"):
            level_to_gain(bad)


@pytest.mark.parametrize("rate", [0, 8001, -8000])
def test_rates_must_give_whole_20ms_frames(rate: int) -> None:
    with pytest.raises(ValueError, match="sample rate"):
        Mixer(rate)


def test_frames_must_be_int16() -> None:
    frame = tone(FREQS["alice"]).astype(np.int32)
    with pytest.raises(ValueError, match="int16"):
        Mixer().mix({"alice": frame}, {"bob": ["alice"]})  # type: ignore[dict-item]


def test_every_hearing_set_matches_a_plain_sum() -> None:
    """The shared-work paths (N-1, sum, total minus the unheard) agree with the naive mix."""
    rng = np.random.default_rng(6)
    names = [f"p{i}" for i in range(8)]
    mixer = Mixer()
    mixer.set_level("p3", 0.4)
    for _ in range(200):
        frames: dict[str, Samples | None] = {
            n: None if rng.random() < 0.15 else rng.integers(-20000, 20000, 160, dtype=np.int16)
            for n in names[:7]  # p7 only listens
        }
        hears: dict[str, list[str]] = {}
        for listener in names:
            kind = rng.integers(3)
            if kind == 0:  # everyone else
                hears[listener] = [n for n in names if n != listener]
            else:
                size = rng.integers(0, 8) if kind == 1 else rng.integers(5, 8)
                hears[listener] = list(rng.choice(names, size=size, replace=False))
        out = mixer.mix(frames, hears)
        assert set(out) == set(names)
        for listener, speakers in hears.items():
            want = np.zeros(160, dtype=np.int32)
            for s in speakers:
                frame = frames.get(s)
                if s != listener and frame is not None:
                    want += np.rint(frame * mixer.level_gain(s)).astype(np.int32)
            assert np.array_equal(out[listener], np.clip(want, -32768, 32767)), listener


def test_outputs_do_not_alias_each_other() -> None:
    names = ("alice", "bob", "carol", "dave")
    out = Mixer().mix(frames_of(*names), {n: list(names) for n in names})
    out["alice"][:] = 0
    assert all(heard(out[n]) == set(names) - {n} for n in ("bob", "carol", "dave"))


def test_the_mixer_is_pure() -> None:
    """Frames in, frames out: numpy and the standard typing helpers, nothing that does I/O."""
    source = Path(mixer_module.__file__).read_text()
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert imported <= {"__future__", "collections", "typing", "numpy"}, imported
