"""A call's timeline as text: legs, actions, webhooks (with their bodies) and events.

:func:`print_timeline` prints the store's timeline entries as a table (``trunkline
demo`` uses it). :func:`format_conversation` adds what the testing kit knows: each
webhook's request body and the app's reply, and what every phone heard and did —
the text a failing test shows.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TextIO

from trunkline.domain import TimelineEntry
from trunkline.sim.phones import LogEntry
from trunkline.testing.exchanges import Exchange

#: Longest body shown on one timeline line (characters); the rest is elided.
BODY_WIDTH = 400

#: Body fields left out under a webhook line: the title and the time column say them.
SHOWN_ELSEWHERE = frozenset({"conversation_uuid", "timestamp"})

Details = Callable[[TimelineEntry], list[str]]


def print_timeline(
    entries: Iterable[TimelineEntry],
    names: Mapping[str, str],
    out: TextIO,
    *,
    start: float,
    details: Details | None = None,
) -> None:
    """One line per entry: time since ``start``, leg name, kind, summary.

    ``details`` may give more lines to print under an entry (indented).
    """
    print(f"{'time':>9}  {'leg':<22} {'kind':<12} what", file=out)
    print(f"{'-' * 9}  {'-' * 22} {'-' * 12} {'-' * 44}", file=out)
    for e in entries:
        who = names.get(e.call_uuid or "", (e.call_uuid or "")[:8])
        print(f"{e.t - start:>8.3f}s  {who:<22} {e.kind:<12} {e.summary}", file=out)
        for line in details(e) if details is not None else ():
            print(f"{'':>9}  {'':<22} {'':<12}   {line}", file=out)


def compact(value: Any, width: int = BODY_WIDTH) -> str:
    """A JSON value on one line, cut to ``width`` characters."""
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def print_phone_log(number: str, log: Iterable[LogEntry], out: TextIO, *, start: float) -> None:
    """What one sim phone heard and did."""
    print(f"phone {number}:", file=out)
    for entry in log:
        detail = " ".join(f"{k}={_show(v)}" for k, v in entry.detail.items())
        print(f"{entry.t - start:>8.3f}s  {entry.event:<14} {detail}".rstrip(), file=out)


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else compact(value, 120)


def format_conversation(
    entries: Iterable[TimelineEntry],
    names: Mapping[str, str],
    *,
    start: float,
    details: Details | None = None,
    phones: Iterable[tuple[str, list[LogEntry]]] = (),
    title: str = "",
) -> str:
    """The timeline of one conversation, then the logs of the phones on it, as text."""
    out = io.StringIO()
    if title:
        print(title, file=out)
    print_timeline(entries, names, out, start=start, details=details)
    for number, log in phones:
        print("", file=out)
        print_phone_log(number, log, out, start=start)
    return out.getvalue()


def group_stories(entries: Iterable[TimelineEntry]) -> list[list[TimelineEntry]]:
    """Entries grouped into stories: a conversation and every conversation its legs
    moved to (a named ``conversation``, a transfer), in the order they began."""
    ordered = list(entries)
    parent: dict[str, str] = {}

    def root(key: str) -> str:
        parent.setdefault(key, key)
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    first_seen: dict[str, str] = {}
    for e in ordered:
        if e.conversation_uuid is None:
            continue
        conv = root(e.conversation_uuid)
        if e.call_uuid:
            known = first_seen.setdefault(e.call_uuid, conv)
            parent[root(known)] = root(conv)
    groups: dict[str, list[TimelineEntry]] = {}
    for e in ordered:
        key = root(e.conversation_uuid or e.call_uuid or "")
        groups.setdefault(key, []).append(e)
    return list(groups.values())


def webhook_details(entries: Sequence[TimelineEntry], exchanges: Sequence[Exchange]) -> Details:
    """For each webhook line of ``entries``: the request body and the app's reply.

    The kit's own lines name their exchange; lines written by ``HttpWebhooks`` are
    matched in order with the HTTP exchanges of the same URL and leg.
    """
    found: dict[int, Exchange] = {}
    http = [ex for ex in exchanges if not ex.in_process]
    for i, entry in enumerate(entries):
        if entry.kind != "webhook":
            continue
        index = entry.data.get("exchange")
        if isinstance(index, int) and 0 <= index < len(exchanges):
            found[i] = exchanges[index]
            continue
        for ex in http:
            if ex.url == entry.data.get("url") and ex.call_uuid == entry.call_uuid:
                found[i] = ex
                http.remove(ex)
                break
    positions = {id(entry): i for i, entry in enumerate(entries)}

    def details(entry: TimelineEntry) -> list[str]:
        ex = found.get(positions.get(id(entry), -1))
        if ex is None:
            return []
        shown = {k: v for k, v in ex.body.items() if k not in SHOWN_ELSEWHERE}
        lines = [f"> {ex.kind} {compact(shown)}"]
        if ex.reply is not None:
            lines.append(f"< {compact(ex.reply)}")
        elif ex.text.strip():
            lines.append(f"< {ex.text.strip()[:200]!r}")
        return lines

    return details
