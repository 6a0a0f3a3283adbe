"""``trunkline demo``: the seeds' call-centre scenario, end to end, in about a second.

A caller dials the call centre; the main agent is busy; the synchronous connect
fails; the app's event handler returns a fallback NCCO that connects the next
agent, who answers. The example app runs over real HTTP on 127.0.0.1, the phones
on the sim network, time on the virtual clock, and everything lands in SQLite.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from trunkline.call.platform import Platform
from trunkline.call.webhooks import HttpWebhooks
from trunkline.clock import VirtualClock
from trunkline.domain import Application, TimelineEntry, answer_webhook, event_webhook
from trunkline.engine.switch import EngineSettings
from trunkline.examples import callcentre
from trunkline.sim import Step
from trunkline.store import open_store
from trunkline.store.base import Store
from trunkline.testing.server import ServedApp
from trunkline.testing.timeline import print_timeline

CALLER = "447700900100"
APP_ID = "c0ffee00-0000-4000-8000-000000000000"


@dataclass
class DemoResult:
    call: str
    legs: dict[str, str] = field(default_factory=dict)  # label -> final status
    heard: list[str] = field(default_factory=list)
    entries: list[TimelineEntry] = field(default_factory=list)


async def run_demo(out: TextIO, database: str | None = None) -> DemoResult:
    """Run the scenario; print its timeline to ``out``; return what happened."""
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(database or f"sqlite:///{Path(tmp) / 'demo.db'}")
        clock = VirtualClock()
        webhooks = HttpWebhooks(clock, store)
        try:
            async with ServedApp(callcentre.create_app()) as served:
                result = await _scenario(clock, store, webhooks, served.url)
        finally:
            await webhooks.aclose()
        report(store, result, out)
        store.close()
    return result


async def _scenario(
    clock: VirtualClock, store: Store, webhooks: HttpWebhooks, base: str
) -> DemoResult:
    platform = Platform(
        clock=clock,
        store=store,
        webhooks=webhooks,
        settings=EngineSettings(base_url="http://127.0.0.1:8080"),
    )
    store.put_application(
        Application(
            id=APP_ID,
            name="call centre",
            answer_url=answer_webhook(f"{base}/answer"),
            event_url=event_webhook(f"{base}/event"),
        )
    )
    store.link_number(callcentre.CALL_CENTRE, APP_ID)
    sim = platform.sim
    sim.add_phone(CALLER)
    sim.add_phone(callcentre.MAIN_AGENT, answer="busy", ring=4)
    sim.add_phone(callcentre.NEXT_AGENT, ring=6, script=[Step(at=45, hangup=True)])
    call = sim.call(CALLER, callcentre.CALL_CENTRE)
    await clock.run_async()
    return DemoResult(call=call.id, heard=sim.phone(CALLER).heard())


def report(store: Store, result: DemoResult, out: TextIO) -> None:
    rec = store.get_call(result.call)
    if rec is None:
        print("the call was not recorded", file=out)
        return
    entries = store.timeline(conversation_uuid=rec.conversation_uuid)
    names = {result.call: f"caller {CALLER}"}
    for entry in entries:
        if entry.call_uuid and entry.call_uuid not in names:
            leg = store.get_call(entry.call_uuid)
            names[entry.call_uuid] = (
                f"agent {leg.to.get('number', '?')}" if leg else entry.call_uuid[:8]
            )
    print_timeline(entries, names, out, start=rec.created_at)
    print("", file=out)
    print(f"{'leg':<22} {'status':<10} {'duration':>8}", file=out)
    for uuid, label in names.items():
        leg = store.get_call(uuid)
        if leg is not None:
            result.legs[label] = leg.status
            print(f"{label:<22} {leg.status:<10} {leg.duration or 0:>6} s", file=out)
    result.entries = entries


def cmd_demo(args: argparse.Namespace) -> int:
    result = asyncio.run(run_demo(sys.stdout))
    ok = result.legs.get(f"agent {callcentre.NEXT_AGENT}") == "completed"
    return 0 if ok else 1


def register(sub: Any) -> None:
    p = sub.add_parser("demo", help="run the call-centre scenario on the sim network")
    p.set_defaults(func=cmd_demo)
