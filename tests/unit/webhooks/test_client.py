"""The webhook client against real HTTP servers on 127.0.0.1.

The customer's app is a :class:`WebhookApp` served by uvicorn; misbehaving peers (a
server that drips bytes, resets or hangs up) are tiny raw asyncio servers.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gzip
import json
import socket
import ssl
import struct
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType
from typing import Any

import aiohttp
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult
from starlette.responses import Response, StreamingResponse

from trunkline.testing import ServedApp, WebhookApp
from trunkline.webhooks import (
    WebhookClient,
    WebhookRequest,
    WebhookResponse,
    answer_query,
    query_params,
)
from trunkline.webhooks.client import error_reason

NCCO = [{"action": "talk", "text": "Hello from the answer URL"}]

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture
async def webapp() -> AsyncIterator[WebhookApp]:
    yield WebhookApp()


@pytest.fixture
async def base(webapp: WebhookApp) -> AsyncIterator[str]:
    async with ServedApp(webapp.asgi()) as served:
        yield served.url


@pytest.fixture
async def client() -> AsyncIterator[WebhookClient]:
    async with WebhookClient() as c:
        yield c


def get(url: str, body: dict[str, Any] | None = None, **kw: Any) -> WebhookRequest:
    return WebhookRequest(url=url, method="GET", body=body or {}, kind="answer", **kw)


def post(url: str, body: dict[str, Any] | None = None, **kw: Any) -> WebhookRequest:
    return WebhookRequest(url=url, method="POST", body=body or {}, kind="event", **kw)


class RawServer:
    """A raw TCP server on loopback whose connections run ``handler``; owns their tasks."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._tasks: set[asyncio.Task[Any]] = set()
        self.url = ""

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


async def drip(writer: asyncio.StreamWriter, data: bytes, every: float = 0.02) -> None:
    """Send ``data`` one byte at a time, then keep sending spaces: a server that never ends."""
    for i in range(len(data)):
        writer.write(data[i : i + 1])
        await writer.drain()
        await asyncio.sleep(every)
    while True:
        writer.write(b" ")
        await writer.drain()
        await asyncio.sleep(every)


def closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    sock.close()
    return port


# --- requests on the wire ---------------------------------------------------------------


async def test_get_answer_sends_query_parameters_in_vonage_order(
    webapp: WebhookApp, base: str, client: WebhookClient
) -> None:
    webapp.route("/answer", NCCO)
    body = answer_query(
        "442079460000",
        "447700900000",
        "aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
        "CON-aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
        endpoint_type="phone",
        region_url="http://127.0.0.1:3000",
        custom_data={"key": "value", "n": [1, True, None]},
        early=False,
        retries=2,
        ratio=0.5,
        note=None,
    )
    response = await client.send(get(f"{base}/answer", body))

    assert response.ok and response.error is None
    assert response.status == 200
    assert response.json == NCCO
    [seen] = webapp.requests_to("/answer")
    assert seen.method == "GET"
    assert list(seen.query.items()) == [
        ("to", "442079460000"),
        ("from", "447700900000"),
        ("conversation_uuid", "CON-aaaaaaaa-bbbb-cccc-dddd-0123456789ab"),
        ("uuid", "aaaaaaaa-bbbb-cccc-dddd-0123456789ab"),
        ("endpoint_type", "phone"),
        ("region_url", "http://127.0.0.1:3000"),
        ("custom_data", '{"key":"value","n":[1,true,null]}'),
        ("early", "false"),
        ("retries", "2"),
        ("ratio", "0.5"),
    ]
    assert seen.json is None
    assert seen.headers["accept"] == "application/json"
    assert seen.headers["user-agent"] == "trunkline/0.1"
    assert "content-type" not in seen.headers


async def test_get_keeps_query_already_in_the_url(
    webapp: WebhookApp, base: str, client: WebhookClient
) -> None:
    webapp.route("/answer", NCCO)
    response = await client.send(get(f"{base}/answer?app=blue&x=1", {"to": "1 2+3&4"}))
    assert response.ok
    [seen] = webapp.requests_to("/answer")
    assert seen.query == {"app": "blue", "x": "1", "to": "1 2+3&4"}


