"""SIP outcomes as Vonage call states, and Vonage states as SIP answers (pure tables).

RFC 3261 §21 status codes on the left; the engine's leg statuses (spec/VOICE-API.md §4)
on the right. Call progress: 180/183 → ``ringing``, 2xx → ``answered``; a final failure
of an outbound INVITE maps through :data:`FAILURES`; a refusal the engine decides on an
inbound call (``reject``) maps back through :data:`REFUSALS`.
"""

from __future__ import annotations

__all__ = ["FAILURES", "REFUSALS", "failure_status", "refusal_code"]

#: Final SIP failures of a call we placed -> the leg's status.
FAILURES: dict[int, str] = {
    486: "busy",
    600: "busy",
    603: "rejected",
    607: "rejected",  # unwanted (RFC 8197)
    408: "timeout",
    480: "unanswered",
    487: "cancelled",
}

#: The engine's refusal of an inbound call -> the SIP status we answer.
REFUSALS: dict[str, tuple[int, str]] = {
    "busy": (486, "Busy Here"),
    "rejected": (603, "Decline"),
    "unanswered": (480, "Temporarily Unavailable"),
    "timeout": (480, "Temporarily Unavailable"),
    "cancelled": (487, "Request Terminated"),
    "failed": (500, "Server Internal Error"),
}


def failure_status(code: int | None) -> str:
    """The leg status for a final failure ``code`` (None: no response at all → timeout)."""
    if code is None:
        return "timeout"
    return FAILURES.get(code, "failed")


def refusal_code(status: str) -> tuple[int, str]:
    return REFUSALS.get(status, (500, "Server Internal Error"))
