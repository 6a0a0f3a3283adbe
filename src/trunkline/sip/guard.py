"""Who gets an answer at all: bans after repeated authentication failures, floods and
scanners (pure; time is an input).

What SIP servers facing the internet do (fail2ban's filters, Kamailio's ``pike`` and
``secfilter``): a source that keeps failing digest authentication is banned for a while,
a source sending far more requests than a phone or trunk would is banned, and requests
from known scanners (SIPVicious' ``friendly-scanner`` …) are dropped. A banned source
gets no response at all, so an attacker learns nothing. Sources the operator trusts
(trunks) are never banned.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["SCANNER_AGENTS", "GuardSettings", "SourceGuard"]

#: User-Agent substrings of SIP scanners and attack tools (lower case).
SCANNER_AGENTS: tuple[bytes, ...] = (
    b"friendly-scanner",
    b"sipvicious",
    b"sipcli",
    b"sip-scan",
    b"iwar",
    b"vaxsipuseragent",
    b"sipsak",
    b"pplsip",
)


@dataclass(frozen=True)
class GuardSettings:
    #: this many authentication failures within ``failure_window`` seconds ban a source
    max_failures: int = 10
    failure_window: float = 60.0
    #: more than this many requests within ``flood_window`` seconds ban a source
    max_requests: int = 400
    flood_window: float = 2.0
    #: how long a ban lasts (seconds)
    ban: float = 300.0


@dataclass
class _Source:
    failures: deque[float] = field(default_factory=deque)
    requests: deque[float] = field(default_factory=deque)


class SourceGuard:
    """Per-source counters and bans. ``trusted(host)`` exempts a source (a trunk's)."""

    def __init__(
        self,
        settings: GuardSettings | None = None,
        *,
        trusted: Callable[[str], bool] = lambda host: False,
    ) -> None:
        self.settings = settings or GuardSettings()
        self.trusted = trusted
        self.banned: dict[str, float] = {}  # host -> banned until
        self._sources: dict[str, _Source] = {}
        self.dropped = 0

    def admits(self, host: str, data: bytes, now: float) -> bool:
        """Whether to process a message of ``data`` from ``host`` (False: drop it silently).

        Counts it towards the source's request rate; a flood bans the source.
        """
        until = self.banned.get(host)
        if until is not None:
            if now < until:
                self.dropped += 1
                return False
            del self.banned[host]
        if self.trusted(host):
            return True
        if _from_scanner(data):
            self.dropped += 1
            return False
        s = self.settings
        requests = self._source(host).requests
        requests.append(now)
        while requests and requests[0] <= now - s.flood_window:
            requests.popleft()
        if len(requests) > s.max_requests:
            self._ban(host, now)
            self.dropped += 1
            return False
        return True

    def failed(self, host: str, now: float) -> None:
        """A request from ``host`` failed authentication (wrong credentials, not a challenge)."""
        if self.trusted(host):
            return
        s = self.settings
        failures = self._source(host).failures
        failures.append(now)
        while failures and failures[0] <= now - s.failure_window:
            failures.popleft()
        if len(failures) >= s.max_failures:
            self._ban(host, now)

    def is_banned(self, host: str, now: float) -> bool:
        until = self.banned.get(host)
        return until is not None and now < until

    def _ban(self, host: str, now: float) -> None:
        self.banned[host] = now + self.settings.ban
        self._sources.pop(host, None)

    def _source(self, host: str) -> _Source:
        source = self._sources.get(host)
        if source is None:
            if len(self._sources) >= 100_000:
                self._sources.clear()  # bounded memory under a spoofed-source flood
            source = self._sources[host] = _Source()
        return source


def _from_scanner(data: bytes) -> bool:
    """Whether the message's User-Agent (or compact form) names a known scanner."""
    head = data[:2048].lower()
    start = head.find(b"\nuser-agent:")
    if start < 0:
        return False
    end = head.find(b"\n", start + 1)
    agent = head[start : end if end > 0 else len(head)]
    return any(name in agent for name in SCANNER_AGENTS)