async def test_post_event_sends_json_body(
    webapp: WebhookApp, base: str, client: WebhookClient
) -> None:
    webapp.route("/event", None)
    event = {
        "from": "442079460000",
        "to": "447700900000",
        "uuid": "aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
        "status": "completed",
        "sip_code": 200,
        "dtmf": {"digits": None, "timed_out": False},
        "text": "naïve ☎",
    }
    response = await client.send(post(f"{base}/event", event, headers={"X-Trace": "t-1"}))

    assert response.status == 204
    assert response.ok and not response.retryable
    assert response.json is None and response.text == ""
    [seen] = webapp.requests_to("/event")
    assert seen.method == "POST"
    assert seen.json == event
    assert seen.query == {}
    assert seen.headers["content-type"] == "application/json"
    assert seen.headers["x-trace"] == "t-1"


async def test_caller_headers_override_defaults(
    webapp: WebhookApp, base: str, client: WebhookClient
) -> None:
    webapp.route("/event", None)
    await client.send(post(f"{base}/event", headers={"User-Agent": "custom/1", "Accept": "*/*"}))
    [seen] = webapp.requests_to("/event")
    assert seen.headers["user-agent"] == "custom/1"
    assert seen.headers["accept"] == "*/*"


async def test_caller_headers_override_defaults_whatever_their_case(
    client: WebhookClient,
) -> None:
    heads: list[bytes] = []

    async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        heads.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        await writer.drain()
        await reader.read()

    async with RawServer(record) as server:
        await client.send(post(f"{server.url}/event", headers={"user-agent": "custom/2"}))
    [head] = heads
    agents = [line for line in head.lower().split(b"\r\n") if line.startswith(b"user-agent:")]
    assert agents == [b"user-agent: custom/2"]


async def test_repeated_response_headers_are_joined(client: WebhookClient) -> None:
    async def twice(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 204 No Content\r\nX-Tag: a\r\nx-tag: b\r\n\r\n")
        await writer.drain()
        await reader.read()

    async with RawServer(twice) as server:
        response = await client.send(get(f"{server.url}/answer"))
    assert response.headers["x-tag"] == "a, b"


async def test_one_pool_reuses_the_connection(client: WebhookClient) -> None:
    connections = 0

    async def keep_alive(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        while True:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
            await writer.drain()

    async with RawServer(keep_alive) as server:
        for _ in range(3):
            assert (await client.send(get(f"{server.url}/answer"))).status == 204
    assert connections == 1


# --- response bodies --------------------------------------------------------------------


async def test_empty_200_body(webapp: WebhookApp, base: str, client: WebhookClient) -> None:
    webapp.route("/event", None, status=200)
    response = await client.send(post(f"{base}/event"))
    assert (response.status, response.json, response.text, response.ok) == (200, None, "", True)


async def test_non_json_body_keeps_text_and_no_json(
    webapp: WebhookApp, base: str, client: WebhookClient
) -> None:
    html = "<html><body>Welcome</body></html>"
    webapp.route("/answer", Response(html, media_type="text/html"))
    response = await client.send(get(f"{base}/answer"))
    assert response.ok
    assert response.json is None
    assert response.text == html
    assert response.headers["content-type"].startswith("text/html")


async def test_json_is_parsed_whatever_the_content_type(
    webapp: WebhookApp, base: str, client: WebhookClient
) -> None:
    webapp.route("/answer", Response('[{"action":"talk","text":"hi"}]', media_type="text/plain"))
    response = await client.send(get(f"{base}/answer"))
    assert response.json == [{"action": "talk", "text": "hi"}]


async def test_text_is_capped_at_64_kib(
    webapp: WebhookApp, base: str, client: WebhookClient
) -> None:
    webapp.route("/big", Response("x" * 100_000, media_type="text/plain"))
    response = await client.send(get(f"{base}/big"))
    assert response.ok
    assert len(response.text) == 64 * 1024


# --- statuses and the retry rule --------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "ok", "retryable"),
    [
        (200, True, False),
        (201, True, False),
        (301, False, False),
        (401, False, False),
        (404, False, False),
        (429, False, True),
        (500, False, False),
        (502, False, False),
        (503, False, True),
        (504, False, True),
    ],
)
def test_retry_rule_for_statuses(status: int, ok: bool, retryable: bool) -> None:
    response = WebhookResponse(status=status, json=None, text="", error=None, latency=0.0)
    assert (response.ok, response.retryable) == (ok, retryable)


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        ("connect timeout", True),
        ("read timeout", True),
        ("connection refused", True),
        ("connection reset", True),
        ("invalid URL", False),
        ("response too large", False),
        ("name resolution failed", False),
        ("TLS error", False),
    ],
)
def test_retry_rule_for_errors(error: str, retryable: bool) -> None:
    response = WebhookResponse(status=None, json=None, text="", error=error, latency=0.0)
    assert not response.ok
    assert response.retryable is retryable


