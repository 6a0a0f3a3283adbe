"""The SIP door: SIP calls in and out as engine legs, with real RTP audio.

:class:`SipDoor` owns the :class:`~trunkline.transport.server.SipServer` (signalling) and
uses the process's :class:`~trunkline.media.pump.MediaPump` (audio). Inbound INVITEs are
admitted (trunk source or digest user, :mod:`trunkline.door.admission`), answered with
180 while the application's answer webhook runs, then 200 with our SDP when the engine
answers. Outbound legs (``connect``, ``POST /v1/calls``) go to the outbound trunk
(``phone``), to a SIP URI (``sip``) or to a registered softphone (``app``).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import random
import secrets
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import numpy.typing as npt

from trunkline.clock import Clock
from trunkline.door.admission import Admit, admit
from trunkline.door.channel import SipChannel
from trunkline.door.prompts import PromptAudio
from trunkline.door.settings import SipSettings
from trunkline.engine.leg import Leg
from trunkline.engine.ports import RecordedAudio, RecordingOptions, RecordingSink
from trunkline.engine.switch import Switch
from trunkline.media.asr import PocketsphinxEngine, SpeechEngine
from trunkline.media.pump import MediaPump
from trunkline.media.recording import RecordingWriter, beep
from trunkline.media.rtpleg import RtpLeg
from trunkline.sip.auth import DigestServer, credentials_from
from trunkline.sip.core import CallEvent, Decision, IncomingCall, Peer, Reject
from trunkline.sip.errors import RemoteProtocolError
from trunkline.sip.guard import GuardSettings, SourceGuard
from trunkline.sip.message import Request
from trunkline.sip.registrar import Registrar, Reply
from trunkline.sip.sdp import AudioConfig, AudioSession, SdpError, parse_sdp
from trunkline.sip.uri import SipUri, parse_uri
from trunkline.store.base import Store
from trunkline.transport.server import DtmfInfo, Report, SipServer
from trunkline.webhooks.guard import UrlGuard
from trunkline.wsdoor.network import WebSocketDriver

__all__ = ["SipDoor"]

log = logging.getLogger(__name__)


class SipDoor:
    """SIP in and out for one trunkline process (``[sip]`` in the configuration)."""

    def __init__(
        self,
        *,
        settings: SipSettings,
        clock: Clock,
        switch: Switch,
        store: Store,
        pump: MediaPump,
        prompts: PromptAudio,
        recordings: RecordingSink,
        guard: UrlGuard,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.switch = switch
        self.store = store
        self.pump = pump
        self.prompts = prompts
        self.recordings = recordings
        self.guard = guard
        self.digest = DigestServer(settings.realm, secret=secrets.token_bytes(32))
        trunks = settings.trunks
        self.source_guard = SourceGuard(
            GuardSettings(max_failures=settings.max_auth_failures, ban=settings.ban_seconds),
            trusted=lambda host: any(t.admits(host) for t in trunks),
        )
        self.registrar = (
            _GuardedRegistrar(settings.realm, self._password, guard=self.source_guard)
            if settings.users
            else None
        )
        self.server = SipServer(
            clock=clock,
            decide=self.decide,
            host=settings.host,
            port=settings.port,
            udp=settings.udp,
            tcp=settings.tcp,
            on_report=self.on_report,
            registrar=self.registrar,
            public_host=settings.public_host or None,
            guard=self.source_guard,
        )
        self.server.on_reoffer = self._reoffer
        self.channels: dict[str, SipChannel] = {}
        #: the WebSocket door, told of the keys a SIP caller presses (websocket:dtmf)
        self.websocket: WebSocketDriver | None = None
        self.beep = beep()
        self._speech: SpeechEngine | None = None
        #: one thread decodes speech off the event loop (pocketsphinx releases the GIL)
        self.speech_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="asr")
        self._group: asyncio.TaskGroup | None = None
        self._rng = random.Random()

    # -- running ----------------------------------------------------------------------------
    async def serve(self, ready: asyncio.Event) -> None:
        """Listen until cancelled; ``ready`` is set once SIP is bound."""
        try:
            async with asyncio.TaskGroup() as group:
                self._group = group
                bound = asyncio.Event()
                group.create_task(self.server.serve(bound))
                await bound.wait()
                log.info("SIP door on %s:%s", *self.server.address)
                # a decoder takes 0.3 s to load: load one now, off the loop, rather than
                # stall every call's audio at the first speech input
                group.create_task(self._warm_speech())
                ready.set()
                await asyncio.Future()
        finally:
            self.speech_executor.shutdown(wait=False, cancel_futures=True)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        if self._group is None:
            raise RuntimeError("the SIP door is not serving")
        return self._group.create_task(coro)

    def forget(self, channel: SipChannel) -> None:
        if self.channels.get(channel.call_id) is channel:
            del self.channels[channel.call_id]

    def _password(self, username: str) -> str | None:
        user = self.settings.user(username)
        return user.password if user else None

    def _audio(self, rtp: RtpLeg) -> AudioSession:
        config = AudioConfig(self.settings.advertised_host, rtp.local_port)
        return AudioSession(config, session_id=self._rng.randrange(1 << 31))

    async def _open_rtp(self, uuid: str) -> RtpLeg:
        return await RtpLeg.open(uuid, host=self.settings.host, port_range=self.settings.rtp_ports)

    # -- inbound ----------------------------------------------------------------------------
    async def decide(self, call: IncomingCall) -> Decision:
        invite = call.invite
        directory = self.store

        def app_for(number: str) -> str | None:
            app = directory.application_for_number(number)
            return app.id if app else None

        verdict = admit(
            invite,
            call.peer.host,
            self.settings,
            application_for_number=app_for,
            digest=self.digest,
            salt=secrets.token_bytes(8),
            now=self.clock.now(),
        )
        if not isinstance(verdict, Admit):
            log.info(
                "INVITE %s from %s refused: %s", invite.call_id, call.peer.host, verdict.status
            )
            if verdict.status == 403:  # wrong credentials, or nobody we know: counts
                self.source_guard.failed(call.peer.host, self.clock.now())
            return Reject(verdict.status, verdict.reason, verdict.headers)
        app = self.store.get_application(verdict.application_id)
        if app is None:
            return Reject(404, "Not Found")
        try:
            offer = parse_sdp(invite.body)
            # an offer we cannot answer is refused before the application hears of it
            AudioSession(AudioConfig(self.settings.advertised_host, 9), session_id=0).receive_offer(
                offer
            )
        except SdpError as exc:
            return Reject(exc.status or 488, "Not Acceptable Here")
        channel = SipChannel(self, None, direction="inbound")
        channel.call_id = invite.call_id
        channel.decision = asyncio.get_running_loop().create_future()
        self.channels[invite.call_id] = channel
        leg = self.switch.inbound_call(from_=verdict.from_, to=verdict.to, channel=channel, app=app)
        if leg is None:
            channel._end()
            return Reject(404, "Not Found")
        channel.leg = leg
        leg.journal(
            "sip",
            f"INVITE from {call.peer.host}:{call.peer.port} "
            f"({verdict.trunk.name if verdict.trunk else 'user ' + str(verdict.user)})",
        )
        if channel.state == "new":
            channel.state = "ringing"
            self.server.ring(call.key)
        # the leg's RTP socket is named after the leg, as the media pump knows legs
        rtp = await self._open_rtp(leg.uuid)
        if channel.state == "ended":
            rtp.close()
        else:
            channel.rtp = rtp
            channel.audio = self._audio(rtp)
            answer, negotiated = channel.audio.receive_offer(offer)
            channel.answer_sdp = str(answer).encode()
            channel._apply(negotiated)
            if channel.answer_wanted:
                channel.answer()
        return await channel.decision

    def on_report(self, report: Report) -> None:
        if isinstance(report, CallEvent):
            channel = self.channels.get(report.call_id)
            if channel is not None and report.kind in ("ended", "cancelled", "no-ack"):
                channel.remote_ended()
        elif isinstance(report, DtmfInfo):
            channel = self.channels.get(report.call_id)
            if channel is not None:
                channel.on_digit(report.digit)

    def relay_dtmf(self, source: str, digit: str) -> None:
        """A key pressed on leg ``source`` reaches the legs that hear it (a bridged call),
        as RFC 4733 events on SIP legs and ``websocket:dtmf`` messages on WebSocket legs."""
        for channel in list(self.channels.values()):
            rtp = channel.rtp
            if (
                rtp is not None
                and channel.state == "answered"
                and channel.uuid != source
                and source in self.pump.hearing(channel.uuid)
            ):
                rtp.send_dtmf(digit)
        if self.websocket is not None:
            self.websocket.dtmf_heard(source, digit)

    def _reoffer(self, call_id: str, body: bytes) -> bytes | None:
        channel = self.channels.get(call_id)
        return channel.reoffer(body) if channel is not None else None

    # -- outbound (the engine's Network.dial for SIP endpoints) ------------------------------
    def dial(self, leg: Leg, endpoint: dict[str, Any], caller: str) -> None:
        channel = SipChannel(self, leg, direction="outbound")
        leg.attach(channel)
        self.spawn(self._dial(channel, leg, endpoint, caller))

    async def _dial(
        self, channel: SipChannel, leg: Leg, endpoint: dict[str, Any], caller: str
    ) -> None:
        try:
            target = await self._target(endpoint, caller)
        except _NoRoute as exc:
            leg.journal("sip", f"cannot call {endpoint.get('type')}: {exc}")
            leg.on_failed("failed", str(exc), exc.code)
            return
        if channel.state == "ended" or not leg.alive:
            return
        rtp = await self._open_rtp(leg.uuid)
        if channel.state == "ended" or not leg.alive:
            rtp.close()
            return
        channel.rtp = rtp
        channel.audio = self._audio(rtp)
        offer = str(channel.audio.create_offer()).encode()
        request_uri, from_uri, to_uri, peer, credentials = target
        channel.call_id = self.server.invite(
            request_uri,
            from_uri=from_uri,
            to_uri=to_uri,
            sdp=offer,
            peer=peer,
            credentials=credentials,
            on_event=channel.on_outbound,
        )
        self.channels[channel.call_id] = channel
        leg.journal(
            "sip",
            f"INVITE {request_uri} from {from_uri} via {peer.host}:{peer.port}/{peer.transport}",
        )

    async def _target(
        self, endpoint: dict[str, Any], caller: str
    ) -> tuple[str, str, str, Peer, tuple[str, str] | None]:
        kind = endpoint.get("type", "phone")
        host = self.settings.advertised_host
        if kind == "phone":
            trunk = self.settings.outbound_trunk
            if trunk is None or trunk.gateway is None:
                raise _NoRoute("no outbound trunk is configured", 404)
            number = trunk.prefix + str(endpoint.get("number", "")).removeprefix("+")
            presented = self._caller_id(caller, trunk.caller_id)
            gw = _hostport(trunk.gateway, trunk.gateway_port)
            suffix = ";transport=tcp" if trunk.transport == "tcp" else ""
            uri = f"sip:{number}@{gw}{suffix}"
            address = await self._resolve(trunk.gateway)
            peer = Peer(trunk.transport.upper(), address, trunk.gateway_port)
            creds = (
                (trunk.username, trunk.password)
                if trunk.username is not None and trunk.password is not None
                else None
            )
            return uri, f"sip:{presented}@{host}", f"sip:{number}@{gw}", peer, creds
        if kind == "sip":
            text = str(endpoint.get("uri", ""))
            try:
                parsed = parse_uri(text)
            except RemoteProtocolError as exc:
                raise _NoRoute(f"bad SIP URI {text!r}", 400) from exc
            if not isinstance(parsed, SipUri):
                raise _NoRoute(f"not a SIP URI: {text!r}", 400)
            transport = (parsed.param("transport") or "udp").upper()
            port = parsed.port or 5060
            address = await self._resolve(parsed.host)
            user = caller or "trunkline"
            return text, f"sip:{user}@{host}", text, Peer(transport, address, port), None
        if kind == "app":
            name = str(endpoint.get("user", ""))
            binding = self.registrar.binding(name, self.clock.now()) if self.registrar else None
            if binding is None:
                raise _NoRoute(f"the user {name!r} is not registered", 480)
            user = caller or "trunkline"
            return (
                binding.contact,
                f"sip:{user}@{host}",
                f"sip:{name}@{host}",
                binding.peer,
                None,
            )
        raise _NoRoute(f"no SIP route for {kind!r} endpoints", 404)

    def _caller_id(self, caller: str, default: str | None) -> str:
        """The number we present: the call's own when it is one of ours, else the trunk's."""
        number = caller.removeprefix("+")
        if number and self.store.application_for_number(number) is not None:
            return number
        if default:
            return default
        raise _NoRoute(f"{caller or 'the caller'} is not a number of this account", 403)

    async def _resolve(self, host: str) -> str:
        name = host.strip("[]")
        try:
            ipaddress.ip_address(name)
            address = name
        except ValueError:
            loop = asyncio.get_running_loop()
            try:
                infos = await loop.getaddrinfo(name, None)
            except OSError as exc:
                raise _NoRoute(f"cannot resolve {host}: {exc}", 404) from exc
            address = str(infos[0][4][0])
        why = self.guard.address_problem(address)
        if why is not None:
            raise _NoRoute(f"{host}: {why}", 403)
        return address

    # -- speech ------------------------------------------------------------------------------
    def speech_engine(self) -> SpeechEngine:
        """The recogniser (pocketsphinx), loaded on first use: its model takes a moment."""
        if self._speech is None:
            self._speech = PocketsphinxEngine()
        return self._speech

    async def _warm_speech(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            engine = await loop.run_in_executor(self.speech_executor, PocketsphinxEngine)
            await loop.run_in_executor(self.speech_executor, engine.warm, 1)
        except Exception:  # reported at the first speech input instead
            log.warning("loading the speech recogniser failed", exc_info=True)
            return
        if self._speech is None:
            self._speech = engine

    def store_utterance(self, leg: Leg, audio: npt.NDArray[np.int16]) -> str:
        """Keep a speech input's audio (``saveAudio``) as a WAV file; its URL."""
        file_id = self.switch.ids.uuid()
        pcm = audio.astype("<i2").tobytes()
        self.recordings.save(
            RecordedAudio(
                file_id=file_id,
                format="wav",
                sample_rate=8000,
                channels=1,
                seconds=len(audio) / 8000,
                pcm=lambda: pcm,
                application_id=leg.record.application_id,
                call_uuid=leg.uuid,
                conversation_uuid=leg.conversation_uuid,
            ),
            lambda size: None,
        )
        return self.switch.file_url(file_id)

    # -- recordings ----------------------------------------------------------------------------
    def store_recording(
        self, channel: SipChannel, rec_id: str, options: RecordingOptions, writer: RecordingWriter
    ) -> None:
        """Hand a stopped recording to the recording sink (encoded and stored off the loop)."""
        leg = channel.leg
        if leg is None:
            return
        audio = RecordedAudio(
            file_id=options.file_id,
            format=options.format,
            sample_rate=writer.file_rate,
            channels=writer.channels,
            seconds=writer.seconds,
            pcm=writer.pcm,
            application_id=leg.record.application_id,
            call_uuid=leg.uuid,
            conversation_uuid=leg.conversation_uuid,
        )
        self.recordings.save(audio, lambda size: leg.on_recording_done(rec_id, size))


class _GuardedRegistrar(Registrar):
    """The registrar, telling the guard of every REGISTER whose credentials failed (a
    first challenge, or one for an expired nonce, is not a failure)."""

    def __init__(
        self, realm: str, lookup: Callable[[str], str | None], *, guard: SourceGuard
    ) -> None:
        super().__init__(realm, lookup)
        self.guard = guard

    def register(self, request: Request, peer: Peer, now: float, *, salt: bytes) -> Reply:
        reply = super().register(request, peer, now, salt=salt)
        if reply.status in (401, 403) and credentials_from(request):
            stale = any("stale=true" in v.lower() for _, v in reply.headers)
            if not stale:
                self.guard.failed(peer.host, now)
        return reply


class _NoRoute(Exception):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"
