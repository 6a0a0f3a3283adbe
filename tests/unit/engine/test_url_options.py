"""Per-URL connection overrides (``#ct=…&rt=…&tt=…&rc=…&rp=…``), parsed and applied."""

from __future__ import annotations

import pytest

from trunkline.engine.hooks import HookResult
from trunkline.engine.urlopts import UrlOptions, retry_allowed, split_url_options
from trunkline.testing.harness import Harness

CALLER = "447700900100"


@pytest.mark.parametrize(
    ("url", "clean", "options"),
    [
        ("http://a/answer", "http://a/answer", UrlOptions()),
        ("http://a/answer#top", "http://a/answer#top", UrlOptions()),
        ("http://a/x?q=1#ct=300", "http://a/x?q=1", UrlOptions(connect_timeout=0.3)),
        (
            "http://a/x#ct=1000&rt=2500&tt=9000&rc=3&rp=ct,5xx",
            "http://a/x",
            UrlOptions(1.0, 2.5, 9.0, 3, frozenset({"ct", "5xx"})),
        ),
        ("http://a/x#rc=0", "http://a/x", UrlOptions(retries=0)),
    ],
)
def test_split(url: str, clean: str, options: UrlOptions) -> None:
    got_url, got, problems = split_url_options(url)
    assert (got_url, got, problems) == (clean, options, [])


@pytest.mark.parametrize(
    ("fragment", "problem"),
    [
        ("ct=50", "ct=50: expected 100 to 10000"),
        ("rt=abc", "rt='abc': expected a whole number"),
        ("rc=9", "rc=9: expected 0 to 5"),
        ("rp=sometimes", "rp='sometimes'"),
        ("rc=1&zz=2", "zz: unknown connection override"),
    ],
)
def test_bad_overrides_are_reported_and_ignored(fragment: str, problem: str) -> None:
    url, _, problems = split_url_options(f"http://a/x#{fragment}")
    assert url == "http://a/x"
    assert any(problem in p for p in problems)


@pytest.mark.parametrize(
    ("policy", "status", "error", "allowed"),
    [
        ({"ct"}, None, "connect timeout", True),
        ({"ct"}, None, "connection refused", True),
        ({"ct"}, None, "read timeout", False),
        ({"rt"}, None, "read timeout", True),
        ({"rt"}, None, "connection reset", True),
        ({"5xx"}, 500, None, True),
        ({"5xx"}, 404, None, False),
        ({"4xx"}, 404, None, True),
        ({"all"}, 200, None, True),
        ({"ct", "rt"}, 503, None, False),
    ],
)
def test_retry_policy(
    policy: set[str], status: int | None, error: str | None, allowed: bool
) -> None:
    assert retry_allowed(frozenset(policy), status, error) is allowed


def _app_with_answer(url: str, fallback: bool = False) -> Harness:
    h = Harness(fallback=fallback)
    app = h.application
    h.store.put_application(
        type(app)(
            id=app.id,
            name=app.name,
            answer_url=type(app.answer_url)(url, "GET", 1.0, 5.0),  # type: ignore[misc]
            event_url=app.event_url,
            fallback_answer_url=app.fallback_answer_url,
        )
    )
    return h


def test_retry_count_and_policy_on_the_answer_url() -> None:
    h = _app_with_answer("http://app.test/answer#rc=3&rp=5xx&ct=300&rt=2000", fallback=True)
    h.answer(HookResult(status=500))
    h.on("/fallback", [{"action": "talk", "text": "Fallback"}])
    h.phone(CALLER)
    h.sim.call(CALLER, h.number)
    h.run()
    attempts = h.requests_to("/answer")
    assert len(attempts) == 4  # 500 is retried under rp=5xx: 1 + 3 retries
    assert {a.url for a in attempts} == {"http://app.test/answer"}
    assert {(a.connect_timeout, a.read_timeout) for a in attempts} == {(0.3, 2.0)}
    assert h.phone(CALLER).heard() == ["Fallback"]


def test_no_retry_with_rc_zero() -> None:
    h = _app_with_answer("http://app.test/answer#rc=0")
    h.answer(HookResult(status=503))
    h.phone(CALLER)
    h.sim.call(CALLER, h.number)
    h.run()
    assert len(h.requests_to("/answer")) == 1  # Vonage would have retried a 503 once


def test_total_time_stops_the_retries() -> None:
    h = _app_with_answer("http://app.test/answer#rc=5&rp=all&tt=1000")
    h.answer(HookResult(status=None, error="read timeout", latency=0.4))
    h.phone(CALLER)
    h.sim.call(CALLER, h.number)
    h.run()
    assert len(h.requests_to("/answer")) == 3  # 0.4 + 0.4 + 0.4 s: the third passes 1 s


def test_event_urls_carry_their_overrides_to_the_delivery_layer() -> None:
    h = Harness()
    h.answer(
        [
            {
                "action": "input",
                "type": ["dtmf"],
                "dtmf": {"maxDigits": 1, "timeOut": 1},
                "eventUrl": ["http://app.test/input#rc=2&rt=800&bogus=1"],
            }
        ]
    )
    h.on("/input", None)
    h.phone(CALLER)
    call = h.sim.call(CALLER, h.number)
    h.run()
    (req,) = h.requests_to("/input")
    assert req.url == "http://app.test/input"
    assert req.retries == 2 and req.read_timeout == 0.8
    warnings = [e.summary for e in h.store.timeline(call_uuid=call.id) if e.kind == "warning"]
    assert any("bogus: unknown connection override" in w for w in warnings)
