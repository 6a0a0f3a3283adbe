"""A bridged call through the pump on the real clock, over real UDP sockets.

Two "phones" (far-end RtpLegs driven by their own pump) each call in to trunkline, whose
pump bridges its two legs: caller ⇄ leg_a ⇄ (pump: a hears b, b hears a) ⇄ leg_b ⇄ callee.
Each phone plays its own tone; each must hear the other's, and RFC 4733 digits pressed on
one phone reach the other through trunkline (leg_a.on_dtmf → leg_b.send_dtmf).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest
import uvloop

from trunkline.media.pump import MediaPump, install_uvloop
from trunkline.media.rtpleg import PCMA, PCMU, RtpLeg

Frame = npt.NDArray[np.int16]


def tone(freq: float, samples: int = 8000) -> Frame:
    t = np.arange(samples) / 8000.0
    out: Frame = np.rint(6000 * np.sin(2 * np.pi * freq * t)).astype(np.int16)
    return out


def peak_hz(samples: Frame) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64) * np.hanning(samples.size)))
    return float(np.argmax(spectrum) * 8000 / samples.size)


def collector(frames: list[Frame], enough: asyncio.Event, count: int) -> Callable[[Frame], None]:
    def tap(frame: Frame) -> None:
        if frame.any():
            frames.append(frame.copy())
            if len(frames) >= count:
                enough.set()

    return tap


async def connect(near: RtpLeg, far: RtpLeg, payload_type: int) -> None:
    near.set_remote("127.0.0.1", far.local_port, payload_type, 101)
    far.set_remote("127.0.0.1", near.local_port, payload_type, 101)


async def test_a_bridged_call_relays_audio_and_digits_both_ways() -> None:
    await bridged_call(PCMU, PCMA)  # one side µ-law, the other A-law: transcoded


def test_the_same_call_on_uvloop() -> None:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        assert isinstance(runner.get_loop(), uvloop.Loop)
        runner.run(bridged_call(PCMA, PCMU))


def test_install_uvloop_sets_the_policy() -> None:
    try:
        assert install_uvloop()
        assert isinstance(asyncio.get_event_loop_policy(), uvloop.EventLoopPolicy)
    finally:
        asyncio.set_event_loop_policy(None)


async def bridged_call(pt_a: int, pt_b: int) -> None:
    leg_a = await RtpLeg.open("leg-a", rtcp_interval=0.2)
    leg_b = await RtpLeg.open("leg-b", rtcp_interval=0.2)
    caller = await RtpLeg.open("caller", rtcp_interval=0.2)
    callee = await RtpLeg.open("callee", rtcp_interval=0.2)
    legs = (leg_a, leg_b, caller, callee)
    await connect(leg_a, caller, pt_a)
    await connect(leg_b, callee, pt_b)

    trunkline, phones = MediaPump(), MediaPump()
    a, b = trunkline.add(leg_a), trunkline.add(leg_b)
    trunkline.set_hearing(a.uuid, [b.uuid])
    trunkline.set_hearing(b.uuid, [a.uuid])
    leg_a.on_dtmf = leg_b.send_dtmf
    leg_b.on_dtmf = leg_a.send_dtmf

    at_caller: list[Frame] = []
    at_callee: list[Frame] = []
    caller_heard, callee_heard = asyncio.Event(), asyncio.Event()
    phone_in = phones.add(caller)
    phone_out = phones.add(callee)
    phone_in.add_tap(collector(at_caller, caller_heard, 40))
    phone_out.add_tap(collector(at_callee, callee_heard, 40))
    phone_in.play(tone(1000.0), loop=0)
    phone_out.play(tone(450.0), loop=0)
    digits_at_callee: list[str] = []
    digits_at_caller: list[str] = []
    callee.on_dtmf = digits_at_callee.append
    caller.on_dtmf = digits_at_caller.append

    ready1, ready2 = asyncio.Event(), asyncio.Event()
    try:
        async with asyncio.timeout(15), asyncio.TaskGroup() as tasks:
            runs = [tasks.create_task(trunkline.run(ready1)), tasks.create_task(phones.run(ready2))]
            await ready1.wait()
            await ready2.wait()
            await caller_heard.wait()
            await callee_heard.wait()
            caller.send_dtmf("42")
            callee.send_dtmf("#")
            await callee.wait_until(lambda s: s.dtmf_received == 2)
            await caller.wait_until(lambda s: s.dtmf_received == 1)
            await leg_a.wait_until(lambda s: s.rtcp_received >= 1)
            for run in runs:
                run.cancel()
    finally:
        for leg in legs:
            leg.close()

    assert peak_hz(np.concatenate(at_callee[-25:])) == pytest.approx(1000.0, abs=10)
    assert peak_hz(np.concatenate(at_caller[-25:])) == pytest.approx(450.0, abs=10)
    assert digits_at_callee == ["4", "2"] and digits_at_caller == ["#"]
    assert trunkline.stats.ticks > 0 and trunkline.stats.errors == 0
    assert leg_a.stats.lost == 0 and leg_b.stats.lost == 0
