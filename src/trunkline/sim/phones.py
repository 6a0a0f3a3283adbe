"""Sim phones: numbers with behaviour, a script of timed steps, and a log.

A phone answers as a human or a machine, is busy, rejects, never answers, or
fails; rings for ``ring`` seconds first. Its script presses digits, says words
and hangs up at times counted from the moment its call is answered — or from the
moment it hears a prompt containing some text (``when_heard``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

Answer = Literal["human", "machine", "busy", "reject", "no_answer", "unanswered", "fail"]
ANSWERS: tuple[str, ...] = ("human", "machine", "busy", "reject", "no_answer", "unanswered", "fail")


@dataclass(frozen=True)
class Step:
    """One scripted move. Exactly one of ``press``, ``say``, ``hangup``."""

    at: float = 0.0  # seconds after the call is answered (or after ``when_heard``)
    press: str | None = None
    say: str | None = None
    hangup: bool = False
    when_heard: str | None = None  # start counting when a prompt containing this is heard

    def __post_init__(self) -> None:
        moves = sum([self.press is not None, self.say is not None, self.hangup])
        if moves != 1:
            raise ValueError("a step does exactly one of press, say or hangup")
        if self.press is not None and not re.fullmatch(r"[0-9*#p]+", self.press):
            raise ValueError("press takes digits 0-9, *, # and p (a 500 ms pause)")
        if self.at < 0:
            raise ValueError("at must not be negative")

    def describe(self) -> str:
        if self.press is not None:
            what = f"press {self.press}"
        elif self.say is not None:
            what = f"say {self.say!r}"
        else:
            what = "hang up"
        cond = f" after hearing {self.when_heard!r}" if self.when_heard else ""
        return f"{what} at +{self.at:g}s{cond}"


@dataclass
class LogEntry:
    t: float
    event: str  # ringing, answered, heard_talk, heard_stream, pressed, said, hung_up, ...
    call: str  # the sim call id (the trunkline leg uuid of that call)
    detail: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"t": self.t, "event": self.event, "call": self.call, **self.detail}


@dataclass
class SimPhone:
    number: str
    answer: str = "human"
    ring: float = 2.0
    script: tuple[Step, ...] = ()
    user: str | None = None  # reachable as an ``app`` endpoint under this name
    uri: str | None = None  # reachable as a ``sip`` endpoint at this URI
    keep_log: bool = True
    #: a machine's greeting lasts this long, then it beeps (None: a machine with no beep)
    greeting: float | None = 4.0
    log: list[LogEntry] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.answer not in ANSWERS:
            raise ValueError(f"answer must be one of {', '.join(ANSWERS)}")
        if self.ring < 0:
            raise ValueError("ring must not be negative")

    def note(self, t: float, event: str, call: str, **detail: Any) -> None:
        if self.keep_log:
            self.log.append(LogEntry(t, event, call, detail))

    def heard(self) -> list[str]:
        """Every text this phone heard spoken, in order."""
        return [e.detail["text"] for e in self.log if e.event == "heard_talk"]

    def events(self) -> list[str]:
        return [e.event for e in self.log]

    def as_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "answer": self.answer,
            "ring": self.ring,
            "user": self.user,
            "uri": self.uri,
            "script": [
                {k: v for k, v in vars(s).items() if v not in (None, False) or k == "at"}
                for s in self.script
            ],
        }


_TAG = re.compile(r"<[^>]+>")


def speech_seconds(text: str, chars_per_second: float = 14.0) -> float:
    """How long a TTS voice takes to say ``text`` (about 170 words a minute)."""
    plain = _TAG.sub(" ", text)
    return max(0.5, round(len(plain.strip()) / chars_per_second, 2))
