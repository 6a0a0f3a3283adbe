"""When to try an undelivered event again: the outbox's retry policy, and restart recovery.

Two modes (issue 4):

* ``durable`` (the default for self-hosting): every failure but a permanent one
  (invalid or forbidden URL) is retried with exponential backoff and jitter until
  ``horizon`` seconds after the event was created, so an application down for minutes
  loses nothing. Delivery is at-least-once; the event id header lets the application
  drop duplicates.
* ``vonage``: Vonage's bounded retries — one more attempt at once, then the event is
  marked failed.

Per-URL overrides (``#rc=…&rp=…&tt=…``, :mod:`trunkline.engine.urlopts`) apply in both
modes: ``rc`` caps the retries, ``rp`` says which failures are retried, ``tt`` caps the
time from the first attempt. The policy itself is pure: it reads no clock and draws its
jitter from the random source it is given.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urldefrag, urlencode

from trunkline.clock import iso
from trunkline.domain import FINAL_STATUSES, CallRecord, EventRecord
from trunkline.engine.hooks import Hook, HookResult
from trunkline.engine.leg import endpoint_str
from trunkline.engine.urlopts import split_url_options
from trunkline.store.base import CallFilter, Store

Mode = Literal["durable", "vonage"]

#: Errors no retry can mend: the URL itself is wrong or refused by the URL guard.
PERMANENT_ERRORS = frozenset({"invalid URL", "invalid request", "forbidden address"})

#: Webhook timeouts when an event's stored URL says nothing else (spec §3.1, event URL).
DEFAULT_CONNECT_TIMEOUT = 1.0
DEFAULT_READ_TIMEOUT = 10.0


@dataclass(frozen=True)
class RetryPolicy:
    """How long and how often a plain event is retried."""

    mode: Mode = "durable"
    #: durable mode: seconds after the event was created past which it is given up
    horizon: float = 3600.0
    #: durable mode: the first backoff; each later one doubles, up to ``max_backoff``
    first_backoff: float = 1.0
    max_backoff: float = 300.0
    #: durable mode: each wait is drawn uniformly from [(1 - jitter) × b, b]
    jitter: float = 0.5
    #: vonage mode: retries after the first attempt (Vonage: one)
    vonage_retries: int = 1

    def __post_init__(self) -> None:
        if self.mode not in ("durable", "vonage"):
            raise ValueError(f"mode must be 'durable' or 'vonage', not {self.mode!r}")
        if self.horizon <= 0 or self.first_backoff <= 0 or self.max_backoff < self.first_backoff:
            raise ValueError("horizon and backoffs must be positive, max_backoff >= first_backoff")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter must be between 0 and 1")
        if self.vonage_retries < 0:
            raise ValueError("vonage_retries must not be negative")

    def backoff(self, attempts: int, rng: random.Random) -> float:
        """The wait before the next attempt, after ``attempts`` failed ones (durable mode)."""
        ceiling = min(self.max_backoff, self.first_backoff * 2.0 ** max(0, attempts - 1))
        return ceiling * (1.0 - self.jitter * rng.random())

    def next_delay(
        self,
        hook: Hook,
        result: HookResult,
        *,
        attempts: int,
        created_at: float,
        first_attempt_at: float,
        now: float,
        rng: random.Random,
    ) -> float | None:
        """Seconds to wait before the next attempt, or None: give the event up.

        ``attempts`` is how many have been made, the failed one included.
        """
        if result.ok or (result.status is None and result.error in PERMANENT_ERRORS):
            return None
        if hook.retry_on is not None and not hook.may_retry(result):
            return None
        if hook.retries is not None and attempts > hook.retries:
            return None
        if self.mode == "vonage":
            delay = 0.0
            if hook.retries is None and attempts > self.vonage_retries:
                return None
        else:
            delay = self.backoff(attempts, rng)
            if now + delay > created_at + self.horizon:
                return None
        if hook.total_time is not None and now + delay - first_attempt_at >= hook.total_time:
            return None
        return delay


def stored_url(hook: Hook) -> str:
    """The event's URL as stored in the outbox: with its per-URL options as a fragment.

    The engine has already taken ``#ct=…`` options off the URL (they are never sent over
    HTTP); putting them back lets a restarted process deliver the event with the same
    timeouts and retry rules. A URL that keeps a fragment of its own is stored as it is.
    """
    if "#" in hook.url:
        return hook.url
    opts: dict[str, str] = {}
    if hook.connect_timeout != DEFAULT_CONNECT_TIMEOUT:
        opts["ct"] = str(round(hook.connect_timeout * 1000))
    if hook.read_timeout != DEFAULT_READ_TIMEOUT:
        opts["rt"] = str(round(hook.read_timeout * 1000))
    if hook.total_time is not None:
        opts["tt"] = str(round(hook.total_time * 1000))
    if hook.retries is not None:
        opts["rc"] = str(hook.retries)
    if hook.retry_on is not None:
        opts["rp"] = ",".join(sorted(hook.retry_on))
    if not opts:
        return hook.url
    return f"{hook.url}#{urlencode(opts, safe=',')}"


def hook_for(event: EventRecord) -> Hook:
    """The request an outbox record stands for (the inverse of :func:`stored_url`)."""
    url, opts, _ = split_url_options(event.url)
    if url == event.url and "#" in url:
        url = urldefrag(url).url  # an ordinary anchor is not sent either
    return Hook(
        kind=event.kind,
        url=url,
        method=event.method,
        body=dict(event.body),
        call_uuid=event.call_uuid,
        conversation_uuid=event.conversation_uuid,
        connect_timeout=opts.connect_timeout or DEFAULT_CONNECT_TIMEOUT,
        read_timeout=opts.read_timeout or DEFAULT_READ_TIMEOUT,
        retries=opts.retries,
        retry_on=opts.retry_on,
        total_time=opts.total_time,
    )


_LIVE_STATUSES = ("started", "ringing", "answered")
_PAGE = 500


def close_orphaned_calls(store: Store, now: float) -> list[EventRecord]:
    """Give every call left live by a previous process a final state (restart recovery).

    A call never answered becomes ``failed``; an answered one ``completed`` at ``now``.
    Each gets its status event, stored in the outbox (pending) and returned, sent to
    where the call's earlier events went (else its application's event URL). Calls
    with nowhere to send events are closed all the same.
    """
    orphans: list[CallRecord] = []
    for status in _LIVE_STATUSES:
        index = 0
        while True:
            _, page = store.list_calls(
                CallFilter(status=status, page_size=_PAGE, record_index=index)
            )
            orphans.extend(page)
            if len(page) < _PAGE:
                break
            index += _PAGE
    events: list[EventRecord] = []
    for call in orphans:
        if call.status in FINAL_STATUSES:
            continue
        answered = call.status == "answered"
        call.status = "completed" if answered else "failed"
        call.end_time = now
        body: dict[str, object] = {
            "from": endpoint_str(call.from_),
            "to": endpoint_str(call.to),
            "uuid": call.uuid,
            "conversation_uuid": call.conversation_uuid,
            "status": call.status,
            "direction": call.direction,
            "timestamp": iso(now),
        }
        if answered:
            start = call.start_time if call.start_time is not None else now
            call.duration = max(0, round(now - start))
            call.disconnected_by = "platform"
            body.update(
                start_time=iso(start),
                end_time=iso(now),
                duration=str(call.duration),
                rate=call.rate,
                price=call.price,
                network=call.network,
                disconnected_by="platform",
                sip_code=200,
            )
        else:
            body.update(sip_code=500, detail="internal_error")  # the process died
        store.save_call(call)
        target = _event_target(store, call)
        if target is None:
            continue
        url, method = target
        event = EventRecord(
            call_uuid=call.uuid,
            conversation_uuid=call.conversation_uuid,
            kind="status",
            url=url,
            method=method,
            body=dict(body),
            created_at=now,
        )
        store.add_event(event)
        events.append(event)
    return events


def _event_target(store: Store, call: CallRecord) -> tuple[str, str] | None:
    for event in reversed(store.events_for_call(call.uuid)):
        if event.kind == "status":
            return event.url, event.method
    if call.application_id:
        app = store.get_application(call.application_id)
        if app is not None and app.event_url is not None:
            hook = app.event_url
            return (
                stored_url(
                    Hook(
                        kind="status",
                        url=hook.address,
                        method=hook.http_method or "POST",
                        body={},
                        connect_timeout=hook.connect_timeout,
                        read_timeout=hook.socket_timeout,
                    )
                ),
                hook.http_method or "POST",
            )
    return None
