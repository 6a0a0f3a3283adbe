"""Per-URL overrides of webhook timeouts and retries, in the URL's fragment.

Beyond Vonage: the ``#ct=…&rt=…&tt=…&rc=…&rp=…`` fragments that Twilio users know
(Twilio's "connection overrides"), on any URL trunkline fetches or posts to::

    https://app.example.com/answer#ct=300&rt=2000&rc=3&rp=ct,rt,5xx

| key | meaning | range |
| --- | --- | --- |
| ``ct`` | connect timeout, ms | 100–10000 |
| ``rt`` | read timeout, ms | 100–15000 |
| ``tt`` | total time for all attempts, ms | 100–60000 |
| ``rc`` | retries after the first attempt | 0–5 |
| ``rp`` | what is retried (below) | comma list |

Retry policies: ``ct`` (could not connect), ``rt`` (read timeout or connection reset),
``4xx``, ``5xx``, ``all``. Without ``rp``, Vonage's rule applies (timeouts, resets,
429, 503, 504); without ``rc``, one retry.

Fragments are never sent over HTTP, so the application sees its plain URL. A key
that is unknown or out of range is ignored and reported, never fatal to a call.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, urldefrag

#: key -> (minimum, maximum) in the fragment's own unit
_RANGES = {"ct": (100, 10_000), "rt": (100, 15_000), "tt": (100, 60_000), "rc": (0, 5)}
POLICIES = frozenset({"ct", "rt", "4xx", "5xx", "all"})


@dataclass(frozen=True)
class UrlOptions:
    connect_timeout: float | None = None  # seconds
    read_timeout: float | None = None  # seconds
    total_time: float | None = None  # seconds, across attempts
    retries: int | None = None  # after the first attempt
    retry_on: frozenset[str] | None = None  # subset of POLICIES

    @property
    def empty(self) -> bool:
        return self == _NONE


_NONE = UrlOptions()


def split_url_options(url: str) -> tuple[str, UrlOptions, list[str]]:
    """``(url without its fragment, options, problems)``. A fragment with no
    override keys (an ordinary anchor) is kept as it is."""
    base, fragment = urldefrag(url)
    if not fragment:
        return url, _NONE, []
    pairs = parse_qsl(fragment, keep_blank_values=True)
    if not pairs or not any(key in _RANGES or key == "rp" for key, _ in pairs):
        return url, _NONE, []
    values: dict[str, float | int | frozenset[str]] = {}
    problems: list[str] = []
    for key, raw in pairs:
        if key == "rp":
            policy = frozenset(p.strip() for p in raw.split(",") if p.strip())
            unknown = policy - POLICIES
            if unknown or not policy:
                problems.append(
                    f"rp={raw!r}: expected a comma list of {', '.join(sorted(POLICIES))}"
                )
            else:
                values["rp"] = policy
            continue
        if key not in _RANGES:
            problems.append(f"{key}: unknown connection override (ct, rt, tt, rc, rp)")
            continue
        low, high = _RANGES[key]
        try:
            number = int(raw)
        except ValueError:
            problems.append(f"{key}={raw!r}: expected a whole number")
            continue
        if not low <= number <= high:
            problems.append(f"{key}={number}: expected {low} to {high}")
            continue
        values[key] = number
    options = UrlOptions(
        connect_timeout=_seconds(values.get("ct")),
        read_timeout=_seconds(values.get("rt")),
        total_time=_seconds(values.get("tt")),
        retries=_int(values.get("rc")),
        retry_on=_policy(values.get("rp")),
    )
    return base, options, problems


def retry_allowed(policy: frozenset[str], status: int | None, error: str | None) -> bool:
    """Whether a failed attempt may be retried under an ``rp`` policy."""
    if "all" in policy:
        return True
    if status is None:
        if error in ("connect timeout", "connection refused"):
            return "ct" in policy
        if error in ("read timeout", "connection reset"):
            return "rt" in policy
        return False
    if 400 <= status < 500:
        return "4xx" in policy
    if status >= 500:
        return "5xx" in policy
    return False


def _seconds(value: object) -> float | None:
    return value / 1000 if isinstance(value, int) else None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) else None


def _policy(value: object) -> frozenset[str] | None:
    return value if isinstance(value, frozenset) else None