async def test_http_error_statuses_over_the_wire(
    webapp: WebhookApp, base: str, client: WebhookClient
) -> None:
    webapp.route("/boom", {"error": "internal"}, status=500)
    webapp.route("/busy", None, status=429)
    webapp.route("/down", Response("maintenance", status_code=503))
    results = {
        path: await client.send(get(f"{base}{path}"))
        for path in ("/missing", "/boom", "/busy", "/down")
    }
    summary = {p: (r.status, r.error, r.ok, r.retryable) for p, r in results.items()}
    assert summary == {
        "/missing": (404, None, False, False),
        "/boom": (500, None, False, False),
        "/busy": (429, None, False, True),
        "/down": (503, None, False, True),
    }
    assert results["/boom"].json == {"error": "internal"}
    assert results["/down"].text == "maintenance"


async def test_redirects_are_not_followed(
    webapp: WebhookApp, base: str, client: WebhookClient
) -> None:
    webapp.route("/old", Response(status_code=302, headers={"location": f"{base}/new"}))
    webapp.route("/new", NCCO)
    response = await client.send(get(f"{base}/old"))
    assert (response.status, response.ok, response.error) == (302, False, None)
    assert webapp.requests_to("/new") == []


# --- transport failures -----------------------------------------------------------------


async def test_connection_refused(client: WebhookClient) -> None:
    response = await client.send(get(f"http://127.0.0.1:{closed_port()}/answer"))
    assert (response.status, response.error) == (None, "connection refused")
    assert response.retryable and not response.ok
    assert response.json is None and response.text == ""


async def test_connect_timeout(client: WebhookClient) -> None:
    # A listener that never accepts, with its backlog full: the kernel drops our SYN.
    listener = socket.socket()
    fillers = [socket.socket() for _ in range(3)]
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        for filler in fillers:
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
        response = await client.send(
            get(f"http://127.0.0.1:{port}/", connect_timeout=0.1, read_timeout=1.0)
        )
    finally:
        for s in [*fillers, listener]:
            s.close()
    assert (response.status, response.error) == (None, "connect timeout")
    assert response.retryable
    assert 0.09 <= response.latency < 1.0


async def test_read_timeout(webapp: WebhookApp, base: str, client: WebhookClient) -> None:
    webapp.route("/slow", NCCO, delay=0.5)
    response = await client.send(get(f"{base}/slow", read_timeout=0.2))
    assert (response.status, response.error) == (None, "read timeout")
    assert response.retryable
    assert 0.19 <= response.latency < 0.5


async def test_server_hangs_up_without_answering(client: WebhookClient) -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")

    async with RawServer(hang_up) as server:
        response = await client.send(post(f"{server.url}/event"))
    assert (response.status, response.error) == (None, "connection reset")
    assert response.retryable


async def test_server_resets_the_connection(client: WebhookClient) -> None:
    async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    async with RawServer(reset) as server:
        response = await client.send(get(f"{server.url}/answer"))
    assert (response.status, response.error) == (None, "connection reset")
    assert response.retryable


