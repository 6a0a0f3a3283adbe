"""The retry policy (pure) and closing calls a dead process left live."""

from __future__ import annotations

import random

import pytest

from trunkline.domain import Application, CallRecord, EventRecord, event_webhook
from trunkline.engine.hooks import Hook, HookResult
from trunkline.store.memory import MemoryStore
from trunkline.webhooks.outbox import RetryPolicy, close_orphaned_calls, hook_for, stored_url

HOOK = Hook(kind="status", url="http://app/event", method="POST", body={}, call_uuid="c")
FAIL = HookResult(status=500)


def delay(
    policy: RetryPolicy, hook: Hook = HOOK, result: HookResult = FAIL, **kw: float
) -> float | None:
    args = {"attempts": 1, "created_at": 0.0, "first_attempt_at": 0.0, "now": 0.0}
    args.update(kw)
    return policy.next_delay(
        hook,
        result,
        attempts=int(args["attempts"]),
        created_at=args["created_at"],
        first_attempt_at=args["first_attempt_at"],
        now=args["now"],
        rng=random.Random(1),
    )


def test_durable_backoff_doubles_with_jitter_up_to_a_ceiling() -> None:
    policy = RetryPolicy(first_backoff=1, max_backoff=60, jitter=0.5)
    rng = random.Random(3)
    for attempts, ceiling in [(1, 1), (2, 2), (3, 4), (6, 32), (7, 60), (30, 60)]:
        waits = [policy.backoff(attempts, rng) for _ in range(200)]
        assert all(ceiling / 2 <= w <= ceiling for w in waits)
        assert max(waits) - min(waits) > ceiling / 4  # jittered, not fixed


def test_durable_mode_retries_every_failure_until_the_horizon() -> None:
    policy = RetryPolicy(horizon=100, jitter=0)
    assert delay(policy, result=HookResult(status=404)) == 1.0
    assert delay(policy, result=HookResult(status=None, error="connect timeout")) == 1.0
    assert delay(policy, attempts=3, now=97, created_at=0) is None  # 97 + 4 > 100
    assert delay(policy, attempts=3, now=90, created_at=0) == 4.0


@pytest.mark.parametrize("error", ["invalid URL", "forbidden address", "invalid request"])
def test_permanent_errors_are_never_retried(error: str) -> None:
    assert delay(RetryPolicy(), result=HookResult(status=None, error=error)) is None


def test_success_is_not_retried() -> None:
    assert delay(RetryPolicy(), result=HookResult(status=204)) is None


def test_vonage_mode_retries_once_at_once() -> None:
    policy = RetryPolicy(mode="vonage")
    assert delay(policy, attempts=1) == 0.0
    assert delay(policy, attempts=2) is None


def test_url_overrides_cap_and_select_retries() -> None:
    hook = Hook(**{**HOOK.__dict__, "retries": 2, "retry_on": frozenset({"5xx"})})
    assert delay(RetryPolicy(), hook, attempts=2) is not None
    assert delay(RetryPolicy(), hook, attempts=3) is None
    assert delay(RetryPolicy(), hook, HookResult(status=404)) is None
    assert delay(RetryPolicy(mode="vonage"), hook, attempts=2) == 0.0  # rc beats Vonage's one
    timed = Hook(**{**HOOK.__dict__, "total_time": 5.0})
    assert delay(RetryPolicy(jitter=0), timed, attempts=2, now=2.0) == 2.0
    assert delay(RetryPolicy(jitter=0), timed, attempts=2, now=3.5) is None


def test_bad_policies_are_refused() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(mode="forever")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        RetryPolicy(horizon=0)
    with pytest.raises(ValueError):
        RetryPolicy(jitter=2)


def test_stored_url_round_trips_the_options() -> None:
    hook = Hook(
        **{
            **HOOK.__dict__,
            "connect_timeout": 0.3,
            "read_timeout": 2.0,
            "retries": 3,
            "retry_on": frozenset({"5xx", "ct"}),
            "total_time": 20.0,
        }
    )
    url = stored_url(hook)
    assert url == "http://app/event#ct=300&rt=2000&tt=20000&rc=3&rp=5xx,ct"
    record = EventRecord("c", None, "status", url, "POST", {"a": 1}, created_at=0.0)
    back = hook_for(record)
    assert (back.url, back.connect_timeout, back.read_timeout) == ("http://app/event", 0.3, 2.0)
    assert (back.retries, back.retry_on, back.total_time) == (3, frozenset({"5xx", "ct"}), 20.0)
    assert stored_url(HOOK) == "http://app/event"  # defaults: the plain URL


def test_live_calls_are_closed_with_their_status_event() -> None:
    store = MemoryStore()
    store.put_application(Application(id="app", name="a", event_url=event_webhook("http://app/ev")))

    def call(uuid: str, status: str, start: float | None = None) -> CallRecord:
        rec = CallRecord(
            uuid=uuid,
            conversation_uuid="CON-" + uuid,
            direction="inbound",
            from_={"type": "phone", "number": "447700900100"},
            to={"type": "phone", "number": "447700900000"},
            status=status,
            created_at=0.0,
            application_id="app",
            start_time=start,
        )
        store.save_call(rec)
        return rec

    call("ringing", "ringing")
    call("answered", "answered", start=10.0)
    call("done", "completed", start=1.0)
    call("started", "started")
    store.add_event(EventRecord("answered", None, "status", "http://elsewhere/ev", "GET", {}, 0.0))

    events = close_orphaned_calls(store, now=100.0)

    assert {e.call_uuid: e.body["status"] for e in events} == {
        "ringing": "failed",
        "started": "failed",
        "answered": "completed",
    }
    ans = store.get_call("answered")
    assert ans is not None and (ans.status, ans.end_time, ans.duration) == ("completed", 100.0, 90)
    by_call = {e.call_uuid: e for e in events}
    # where the call's earlier events went, else the application's event URL
    assert (by_call["answered"].url, by_call["answered"].method) == ("http://elsewhere/ev", "GET")
    assert by_call["ringing"].url == "http://app/ev"
    assert by_call["answered"].body["duration"] == "90"
    assert by_call["answered"].body["from"] == "447700900100"
    assert all(e.state == "pending" and e.id is not None for e in events)
    assert store.get_call("done").status == "completed"  # type: ignore[union-attr]
    assert close_orphaned_calls(store, now=200.0) == []  # nothing left live
