"""Handles on what a :class:`~trunkline.testing.kit.VoiceNetwork` holds: apps, phones
and calls, with the questions a test asks of them and the waits it makes on them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from trunkline.domain import FINAL_STATUSES, Application, CallRecord, Webhook
from trunkline.engine.leg import endpoint_str
from trunkline.engine.switch import CallOptions
from trunkline.errors import NotFound
from trunkline.ncco import parse_ncco
from trunkline.sim.network import SimCall
from trunkline.sim.phones import LogEntry, SimPhone
from trunkline.testing.exchanges import Exchange, origin_of

if TYPE_CHECKING:
    from trunkline.testing.kit import VoiceNetwork

#: Virtual seconds a waiting helper runs before it gives up.
DEFAULT_TIMEOUT = 3600.0
#: ``wait_until("ended")`` waits for any final status.
ENDED = "ended"


class WaitTimeout(AssertionError):
    """A waiting helper ran out of virtual time, or out of things that could happen.

    The message ends with the call's timeline.
    """


class App:
    """A voice application on the network: its number, and every request it received."""

    def __init__(
        self,
        network: VoiceNetwork,
        application: Application,
        number: str,
        base_url: str,
        *,
        in_process: bool,
    ) -> None:
        self.network = network
        self.application = application
        self.number = number
        self.base_url = base_url
        self.in_process = in_process
        self.origin = origin_of(base_url)

    @property
    def id(self) -> str:
        return self.application.id

    @property
    def name(self) -> str:
        return self.application.name

    def __repr__(self) -> str:
        return f"<App {self.name} {self.number} at {self.base_url}>"

    @property
    def requests(self) -> list[Exchange]:
        """Every webhook request sent to this app (its origin), oldest first."""
        return [ex for ex in self.network.webhooks.exchanges if origin_of(ex.url) == self.origin]

    def requests_to(self, path: str) -> list[Exchange]:
        return [ex for ex in self.requests if ex.path == path]

    def events(self, call: Call | str | None = None, *, kind: str | None = None) -> list[Exchange]:
        """Events (status, input, record, notify, error …) sent to this app, oldest
        first; only those of one leg when ``call`` is given, of one ``kind`` when given."""
        uuid = call.uuid if isinstance(call, Call) else call
        return [
            ex
            for ex in self.requests
            if ex.is_event
            and (uuid is None or ex.call_uuid == uuid)
            and (kind is None or ex.kind == kind)
        ]

    def statuses(self, call: Call | str | None = None) -> list[str]:
        """The ``status`` of each status event (of ``call``) this app received."""
        return [
            ex.status
            for ex in self.events(call)
            if ex.kind in ("status", "connect") and ex.status is not None
        ]

    @property
    def nccos(self) -> list[list[Any]]:
        """Every NCCO this app answered with, oldest first (JSON, as it sent them)."""
        return [ex.ncco for ex in self.requests if ex.ncco is not None]

    @property
    def errors(self) -> list[BaseException]:
        """Exceptions this (in-process) app raised while answering webhooks."""
        return [
            exc for ex, exc in self.network.webhooks.app_errors if origin_of(ex.url) == self.origin
        ]

    def call(
        self,
        to: Phone | str,
        *,
        from_: str | None = None,
        ncco: Sequence[Mapping[str, Any]] | None = None,
        answer_url: str | None = None,
        event_url: str | None = None,
        machine_detection: str | None = None,
        ringing_timer: float = 60.0,
        length_timer: float = 7200.0,
        headers: Mapping[str, Any] | None = None,
    ) -> Call:
        """Place an outbound call from this app, as ``POST /v1/calls`` would.

        Without ``ncco`` or ``answer_url`` the app's own answer URL is fetched when
        the phone answers. ``machine_detection``: ``"continue"`` or ``"hangup"``.
        """
        number = to.number if isinstance(to, Phone) else to
        actions = tuple(parse_ncco(list(ncco)).actions) if ncco is not None else None
        answer = self.application.answer_url
        if answer_url is None and actions is None and answer is not None:
            answer_url = answer.address
        options = CallOptions(
            to={"type": "phone", "number": number},
            from_={"type": "phone", "number": from_ or self.number},
            ncco=actions,
            answer_url=answer_url,
            answer_method=(answer.http_method if answer else None) or "GET",
            event_url=event_url,
            machine_detection=machine_detection,
            ringing_timer=ringing_timer,
            length_timer=length_timer,
            headers=dict(headers or {}),
        )
        leg = self.network.switch.create_call(self.application, options)
        return self.network.call_for(leg.uuid)

    @property
    def answer_url(self) -> Webhook | None:
        return self.application.answer_url

    @property
    def event_url(self) -> Webhook | None:
        return self.application.event_url


class Phone:
    """A sim phone: make calls, and ask what it heard and did."""

    def __init__(self, network: VoiceNetwork, sim: SimPhone) -> None:
        self.network = network
        self.sim = sim

    @property
    def number(self) -> str:
        return self.sim.number

    def __repr__(self) -> str:
        return f"<Phone {self.number} {self.sim.answer}>"

    def call(self, to: App | str, *, headers: Mapping[str, Any] | None = None) -> Call:
        """Dial ``to`` (an app, or a number linked to one); the call starts at once."""
        number = to.number if isinstance(to, App) else to
        sim_call = self.network.sim.call(self.number, number, dict(headers) if headers else None)
        if sim_call.leg is None:
            raise NotFound(f"no application answers {number}")
        handle = self.network.call_for(sim_call.leg.uuid)
        return handle

    @property
    def log(self) -> list[LogEntry]:
        """Everything the phone heard and did, in order."""
        return list(self.sim.log)

    def events(self) -> list[str]:
        """The names of its log entries: dialing, ringing, answered, heard_talk, …"""
        return self.sim.events()

    def rang(self) -> bool:
        """Did trunkline ring this phone?"""
        return "ringing" in self.sim.events()

    def answered(self) -> bool:
        """Was a call on this phone answered (by it, or by trunkline when it called)?"""
        return "answered" in self.sim.events()

    @property
    def prompts(self) -> list[str]:
        """Every text it heard spoken, in order."""
        return self.sim.heard()

    def heard(self, text: str) -> bool:
        """Did it hear a prompt containing ``text`` (ignoring case)?"""
        return _contains(self.prompts, text)

    @property
    def pressed(self) -> str:
        """Every key it pressed, in order (pauses left out)."""
        return _pressed(self.sim.log)

    @property
    def said(self) -> list[str]:
        return [str(e.detail["text"]) for e in self.sim.log if e.event == "said"]

    @property
    def calls(self) -> list[Call]:
        """The calls this phone made or received, oldest first (as soon as trunkline
        created the leg, before it rings)."""
        network = self.network
        return [
            network.call_for(uuid)
            for uuid in network.store.legs
            if network.call_for(uuid).phone_number == self.number
        ]

    @property
    def last_call(self) -> Call:
        calls = self.calls
        if not calls:
            raise NotFound(f"phone {self.number} has made or received no call")
        return calls[-1]


class Call:
    """One leg of a call (a phone's call into an app, an app's outbound call, or a
    ``connect`` leg), seen from the sim phone on it and from trunkline."""

    def __init__(self, network: VoiceNetwork, uuid: str) -> None:
        self.network = network
        self.uuid = uuid

    def __repr__(self) -> str:
        return f"<Call {self.label} {self.status} {self.uuid}>"

    # -- trunkline's view ------------------------------------------------------------------------
    @property
    def record(self) -> CallRecord:
        rec = self.network.store.get_call(self.uuid)
        if rec is None:
            raise NotFound(f"no call {self.uuid}")
        return rec

    @property
    def status(self) -> str:
        return self.record.status

    @property
    def statuses(self) -> list[str]:
        """Every status the leg went through, in order."""
        return list(self.network.store.history.get(self.uuid, []))

    @property
    def conversation_uuid(self) -> str:
        return self.record.conversation_uuid

    @property
    def direction(self) -> str:
        return self.record.direction

    @property
    def ended(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def duration(self) -> int | None:
        return self.record.duration

    @property
    def phone_number(self) -> str:
        """The sim phone's number on this leg (the caller of an inbound leg)."""
        rec = self.record
        return endpoint_str(rec.from_ if rec.direction == "inbound" else rec.to)

    @property
    def label(self) -> str:
        rec = self.record
        if rec.direction == "inbound":
            return f"from {endpoint_str(rec.from_)}"
        return f"to {endpoint_str(rec.to)}"

    @property
    def phone(self) -> Phone | None:
        return self.network.find_phone(self.phone_number)

    # -- waiting -------------------------------------------------------------------------------
    def reached(self, *statuses: str) -> bool:
        """Has the leg been in one of ``statuses`` (``"ended"``: any final status)?"""
        history = self.network.store.history.get(self.uuid, [])
        wanted = set(statuses)
        if ENDED in wanted:
            wanted |= FINAL_STATUSES
        return any(s in wanted for s in history)

    def wait_until(self, *statuses: str, timeout: float = DEFAULT_TIMEOUT) -> Call:
        """Run virtual time until the leg has reached one of ``statuses``.

        Raises :class:`WaitTimeout` (with the timeline) if it does not within
        ``timeout`` virtual seconds or before nothing more can happen.
        """
        wanted = statuses or (ENDED,)
        self.network.run_until(lambda: self.reached(*wanted), timeout=timeout)
        return self._check(wanted, timeout)

    async def wait_until_async(self, *statuses: str, timeout: float = DEFAULT_TIMEOUT) -> Call:
        wanted = statuses or (ENDED,)
        await self.network.run_until_async(lambda: self.reached(*wanted), timeout=timeout)
        return self._check(wanted, timeout)

    def _check(self, wanted: tuple[str, ...], timeout: float) -> Call:
        if self.reached(*wanted):
            return self
        what = " or ".join(repr(s) for s in wanted)
        raise self._timeout(f"did not reach {what}", timeout)

    def wait_until_heard(self, text: str, *, timeout: float = DEFAULT_TIMEOUT) -> Call:
        """Run virtual time until the phone on this leg hears a prompt containing ``text``."""
        self.network.run_until(lambda: self.heard(text), timeout=timeout)
        return self._check_heard(text, timeout)

    async def wait_until_heard_async(self, text: str, *, timeout: float = DEFAULT_TIMEOUT) -> Call:
        await self.network.run_until_async(lambda: self.heard(text), timeout=timeout)
        return self._check_heard(text, timeout)

    def _check_heard(self, text: str, timeout: float) -> Call:
        if self.heard(text):
            return self
        raise self._timeout(f"never heard {text!r} (it heard {self.prompts})", timeout)

    def _timeout(self, what: str, timeout: float) -> WaitTimeout:
        why = (
            "and nothing was left to happen"
            if self.network.idle
            else f"within {timeout:g} s of virtual time"
        )
        history = " -> ".join(self.statuses)
        return WaitTimeout(
            f"call {self.label} ({self.uuid}) {what} {why}; it went {history}\n\n" + self.timeline()
        )

    # -- the phone's view ------------------------------------------------------------------------
    @property
    def log(self) -> list[LogEntry]:
        """What the phone on this leg heard and did during this call."""
        phone = self.phone
        if phone is None:
            return []
        return [e for e in phone.sim.log if e.call == self.uuid]

    @property
    def prompts(self) -> list[str]:
        """Every text heard spoken on this call, in order."""
        return [str(e.detail["text"]) for e in self.log if e.event == "heard_talk"]

    def heard(self, text: str) -> bool:
        """Was a prompt containing ``text`` (ignoring case) spoken on this call?"""
        return _contains(self.prompts, text)

    @property
    def pressed(self) -> str:
        return _pressed(self.log)

    @property
    def said(self) -> list[str]:
        return [str(e.detail["text"]) for e in self.log if e.event == "said"]

    # -- acting now ------------------------------------------------------------------------------
    def _sim_call(self) -> SimCall:
        sim_call = self.network.sim.calls.get(self.uuid)
        if sim_call is None or sim_call.state == "ended":
            raise NotFound(f"call {self.label} is not in progress ({self.status})")
        return sim_call

    def press(self, digits: str) -> None:
        """Press keys on the phone now (run time to see what follows)."""
        self._sim_call().press(digits)

    def say(self, text: str) -> None:
        self._sim_call().say(text)

    def hang_up(self) -> None:
        """The phone hangs up now."""
        self._sim_call().hang_up()

    def timeline(self) -> str:
        return self.network.timeline(self)


def _contains(texts: Iterable[str], wanted: str) -> bool:
    needle = wanted.lower()
    return any(needle in t.lower() for t in texts)


def _pressed(log: Iterable[LogEntry]) -> str:
    return "".join(str(e.detail["digits"]).replace("p", "") for e in log if e.event == "pressed")
