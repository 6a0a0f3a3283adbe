"""The switch: creates legs, starts their NCCOs, routes what happens between them.

Pure like the rest of the engine: it acts through the ports it is given (clock,
ids, recorder, webhooks, network, directory) and never reads the wall clock.
"""

from __future__ import annotations

import dataclasses
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from trunkline.clock import Clock, iso
from trunkline.domain import Application, CallRecord, Webhook
from trunkline.engine.conversations import Conversations
from trunkline.engine.flow import CallFlow
from trunkline.engine.hooks import Hook, HookResult
from trunkline.engine.leg import EventTarget, Leg
from trunkline.engine.ports import Network, Prompt, Recorder, Webhooks
from trunkline.engine.urlopts import split_url_options
from trunkline.errors import CallStateError, NccoError, NotFound
from trunkline.ids import Ids, conversation_uuid
from trunkline.ncco import Action, parse_ncco

log = logging.getLogger(__name__)

NccoReply = Callable[[Sequence[Action] | None], None]


@dataclass(frozen=True)
class FetchFailure:
    """Why no usable NCCO came back; ``reported`` when an error event already said so."""

    reason: str
    reported: bool = False


FetchDone = Callable[[Sequence[Action] | None, FetchFailure | None], None]


class Directory(Protocol):
    """Applications and numbers (the store provides this)."""

    def application_for_number(self, number: str) -> Application | None: ...

    def list_numbers(self) -> list[tuple[str, str | None]]: ...


@dataclass(frozen=True)
class EngineSettings:
    base_url: str = "http://127.0.0.1:8080"  # recording_url and region_url point here
    rate: str = "0.00000000"  # per minute, EUR-style string; self-hosted calls are free
    network: str = "trunkline"
    seed: int = 0


@dataclass(frozen=True)
class CallOptions:
    """An outbound call, as ``POST /v1/calls`` asks for it (already validated)."""

    to: dict[str, Any]
    from_: dict[str, Any]
    ncco: tuple[Action, ...] | None = None
    answer_url: str | None = None
    answer_method: str = "GET"
    event_url: str | None = None
    event_method: str = "POST"
    machine_detection: str | None = None
    #: advanced machine detection: "default" | "detect" | "detect_beep" (None: standard)
    amd_mode: str | None = None
    beep_timeout: float = 45.0
    length_timer: float = 7200.0
    ringing_timer: float = 60.0
    headers: dict[str, Any] = field(default_factory=dict)


#: Appended to the recording URLs trunkline hands out: the Vonage SDKs' download_recording
#: refuses any URL that does not mention vonage.com or nexmo.com, so an app built for Vonage
#: could not fetch its recordings unchanged. trunkline ignores the query.
FILE_URL_QUERY = "?sdk=vonage.com"

#: Seconds a synchronous machine detection may hold a call's NCCO for its verdict (the
#: detector decides within 5 s of audio; this covers a far end that sends none).
AMD_DECISION_WAIT = 10.0


