"""Recordings become real files: encoders, the FileRecordings sink, and sim calls that record.

The files are decoded back (``wave`` for WAV, miniaudio for MP3) and their length,
rate and channels checked against what the ``record`` action asked for.
"""

from __future__ import annotations

import asyncio
import io
import wave
from pathlib import Path
from typing import Any

import miniaudio
import numpy as np
import pytest

from trunkline.engine.ports import RecordedAudio
from trunkline.files import DiskFileStore, MemoryFileStore, file_id_of
from trunkline.recordings import (
    FileRecordings,
    comfort_noise,
    encode_mp3,
    encode_recording,
    encode_wav,
)
from trunkline.sim import Step
from trunkline.store import CallFilter, MemoryStore
from trunkline.testing.harness import Harness

CALLER = "447700900100"


def wav_info(data: bytes) -> tuple[int, int, float, np.ndarray[Any, Any]]:
    with wave.open(io.BytesIO(data)) as w:
        assert w.getsampwidth() == 2
        frames = w.readframes(w.getnframes())
        rate, channels = w.getframerate(), w.getnchannels()
        return rate, channels, w.getnframes() / rate, np.frombuffer(frames, "<i2")


def mp3_info(data: bytes) -> tuple[int, int, float]:
    info = miniaudio.mp3_get_info(data)
    decoded = miniaudio.decode(
        data,
        output_format=miniaudio.SampleFormat.SIGNED16,
        nchannels=info.nchannels,
        sample_rate=info.sample_rate,
    )
    return decoded.sample_rate, decoded.nchannels, decoded.duration


# -- encoders ------------------------------------------------------------------------------


def test_comfort_noise_is_faint_seeded_and_sized() -> None:
    a = comfort_noise(2.0, 16000, 1, seed=7)
    assert len(a) == 2 * 16000 * 2
    assert a == comfort_noise(2.0, 16000, 1, seed=7)
    assert a != comfort_noise(2.0, 16000, 1, seed=8)
    samples = np.frombuffer(a, "<i2").astype(np.float64)
    rms = float(np.sqrt(np.mean(samples**2)))
    assert 10 < rms < 100  # audible as "not dead air" only with the volume up (≈ -60 dBFS)
    assert len(comfort_noise(1.0, 8000, 2, seed=1)) == 8000 * 2 * 2


def test_wav_and_mp3_encoders_round_trip() -> None:
    pcm = comfort_noise(3.0, 8000, 2, seed=1)
    rate, channels, seconds, samples = wav_info(encode_wav(pcm, 8000, 2))
    assert (rate, channels, seconds) == (8000, 2, 3.0)
    assert samples.tobytes() == pcm
    mp3 = encode_mp3(pcm, 8000, 2)
    rate, channels, seconds = mp3_info(mp3)
    assert (rate, channels) == (8000, 2) and seconds == pytest.approx(3.0, abs=0.25)
    with pytest.raises(ValueError):
        encode_mp3(comfort_noise(1, 8000, 3, 1), 8000, 3)


def test_recording_formats_and_sizes() -> None:
    mp3, kind = encode_recording(RecordedAudio("f1", "mp3", 16000, 1, 10.0))
    assert kind == "audio/mpeg"
    assert mp3_info(mp3)[:2] == (16000, 1)
    assert len(mp3) == pytest.approx(10 * 4000, rel=0.05)  # 32 kbit/s CBR
    wav, kind = encode_recording(RecordedAudio("f1", "wav", 16000, 1, 10.0))
    assert kind == "audio/wav" and len(wav) == 44 + 10 * 32000
    # more channels than MP3 carries, and OGG (no encoder): WAV and MP3, said by the type
    wide, kind = encode_recording(RecordedAudio("f1", "mp3", 16000, 3, 1.0))
    assert kind == "audio/wav" and wav_info(wide)[1] == 3
    assert encode_recording(RecordedAudio("f1", "ogg", 16000, 1, 1.0))[1] == "audio/mpeg"
    # a driver's own PCM is what gets encoded
    tone = (np.sin(np.arange(8000) * 2 * np.pi * 440 / 8000) * 8000).astype("<i2").tobytes()
    real, _ = encode_recording(RecordedAudio("f2", "wav", 8000, 1, 1.0, pcm=lambda: tone))
    assert wav_info(real)[3].tobytes() == tone


# -- sim calls that record, on a virtual clock ----------------------------------------------


def recording_harness() -> tuple[Harness, MemoryFileStore]:
    h = Harness()
    store = MemoryFileStore(h.store, now=h.clock.now)
    h.sim.recordings = FileRecordings(store, h.clock, inline=True)
    return h, store


