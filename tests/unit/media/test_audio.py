"""decode_audio on real files: WAV and MP3 made here (wave, lameenc), FLAC and Ogg Vorbis
from tests/unit/media/data (made with Debian's flac and oggenc, see data/README.md)."""

from __future__ import annotations

import io
import wave
from pathlib import Path

import lameenc  # type: ignore[import-not-found]
import numpy as np
import numpy.typing as npt
import pytest

from trunkline.media.audio import AudioDecodeError, decode_audio, decode_audio_async, sniff_format

DATA = Path(__file__).parent / "data"


def sine(
    freq: float, rate: int, seconds: float, amplitude: float = 12000.0
) -> npt.NDArray[np.int16]:
    t = np.arange(round(rate * seconds)) / rate
    return np.rint(amplitude * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def wav_bytes(samples: npt.NDArray[np.int16], rate: int, channels: int = 1) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.astype("<i2").tobytes())
    return out.getvalue()


def mp3_bytes(samples: npt.NDArray[np.int16], rate: int) -> bytes:
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(64)
    encoder.set_in_sample_rate(rate)
    encoder.set_channels(1)
    encoder.set_quality(2)
    return bytes(encoder.encode(samples.tobytes())) + bytes(encoder.flush())


def peak_hz(samples: npt.NDArray[np.int16], rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64) * np.hanning(samples.size)))
    return float(np.argmax(spectrum) * rate / samples.size)


@pytest.mark.parametrize("rate", [8000, 16000])
def test_a_wav_at_another_rate_is_resampled(rate: int) -> None:
    data = wav_bytes(sine(440.0, 22050, 1.0), 22050)
    out = decode_audio(data, rate)
    assert out.dtype == np.int16 and out.ndim == 1
    assert out.size == rate  # one second
    assert peak_hz(out, rate) == pytest.approx(440.0, abs=2)
    assert np.abs(out[rate // 4 : -rate // 4]).max() == pytest.approx(12000, rel=0.03)


def test_a_stereo_wav_is_mixed_down() -> None:
    left, right = sine(500.0, 8000, 0.5), sine(1500.0, 8000, 0.5)
    interleaved = np.stack([left, right], axis=1).reshape(-1)
    out = decode_audio(wav_bytes(interleaved, 8000, channels=2), 8000)
    assert out.size == 4000
    spectrum = np.abs(np.fft.rfft(out.astype(np.float64)))
    assert spectrum[250] > 1e5 and spectrum[750] > 1e5  # both tones, 2 Hz bins


def test_an_mp3_decodes() -> None:
    data = mp3_bytes(sine(1000.0, 16000, 1.0), 16000)
    assert sniff_format(data) == "MP3"
    out = decode_audio(data, 8000)
    assert abs(out.size - 8000) < 800  # the encoder's padding adds a little
    assert peak_hz(out, 8000) == pytest.approx(1000.0, abs=3)


@pytest.mark.parametrize(("name", "kind"), [("flac", "FLAC"), ("ogg", "Ogg Vorbis")])
def test_flac_and_ogg_vorbis_decode(name: str, kind: str) -> None:
    data = (DATA / f"tone1k_stereo44k.{name}").read_bytes()
    assert sniff_format(data) == kind
    out = decode_audio(data, 8000)
    assert out.size == 4000  # 0.5 s at 44.1 kHz → 8 kHz
    assert peak_hz(out, 8000) == pytest.approx(1000.0, abs=3)
    assert np.abs(out[1000:3000]).max() == pytest.approx(12000, rel=0.1)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"<html>not found</html>", "unrecognised audio format"),
        (b"RIFF\x10\x00\x00\x00WAVEjunkjunk", "corrupt or unsupported WAV"),
        (b"OggS" + bytes(60), "Ogg Vorbis"),
        (b"ID3" + bytes(40), "MP3"),
    ],
)
def test_bad_audio_names_the_problem(data: bytes, message: str) -> None:
    with pytest.raises(AudioDecodeError, match=message):
        decode_audio(data, 8000)


def test_limits() -> None:
    data = wav_bytes(sine(440.0, 8000, 2.0), 8000)
    with pytest.raises(AudioDecodeError, match="over the 1 s limit"):
        decode_audio(data, 8000, max_seconds=1.0)
    with pytest.raises(AudioDecodeError, match="sample rate"):
        decode_audio(data, 44100)


async def test_decode_runs_off_the_loop() -> None:
    data = wav_bytes(sine(440.0, 8000, 0.2), 8000)
    out = await decode_audio_async(data, 16000)
    assert out.size == 3200
