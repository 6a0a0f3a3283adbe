"""The records trunkline keeps: applications, calls (legs), events and timeline entries.

Plain dataclasses, shared by the engine, the store and the API. Wire names
(``from``) become snake_case here (``from_``); the edges translate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, get_args

Direction = Literal["inbound", "outbound"]

#: Statuses after which a leg can change no more (spec/VOICE-API.md §7.2).
FINAL_STATUSES = frozenset(
    {"completed", "busy", "cancelled", "failed", "rejected", "timeout", "unanswered"}
)


@dataclass(frozen=True)
class Webhook:
    """One webhook of an application, as in the Application API v2."""

    address: str
    http_method: str = "POST"
    connect_timeout: float = 1.0  # seconds (Vonage: 300–1000 ms, default 1000)
    socket_timeout: float = 10.0  # seconds (answer 1–5 s default 5; event 1–10 s default 10)


#: Text-to-speech engines an application may choose for its ``talk`` actions (``tts``).
TtsName = Literal["espeak", "piper"]
TTS_ENGINES: tuple[str, ...] = get_args(TtsName)
DEFAULT_TTS: TtsName = "espeak"


def answer_webhook(address: str, http_method: str = "GET") -> Webhook:
    return Webhook(address, http_method, connect_timeout=1.0, socket_timeout=5.0)


def event_webhook(address: str, http_method: str = "POST") -> Webhook:
    return Webhook(address, http_method, connect_timeout=1.0, socket_timeout=10.0)


@dataclass(frozen=True)
class Application:
    """A voice application: where to fetch NCCOs and send events."""

    id: str
    name: str
    answer_url: Webhook | None = None
    event_url: Webhook | None = None
    fallback_answer_url: Webhook | None = None
    #: PEM public key that verifies the application's REST JWTs (RS256); None: no REST access
    public_key: str | None = None
    #: Application API v2 voice settings (spec/VOICE-API.md §9), kept and echoed back
    signed_callbacks: bool = True
    conversations_ttl: int = 48  # hours
    leg_persistence_time: int = 7  # days
    region: str | None = None
    improve_ai: bool = False
    #: calls per second this application may create over REST (None: no limit)
    call_rate_limit: float | None = None
    #: the TTS engine its talk actions use, one of :data:`TTS_ENGINES` (a trunkline extension)
    tts: str = DEFAULT_TTS


@dataclass
class CallRecord:
    """One leg, as ``GET /v1/calls/{uuid}`` shows it (times are POSIX seconds)."""

    uuid: str
    conversation_uuid: str
    direction: Direction
    from_: dict[str, Any]
    to: dict[str, Any]
    status: str
    created_at: float
    application_id: str | None = None
    start_time: float | None = None
    end_time: float | None = None
    duration: int | None = None
    rate: str | None = None
    price: str | None = None
    network: str | None = None
    disconnected_by: str | None = None

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES


@dataclass
class EventRecord:
    """A webhook request trunkline owes an application, stored before it is sent."""

    call_uuid: str | None
    conversation_uuid: str | None
    kind: str  # "status" | "input" | "record" | "notify" | "error" | "transfer" | ...
    url: str
    method: str
    body: dict[str, Any]
    created_at: float
    id: int | None = None
    state: str = "pending"  # "pending" | "delivered" | "failed"
    attempts: int = 0
    response_status: int | None = None
    delivered_at: float | None = None


@dataclass(frozen=True)
class TimelineEntry:
    """One line of a call's story: a leg change, an action, a webhook, an event."""

    t: float
    kind: str  # "leg" | "action" | "webhook" | "event" | "error"
    summary: str
    call_uuid: str | None = None
    conversation_uuid: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
