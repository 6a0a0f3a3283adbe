"""The media pump, tick by tick, over in-memory ports (FakePort).

Each leg sends a pure tone on its own 50 Hz-multiple frequency, so a 20 ms frame holds whole
cycles and each tone falls on one FFT bin: what a listener was sent tells exactly whom it
heard. Ticks are driven by calling ``pump.tick()``; the clock logic is tested through
``ticks_to_skip`` and one short real-clock run.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time

import numpy as np
import numpy.typing as npt
import pytest

from trunkline.media.port import SILENCE, FakePort
from trunkline.media.pump import MediaPump, PumpError, ticks_to_skip
from trunkline.media.rtpleg import PCMU, RtpLeg
from trunkline.rtp.packet import RtpPacket

Frame = npt.NDArray[np.int16]
FREQS = {"alice": 400.0, "bob": 650.0, "carol": 900.0}
AMPLITUDE = 5000


def tone(freq: float, samples: int = 160, amplitude: int = AMPLITUDE) -> Frame:
    t = np.arange(samples) / 8000.0
    out: Frame = np.rint(amplitude * np.sin(2 * np.pi * freq * t)).astype(np.int16)
    return out


def amplitude_at(frame: Frame, freq: float) -> float:
    spectrum = np.fft.rfft(frame.astype(np.float64))
    return float(np.abs(spectrum[round(freq * len(frame) / 8000)]) * 2 / len(frame))


def heard(frame: Frame) -> set[str]:
    return {name for name, f in FREQS.items() if amplitude_at(frame, f) > AMPLITUDE / 2}


def conference() -> tuple[MediaPump, dict[str, FakePort]]:
    pump = MediaPump()
    ports = {name: FakePort(name) for name in FREQS}
    for port in ports.values():
        pump.add(port)
    for name in ports:
        pump.set_hearing(name, [n for n in ports if n != name])
    return pump, ports


def speak(ports: dict[str, FakePort], ticks: int = 1) -> None:
    for name, port in ports.items():
        port.push(*[tone(FREQS[name])] * ticks)


def test_three_legs_each_hear_the_other_two() -> None:
    pump, ports = conference()
    speak(ports)
    pump.tick()
    for name, port in ports.items():
        (frame,) = port.sent
        assert heard(frame) == set(FREQS) - {name}
        for other in set(FREQS) - {name}:
            assert amplitude_at(frame, FREQS[other]) == pytest.approx(AMPLITUDE, rel=0.01)


def test_a_muted_leg_is_heard_by_nobody_but_still_hears() -> None:
    pump, ports = conference()
    pump.get("bob").muted = True  # type: ignore[union-attr]
    speak(ports)
    pump.tick()
    assert heard(ports["alice"].sent[0]) == {"carol"}
    assert heard(ports["carol"].sent[0]) == {"alice"}
    assert heard(ports["bob"].sent[0]) == {"alice", "carol"}


def test_an_earmuffed_leg_hears_nobody_but_is_heard() -> None:
    pump, ports = conference()
    pump.get("carol").earmuffed = True  # type: ignore[union-attr]
    speak(ports)
    pump.tick()
    assert ports["carol"].sent[0].tolist() == SILENCE.tolist()
    assert heard(ports["alice"].sent[0]) == {"bob", "carol"}
    assert heard(ports["bob"].sent[0]) == {"alice", "carol"}


def test_an_earmuffed_leg_still_hears_its_own_prompts() -> None:
    pump, ports = conference()
    lm = pump.get("carol")
    assert lm is not None
    lm.earmuffed = True
    lm.play(np.tile(tone(1200.0), 3), loop=1)
    speak(ports)
    pump.tick()
    frame = ports["carol"].sent[0]
    assert heard(frame) == set() and amplitude_at(frame, 1200.0) > AMPLITUDE / 2


def test_custom_hearing_coaching() -> None:
    pump, ports = conference()
    # carol coaches alice: only alice hears carol; carol hears alice and bob
    pump.set_hearing("alice", ["bob", "carol"])
    pump.set_hearing("bob", ["alice"])
    pump.set_hearing("carol", ["alice", "bob"])
    speak(ports)
    pump.tick()
    assert heard(ports["alice"].sent[0]) == {"bob", "carol"}
    assert heard(ports["bob"].sent[0]) == {"alice"}
    assert heard(ports["carol"].sent[0]) == {"alice", "bob"}
    pump.set_hearing("bob", [])  # nobody
    speak(ports)
    pump.tick()
    assert ports["bob"].sent[1] is not None and heard(ports["bob"].sent[1]) == set()


def test_the_mixer_level_of_a_speaker_applies() -> None:
    pump, ports = conference()
    pump.mixer.set_level("bob", -1.0)  # −20 dB: a tenth of the amplitude
    speak(ports)
    pump.tick()
    assert amplitude_at(ports["carol"].sent[0], FREQS["bob"]) == pytest.approx(
        AMPLITUDE / 10, rel=0.02
    )
    pump.set_hearing("alice", ["bob"])  # the one-speaker shortcut honours the level too
    speak(ports)
    pump.tick()
    assert amplitude_at(ports["alice"].sent[1], FREQS["bob"]) == pytest.approx(
        AMPLITUDE / 10, rel=0.02
    )


def test_a_leg_alone_is_sent_silence() -> None:
    pump = MediaPump()
    port = FakePort("solo")
    sent: list[Frame] = []
    lm = pump.add(port)
    lm.add_out_tap(sent.append)
    port.push(tone(500.0))
    pump.tick()
    assert sent[0] is SILENCE


@pytest.mark.parametrize("length", [400, 320, 100])
def test_a_prompt_looped_twice_ends_at_the_right_frame(length: int) -> None:
    pump = MediaPump()
    port = FakePort("caller")
    lm = pump.add(port)
    prompt = np.arange(1, length + 1, dtype=np.int16)
    done: list[int] = []
    lm.play(prompt, loop=2, on_done=lambda: done.append(pump.stats.ticks))
    frames_needed = -(-2 * length // 160)  # the loops play back to back
    for _ in range(frames_needed + 2):
        pump.tick()
    assert done == [frames_needed]  # once, after the tick that sent the last sample
    played = np.concatenate(port.sent)
    assert played[: 2 * length].tolist() == np.tile(prompt, 2).tolist()
    assert not played[2 * length :].any()  # then silence
    assert not lm.playing


def test_stop_play_stops_without_on_done() -> None:
    pump = MediaPump()
    port = FakePort("caller")
    lm = pump.add(port)
    done: list[str] = []
    handle = lm.play(tone(700.0, 1600), on_done=lambda: done.append("x"))
    pump.tick()
    pump.tick()
    lm.stop_play(handle)
    lm.stop_play(handle)  # twice is harmless
    pump.tick()
    assert done == []
    assert amplitude_at(port.sent[1], 700.0) > AMPLITUDE / 2
    assert not port.sent[2].any()


def test_loop_zero_plays_until_stopped_and_level_scales() -> None:
    pump = MediaPump()
    port = FakePort("caller")
    lm = pump.add(port)
    done: list[str] = []
    handle = lm.play(tone(1000.0), loop=0, level=-0.5, on_done=lambda: done.append("x"))
    for _ in range(50):
        pump.tick()
    assert done == [] and lm.playing
    assert all(amplitude_at(f, 1000.0) == pytest.approx(AMPLITUDE / 2, rel=0.01) for f in port.sent)
    lm.stop_play(handle)
    assert not lm.playing


def test_prompts_and_conversation_mix_and_clip() -> None:
    pump, ports = conference()
    lm = pump.get("alice")
    assert lm is not None
    lm.play(tone(1500.0, 320))
    lm.play(np.full(320, 30000, dtype=np.int16))  # a second prompt: the sum saturates
    speak(ports)
    pump.tick()
    frame = ports["alice"].sent[0]
    assert frame.dtype == np.int16 and frame.max() == 32767
    ports["alice"].sent.clear()
    lm.stop_all()
    lm.play(tone(1500.0, 320))
    speak(ports)
    pump.tick()
    frame = ports["alice"].sent[0]
    assert heard(frame) == {"bob", "carol"} and amplitude_at(frame, 1500.0) > AMPLITUDE / 2


def test_taps_see_inbound_and_outbound_frames_and_can_be_removed() -> None:
    pump, ports = conference()
    inbound: list[Frame] = []
    outbound: list[Frame] = []
    lm = pump.get("bob")
    assert lm is not None
    remove_in = lm.add_tap(inbound.append)
    remove_out = lm.add_out_tap(outbound.append)
    speak(ports)
    pump.tick()
    pump.tick()  # nothing arrives: the tap sees silence
    remove_in()
    remove_out()
    remove_in()  # twice is harmless
    speak(ports)
    pump.tick()
    assert len(inbound) == 2 and len(outbound) == 2
    assert heard(inbound[0]) == {"bob"} and inbound[1] is SILENCE
    assert heard(outbound[0]) == {"alice", "carol"}


def test_a_muted_leg_is_still_tapped() -> None:
    pump, ports = conference()
    lm = pump.get("bob")
    assert lm is not None
    lm.muted = True
    inbound: list[Frame] = []
    lm.add_tap(inbound.append)
    speak(ports)
    pump.tick()
    assert heard(inbound[0]) == {"bob"}


def test_failing_parts_are_logged_and_the_tick_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    pump, ports = conference()

    def broken(frame: Frame) -> None:
        raise RuntimeError("tap bug")

    lm = pump.get("alice")
    assert lm is not None
    lm.add_tap(broken)

    def failing_callback() -> None:
        raise ZeroDivisionError

    lm.play(tone(300.0), on_done=failing_callback)
    with caplog.at_level(logging.ERROR):
        speak(ports)
        pump.tick()
    assert pump.stats.errors == 2
    assert all(len(p.sent) == 1 for p in ports.values())


def test_on_done_may_change_the_pump() -> None:
    pump, ports = conference()
    alice = pump.get("alice")
    assert alice is not None

    def next_step() -> None:
        pump.remove("bob")
        alice.play(tone(1500.0, 160))

    alice.play(tone(300.0, 160), on_done=next_step)
    speak(ports, 2)
    pump.tick()
    pump.tick()
    assert "bob" not in pump and len(pump) == 2
    assert len(ports["bob"].sent) == 1
    assert heard(ports["alice"].sent[1]) == {"carol"}
    assert amplitude_at(ports["alice"].sent[1], 1500.0) > AMPLITUDE / 2


def test_bad_requests_are_refused() -> None:
    pump = MediaPump()
    lm = pump.add(FakePort("a"))
    with pytest.raises(PumpError, match="already"):
        pump.add(FakePort("a"))
    with pytest.raises(PumpError, match="int16"):
        lm.play(np.zeros(10, dtype=np.float32))
    with pytest.raises(PumpError, match="loop"):
        lm.play(np.zeros(10, dtype=np.int16), loop=-1)
    with pytest.raises(PumpError, match="level"):
        lm.play(np.zeros(10, dtype=np.int16), level=2.0)
    with pytest.raises(PumpError, match="ptime"):
        MediaPump(ptime=0.03)
    pump.remove("nobody")  # ignored


@pytest.mark.parametrize(
    ("late_by", "max_burst", "skip"),
    [(-0.005, 3, 0), (0.0, 3, 0), (0.019, 3, 0), (0.045, 3, 0), (0.061, 3, 1), (0.21, 3, 8)],
)
def test_catch_up_is_bounded(late_by: float, max_burst: int, skip: int) -> None:
    # overdue ticks at a 20 ms period: late_by 0.045 → 3 due (run back to back), 0.21 → 11
    assert ticks_to_skip(10.0 + late_by, 10.0, 0.02, max_burst) == skip


async def test_run_ticks_on_the_event_loop_until_cancelled() -> None:
    pump = MediaPump()
    port = FakePort("caller")
    lm = pump.add(port)
    ten = asyncio.Event()
    lm.add_out_tap(lambda frame: ten.set() if pump.stats.ticks >= 9 else None)
    ready = asyncio.Event()
    task = asyncio.create_task(pump.run(ready))
    async with asyncio.timeout(5):
        await ready.wait()
        await ten.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert pump.stats.ticks >= 10 and len(port.sent) == pump.stats.ticks
    assert len(pump.stats.durations) == pump.stats.ticks
    assert pump.stats.percentile(pump.stats.durations, 50) > 0.0


class ClockedFake(FakePort):
    """A FakePort with a media clock: records the skips the pump reports."""

    def __init__(self, uuid: str) -> None:
        super().__init__(uuid)
        self.skipped: list[int] = []

    def skip_ticks(self, count: int) -> None:
        self.skipped.append(count)


async def test_a_stalled_loop_skips_ticks_and_tells_clocked_ports() -> None:
    pump = MediaPump(max_burst=2)
    clocked, plain = ClockedFake("rtp"), FakePort("ws")
    pump.add(plain)
    lm = pump.add(clocked)
    resumed = asyncio.Event()

    def tap(frame: Frame) -> None:
        if pump.stats.ticks == 3:
            # The loop is blocked (as a CPU-heavy tick would block it) — the very condition
            # under test, not a wait for something to happen.
            time.sleep(0.15)
        elif pump.stats.ticks >= 8:
            resumed.set()

    lm.add_out_tap(tap)
    ready = asyncio.Event()
    task = asyncio.create_task(pump.run(ready))
    async with asyncio.timeout(5):
        await resumed.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # 150 ms stalled = 7+ ticks due at once; 2 run back to back, the rest are skipped
    assert pump.stats.skipped_ticks >= 5
    assert sum(clocked.skipped) == pump.stats.skipped_ticks
    assert pump.stats.late_ticks >= 1


async def test_an_rtp_leg_keeps_real_time_across_skipped_ticks() -> None:
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    sink.setblocking(False)
    leg = await RtpLeg.open("x")
    leg.set_remote("127.0.0.1", sink.getsockname()[1], PCMU, 101)
    loop = asyncio.get_running_loop()
    try:
        leg.send(SILENCE)
        leg.skip_ticks(5)
        leg.send(SILENCE)
        async with asyncio.timeout(5):
            first = RtpPacket.parse(await loop.sock_recv(sink, 2048))
            second = RtpPacket.parse(await loop.sock_recv(sink, 2048))
    finally:
        leg.close()
        sink.close()
    assert second.timestamp - first.timestamp == 6 * 160
    assert second.sequence_number == (first.sequence_number + 1) & 0xFFFF


def test_a_malformed_frame_is_dropped_not_fatal(caplog: pytest.LogCaptureFixture) -> None:
    pump, ports = conference()
    speak(ports)
    ports["bob"].inbound[0] = np.zeros(80, dtype=np.int16)  # a port with a bug
    with caplog.at_level(logging.ERROR):
        pump.tick()
    assert pump.stats.errors == 1
    assert heard(ports["alice"].sent[0]) == {"carol"}
