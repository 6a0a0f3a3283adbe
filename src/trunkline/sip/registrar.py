"""A registrar, pure (RFC 3261 §10.3): REGISTER in, a reply and a binding table out.

:class:`Registrar` keeps, for each user, the contacts their softphones registered and the
address each REGISTER came from (what a NATed phone can be reached on). Every REGISTER is
Digest-challenged (RFC 3261 §22) through :class:`~trunkline.sip.auth.DigestServer`:
``qop=auth``, stale nonces re-challenged with ``stale=true``, replayed nonce-counts refused.
Time is an input: bindings expire at ``now`` values the caller passes in, and the random
salt of each nonce comes from the caller too.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from trunkline.sip.auth import DigestServer, Verdict
from trunkline.sip.core import Peer
from trunkline.sip.errors import RemoteProtocolError
from trunkline.sip.headers import NameAddr
from trunkline.sip.message import Request
from trunkline.sip.uri import SipUri

__all__ = ["Binding", "Registrar", "Reply"]

log = logging.getLogger(__name__)

#: §10.2.1.1: what a contact without an expiry gets.
DEFAULT_EXPIRES = 3600


@dataclass(frozen=True, slots=True)
class Binding:
    """A registered contact of ``user``, where its REGISTER came from, and until when."""

    user: str
    contact: str
    peer: Peer
    expires_at: float
    call_id: str = ""
    cseq: int = 0


@dataclass(frozen=True, slots=True)
class Reply:
    """The response a REGISTER gets: status, reason (``None``: the usual) and headers."""

    status: int
    reason: str | None = None
    headers: tuple[tuple[str, str], ...] = ()


class Registrar:
    """Bindings for the users ``lookup`` knows (username -> password, ``None``: unknown).

    Registrations shorter than ``min_expires`` get 423 with Min-Expires (§10.3 step 7);
    longer than ``max_expires`` are shortened to it.
    """

    def __init__(
        self,
        realm: str,
        lookup: Callable[[str], str | None],
        *,
        min_expires: int = 60,
        max_expires: int = 3600,
        secret: bytes | None = None,
        nonce_ttl: float = 300.0,
    ) -> None:
        if not 0 < min_expires <= max_expires:
            raise ValueError("need 0 < min_expires <= max_expires")
        self.realm = realm
        self.lookup = lookup
        self.min_expires = min_expires
        self.max_expires = max_expires
        self.digest = DigestServer(
            realm, secret=secrets.token_bytes(32) if secret is None else secret, nonce_ttl=nonce_ttl
        )
        self._table: dict[str, dict[str, Binding]] = {}

    # ------------------------------------------------------------------ lookups

    def bindings(self, user: str, now: float) -> list[Binding]:
        """The live bindings of ``user``, most recently refreshed last."""
        table = self._table.get(user)
        if not table:
            return []
        for contact in [c for c, b in table.items() if b.expires_at <= now]:
            del table[contact]
        if not table:
            del self._table[user]
            return []
        return sorted(table.values(), key=lambda b: b.expires_at)

    def binding(self, user: str, now: float) -> Binding | None:
        """Where to reach ``user`` now: the binding that lives longest, or ``None``."""
        live = self.bindings(user, now)
        return live[-1] if live else None

    def expire(self, now: float) -> int:
        """Forget every binding expired at ``now``; how many users remain registered."""
        for user in list(self._table):
            self.bindings(user, now)
        return len(self._table)

    # ------------------------------------------------------------------ REGISTER

    def register(self, request: Request, peer: Peer, now: float, *, salt: bytes) -> Reply:
        """Process a REGISTER (§10.3) from ``peer``; ``salt`` is fresh randomness for a nonce."""
        verdict, username = self.digest.check(request, now, self.lookup)
        if verdict is not Verdict.OK:
            stale = verdict is Verdict.STALE
            challenge = self.digest.challenge(now, salt, stale=stale)
            log.info("REGISTER from %s:%s challenged (%s)", peer.host, peer.port, verdict.value)
            return Reply(401, None, (("WWW-Authenticate", str(challenge)),))
        assert username is not None
        try:
            return self._update(request, username, peer, now)
        except (RemoteProtocolError, ValueError) as exc:
            return Reply(400, f"Bad REGISTER: {exc}"[:120])

    def _update(self, request: Request, user: str, peer: Peer, now: float) -> Reply:
        aor = request.to.uri
        if not isinstance(aor, SipUri) or aor.user_unescaped != user:
            # §10.3 step 6: an authenticated user changes their own bindings only.
            return Reply(403, "Forbidden: not your address of record")
        header_expires = _expires_header(request)
        table = self._table.setdefault(user, {})
        if request.contact_star:
            # §10.3 step 6: "*" only with Expires: 0, alone.
            if header_expires != 0:
                return Reply(400, "Contact * needs Expires: 0")
            if self._out_of_order(table.values(), request):
                return Reply(500, "Out of order REGISTER")
            table.clear()
            return self._ok(user, now)
        changes: list[tuple[str, int]] = []
        for contact in request.contacts:
            expires = _contact_expires(contact, header_expires)
            if 0 < expires < self.min_expires:
                return Reply(423, None, (("Min-Expires", str(self.min_expires)),))
            changes.append((str(contact.uri), min(expires, self.max_expires)))
        for uri, _ in changes:
            old = table.get(uri)
            if old is not None and self._out_of_order([old], request):
                return Reply(500, "Out of order REGISTER")
        for uri, expires in changes:
            if expires == 0:
                table.pop(uri, None)
            else:
                table[uri] = Binding(
                    user, uri, peer, now + expires, request.call_id, request.cseq.number
                )
        return self._ok(user, now)

    @staticmethod
    def _out_of_order(bindings: Iterable[Binding], request: Request) -> bool:
        """§10.3 step 7: the same Call-ID with a CSeq not above the stored one."""
        return any(b.call_id == request.call_id and request.cseq.number <= b.cseq for b in bindings)

    def _ok(self, user: str, now: float) -> Reply:
        live = self.bindings(user, now)
        contacts = tuple(
            ("Contact", f"<{b.contact}>;expires={max(0, int(b.expires_at - now))}") for b in live
        )
        return Reply(200, None, contacts)


def _expires_header(request: Request) -> int | None:
    value = request.headers.get("Expires")
    if value is None:
        return None
    value = value.strip()
    if not value.isdigit():
        raise ValueError("Expires is not a number")
    return min(int(value), 2**32 - 1)


def _contact_expires(contact: NameAddr, header: int | None) -> int:
    value = contact.param("expires")
    if value is not None:
        value = value.strip()
        if value.isdigit():
            return min(int(value), 2**32 - 1)
        raise ValueError("a Contact's expires is not a number")
    return DEFAULT_EXPIRES if header is None else header
