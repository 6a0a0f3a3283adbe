"""Event delivery to a loopback app: events per second, and the delay from a state
change to its delivery, with durable mode on.

The app is the IVR bench's app in its own process (:class:`bench.ivr.AppProcess`, a
uvicorn server answering ``/event`` with 204). The platform side is
:class:`HttpWebhooks` on the real clock with a SQLite outbox (each event is written
before it is sent, and marked delivered after), durable retry policy.

Two runs: a burst (every event handed over at once, spread over many calls: the
throughput), then a paced run at about half that rate (the delay an event sees in
steady traffic). The delay is ``delivered_at - created_at`` from the outbox: from the
moment the engine hands the event over to the moment the app's 2xx is recorded.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from bench.ivr import AppProcess
from trunkline.call.webhooks import HttpWebhooks
from trunkline.clock import AsyncioClock
from trunkline.engine.hooks import Hook
from trunkline.store import open_store
from trunkline.store.base import Store
from trunkline.store.memory import MemoryStore
from trunkline.webhooks.outbox import RetryPolicy

EVENTS_PER_CALL = 4  # started, ringing, answered, completed


def _hook(url: str, call: int, n: int) -> Hook:
    uuid = f"bench-{call:06d}"
    return Hook(
        kind="status",
        url=url,
        method="POST",
        body={"uuid": uuid, "conversation_uuid": "CON-" + uuid, "status": str(n)},
        call_uuid=uuid,
        conversation_uuid="CON-" + uuid,
    )


async def _drain(webhooks: HttpWebhooks, timeout: float = 120.0) -> None:
    async with asyncio.timeout(timeout):
        while webhooks.queued:
            await asyncio.sleep(0.005)


def _p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else 0


async def run(
    url: str, store: Store, calls: int, rate: float | None, first: int
) -> dict[str, float]:
    """``calls`` calls' events; all at once (``rate`` None) or ``rate`` events/s."""
    webhooks = HttpWebhooks(AsyncioClock(), store, policy=RetryPolicy(mode="durable"))
    total = calls * EVENTS_PER_CALL
    t0 = time.perf_counter()
    try:
        if rate is None:
            for n in range(EVENTS_PER_CALL):
                for call in range(first, first + calls):
                    webhooks.send(_hook(url, call, n))
        else:
            sent = 0
            for n in range(EVENTS_PER_CALL):
                for call in range(first, first + calls):
                    webhooks.send(_hook(url, call, n))
                    sent += 1
                    ahead = t0 + sent / rate - time.perf_counter()
                    if ahead > 0:
                        await asyncio.sleep(ahead)  # pacing the load generator
        await _drain(webhooks)
        wall = time.perf_counter() - t0
    finally:
        await webhooks.aclose()
    delays = [d for call in range(first, first + calls) for d in _delays_one(store, call)]
    return {
        "events": total,
        "wall_s": wall,
        "events_per_s": total / wall,
        "p50_ms": _p(delays, 50) * 1000,
        "p99_ms": _p(delays, 99) * 1000,
    }


def _delays_one(store: Store, call: int) -> list[float]:
    out = []
    for ev in store.events_for_call(f"bench-{call:06d}"):
        assert ev.state == "delivered" and ev.delivered_at is not None, ev
        out.append(ev.delivered_at - ev.created_at)
    return out


def main(*, quick: bool = False) -> None:
    calls = 250 if quick else 2500
    print("== Event delivery to an app process on 127.0.0.1 (durable mode, SQLite outbox)")
    with tempfile.TemporaryDirectory() as tmp, AppProcess() as app:
        store = open_store(f"sqlite:///{Path(tmp) / 'bench.db'}")
        try:
            url = f"{app.url}/event"
            burst = asyncio.run(run(url, store, calls, None, first=0))
            print(
                f"burst: {burst['events']} events over {calls} calls: "
                f"{burst['events_per_s']:,.0f} events/s delivered "
                f"({burst['wall_s']:.2f} s); delay p50 {burst['p50_ms']:.1f} ms, "
                f"p99 {burst['p99_ms']:.1f} ms (queueing included)"
            )
            rate = max(50.0, burst["events_per_s"] / 2)
            paced_calls = max(25, calls // 5)
            paced = asyncio.run(run(url, store, paced_calls, rate, first=calls))
            print(
                f"paced at {rate:,.0f} events/s: {paced['events']} events: "
                f"state change -> delivery p50 {paced['p50_ms']:.2f} ms, "
                f"p99 {paced['p99_ms']:.2f} ms"
            )
        finally:
            store.close()
        memory = asyncio.run(run(f"{app.url}/event", MemoryStore(), calls, None, first=0))
        print(
            f"the same burst with a MemoryStore outbox (not durable, for scale): "
            f"{memory['events_per_s']:,.0f} events/s"
        )


if __name__ == "__main__":
    main()