class Switch:
    def __init__(
        self,
        *,
        clock: Clock,
        ids: Ids,
        recorder: Recorder,
        webhooks: Webhooks,
        network: Network,
        directory: Directory,
        settings: EngineSettings | None = None,
    ) -> None:
        self.clock = clock
        self.ids = ids
        self.recorder = recorder
        self.webhooks = webhooks
        self.network = network
        self.directory = directory
        self.settings = settings or EngineSettings()
        self.legs: dict[str, Leg] = {}
        self.conversations = Conversations(self)
        self.recordings: dict[str, Callable[[int], None]] = {}
        self._rng = random.Random(self.settings.seed)
        self._overlay_ids = 1 << 30

    # -- creating legs ----------------------------------------------------------------------
    def new_leg(
        self,
        *,
        direction: str,
        from_: dict[str, Any],
        to: dict[str, Any],
        app: Application | None,
        events: EventTarget,
        conversation_uuid: str | None = None,
        headers: dict[str, Any] | None = None,
    ) -> Leg:
        """A leg in state ``started`` (its ``started`` event is sent)."""
        record = CallRecord(
            uuid=self.ids.uuid(),
            conversation_uuid=conversation_uuid or _new_conversation(self.ids),
            direction="inbound" if direction == "inbound" else "outbound",
            from_=from_,
            to=to,
            status="started",
            created_at=self.clock.now(),
            application_id=app.id if app else None,
        )
        leg = Leg(self, record, app, events, headers=headers)
        self.legs[record.uuid] = leg
        self.recorder.save_call(record)
        leg.journal("leg", f"{direction} {leg.from_str or '?'} -> {leg.to_str} started")
        leg.emit_status("started")
        return leg

    def inbound_call(
        self,
        *,
        from_: dict[str, Any],
        to: dict[str, Any],
        channel: Any,
        headers: dict[str, Any] | None = None,
        app: Application | None = None,
    ) -> Leg | None:
        """A call arrives for a number. None when no application has the number (404).

        ``app`` is given when the driver already knows the application (a SIP user's).
        """
        if app is None:
            number = str(to.get("number") or to.get("user") or to.get("uri") or "")
            app = self.directory.application_for_number(number)
        if app is None:
            return None
        leg = self.new_leg(
            direction="inbound",
            from_=from_,
            to=to,
            app=app,
            events=_target(app.event_url),
            headers=headers,
        )
        leg.attach(channel)
        leg.set_status("ringing")
        if app.answer_url is None:
            self._answer_failed(leg, FetchFailure("the application has no answer_url"))
            return leg

        def answered(actions: Sequence[Action]) -> None:
            if not leg.alive:
                return
            channel.answer()
            leg.set_status("answered")
            self.start_flow(leg, actions)

        self._fetch_answer(leg, app.answer_url, answered)
        return leg

    def create_call(self, app: Application | None, opts: CallOptions) -> Leg:
        """Place an outbound call (REST ``POST /v1/calls``, or a sim API)."""
        if opts.event_url:
            events = EventTarget(opts.event_url, opts.event_method or "POST")
        else:
            events = _target(app.event_url if app else None)
        leg = self.new_leg(
            direction="outbound",
            from_=opts.from_,
            to=opts.to,
            app=app,
            events=events,
            headers=opts.headers,
        )
        leg.machine_detection = opts.machine_detection
        leg.amd_mode = opts.amd_mode if opts.machine_detection else None
        leg.beep_timeout = opts.beep_timeout

        def fail_timeout() -> None:
            leg.fail("timeout")

        def progress(_: Leg, status: str) -> None:
            if status == "ringing":
                leg.start_timer("ringing", opts.ringing_timer, fail_timeout)
            elif status == "answered":
                leg.cancel_timer("ringing")
                leg.start_timer("length", opts.length_timer, lambda: leg.hangup("platform"))
                if leg.amd_mode in ("detect", "detect_beep"):
                    self._hold_flow(leg, lambda: begin())
                else:
                    begin()

        def begin() -> None:
            if opts.ncco is not None:
                self.start_flow(leg, opts.ncco)
            elif opts.answer_url:
                hook = Webhook(opts.answer_url, opts.answer_method or "GET", 1.0, 5.0)
                self._fetch_answer(leg, hook, lambda actions: self._run_new(leg, actions))
            else:
                self._answer_failed(
                    leg, FetchFailure("the call has neither an ncco nor an answer_url")
                )

        leg.observers.append(progress)
        leg.start_timer("ringing", opts.ringing_timer, fail_timeout)
        caller = str(opts.from_.get("number") or opts.from_.get("uri") or "")
        self.network.dial(leg, opts.to, caller)
        return leg

    # -- NCCOs ------------------------------------------------------------------------------------
    def start_flow(self, leg: Leg, actions: Sequence[Action]) -> CallFlow:
        if leg.flow is not None:
            leg.flow.replace(actions)
            return leg.flow
        flow = CallFlow(leg)
        leg.flow = flow
        flow.start(actions)
        return flow

    def _run_new(self, leg: Leg, actions: Sequence[Action]) -> None:
        self.start_flow(leg, actions)

    def flow_finished(self, flow: CallFlow) -> None:
        """An NCCO ran out: the leg ends (spec §1)."""
        flow.leg.hangup("platform")

    def _answer_body(self, leg: Leg) -> dict[str, Any]:
        return {
            "to": leg.to_str,
            "from": leg.from_str,
            "conversation_uuid": leg.conversation_uuid,
            "uuid": leg.uuid,
            "endpoint_type": str(leg.record.from_.get("type", "phone")),
            "region_url": self.settings.base_url,
        }

    def _fetch_answer(
        self, leg: Leg, webhook: Webhook, run: Callable[[Sequence[Action]], None]
    ) -> None:
        hook = Hook(
            kind="answer",
            url=webhook.address,
            method=webhook.http_method or "GET",
            body=self._answer_body(leg),
            call_uuid=leg.uuid,
            conversation_uuid=leg.conversation_uuid,
            connect_timeout=webhook.connect_timeout,
            read_timeout=webhook.socket_timeout,
        )

        def done(actions: Sequence[Action] | None, failure: FetchFailure | None) -> None:
            if not leg.alive:
                return
            if actions is None:
                self._answer_failed(leg, failure or FetchFailure("no NCCO"))
            else:
                run(actions)

        self.fetch(leg, hook, done, required=True)

    def _answer_failed(self, leg: Leg, failure: FetchFailure) -> None:
        """No usable NCCO: error event, and the call ends — never stuck in answered."""
        if not failure.reported:
            leg.emit_error(failure.reason)
        if leg.answered:
            leg.hangup("platform")
        elif leg.alive:
            if leg.channel is not None:
                leg.channel.reject("failed")
            leg.set_status("failed", detail="internal_error")

    def ask(
        self, leg: Leg, kind: str, body: dict[str, Any], target: EventTarget, reply: NccoReply
    ) -> None:
        """An event whose reply may carry an NCCO (input, notify, synchronous connect)."""
        if not target.url:
            self.clock.call_soon(lambda: reply(None))
            return
        leg.journal("event", f"{kind} {body.get('status', '')}".strip(), url=target.url)
        hook = leg.event_hook(kind, body, target)

        def done(actions: Sequence[Action] | None, failure: FetchFailure | None) -> None:
            if failure is not None and not failure.reported:
                leg.emit_error(failure.reason)
            reply(actions)

        self.fetch(leg, hook, done, required=False)

    def fetch(
        self,
        leg: Leg,
        hook: Hook,
        done: FetchDone,
        *,
        required: bool,
    ) -> None:
        """Make an NCCO-bearing request the way Vonage does (spec §3.1, §3.12).

        One retry on a timeout, reset, 429, 503 or 504; then the application's
        ``fallback_answer_url`` (twice at most), told the reason and the original
        request. ``required`` (answer): anything but a valid NCCO is a failure.
        Otherwise an empty or non-NCCO reply just means "carry on".
        """
        fallback = leg.app.fallback_answer_url if leg.app else None

        def attempt(h: Hook, retried: int, is_fallback: bool, spent: float) -> None:
            def on_result(res: HookResult) -> None:
                actions, failure = self._judge(leg, h, res, required=required)
                if failure is None:
                    done(actions, None)
                    return
                used = spent + res.latency
                allowed = h.retries if h.retries is not None else 1  # Vonage: one retry
                in_time = h.total_time is None or used < h.total_time
                if retried < allowed and in_time and h.may_retry(res):
                    attempt(h, retried + 1, is_fallback, used)
                    return
                if fallback is not None and not is_fallback:
                    body = dict(h.body)
                    body["reason"] = failure.reason
                    body["original_request"] = {
                        "url": h.url,
                        "type": "answer" if h.kind == "answer" else "event",
                    }
                    fb = Hook(
                        kind="fallback",
                        url=fallback.address,
                        method=fallback.http_method or "GET",
                        body=body,
                        call_uuid=h.call_uuid,
                        conversation_uuid=h.conversation_uuid,
                        connect_timeout=fallback.connect_timeout,
                        read_timeout=fallback.socket_timeout,
                    )
                    attempt(self.effective_hook(fb, leg), 0, True, 0.0)
                    return
                done(None, failure)

            self.webhooks.send(h, on_result)

        attempt(self.effective_hook(hook, leg), 0, hook.kind == "fallback", 0.0)

    def effective_hook(self, hook: Hook, leg: Leg | None = None) -> Hook:
        """Apply the URL's connection overrides (``#ct=…&rt=…``) and drop them from it."""
        if "#" not in hook.url:
            return hook
        url, opts, problems = split_url_options(hook.url)
        if problems and leg is not None:
            leg.journal("warning", f"{hook.url}: " + "; ".join(problems))
        if url == hook.url:
            return hook
        return dataclasses.replace(
            hook,
            url=url,
            connect_timeout=opts.connect_timeout or hook.connect_timeout,
            read_timeout=opts.read_timeout or hook.read_timeout,
            retries=opts.retries,
            retry_on=opts.retry_on,
            total_time=opts.total_time,
        )

    def _judge(
        self, leg: Leg, hook: Hook, res: HookResult, *, required: bool
    ) -> tuple[Sequence[Action] | None, FetchFailure | None]:
        """(actions, None) for a usable reply; (None, failure) for a failure."""
        if not res.ok:
            return None, FetchFailure(f"{hook.kind} webhook {hook.url} failed: {res.describe()}")
        body = res.json
        if not isinstance(body, list):
            if required:
                return None, FetchFailure(
                    f"{hook.kind} webhook {hook.url} did not return an NCCO (a JSON array)"
                )
            return None, None
        if not body and not required:
            return None, None  # `[]` from an event webhook: nothing to change
        try:
            parsed = parse_ncco(body)
        except NccoError as exc:
            reason = f"Invalid NCCO from {hook.url}: " + "; ".join(str(i) for i in exc.issues)
            leg.emit_error(reason)
            return None, FetchFailure(reason, reported=True)
        for warning in parsed.warnings:
            leg.journal("warning", f"NCCO from {hook.url}: {warning}")
        return parsed.actions, None

    # -- between legs -----------------------------------------------------------------------------
    def bridge(self, a: Leg, b: Leg) -> None:
        a.bridged.add(b)
        b.bridged.add(a)
        a.journal("leg", f"bridged with {b.to_str} ({b.uuid})")
        self._update_audio(a)
        self._update_audio(b)

    def unbridge(self, leg: Leg) -> None:
        peers = list(leg.bridged)
        leg.bridged.clear()
        for peer in peers:
            peer.bridged.discard(leg)
        for party in [leg, *peers]:
            if party.alive:
                self._update_audio(party)
                for observer in list(party.observers):
                    observer(party, "unbridged")

    def _update_audio(self, leg: Leg) -> None:
        if leg.channel is None or not leg.alive or leg.named_conversation is not None:
            return
        hears = [] if leg.earmuffed else [p.uuid for p in leg.bridged if not p.muted]
        leg.channel.conversation_changed(leg.conversation_uuid if leg.bridged else None, hears)

    def leg_ended(self, leg: Leg) -> None:
        self.legs.pop(leg.uuid, None)
        leg.dtmf_listener = None
        if leg.flow is not None:
            leg.flow.stop()
        self.conversations.leave(leg)
        self.unbridge(leg)

    def recording_done(self, leg: Leg, rec_id: str, size: int) -> None:
        callback = self.recordings.pop(rec_id, None)
        if callback is not None:
            callback(size)

    def machine_detected(self, leg: Leg, verdict: str, sub_state: str | None) -> None:
        """A machine-detection verdict (``human``/``machine``) or, with ``sub_state``, the
        voicemail beep (``beep_start``/``beep_timeout``) — spec §4.4.

        Standard detection sends the verdict. Advanced ``default`` sends the verdict and
        the beep and lets the application answer either with an NCCO; ``detect`` holds the
        NCCO until the verdict and sends only it; ``detect_beep`` holds it until the beep
        and sends only the beep (a human verdict, after which no beep comes, is sent and
        releases the NCCO at once).
        """
        behavior = leg.machine_detection
        if behavior is None or not leg.alive:
            return
        mode = leg.amd_mode
        beep = sub_state is not None
        if beep and mode not in ("default", "detect_beep"):
            return
        send = not (mode == "detect_beep" and verdict == "machine" and not beep)
        send = send and not (mode == "detect" and beep)
        if send:
            body: dict[str, Any] = {
                "call_uuid": leg.uuid,
                "conversation_uuid": leg.conversation_uuid,
                "status": verdict,
                "direction": leg.direction,
                "from": leg.from_str,
                "to": leg.to_str,
                "timestamp": iso(self.clock.now()),
            }
            if sub_state:
                body["sub_state"] = sub_state
            if mode == "default":
                # asynchronous advanced detection: a reply NCCO takes over the call
                self.ask(leg, "status", body, leg.events, lambda a: self._amd_reply(leg, a))
            else:
                leg.emit("status", body)
        if verdict == "machine" and behavior == "hangup":
            leg.hangup("platform")
            return
        if mode == "detect" or (mode == "detect_beep" and (beep or verdict == "human")):
            self._release_flow(leg)

    def _amd_reply(self, leg: Leg, actions: Sequence[Action] | None) -> None:
        if actions is not None and leg.alive:
            self._transfer_to(leg, actions)

    def _hold_flow(self, leg: Leg, start: Callable[[], None]) -> None:
        """Start the NCCO once detection decides; never later than its own deadline."""
        leg.held_flow = start
        wait = AMD_DECISION_WAIT + (leg.beep_timeout if leg.amd_mode == "detect_beep" else 0)
        leg.start_timer("amd", wait, lambda: self._release_flow(leg))

    def _release_flow(self, leg: Leg) -> None:
        leg.cancel_timer("amd")
        start, leg.held_flow = leg.held_flow, None
        if start is not None and leg.alive:
            start()

    def file_url(self, file_id: str) -> str:
        """The URL of a recording or saved audio, as events give it (``GET /v1/files/{id}``)."""
        return f"{self.settings.base_url}/v1/files/{file_id}{FILE_URL_QUERY}"

    def random_number(self, app: Application | None) -> str | None:
        numbers = sorted(n for n, a in self.directory.list_numbers() if app and a == app.id)
        return self._rng.choice(numbers) if numbers else None

    def play_outside_ncco(self, leg: Leg, prompt: Prompt) -> int:
        """Play to a leg beside its NCCO (music on hold, REST talk/stream)."""
        self._overlay_ids += 1
        leg.play(self._overlay_ids, prompt)
        return self._overlay_ids

    def set_audio(
        self, leg: Leg, *, muted: bool | None = None, earmuffed: bool | None = None
    ) -> None:
        if muted is not None:
            leg.muted = muted
        if earmuffed is not None:
            leg.earmuffed = earmuffed
        if leg.channel is not None:
            leg.channel.set_audio(muted=leg.muted, earmuffed=leg.earmuffed)
        key = leg.named_conversation
        conv = self.conversations.by_key.get(key) if key else None
        if conv is not None:
            self.conversations.remix(conv)
        for party in [leg, *leg.bridged]:
            self._update_audio(party)

    # -- commands (what PUT /v1/calls/{uuid}… asks for) -------------------------------------------
    def live_leg(self, uuid: str) -> Leg:
        leg = self.legs.get(uuid)
        if leg is None:
            raise NotFound(f"call {uuid} does not exist or has ended")
        return leg

    def hangup(self, uuid: str) -> None:
        self.live_leg(uuid).hangup("platform")

    def mute(self, uuid: str, on: bool = True) -> None:
        leg = self._answered_leg(uuid)
        leg.journal("leg", "muted" if on else "unmuted")
        self.set_audio(leg, muted=on)

    def earmuff(self, uuid: str, on: bool = True) -> None:
        leg = self._answered_leg(uuid)
        leg.journal("leg", "earmuffed" if on else "unearmuffed")
        self.set_audio(leg, earmuffed=on)

    def transfer(
        self, uuid: str, *, ncco: Sequence[Action] | None = None, url: str | None = None
    ) -> None:
        """Replace the leg's NCCO, inline or fetched from ``url`` (answer-style GET)."""
        leg = self._answered_leg(uuid)
        if ncco is not None:
            self._transfer_to(leg, ncco)
            return
        if not url:
            raise CallStateError("transfer needs an ncco or a url")
        hook = Hook(
            kind="transfer",
            url=url,
            method="GET",
            body=self._answer_body(leg),
            call_uuid=leg.uuid,
            conversation_uuid=leg.conversation_uuid,
            connect_timeout=1.0,
            read_timeout=5.0,
        )

        def done(actions: Sequence[Action] | None, failure: FetchFailure | None) -> None:
            if actions is not None and leg.alive:
                self._transfer_to(leg, actions)
            elif failure is not None and not failure.reported:
                leg.emit_error(f"transfer failed: {failure.reason}")

        self.fetch(leg, hook, done, required=True)

    def _transfer_to(self, leg: Leg, actions: Sequence[Action]) -> None:
        leg.journal("leg", "transferred to a new NCCO")
        if leg.named_conversation is not None:
            self.conversations.leave(leg)
        if leg.bridged and leg.flow is None:
            self.unbridge(leg)  # a connected callee leaves its caller
        self.start_flow(leg, actions)

    def play(self, uuid: str, prompt: Prompt) -> int:
        """Talk or stream into a live call beside its NCCO (``PUT …/talk``, ``…/stream``).

        Returns the play id to stop it with (``DELETE …/talk``, ``…/stream``).
        """
        leg = self._answered_leg(uuid)
        leg.journal("leg", f"playing {prompt.kind} {prompt.text[:40]!r} into the call")
        return self.play_outside_ncco(leg, prompt)

    def stop_play(self, uuid: str, play_id: int) -> None:
        leg = self._answered_leg(uuid)
        if leg.channel is not None:
            leg.channel.stop_play(play_id)

    def send_dtmf(self, uuid: str, digits: str) -> None:
        leg = self._answered_leg(uuid)
        leg.journal("dtmf", f"sent {digits}")
        if leg.channel is not None:
            leg.channel.send_dtmf(digits)

    def _answered_leg(self, uuid: str) -> Leg:
        leg = self.live_leg(uuid)
        if not leg.answered:
            raise CallStateError(f"call {uuid} is {leg.status}, not answered")
        return leg


def _new_conversation(ids: Ids) -> str:
    return conversation_uuid(ids)


def _target(webhook: Webhook | None) -> EventTarget:
    if webhook is None:
        return EventTarget(None)
    return EventTarget(
        webhook.address,
        webhook.http_method or "POST",
        webhook.connect_timeout,
        webhook.socket_timeout,
    )
