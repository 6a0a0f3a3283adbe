"""The test-speech module: cached synthesis over G.711, line noise, RTP pcaps for sipp."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from trunkline.media.g711 import alaw_decode, alaw_encode, ulaw_decode
from trunkline.testing import voices as V


@pytest.mark.parametrize("voice", [V.ESPEAK[0], V.PIPER[1]], ids=lambda v: v.label)
def test_say_gives_telephone_audio_and_caches_it(
    voice: V.Voice, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRUNKLINE_VOICES_CACHE", str(tmp_path))
    V._say_cached.cache_clear()
    audio = V.say("hello there", voice)
    assert audio.dtype == np.int16
    assert 0.4 < audio.size / V.RATE < 3.0
    assert np.abs(audio).max() > 3000
    # every sample is a G.711 µ-law value: decoding the re-encoded audio changes nothing
    codes = np.unique(audio)
    assert set(codes.tolist()) <= set(ulaw_decode(bytes(range(256))).tolist())
    assert len(list(tmp_path.glob("*.npy"))) == 1
    V._say_cached.cache_clear()
    again = V.say("hello there", voice)  # from the disk cache
    assert (again == audio).all()


def test_frames_and_line_noise() -> None:
    audio = V.line(V.silence(0.5), seed=3, rms=20)
    assert abs(float(audio.astype(np.float64).std()) - 20) < 2
    assert (V.line(V.silence(0.5), seed=3) == V.line(V.silence(0.5), seed=3)).all()
    frames = V.frames(np.ones(330, dtype=np.int16))
    assert [f.shape for f in frames] == [(160,)] * 3
    assert frames[2][10] == 0


def read_pcap(path: Path) -> list[tuple[float, bytes]]:
    data = path.read_bytes()
    magic, major, minor, _, _, snaplen, link = struct.unpack("<IHHiIII", data[:24])
    assert (magic, major, minor, link) == (0xA1B2C3D4, 2, 4, 1)
    out: list[tuple[float, bytes]] = []
    offset = 24
    while offset < len(data):
        sec, usec, incl, orig = struct.unpack("<IIII", data[offset : offset + 16])
        assert incl == orig <= snaplen
        out.append((sec + usec / 1e6, data[offset + 16 : offset + 16 + incl]))
        offset += 16 + incl
    return out


def test_rtp_pcap_round_trips_the_audio(tmp_path: Path) -> None:
    audio = V.say("sales", V.PIPER[1])
    packets = read_pcap(V.write_rtp_pcap(tmp_path / "a.pcap", audio, payload_type=8))
    assert len(packets) == len(V.frames(audio))
    assert [round(t, 3) for t, _ in packets[:3]] == [0.0, 0.02, 0.04]
    payload = b""
    for seq, (_, frame) in enumerate(packets):
        assert frame[12:14] == b"\x08\x00"  # IPv4
        ip = frame[14:34]
        assert ip[9] == 17  # UDP
        total = sum(struct.unpack("!10H", ip))
        while total > 0xFFFF:
            total = (total & 0xFFFF) + (total >> 16)
        assert total == 0xFFFF  # a valid header checksum
        rtp = frame[42:]
        version, pt, rseq, ts = struct.unpack("!BBHI", rtp[:8])
        assert (version, pt, rseq, ts) == (0x80, 8, seq, seq * 160)
        payload += rtp[12:]
    decoded = alaw_decode(payload)[: audio.size]
    assert (decoded == alaw_decode(alaw_encode(audio))).all()


def test_greetings_hold_their_beeps_where_they_say() -> None:
    for greeting in V.greetings():
        if greeting.beep_at is None:
            continue
        start = round(greeting.beep_at * V.RATE)
        beep = greeting.audio[start + 400 : start + 3600].astype(np.float64)
        before = greeting.audio[start - 800 : start - 100].astype(np.float64)
        assert beep.std() > 20 * before.std()