def record_until_hash(h: Harness, action: dict[str, Any], seconds: float = 8.0) -> dict[str, Any]:
    h.answer([{**action, "action": "record", "endOnKey": "#", "eventUrl": ["http://app.test/rec"]}])
    h.on("/rec", None)
    h.phone(CALLER, script=[Step(at=seconds, press="#"), Step(at=seconds + 1, hangup=True)])
    h.sim.call(CALLER, h.number)
    h.run()
    (rec,) = h.requests_to("/rec")
    return rec.body


def test_sim_recording_is_a_stored_mp3_of_the_recorded_length() -> None:
    h, files = recording_harness()
    body = record_until_hash(h, {})
    file_id = file_id_of(body["recording_url"])
    stored = files.get(file_id)
    assert stored is not None
    assert body["size"] == stored.size == len(files.read(file_id))
    assert stored.content_type == "audio/mpeg"
    assert stored.application_id == h.application.id
    assert stored.conversation_uuid == body["conversation_uuid"]
    _, (call,) = h.store.list_calls(CallFilter())
    assert stored.call_uuid == call.uuid
    rate, channels, seconds = mp3_info(files.read(file_id))
    assert (rate, channels) == (16000, 1)
    # the key press reaches the leg 8 s after answer; the recording spans it
    assert seconds == pytest.approx(8.0, abs=0.25)


def test_sim_recording_as_stereo_wav() -> None:
    h, files = recording_harness()
    body = record_until_hash(h, {"format": "wav", "split": "conversation", "channels": 2}, 5.0)
    data = files.read(file_id_of(body["recording_url"]))
    rate, channels, seconds, _ = wav_info(data)
    assert (rate, channels) == (16000, 2)
    assert seconds == pytest.approx(5.0, abs=0.2)
    assert body["size"] == len(data)


def test_without_a_sink_the_sim_still_reports_a_size() -> None:
    h = Harness()
    assert h.sim.recordings is None
    body = record_until_hash(h, {}, 8.0)
    assert body["size"] == pytest.approx(8 * 4000, rel=0.05)


def test_a_file_that_cannot_be_stored_reports_size_zero() -> None:
    h = Harness()
    broken = MemoryStore()
    broken.close()  # every metadata write fails
    h.sim.recordings = FileRecordings(MemoryFileStore(broken), h.clock, inline=True)
    body = record_until_hash(h, {})
    assert body["size"] == 0
    assert body["recording_url"].startswith("http://trunkline.test/v1/files/")


# -- serve mode: encoding off the event loop, virtual time waits for it ---------------------------


async def test_executor_mode_waits_on_virtual_time(tmp_path: Path) -> None:
    h = Harness()
    disk = DiskFileStore(tmp_path / "files", h.store, now=h.clock.now)
    sink = FileRecordings(disk, h.clock)
    h.sim.recordings = sink
    h.answer([{"action": "record", "endOnKey": "#", "eventUrl": ["http://app.test/rec"]}])
    h.on("/rec", None)
    h.phone(CALLER, script=[Step(at=6, press="#"), Step(at=7, hangup=True)])
    h.sim.call(CALLER, h.number)
    async with asyncio.timeout(20):
        await h.clock.run_async()
    await sink.aclose()
    assert sink.pending == 0
    (rec,) = h.requests_to("/rec")
    file_id = file_id_of(rec.body["recording_url"])
    path = tmp_path / "files" / file_id[:2] / file_id
    assert rec.body["size"] == path.stat().st_size > 0
    assert mp3_info(path.read_bytes())[2] == pytest.approx(6.0, abs=0.25)


async def test_executor_mode_reports_failure_as_size_zero(tmp_path: Path) -> None:
    h = Harness()
    disk = DiskFileStore(tmp_path / "files", h.store, now=h.clock.now)
    (tmp_path / "files").rmdir()
    (tmp_path / "files").write_text("not a directory")  # every write fails
    h.sim.recordings = FileRecordings(disk, h.clock)
    h.answer([{"action": "record", "endOnKey": "#", "eventUrl": ["http://app.test/rec"]}])
    h.on("/rec", None)
    h.phone(CALLER, script=[Step(at=2, press="#"), Step(at=3, hangup=True)])
    h.sim.call(CALLER, h.number)
    async with asyncio.timeout(20):
        await h.clock.run_async()
    (rec,) = h.requests_to("/rec")
    assert rec.body["size"] == 0
