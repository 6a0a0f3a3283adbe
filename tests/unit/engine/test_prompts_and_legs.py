"""The prompt queue and the leg state table, with fakes."""

from __future__ import annotations

import pytest

from trunkline.engine.leg import TRANSITIONS, LegStateError
from trunkline.engine.ports import Prompt
from trunkline.engine.prompts import PromptQueue
from trunkline.testing.harness import Harness


class FakePlayer:
    def __init__(self) -> None:
        self.playing: list[int] = []
        self.stopped: list[int] = []

    def play(self, play_id: int, prompt: Prompt) -> None:
        self.playing.append(play_id)

    def stop(self, play_id: int) -> None:
        self.stopped.append(play_id)


def test_prompts_play_one_after_another() -> None:
    p = FakePlayer()
    q = PromptQueue(p.play, p.stop)
    done: list[str] = []
    a = q.enqueue(Prompt("tts", "a"), lambda: done.append("a"))
    b = q.enqueue(Prompt("tts", "b"), lambda: done.append("b"))
    assert p.playing == [a]
    q.on_play_done(a)
    assert p.playing == [a, b] and done == ["a"]
    q.on_play_done(999)  # not ours: ignored
    q.on_play_done(b)
    assert done == ["a", "b"] and q.idle


def test_barge_stops_only_barge_in_prompts_and_wakes_idle_waiters() -> None:
    p = FakePlayer()
    q = PromptQueue(p.play, p.stop)
    a = q.enqueue(Prompt("tts", "menu"), None, barge_in=True)
    q.enqueue(Prompt("tts", "more"), None, barge_in=True)
    woke: list[bool] = []
    q.when_idle(lambda: woke.append(True))
    assert q.barge() is True
    assert p.stopped == [a] and q.idle and woke == [True]
    assert q.barge() is False


def test_cancel_removes_a_queued_prompt_without_its_callback() -> None:
    p = FakePlayer()
    q = PromptQueue(p.play, p.stop)
    done: list[str] = []
    a = q.enqueue(Prompt("tts", "a"), lambda: done.append("a"))
    b = q.enqueue(Prompt("tts", "b"), lambda: done.append("b"))
    q.cancel(b)
    q.on_play_done(a)
    assert done == ["a"] and q.idle and p.playing == [a]


def test_transition_table_refuses_impossible_moves() -> None:
    h = Harness()
    h.answer([{"action": "talk", "text": "hi", "loop": 0}])
    h.phone("447700900100")
    call = h.sim.call("447700900100", h.number)
    h.run(1)
    leg = h.switch.legs[call.id]
    with pytest.raises(LegStateError):
        leg.set_status("ringing")
    with pytest.raises(LegStateError):
        leg.on_failed("completed")
    assert "completed" not in TRANSITIONS  # final states have no way out
