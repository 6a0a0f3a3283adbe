"""The webhook HTTP client: one attempt at one webhook, over a shared connection pool.

This is the shell that meets the network on behalf of the platform (answer, fallback,
event, input, notify, record and transfer webhooks — spec §3). It makes exactly one
attempt; retries and the fallback URL (§3.1, §3.12) belong to the layer above, which
decides from :attr:`WebhookResponse.retryable`.

:meth:`WebhookClient.send` never raises for network or HTTP problems: every httpx and
OS exception is translated here into a short :attr:`WebhookResponse.error` reason.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import socket
import ssl
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Final

import httpx

from trunkline.engine.hooks import RETRYABLE_ERRORS, RETRYABLE_STATUSES

log = logging.getLogger(__name__)

#: How much of the body :attr:`WebhookResponse.text` keeps (characters).
TEXT_CAP: Final = 64 * 1024

CONNECT_TIMEOUT: Final = "connect timeout"
READ_TIMEOUT: Final = "read timeout"
WRITE_TIMEOUT: Final = "write timeout"
POOL_TIMEOUT: Final = "pool timeout"
CONNECTION_REFUSED: Final = "connection refused"
CONNECTION_RESET: Final = "connection reset"
NAME_RESOLUTION: Final = "name resolution failed"
HOST_UNREACHABLE: Final = "host unreachable"
TLS_ERROR: Final = "TLS error"
CONNECT_ERROR: Final = "connect error"
READ_ERROR: Final = "read error"
WRITE_ERROR: Final = "write error"
PROTOCOL_ERROR: Final = "protocol error"
INVALID_URL: Final = "invalid URL"
INVALID_REQUEST: Final = "invalid request"
BAD_ENCODING: Final = "invalid content encoding"
TOO_LARGE: Final = "response too large"
NETWORK_ERROR: Final = "network error"

# The retry rule is defined once, with the engine's view of a webhook result; a peer
# that closes before the answer is complete is reported as "connection reset".

_METHODS: Final = frozenset({"GET", "POST"})


@dataclass(frozen=True)
class WebhookRequest:
    """One webhook to send.

    ``body`` is a JSON object: sent as the JSON body of a POST, or as query parameters
    of a GET (see :func:`query_params` for the encoding). ``method`` is normalised to
    upper case; anything but GET or POST is a :class:`ValueError`.
    """

    url: str
    method: str
    body: Mapping[str, Any]
    kind: str
    connect_timeout: float = 1.0
    read_timeout: float = 10.0
    headers: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        method = self.method.upper()
        if method not in _METHODS:
            raise ValueError(f"webhook method must be GET or POST, not {self.method!r}")
        object.__setattr__(self, "method", method)
        if self.connect_timeout <= 0 or self.read_timeout <= 0:
            raise ValueError("webhook timeouts must be positive")


@dataclass(frozen=True)
class WebhookResponse:
    """What came back from one attempt.

    Exactly one of ``status`` and ``error`` is None. ``error`` is None when a complete
    HTTP response arrived (whatever its status); otherwise it is a short reason such
    as ``"connect timeout"``, and ``status`` is None even if the headers had arrived
    (a body cut short, too large, or too slow is no answer).
    """

    status: int | None
    json: Any
    text: str
    error: str | None
    latency: float
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """A complete 2xx response (spec §3.1: any 2xx is success)."""
        return self.status is not None and 200 <= self.status < 300

    @property
    def retryable(self) -> bool:
        """Vonage's retry rule for NCCO webhooks (spec §3.1)."""
        if self.error is not None:
            return self.error in RETRYABLE_ERRORS
        return self.status in RETRYABLE_STATUSES


def answer_query(
    to: str,
    from_: str | None,
    uuid: str,
    conversation_uuid: str,
    **extra: Any,
) -> dict[str, Any]:
    """Answer webhook parameters in Vonage's order (spec §3.2).

    ``to, from, conversation_uuid, uuid``, then ``extra`` in the order given (for
    example ``endpoint_type``, ``region_url``, ``SipHeader_X-…``). ``from`` is left out
    when ``from_`` is None (a call from a Client SDK user carries ``from_user``), and
    so is any extra whose value is None.
    """
    params: dict[str, Any] = {"to": to}
    if from_ is not None:
        params["from"] = from_
    params["conversation_uuid"] = conversation_uuid
    params["uuid"] = uuid
    params.update((k, v) for k, v in extra.items() if v is not None)
    return params


