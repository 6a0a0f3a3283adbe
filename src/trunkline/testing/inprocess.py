"""Call a WSGI or ASGI web app in-process, without a socket.

A webhook becomes an HTTP request built exactly as trunkline's webhook client would
send it (a GET with the body as query parameters, or a POST with a JSON body, the same
headers), handed to the app through its WSGI or ASGI interface; the app's handlers run
for real (Flask and Django views, Starlette and FastAPI endpoints, middleware and all).

:func:`call_wsgi` is synchronous; :func:`call_asgi` is a coroutine. Both return an
:class:`AppResponse`. An exception the app lets escape is raised to the caller (for
ASGI apps, Starlette first sends its 500 response, as a server would see it).
"""

from __future__ import annotations

import asyncio
import inspect
import io
import json
import sys
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import unquote, urlencode, urlsplit

from trunkline.webhooks.params import query_params

AppKind = Literal["asgi", "wsgi"]

#: The headers trunkline's webhook client sends (``webhooks/client.py``).
USER_AGENT = "trunkline/0.1"
_CLIENT = ("127.0.0.1", 40000)

Message = MutableMapping[str, Any]
ASGIApp = Callable[
    [
        MutableMapping[str, Any],
        Callable[[], Awaitable[Message]],
        Callable[[Message], Awaitable[None]],
    ],
    Awaitable[None],
]
StartResponse = Callable[..., Callable[[bytes], object]]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def app_kind(app: object) -> AppKind:
    """``"asgi"`` for an app whose ``__call__`` is a coroutine function, else ``"wsgi"``.

    Flask and Django's ``get_wsgi_application()`` are WSGI; Starlette, FastAPI, Quart
    and Django's ``get_asgi_application()`` are ASGI.
    """
    if not callable(app):
        raise TypeError(f"{app!r} is not a WSGI or ASGI application")
    call = app if inspect.isfunction(app) or inspect.ismethod(app) else type(app).__call__
    return "asgi" if inspect.iscoroutinefunction(call) else "wsgi"


@dataclass(frozen=True)
class AppRequest:
    """One HTTP request to an in-process app."""

    method: str  # "GET" | "POST"
    url: str
    body: Mapping[str, Any]
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def content(self) -> bytes:
        if self.method.upper() != "POST":
            return b""
        return json.dumps(self.body, separators=(",", ":"), ensure_ascii=False).encode()

    @property
    def query(self) -> str:
        """The query string: the URL's own, then (for a GET) the body's fields."""
        own = urlsplit(self.url).query
        if self.method.upper() == "POST":
            return own
        extra = urlencode(query_params(self.body))
        return "&".join(part for part in (own, extra) if part)

    def header_list(self) -> list[tuple[str, str]]:
        parts = urlsplit(self.url)
        headers = {
            "host": parts.netloc,
            "user-agent": USER_AGENT,
            "accept": "application/json",
            "accept-encoding": "identity",
        }
        content = self.content
        if self.method.upper() == "POST":
            headers["content-type"] = "application/json"
            headers["content-length"] = str(len(content))
        for name, value in self.headers.items():
            headers[name.lower()] = value
        return list(headers.items())


@dataclass(frozen=True)
class AppResponse:
    status: int
    headers: list[tuple[str, str]]
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON; None when it is empty or not JSON (as the client does)."""
        if not self.content.strip():
            return None
        try:
            return json.loads(self.content)
        except ValueError:
            return None


def _server(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    default = 443 if parts.scheme == "https" else 80
    return parts.hostname or "localhost", parts.port or default


async def call_asgi(app: ASGIApp, request: AppRequest) -> AppResponse:
    """Send ``request`` to an ASGI 3 app and collect its response."""
    parts = urlsplit(request.url)
    path = parts.path or "/"
    content = request.content
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": request.method.upper(),
        "scheme": parts.scheme or "http",
        "path": unquote(path),
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": request.query.encode(),
        "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in request.header_list()],
        "client": _CLIENT,
        "server": _server(request.url),
        "state": {},
        "extensions": {},
    }
    body_sent = False
    status: int | None = None
    headers: list[tuple[str, str]] = []
    chunks: list[bytes] = []
    complete = False
    finished = asyncio.Event()

    async def receive() -> Message:
        nonlocal body_sent
        if not body_sent:
            body_sent = True
            return {"type": "http.request", "body": content, "more_body": False}
        # the client stays until the answer is out, then goes (as trunkline's client does)
        await finished.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        nonlocal status, complete
        if message["type"] == "http.response.start":
            status = int(message["status"])
            headers.extend(
                (bytes(k).decode("latin-1"), bytes(v).decode("latin-1"))
                for k, v in message.get("headers", [])
            )
        elif message["type"] == "http.response.body":
            chunks.append(bytes(message.get("body", b"")))
            if not message.get("more_body", False):
                complete = True
                finished.set()

    try:
        await app(scope, receive, send)
    finally:
        finished.set()
    if status is None:
        raise RuntimeError(f"the ASGI app sent no response to {request.method} {request.url}")
    if not complete:
        raise RuntimeError(f"the ASGI app did not finish its response to {request.url}")
    return AppResponse(status, headers, b"".join(chunks))


def call_wsgi(app: WSGIApp, request: AppRequest) -> AppResponse:
    """Send ``request`` to a WSGI app (PEP 3333) and collect its response."""
    parts = urlsplit(request.url)
    host, port = _server(request.url)
    content = request.content
    environ: dict[str, Any] = {
        "REQUEST_METHOD": request.method.upper(),
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote(parts.path or "/").encode().decode("latin-1"),
        "QUERY_STRING": request.query,
        "SERVER_NAME": host,
        "SERVER_PORT": str(port),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": _CLIENT[0],
        "REMOTE_PORT": str(_CLIENT[1]),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": parts.scheme or "http",
        "wsgi.input": io.BytesIO(content),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for name, value in request.header_list():
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            environ[key] = value
        else:
            environ[f"HTTP_{key}"] = value
    started: list[tuple[str, list[tuple[str, str]]]] = []
    written: list[bytes] = []

    def start_response(
        status: str, response_headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], object]:
        if exc_info is not None and started:
            raise exc_info[1].with_traceback(exc_info[2])
        started[:] = [(status, list(response_headers))]
        return written.append

    result = app(environ, start_response)
    try:
        for chunk in result:
            written.append(bytes(chunk))
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    if not started:
        raise RuntimeError(f"the WSGI app did not start a response to {request.url}")
    status_line, response_headers = started[0]
    return AppResponse(int(status_line.split(" ", 1)[0]), response_headers, b"".join(written))
