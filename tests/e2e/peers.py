"""Real SIP peers for end-to-end tests: baresip (a softphone) and sipp runs, bounded.

baresip is driven over its ``ctrl_tcp`` module (netstring JSON commands and events); its
``aufile`` module plays a WAV file as the microphone and ``sndfile`` writes what it sent
and what it heard as WAV files, which tests read back. Every wait has a deadline, and
each process is killed when its test ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
import struct
import wave
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

SIPP_PCAPS = Path("/usr/share/sip-tester")


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_wav(path: Path, samples: npt.NDArray[np.int16], rate: int = 8000) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.astype("<i2").tobytes())
    return path


def write_ulaw_wav(path: Path, samples: npt.NDArray[np.int16]) -> Path:
    """A G.711 µ-law WAV (format 7, 8 kHz), the file sipp's ``rtp_stream`` plays."""
    from trunkline.media.g711 import ulaw_encode

    data = ulaw_encode(samples)
    fmt = struct.pack("<HHIIHH", 7, 1, 8000, 8000, 1, 8)
    riff = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    riff += b"data" + struct.pack("<I", len(data)) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", len(riff)) + riff)
    return path


def read_wav(path: Path) -> tuple[npt.NDArray[np.int16], int]:
    with wave.open(str(path), "rb") as w:
        data = w.readframes(w.getnframes())
        samples = np.frombuffer(data, dtype="<i2")
        if w.getnchannels() > 1:
            samples = samples.reshape(-1, w.getnchannels())[:, 0]
        return samples.astype(np.int16), w.getframerate()


def active_seconds(samples: npt.NDArray[np.int16], rate: int, *, floor: float = 500.0) -> float:
    """Seconds of 20 ms frames whose RMS is above ``floor`` (speech, not silence)."""
    n = rate // 50
    frames = samples[: len(samples) // n * n].reshape(-1, n).astype(np.float64)
    rms = np.sqrt((frames**2).mean(axis=1)) if len(frames) else np.zeros(0)
    return float((rms > floor).sum()) / 50.0


class Baresip:
    """One baresip process with one account, scripted over ctrl_tcp."""

    def __init__(
        self,
        workdir: Path,
        *,
        account: str,
        source: Path,
        answer: bool = False,
    ) -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.dumps = self.dir / "dumps"
        self.dumps.mkdir(exist_ok=True)
        self.sip_port = free_port()
        self.ctrl_port = free_port(socket.SOCK_STREAM)
        self.account = account + (";answermode=auto" if answer else "")
        self.source = source
        self.proc: asyncio.subprocess.Process | None = None
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.responses: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._pump: asyncio.Task[None] | None = None
        self.log: list[str] = []

    def _configure(self) -> None:
        (self.dir / "config").write_text(
            "\n".join(
                [
                    f"sip_listen 127.0.0.1:{self.sip_port}",
                    f"audio_source aufile,{self.source}",
                    "audio_player aufile,/dev/null",
                    "audio_alert aufile,/dev/null",
                    "audio_srate 8000",
                    "audio_channels 1",
                    "dns_server 127.0.0.1:53",
                    "module_path /usr/lib/baresip/modules",
                    "module g711.so",
                    "module aufile.so",
                    "module sndfile.so",
                    "module_app account.so",
                    "module_app menu.so",
                    "module_app ctrl_tcp.so",
                    f"ctrl_tcp_listen 127.0.0.1:{self.ctrl_port}",
                    f"snd_path {self.dumps}",
                    "",
                ]
            )
        )
        (self.dir / "accounts").write_text(self.account + "\n")

    async def start(self) -> None:
        exe = shutil.which("baresip")
        assert exe, "baresip is missing: `make` installs it (apt-get install baresip)"
        self._configure()
        self.proc = await asyncio.create_subprocess_exec(
            exe,
            "-4",
            "-f",
            str(self.dir),
            "-t",
            "120",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        asyncio.get_running_loop().create_task(self._drain())
        async with asyncio.timeout(10):
            while True:
                try:
                    self._reader, self._writer = await asyncio.open_connection(
                        "127.0.0.1", self.ctrl_port
                    )
                    break
                except OSError:
                    await asyncio.sleep(0.05)  # polling a process's port until it listens
        self._pump = asyncio.get_running_loop().create_task(self._read())

    async def _drain(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            self.log.append(line.decode(errors="replace").rstrip())

    async def _read(self) -> None:
        assert self._reader is not None
        while True:
            head = await self._reader.readuntil(b":")
            size = int(head[:-1])
            body = await self._reader.readexactly(size + 1)
            message = json.loads(body[:-1])
            if message.get("event"):
                await self.events.put(message)
            else:
                await self.responses.put(message)

    async def command(self, command: str, params: str = "", timeout: float = 5.0) -> Any:
        assert self._writer is not None
        payload = json.dumps({"command": command, "params": params, "token": command}).encode()
        self._writer.write(str(len(payload)).encode() + b":" + payload + b",")
        await self._writer.drain()
        async with asyncio.timeout(timeout):
            return await self.responses.get()

    async def wait_event(
        self, kind: str, timeout: float = 10.0, seen: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        """The next ``kind`` event; the others before it go into ``seen`` when given."""
        async with asyncio.timeout(timeout):
            while True:
                event = await self.events.get()
                if event.get("type") == kind:
                    return event
                if seen is not None:
                    seen.append(event)

    def dump(self, which: str) -> Path | None:
        """The WAV baresip wrote of what it ``dec`` (heard) or ``enc`` (sent), if any."""
        found = sorted(self.dumps.glob(f"*-{which}.wav"))
        return found[-1] if found else None

    async def stop(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
        if self._writer is not None:
            self._writer.close()
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            try:
                async with asyncio.timeout(5):
                    await self.proc.wait()
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


@contextlib.asynccontextmanager
async def baresip(
    workdir: Path, *, account: str, source: Path, answer: bool = False
) -> AsyncIterator[Baresip]:
    phone = Baresip(workdir, account=account, source=source, answer=answer)
    try:
        await phone.start()
        yield phone
    finally:
        await phone.stop()


async def run_sipp(*args: str, cwd: Path | None = None, deadline: float = 30.0) -> tuple[int, str]:
    """Run sipp with ``args`` (always bounded by ``-m``/``-timeout`` in the args and a kill)."""
    exe = shutil.which("sipp")
    assert exe, "sipp is missing: `make` installs Debian's sip-tester"
    proc = await asyncio.create_subprocess_exec(
        exe,
        *args,
        "-nostdin",
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        async with asyncio.timeout(deadline):
            out, _ = await proc.communicate()
    except TimeoutError:
        proc.kill()
        out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode(errors="replace")


async def start_sipp(*args: str, cwd: Path | None = None) -> asyncio.subprocess.Process:
    """Start a long-lived sipp (a UAS); the caller stops it."""
    exe = shutil.which("sipp")
    assert exe, "sipp is missing: `make` installs Debian's sip-tester"
    return await asyncio.create_subprocess_exec(
        exe,
        *args,
        "-nostdin",
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


async def stop_process(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.terminate()
        try:
            async with asyncio.timeout(5):
                await proc.wait()
        except TimeoutError:
            proc.kill()
            await proc.wait()
