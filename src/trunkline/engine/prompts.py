"""The queue of prompts (talk/stream) playing to one leg, one after another.

bargeIn prompts do not block the NCCO: they sit in this queue while the next
action (an input) already listens, and the first digit or speech empties it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from trunkline.engine.ports import Prompt

Done = Callable[[], None]


@dataclass
class _Item:
    play_id: int
    prompt: Prompt
    on_done: Done | None
    barge_in: bool


class PromptQueue:
    def __init__(self, play: Callable[[int, Prompt], None], stop: Callable[[int], None]) -> None:
        self._play = play
        self._stop = stop
        self._items: deque[_Item] = deque()
        self._current: _Item | None = None
        self._next_id = 1
        self._idle_waiters: list[Done] = []

    @property
    def idle(self) -> bool:
        return self._current is None and not self._items

    def enqueue(self, prompt: Prompt, on_done: Done | None, *, barge_in: bool = False) -> int:
        play_id = self._next_id
        self._next_id += 1
        self._items.append(_Item(play_id, prompt, on_done, barge_in))
        if self._current is None:
            self._start_next()
        return play_id

    def when_idle(self, callback: Done) -> None:
        """Call ``callback`` once the queue has drained (at once if it is idle)."""
        if self.idle:
            callback()
        else:
            self._idle_waiters.append(callback)

    def on_play_done(self, play_id: int) -> None:
        item = self._current
        if item is None or item.play_id != play_id:
            return
        self._current = None
        if item.on_done is not None:
            item.on_done()
        if self._current is None:
            self._start_next()

    def barge(self) -> bool:
        """Stop every barge-in prompt (a digit or speech arrived). True if any was stopped."""
        stopped = False
        cur = self._current
        if cur is not None and cur.barge_in:
            self._current = None
            self._stop(cur.play_id)
            stopped = True
        kept = deque(item for item in self._items if not item.barge_in)
        stopped = stopped or len(kept) != len(self._items)
        self._items = kept
        if self._current is None:
            self._start_next()
        return stopped

    def cancel(self, play_id: int) -> None:
        """Drop one prompt (its action was cancelled) without calling its ``on_done``."""
        cur = self._current
        if cur is not None and cur.play_id == play_id:
            self._current = None
            self._stop(play_id)
            self._start_next()
        else:
            self._items = deque(i for i in self._items if i.play_id != play_id)

    def clear(self) -> None:
        """Stop everything (transfer, hang-up): nothing queued runs, no callbacks."""
        cur, self._current = self._current, None
        self._items.clear()
        self._idle_waiters.clear()
        if cur is not None:
            self._stop(cur.play_id)

    def _start_next(self) -> None:
        if self._items:
            self._current = self._items.popleft()
            self._play(self._current.play_id, self._current.prompt)
        elif self._idle_waiters:
            waiters, self._idle_waiters = self._idle_waiters, []
            for waiter in waiters:
                waiter()
