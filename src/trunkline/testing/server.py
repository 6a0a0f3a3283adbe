"""Serve an ASGI app over real HTTP on loopback, for the length of an ``async with``.

::

    async with ServedApp(app.asgi()) as served:
        response = await client.send(WebhookRequest(f"{served.url}/answer", ...))

The socket is bound before uvicorn starts (port 0 picks a free port, so tests never
race each other for one), and ``__aenter__`` returns only once uvicorn is accepting.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Generator
from types import TracebackType

import uvicorn
from starlette.types import ASGIApp

#: Seconds to wait for uvicorn to start, or for its requests to finish when stopping.
READY_TIMEOUT = 5
_POLL = 0.005


class _EmbeddedServer(uvicorn.Server):
    """uvicorn embedded in a test's event loop.

    No signal handlers (Ctrl-C belongs to the host process), and a main loop that
    wakes as soon as :meth:`request_exit` is called instead of on uvicorn's next
    0.1 s tick — a suite starts and stops many of these.
    """

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._exit_requested = asyncio.Event()

    def request_exit(self) -> None:
        self.should_exit = True
        self._exit_requested.set()

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield

    async def main_loop(self) -> None:
        if not await self.on_tick(0):  # sets the default headers once
            await self._exit_requested.wait()


class ServedApp:
    """An ASGI app served by uvicorn on ``host`` in a task owned by this object."""

    def __init__(self, app: ASGIApp, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.url = ""
        self._server: _EmbeddedServer | None = None
        self._task: asyncio.Task[None] | None = None
        self._sock: socket.socket | None = None

    async def __aenter__(self) -> ServedApp:
        if self._task is not None:
            raise RuntimeError("ServedApp is already serving")
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            raise
        self._sock = sock
        self.port = sock.getsockname()[1]
        shown = f"[{self.host}]" if family == socket.AF_INET6 else self.host
        self.url = f"http://{shown}:{self.port}"
        config = uvicorn.Config(
            self.app,
            lifespan="off",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=READY_TIMEOUT,
        )
        server = _EmbeddedServer(config)
        task = asyncio.create_task(server.serve(sockets=[sock]), name=f"ServedApp {self.url}")
        self._server, self._task = server, task
        try:
            await self._wait_started(server, task)
        except BaseException:
            await self._stop(raise_errors=False)
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stop(raise_errors=exc_type is None)

    async def _wait_started(self, server: uvicorn.Server, task: asyncio.Task[None]) -> None:
        # Readiness, not timing: uvicorn offers a flag and no event to wait on.
        async with asyncio.timeout(READY_TIMEOUT):
            while not server.started:
                if task.done():
                    task.result()  # surface why uvicorn stopped, if it raised
                    raise RuntimeError(f"uvicorn stopped before serving {self.url}")
                await asyncio.sleep(_POLL)

    async def _stop(self, *, raise_errors: bool) -> None:
        """Ask uvicorn to exit, wait for its task, and release the socket."""
        server, task, sock = self._server, self._task, self._sock
        self._server = self._task = self._sock = None
        try:
            if server is None or task is None:
                return
            server.request_exit()
            done, _ = await asyncio.wait({task}, timeout=READY_TIMEOUT)
            if not done:
                server.force_exit = True
                task.cancel()
                await asyncio.wait({task})
            error = None if task.cancelled() else task.exception()
            if error is not None and raise_errors:
                raise error
        finally:
            if task is not None and not task.done():
                task.cancel()  # we are being cancelled ourselves: leave nothing running
            if sock is not None:
                sock.close()