def query_params(body: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Encode a webhook body as query parameters for a GET webhook (spec §3.1).

    Scalars become strings, booleans ``"true"``/``"false"``, None values are left out,
    and nested objects and arrays (``dtmf``, ``speech``, ``custom_data``) become compact
    JSON strings. Order is kept.
    """
    return [(str(k), _query_value(v)) for k, v in body.items() if v is not None]


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, Mapping | list | tuple):
        return _dumps(value)
    raise TypeError(f"cannot encode {type(value).__name__} as a webhook query parameter")


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


class _TooLarge(Exception):
    """The body passed ``max_body``."""


class _BadURL(Exception):
    """Not an absolute http(s) URL with a host and a valid port."""


def _encode_body(req: WebhookRequest) -> tuple[bytes | None, list[tuple[str, str]]]:
    """POST: the JSON body; GET: the query parameters."""
    if req.method == "POST":
        return _dumps(req.body).encode(), []
    return None, query_params(req.body)


class WebhookClient:
    """Sends webhooks over one shared :class:`httpx.AsyncClient` (pooled connections).

    Each :meth:`send` is bounded three ways: the connect timeout, the read timeout
    between bytes, and a total deadline of connect + read timeouts, so a server that
    drips its answer a byte at a time cannot hold the call flow. Bodies beyond
    ``max_body`` bytes are not read. ``transport`` swaps the network (for example
    :class:`httpx.MockTransport`).
    """

    def __init__(
        self,
        *,
        max_body: int = 1_048_576,
        user_agent: str = "trunkline/0.1",
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if max_body <= 0:
            raise ValueError("max_body must be positive")
        self.max_body = max_body
        self.user_agent = user_agent
        self._http = httpx.AsyncClient(
            transport=transport,
            follow_redirects=False,
            trust_env=False,
        )

    async def __aenter__(self) -> WebhookClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close pooled connections; the client cannot send afterwards."""
        await self._http.aclose()

    async def send(self, req: WebhookRequest) -> WebhookResponse:
        """Make one attempt at ``req``; network and HTTP problems come back as ``error``.

        A body that cannot be encoded as JSON (a caller's bug, not the network's) raises
        :class:`TypeError` or :class:`ValueError`.
        """
        started = time.perf_counter()
        state = _Progress()
        content, params = _encode_body(req)
        try:
            request = self._build(req, content, params)
        except (httpx.InvalidURL, _BadURL):
            return self._finish(req, state, started, INVALID_URL)
        try:
            async with asyncio.timeout(req.connect_timeout + req.read_timeout):
                await self._exchange(request, state)
        except TimeoutError:
            # The total deadline: the connect timeout is shorter, so the peer was slow
            # to answer after connecting (a "socket timeout" in Vonage's terms).
            return self._finish(req, state, started, READ_TIMEOUT)
        except _TooLarge:
            return self._finish(req, state, started, TOO_LARGE)
        except httpx.HTTPError as exc:
            return self._finish(req, state, started, _reason(exc))
        except OSError as exc:
            return self._finish(req, state, started, _os_reason(exc) or NETWORK_ERROR)
        return self._finish(req, state, started, None)

    def _build(
        self, req: WebhookRequest, content: bytes | None, params: list[tuple[str, str]]
    ) -> httpx.Request:
        headers = {
            "User-Agent": self.user_agent,
            "Accept": "application/json",
            # Webhook answers are small; identity keeps a compressed body from
            # inflating far past max_body in one decoded chunk.
            "Accept-Encoding": "identity",
        }
        if content is not None:
            headers["Content-Type"] = "application/json"
        headers.update(req.headers)
        url = _check_url(req.url)
        if params:
            # merge: a query string already in the configured URL is kept
            url = url.copy_merge_params(tuple(params))
        timeout = httpx.Timeout(
            connect=req.connect_timeout,
            read=req.read_timeout,
            write=req.read_timeout,
            pool=req.connect_timeout,
        )
        return self._http.build_request(
            req.method, url, content=content, headers=headers, timeout=timeout
        )

    async def _exchange(self, request: httpx.Request, state: _Progress) -> None:
        response = await self._http.send(request, stream=True)
        try:
            state.status = response.status_code
            state.headers = {k.lower(): v for k, v in response.headers.items()}
            state.encoding = response.charset_encoding
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self.max_body:
                raise _TooLarge
            async for chunk in response.aiter_bytes():
                state.body.extend(chunk)
                if len(state.body) > self.max_body:
                    raise _TooLarge
        finally:
            await response.aclose()

    def _finish(
        self, req: WebhookRequest, state: _Progress, started: float, error: str | None
    ) -> WebhookResponse:
        latency = time.perf_counter() - started
        text = ""
        parsed: Any = None
        if error is None:
            text = _decode(state.body, state.encoding)[:TEXT_CAP]
            parsed = _parse_json(state.body)
        result = WebhookResponse(
            status=state.status if error is None else None,
            json=parsed,
            text=text,
            error=error,
            latency=latency,
            headers=state.headers if error is None else {},
        )
        log.log(
            logging.DEBUG if error is None else logging.INFO,
            "webhook %s %s %s -> %s%s in %.3fs",
            req.kind,
            req.method,
            req.url,
            state.status,
            f" ({error})" if error else "",
            latency,
        )
        return result


@dataclass
class _Progress:
    """What one exchange got before it ended (well or not)."""

    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    encoding: str | None = None
    body: bytearray = field(default_factory=bytearray)


def _check_url(url: str) -> httpx.URL:
    parsed = httpx.URL(url)
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise _BadURL(url)
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise _BadURL(url)
    return parsed


def _decode(body: bytearray, encoding: str | None) -> str:
    try:
        return body.decode(encoding or "utf-8", errors="replace")
    except LookupError:  # an unknown charset name
        return body.decode("utf-8", errors="replace")


def _parse_json(body: bytearray) -> Any:
    if not body.strip():
        return None
    try:
        return json.loads(body)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError
        return None


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and everything behind it: causes, contexts and exception-group members."""
    seen: set[int] = set()
    stack = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        if isinstance(current, BaseExceptionGroup):
            stack.extend(current.exceptions)
        for nxt in (current.__cause__, current.__context__):
            if nxt is not None:
                stack.append(nxt)


def _os_reason(exc: BaseException) -> str | None:
    for cause in _causes(exc):
        if isinstance(cause, socket.gaierror):
            return NAME_RESOLUTION
        if isinstance(cause, ssl.SSLError | ssl.CertificateError):
            return TLS_ERROR
        if isinstance(cause, ConnectionRefusedError):
            return CONNECTION_REFUSED
        if isinstance(cause, ConnectionResetError | BrokenPipeError | ConnectionAbortedError):
            return CONNECTION_RESET
        if isinstance(cause, OSError) and cause.errno is not None:
            if cause.errno == errno.ECONNREFUSED:
                return CONNECTION_REFUSED
            if cause.errno in (errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED):
                return CONNECTION_RESET
            if cause.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
                return HOST_UNREACHABLE
    return None


def _reason(exc: httpx.HTTPError) -> str:
    """Translate an httpx exception into a short reason (the boundary of rule 8)."""
    if isinstance(exc, httpx.ConnectTimeout):
        return CONNECT_TIMEOUT
    if isinstance(exc, httpx.ReadTimeout):
        return READ_TIMEOUT
    if isinstance(exc, httpx.WriteTimeout):
        return WRITE_TIMEOUT
    if isinstance(exc, httpx.PoolTimeout):
        return POOL_TIMEOUT
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return INVALID_URL
    if isinstance(exc, httpx.LocalProtocolError):
        return INVALID_REQUEST
    if isinstance(exc, httpx.DecodingError):
        return BAD_ENCODING
    if isinstance(exc, httpx.RemoteProtocolError):
        # httpcore: "Server disconnected without sending a response."; h11: "peer
        # closed connection without sending complete message body".
        message = str(exc).lower()
        if "disconnected" in message or "closed connection" in message:
            return CONNECTION_RESET
        return PROTOCOL_ERROR
    os_reason = _os_reason(exc)
    if os_reason is not None:
        return os_reason
    if isinstance(exc, httpx.ConnectError):
        return CONNECT_ERROR
    if isinstance(exc, httpx.ReadError):
        return READ_ERROR
    if isinstance(exc, httpx.WriteError):
        return WRITE_ERROR
    return NETWORK_ERROR