async def test_a_dropped_get_is_not_resent(client: WebhookClient) -> None:
    # one attempt is one request: retrying is the caller's decision (spec §3.1)
    connections = 0

    async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await reader.readuntil(b"\r\n\r\n")
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    async with RawServer(reset) as server:
        response = await client.send(get(f"{server.url}/answer"))
    assert response.error == "connection reset"
    assert connections == 1


async def test_body_cut_short_is_no_answer(client: WebhookClient) -> None:
    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n[{")
        await writer.drain()

    async with RawServer(cut) as server:
        response = await client.send(get(f"{server.url}/answer"))
    assert (response.status, response.error) == (None, "connection reset")
    assert response.retryable and not response.ok
    assert response.json is None and response.text == "" and response.headers == {}


async def test_garbage_instead_of_http(client: WebhookClient) -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
        await writer.drain()
        await reader.read()

    async with RawServer(garbage) as server:
        response = await client.send(get(f"{server.url}/answer"))
    assert (response.status, response.error) == (None, "protocol error")
    assert not response.retryable


@pytest.mark.parametrize(
    "url",
    [
        "",
        "answer",
        "/answer",
        "ftp://example.com/answer",
        "http://",
        "http://[::1/answer",
        "http://127.0.0.1:99999/answer",
        "mailto:ops@example.com",
    ],
)
async def test_invalid_url(client: WebhookClient, url: str) -> None:
    response = await client.send(get(url))
    assert (response.status, response.error) == (None, "invalid URL")
    assert not response.retryable and not response.ok


async def test_response_too_large_by_content_length(webapp: WebhookApp, base: str) -> None:
    webapp.route("/answer", [{"action": "talk", "text": "x" * 2000}])
    async with WebhookClient(max_body=1000) as small:
        response = await small.send(get(f"{base}/answer"))
    assert (response.status, response.error) == (None, "response too large")
    assert not response.ok and not response.retryable
    assert response.json is None and response.text == ""


async def test_response_too_large_while_streaming(webapp: WebhookApp, base: str) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(64):  # 32 KiB with no Content-Length: the client has to count
            yield b"x" * 512

    webapp.route("/answer", lambda _: StreamingResponse(chunks()))
    async with WebhookClient(max_body=4096) as small:
        response = await small.send(get(f"{base}/answer"))
    assert (response.status, response.error) == (None, "response too large")


async def test_slow_drip_body_is_cut_at_the_deadline(client: WebhookClient) -> None:
    async def dribble(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
        await drip(writer, b"[")

    async with RawServer(dribble) as server:
        response = await client.send(
            get(f"{server.url}/answer", connect_timeout=0.1, read_timeout=0.3)
        )
    # each byte comes well within the read timeout; the total deadline is 0.1 + 0.3 s
    assert (response.status, response.error) == (None, "read timeout")
    assert response.retryable
    assert 0.39 <= response.latency < 1.0


async def test_slow_drip_headers_are_cut_at_the_deadline(client: WebhookClient) -> None:
    async def dribble(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await drip(writer, b"HTTP/1.1 200 OK\r\nX-Slow: ")

    async with RawServer(dribble) as server:
        response = await client.send(
            post(f"{server.url}/event", connect_timeout=0.1, read_timeout=0.3)
        )
    assert (response.status, response.error) == (None, "read timeout")
    assert 0.39 <= response.latency < 1.0


async def test_malformed_chunked_body(client: WebhookClient) -> None:
    async def bad_chunk(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n[]\r\n0\r\n\r\n")
        await writer.drain()
        await reader.read()

    async with RawServer(bad_chunk) as server:
        response = await client.send(get(f"{server.url}/answer"))
    assert (response.status, response.error) == (None, "protocol error")


async def test_connection_closed_in_the_middle_of_the_chunks(client: WebhookClient) -> None:
    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n[{")
        await writer.drain()

    async with RawServer(cut) as server:
        response = await client.send(get(f"{server.url}/answer"))
    assert (response.status, response.error) == (None, "connection reset")


async def test_headers_too_long_are_a_protocol_error(client: WebhookClient) -> None:
    async def huge(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n")
        await writer.drain()
        await reader.read()

    async with RawServer(huge) as server:
        response = await client.send(get(f"{server.url}/answer"))
    assert (response.status, response.error) == (None, "protocol error")


async def test_tls_handshake_with_a_plain_http_server(client: WebhookClient) -> None:
    async def plain(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        await reader.read()

    async with RawServer(plain) as server:
        url = server.url.replace("http://", "https://")
        response = await client.send(get(f"{url}/answer"))
    assert (response.status, response.error) == (None, "TLS error")
    assert not response.retryable


class NoNames(AbstractResolver):
    """A resolver that knows no host names, as DNS answers for an unregistered domain."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.asked.append(host)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    async def close(self) -> None:
        pass


async def test_name_resolution_failure() -> None:
    resolver = NoNames()
    async with WebhookClient(resolver=resolver) as c:
        response = await c.send(get("http://app.example.com/answer"))
    assert (response.status, response.error) == (None, "name resolution failed")
    assert not response.retryable
    assert resolver.asked == ["app.example.com"]


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Trace": "t-1\r\nX-Injected: 1"},
        {"X Trace": "t-1"},
        {"X-Trace:": "t-1"},
    ],
)
async def test_invalid_headers_are_not_sent(
    webapp: WebhookApp, base: str, client: WebhookClient, headers: dict[str, str]
) -> None:
    webapp.route("/event", None)
    response = await client.send(post(f"{base}/event", headers=headers))
    assert (response.status, response.error) == (None, "invalid request")
    assert not response.retryable
    assert webapp.requests_to("/event") == []


async def test_host_name_that_cannot_be_encoded_is_an_invalid_url(client: WebhookClient) -> None:
    response = await client.send(get(f"http://{'a' * 64}.example.com/answer"))
    assert (response.status, response.error) == (None, "invalid URL")


# --- compressed answers -----------------------------------------------------------------


def compressed(body: bytes, coding: str) -> Response:
    data = gzip.compress(body) if coding == "gzip" else zlib.compress(body)
    if coding == "raw deflate":
        data, coding = data[2:-4], "deflate"  # no zlib header and checksum
    return Response(data, media_type="application/json", headers={"content-encoding": coding})


@pytest.mark.parametrize("coding", ["gzip", "deflate", "raw deflate"])
async def test_compressed_answer_is_decoded(
    webapp: WebhookApp, base: str, client: WebhookClient, coding: str
) -> None:
    webapp.route("/answer", compressed(json.dumps(NCCO).encode(), coding))
    response = await client.send(get(f"{base}/answer"))
    assert response.ok
    assert response.json == NCCO
    [seen] = webapp.requests_to("/answer")
    assert seen.headers["accept-encoding"] == "identity"


async def test_compressed_answer_cannot_inflate_past_max_body(
    webapp: WebhookApp, base: str
) -> None:
    bomb = compressed(b"[" + b" " * 10_000_000 + b"]", "gzip")  # ~10 KB on the wire
    webapp.route("/answer", bomb)
    async with WebhookClient(max_body=100_000) as small:
        response = await small.send(get(f"{base}/answer"))
    assert (response.status, response.error) == (None, "response too large")
    assert not response.retryable


async def test_corrupt_compressed_answer(
    webapp: WebhookApp, base: str, client: WebhookClient
) -> None:
    webapp.route(
        "/answer",
        Response(
            b"not gzip at all", media_type="application/json", headers={"content-encoding": "gzip"}
        ),
    )
    response = await client.send(get(f"{base}/answer"))
    assert (response.status, response.error) == (None, "invalid content encoding")
    assert not response.retryable


# --- translation of errors loopback cannot produce --------------------------------------


def _raised_from(exc: BaseException, cause: BaseException) -> BaseException:
    try:
        raise exc from cause
    except BaseException as raised:
        return raised


@pytest.mark.parametrize(
    ("raised", "reason"),
    [
        (aiohttp.ConnectionTimeoutError("Connection timeout to host"), "connect timeout"),
        (aiohttp.SocketTimeoutError("Timeout on reading data from socket"), "read timeout"),
        (TimeoutError(), "read timeout"),
        (aiohttp.ClientOSError(errno.ECONNREFUSED, "refused"), "connection refused"),
        (aiohttp.ClientOSError(errno.EPIPE, "broken pipe"), "connection reset"),
        (aiohttp.ClientOSError(errno.EHOSTUNREACH, "no route to host"), "host unreachable"),
        (aiohttp.ClientOSError(errno.ENETUNREACH, "network unreachable"), "host unreachable"),
        (ConnectionAbortedError(), "connection reset"),
        (
            _raised_from(aiohttp.ClientOSError(), socket.gaierror(-3, "again")),
            "name resolution failed",
        ),
        (
            _raised_from(aiohttp.ClientOSError(), ssl.SSLCertVerificationError("verify failed")),
            "TLS error",
        ),
        (aiohttp.InvalidURL("gopher://x"), "invalid URL"),
        (ValueError("Newline or carriage return detected in headers"), "invalid request"),
        (aiohttp.ClientPayloadError("Response payload is not completed"), "connection reset"),
        (aiohttp.ClientConnectionError("something else"), "network error"),
        (OSError("weird"), "network error"),
    ],
)
def test_exceptions_are_translated(raised: BaseException, reason: str) -> None:
    assert error_reason(raised) == reason


# --- pure helpers and request validation ------------------------------------------------


def test_answer_query_order_and_omissions() -> None:
    q = answer_query("123", None, "u-1", "CON-1", from_user="JaneDoe", region_url=None)
    assert list(q.items()) == [
        ("to", "123"),
        ("conversation_uuid", "CON-1"),
        ("uuid", "u-1"),
        ("from_user", "JaneDoe"),
    ]
    sip = answer_query("1", "2", "u", "c", **{"SipHeader_X-UserId": "1938ND9"})
    assert list(sip) == ["to", "from", "conversation_uuid", "uuid", "SipHeader_X-UserId"]


def test_query_params_encoding() -> None:
    body = {
        "digits": "12#",
        "timed_out": True,
        "nothing": None,
        "size": 12222,
        "dtmf": {"digits": None, "timed_out": False},
        "results": [{"text": "sales", "confidence": "0.94"}],
        "pair": ("a", 1),
        "word": "naïve",
    }
    assert query_params(body) == [
        ("digits", "12#"),
        ("timed_out", "true"),
        ("size", "12222"),
        ("dtmf", '{"digits":null,"timed_out":false}'),
        ("results", '[{"text":"sales","confidence":"0.94"}]'),
        ("pair", '["a",1]'),
        ("word", "naïve"),
    ]
    with pytest.raises(TypeError):
        query_params({"when": object()})


def test_client_is_made_outside_a_loop_and_sends_inside_one(webapp: WebhookApp) -> None:
    client = WebhookClient()  # as HttpWebhooks does; the session waits for a loop
    webapp.route("/answer", NCCO)

    async def use() -> WebhookResponse:
        async with ServedApp(webapp.asgi()) as served, client:
            return await client.send(get(f"{served.url}/answer"))

    assert asyncio.run(use()).json == NCCO


async def test_closed_client_refuses_to_send(base: str) -> None:
    client = WebhookClient()
    await client.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await client.send(get(f"{base}/answer"))


def test_request_method_is_checked_and_normalised() -> None:
    assert WebhookRequest("http://a/", "post", {}, "event").method == "POST"
    with pytest.raises(ValueError, match="GET or POST"):
        WebhookRequest("http://a/", "PUT", {}, "event")
    with pytest.raises(ValueError, match="positive"):
        WebhookRequest("http://a/", "GET", {}, "answer", read_timeout=0)


async def test_unencodable_body_is_the_callers_bug(client: WebhookClient) -> None:
    with pytest.raises(TypeError):
        await client.send(post("http://127.0.0.1:1/event", {"when": object()}))
