"""The webhook HTTP client: one attempt at one webhook, over a shared connection pool.

This is the shell that meets the network on behalf of the platform (answer, fallback,
event, input, notify, record and transfer webhooks — spec §3). It makes exactly one
attempt; retries and the fallback URL (§3.1, §3.12) belong to the layer above, which
decides from :attr:`WebhookResponse.retryable`.

:meth:`WebhookClient.send` never raises for network or HTTP problems: every aiohttp and
OS exception is translated here (:func:`error_reason`) into a short
:attr:`WebhookResponse.error` reason.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import re
import socket
import ssl
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Final

import aiohttp
from aiohttp import http_exceptions
from aiohttp.abc import AbstractResolver
from yarl import URL

from trunkline.engine.hooks import RETRYABLE_ERRORS, RETRYABLE_STATUSES
from trunkline.webhooks.content_coding import (
    BodyTooLarge,
    ContentDecoder,
    ContentDecodingError,
)
from trunkline.webhooks.guard import FORBIDDEN_ADDRESS, ForbiddenAddress, GuardedResolver, UrlGuard
from trunkline.webhooks.params import _dumps, query_params

log = logging.getLogger(__name__)

#: How much of the body :attr:`WebhookResponse.text` keeps (characters).
TEXT_CAP: Final = 64 * 1024

CONNECT_TIMEOUT: Final = "connect timeout"
READ_TIMEOUT: Final = "read timeout"
CONNECTION_REFUSED: Final = "connection refused"
CONNECTION_RESET: Final = "connection reset"
NAME_RESOLUTION: Final = "name resolution failed"
HOST_UNREACHABLE: Final = "host unreachable"
TLS_ERROR: Final = "TLS error"
CONNECT_ERROR: Final = "connect error"
PROTOCOL_ERROR: Final = "protocol error"
INVALID_URL: Final = "invalid URL"
INVALID_REQUEST: Final = "invalid request"
BAD_ENCODING: Final = "invalid content encoding"
TOO_LARGE: Final = "response too large"
NETWORK_ERROR: Final = "network error"

# The retry rule is defined once, with the engine's view of a webhook result; a peer
# that closes before the answer is complete is reported as "connection reset".

_METHODS: Final = frozenset({"GET", "POST"})

#: A header field name (RFC 9110 §5.1: a token); aiohttp checks values, not names.
_HEADER_NAME: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")

#: Connections open at once, in all and to one host (aiohttp waits for a free one).
POOL_LIMIT: Final = 200
POOL_LIMIT_PER_HOST: Final = 100
#: Seconds a resolved host name is reused before it is looked up again.
DNS_CACHE_TTL: Final = 30


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


class _BadURL(Exception):
    """Not an absolute http(s) URL with a host and a valid port."""


def _encode_body(req: WebhookRequest) -> tuple[bytes | None, list[tuple[str, str]]]:
    """POST: the JSON body; GET: the query parameters."""
    if req.method == "POST":
        return _dumps(req.body).encode(), []
    return None, query_params(req.body)


class WebhookClient:
    """Sends webhooks over one shared :class:`aiohttp.ClientSession` (pooled connections).

    Each :meth:`send` is bounded three ways: the connect timeout (which also covers
    name resolution and waiting for a free pooled connection), the read timeout
    between bytes, and a total deadline of connect + read timeouts, so a server that
    drips its answer a byte at a time cannot hold the call flow. Bodies beyond
    ``max_body`` bytes (after undoing any compression) are not read.

    The session is created on the first :meth:`send`, inside the running event loop,
    and the client stays bound to that loop. ``resolver`` replaces aiohttp's host name
    resolver (for example a fake one in tests). ``guard`` refuses forbidden addresses
    (see :mod:`trunkline.webhooks.guard`): literal ones in the URL before connecting, and
    resolved ones through a :class:`GuardedResolver` wrapped around ``resolver``; a
    refusal is the error ``"forbidden address"``. Redirects are never followed.
    """

    def __init__(
        self,
        *,
        max_body: int = 1_048_576,
        user_agent: str = "trunkline/0.1",
        resolver: AbstractResolver | None = None,
        guard: UrlGuard | None = None,
    ) -> None:
        if max_body <= 0:
            raise ValueError("max_body must be positive")
        self.max_body = max_body
        self.user_agent = user_agent
        self.guard = guard
        if guard is not None:
            resolver = GuardedResolver(guard, resolver)
        self._resolver = resolver
        self._http: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

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
        self._closed = True
        if self._http is not None:
            await self._http.close()

    async def send(self, req: WebhookRequest) -> WebhookResponse:
        """Make one attempt at ``req``; network and HTTP problems come back as ``error``.

        A body that cannot be encoded as JSON (a caller's bug, not the network's) raises
        :class:`TypeError` or :class:`ValueError`; so does sending on a closed client
        (:class:`RuntimeError`).
        """
        started = time.perf_counter()
        state = _Progress()
        content, params = _encode_body(req)
        session = self._session()
        try:
            url = _check_url(req.url)
        except (ValueError, _BadURL):
            return self._finish(req, state, started, INVALID_URL)
        if self.guard is not None and url.raw_host is not None:
            why = self.guard.host_problem(url.raw_host)
            if why is not None:
                log.warning("webhook %s %s refused: %s", req.kind, req.url, why)
                return self._finish(req, state, started, FORBIDDEN_ADDRESS)
        if params:
            # merge: a query string already in the configured URL is kept
            url = url.extend_query(params)
        deadline = req.connect_timeout + req.read_timeout
        timeout = aiohttp.ClientTimeout(
            total=deadline,
            connect=req.connect_timeout,
            sock_connect=req.connect_timeout,
            sock_read=req.read_timeout,
        )
        try:
            # aiohttp's own total timeout rounds deadlines of 5 s and more up to a
            # whole second; this one is exact, and also covers decoding the body.
            async with asyncio.timeout(deadline):
                await self._exchange(session, req, url, content, timeout, state)
        except BodyTooLarge:
            return self._finish(req, state, started, TOO_LARGE)
        except ContentDecodingError:
            return self._finish(req, state, started, BAD_ENCODING)
        except (
            aiohttp.ClientError,
            http_exceptions.HttpProcessingError,  # raised bare by the pure-Python parser
            OSError,  # includes TimeoutError: aiohttp's timeouts and our deadline
            ValueError,
        ) as exc:
            return self._finish(req, state, started, error_reason(exc))
        except Exception as exc:
            # Anything else from inside aiohttp is still the network's problem, not the
            # caller's: report it rather than crash the call flow.
            log.warning("webhook %s %s: unexpected %r", req.kind, req.url, exc, exc_info=True)
            return self._finish(req, state, started, NETWORK_ERROR)
        return self._finish(req, state, started, None)

    def _session(self) -> aiohttp.ClientSession:
        """The shared session, created on first use in the running loop."""
        if self._closed:
            raise RuntimeError("cannot send a webhook: the WebhookClient is closed")
        loop = asyncio.get_running_loop()
        if self._http is None:
            connector = aiohttp.TCPConnector(
                limit=POOL_LIMIT,
                limit_per_host=POOL_LIMIT_PER_HOST,
                ttl_dns_cache=DNS_CACHE_TTL,
                resolver=self._resolver,
            )
            self._http = aiohttp.ClientSession(
                connector=connector,
                trust_env=False,  # no proxies or .netrc from the environment
                cookie_jar=aiohttp.DummyCookieJar(),  # no cookies carried between webhooks
                auto_decompress=False,  # ContentDecoder bounds the inflated size
                raise_for_status=False,
            )
            # One attempt means one: newer aiohttp would otherwise resend a GET once
            # on a fresh connection when the server drops it. Retries belong to the
            # layer above (spec §3.1), which sees "connection reset". No public switch.
            if hasattr(self._http, "_retry_connection"):
                self._http._retry_connection = False
            self._loop = loop
        elif loop is not self._loop:
            raise RuntimeError("a WebhookClient is bound to the event loop it first sent in")
        return self._http

    def _headers(self, req: WebhookRequest, has_body: bool) -> dict[str, str]:
        headers = {
            "User-Agent": self.user_agent,
            "Accept": "application/json",
            # Webhook answers are small; ask the server not to compress them at all.
            "Accept-Encoding": "identity",
        }
        if has_body:
            headers["Content-Type"] = "application/json"
        if req.headers:
            for name in req.headers:
                if not _HEADER_NAME.fullmatch(name):
                    raise ValueError(f"invalid header name {name!r}")
            # the caller's headers win, whatever their case
            replaced = {name.lower() for name in req.headers}
            headers = {k: v for k, v in headers.items() if k.lower() not in replaced}
            headers.update(req.headers)
        return headers

    async def _exchange(
        self,
        session: aiohttp.ClientSession,
        req: WebhookRequest,
        url: URL,
        content: bytes | None,
        timeout: aiohttp.ClientTimeout,
        state: _Progress,
    ) -> None:
        async with session.request(
            req.method,
            url,
            data=content,
            headers=self._headers(req, content is not None),
            timeout=timeout,
            allow_redirects=False,
        ) as response:
            state.status = response.status
            state.headers = _merge_headers(response.headers.items())
            state.encoding = response.charset
            try:
                declared = response.headers.get("Content-Length", "")
                if declared.isdigit() and int(declared) > self.max_body:
                    raise BodyTooLarge
                decoder = ContentDecoder(
                    response.headers.getall("Content-Encoding", ()), self.max_body
                )
                async for chunk in response.content.iter_any():
                    state.body += decoder.decode(chunk)
                state.body += decoder.flush()
            except (BodyTooLarge, ContentDecodingError):
                response.close()  # drop the connection rather than drain the rest
                raise

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


def _check_url(url: str) -> URL:
    parsed = URL(url)  # ValueError for a bad port or IPv6 literal
    if parsed.scheme not in ("http", "https") or not parsed.raw_host:
        raise _BadURL(url)
    if parsed.port is None or not 0 < parsed.port < 65536:
        raise _BadURL(url)
    # the resolver would fail on this later with a bare UnicodeError: a label that is
    # empty or longer than 63 characters (RFC 1035 §2.3.4)
    parsed.raw_host.encode("idna")
    return parsed


def _merge_headers(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Lower-cased names; a repeated header's values joined with ", " (RFC 9110 §5.3)."""
    merged: dict[str, str] = {}
    for name, value in items:
        key = name.lower()
        merged[key] = f"{merged[key]}, {value}" if key in merged else value
    return merged


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
        if isinstance(cause, ForbiddenAddress):
            return FORBIDDEN_ADDRESS
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


