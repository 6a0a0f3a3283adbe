"""RFC 3261 timer names and values, defined once (§17, Table 4; RFC 6026 §8.4 for L and M).

Time is an input: the transaction layer never reads a clock. It returns
``StartTimer(name, at=...)`` / ``CancelTimer(name)`` as data, and the shell that owns the clock
hands back ``TimerFired(name)`` when the time comes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["DEFAULT_TIMERS", "CancelTimer", "StartTimer", "Timer", "TimerFired", "TimerValues"]


class Timer(StrEnum):
    """The transaction timers of RFC 3261 §17 (C belongs to proxies; L and M to RFC 6026)."""

    A = "A"  # INVITE client: request retransmission interval (unreliable transports)
    B = "B"  # INVITE client: transaction timeout
    C = "C"  # proxy INVITE transaction timeout (not used by a UA)
    D = "D"  # INVITE client: wait time for response retransmissions
    E = "E"  # non-INVITE client: request retransmission interval
    F = "F"  # non-INVITE client: transaction timeout
    G = "G"  # INVITE server: final response retransmission interval
    H = "H"  # INVITE server: wait time for ACK receipt
    I = "I"  # noqa: E741  INVITE server: wait time for ACK retransmissions
    J = "J"  # non-INVITE server: wait time for request retransmissions
    K = "K"  # non-INVITE client: wait time for response retransmissions
    L = "L"  # INVITE server (RFC 6026): wait time for accepted INVITE retransmissions
    M = "M"  # INVITE client (RFC 6026): wait time for retransmitted 2xx


@dataclass(frozen=True, slots=True)
class TimerValues:
    """T1, T2, T4 (seconds) and the timer durations RFC 3261 Table 4 derives from them."""

    t1: float = 0.5  # RTT estimate
    t2: float = 4.0  # maximum retransmit interval for non-INVITE requests and INVITE responses
    t4: float = 5.0  # maximum duration a message remains in the network

    def duration(self, timer: Timer, *, reliable: bool) -> float:
        """How long ``timer`` runs; 0 means "fire at once" (reliable transports).

        For the retransmission timers (A, E, G) this is the first interval; the transaction
        doubles it (capped at T2 for E and G) on each firing.
        """
        t1, t4 = self.t1, self.t4
        values = {
            Timer.A: t1,
            Timer.B: 64 * t1,
            Timer.C: 180.0,
            Timer.D: 0.0 if reliable else max(32.0, 64 * t1),
            Timer.E: t1,
            Timer.F: 64 * t1,
            Timer.G: t1,
            Timer.H: 64 * t1,
            Timer.I: 0.0 if reliable else t4,
            Timer.J: 0.0 if reliable else 64 * t1,
            Timer.K: 0.0 if reliable else t4,
            Timer.L: 64 * t1,
            Timer.M: 64 * t1,
        }
        return values[timer]


DEFAULT_TIMERS = TimerValues()


@dataclass(frozen=True, slots=True)
class StartTimer:
    """Command: call back with :class:`TimerFired` at time ``at`` (replaces a running one)."""

    name: Timer
    at: float


@dataclass(frozen=True, slots=True)
class CancelTimer:
    """Command: forget timer ``name``."""

    name: Timer


@dataclass(frozen=True, slots=True)
class TimerFired:
    """Event: timer ``name`` has expired."""

    name: Timer