def error_reason(exc: BaseException) -> str:
    """Translate an aiohttp or OS exception into a short reason (the boundary of rule 8).

    A timeout while connecting (which includes name resolution and waiting for a
    pooled connection) is a connect timeout; any other timeout, between bytes or at
    the total deadline, came after the peer accepted us: a read timeout.
    """
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return CONNECT_TIMEOUT
    if isinstance(exc, TimeoutError):  # aiohttp.SocketTimeoutError, the deadline
        return READ_TIMEOUT
    if isinstance(exc, aiohttp.InvalidURL | aiohttp.NonHttpUrlClientError):
        return INVALID_URL
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return CONNECTION_RESET
    if isinstance(exc, aiohttp.ClientPayloadError):
        # the body could not be read to its end
        return _parse_reason(exc, default=CONNECTION_RESET)
    if isinstance(exc, aiohttp.ClientResponseError | http_exceptions.HttpProcessingError):
        # a malformed status line, headers or chunk (aiohttp's parser says 400)
        return _parse_reason(exc, default=PROTOCOL_ERROR)
    if isinstance(exc, aiohttp.ClientSSLError):
        return TLS_ERROR
    os_reason = _os_reason(exc)
    if os_reason is not None:
        return os_reason
    if isinstance(exc, aiohttp.ClientConnectorError):
        return CONNECT_ERROR
    if isinstance(exc, ValueError):
        # aiohttp refuses to send it, e.g. a header value with a line break
        return INVALID_REQUEST
    return NETWORK_ERROR


def _parse_reason(exc: BaseException, default: str) -> str:
    """What aiohttp's HTTP parser found wrong with the response, if it says."""
    for cause in _causes(exc):
        if isinstance(cause, http_exceptions.ContentLengthError):
            # the peer closed before the promised Content-Length had arrived
            return CONNECTION_RESET
        if isinstance(cause, http_exceptions.TransferEncodingError):
            if "not enough data" in str(cause).lower():
                return CONNECTION_RESET  # closed in the middle of the chunks
            return PROTOCOL_ERROR
        if isinstance(cause, http_exceptions.ContentEncodingError):
            return BAD_ENCODING
    return _os_reason(exc) or default
