"""Who may call in, and as whom: the decision on a new INVITE, pure.

An INVITE is a call to one of our numbers only when it comes from a trunk's source
addresses, from a trunk that proves itself with digest credentials (``inbound_auth``,
from its sources if it lists any), or from a SIP user who does. Anything
else is refused — 401 with a challenge when users exist, 403 otherwise — and never goes
anywhere: inbound INVITEs are never routed out again, so trunkline cannot be used to
reach a carrier without an authorised caller (no toll fraud through trunkline).

:func:`admit` is data in, data out: the INVITE, the source host, the settings, the
number directory and the time; it returns an :class:`Admit` or a :class:`Refuse`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from trunkline.door.settings import SipSettings, Trunk
from trunkline.sip.auth import DigestServer, Verdict, credentials_from
from trunkline.sip.message import Request
from trunkline.sip.uri import SipUri

__all__ = ["Admit", "Refuse", "admit", "dialled_number"]


@dataclass(frozen=True)
class Admit:
    """The call may go ahead: the application, and the call's ``from``/``to`` endpoints."""

    application_id: str
    from_: dict[str, Any]
    to: dict[str, Any]
    trunk: Trunk | None = None
    user: str | None = None


@dataclass(frozen=True)
class Refuse:
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...] = ()


def _challenge(
    digest: DigestServer, now: float, salt: bytes, *, stale: bool = False
) -> tuple[str, str]:
    return ("WWW-Authenticate", str(digest.challenge(now, salt, stale=stale)))


def dialled_number(invite: Request) -> str:
    """The number or user the caller dialled: the Request-URI's user (or To's)."""
    for uri in (invite.uri, invite.to.uri):
        if isinstance(uri, SipUri) and uri.user:
            user = uri.user_unescaped or uri.user
            return user.removeprefix("+") if _is_number(user) else user
    return ""


def _is_number(text: str) -> bool:
    digits = text.removeprefix("+")
    return digits.isascii() and digits.isdigit() and 0 < len(digits) <= 15


def caller_of(invite: Request) -> str:
    uri = invite.from_.uri
    if isinstance(uri, SipUri) and uri.user:
        user = uri.user_unescaped or uri.user
        return user.removeprefix("+") if _is_number(user) else user
    return ""


def admit(
    invite: Request,
    host: str,
    settings: SipSettings,
    *,
    application_for_number: Callable[[str], str | None],
    digest: DigestServer,
    salt: bytes,
    now: float,
) -> Admit | Refuse:
    """Decide on a new INVITE from ``host``."""
    dialled = dialled_number(invite)
    to: dict[str, Any] = (
        {"type": "phone", "number": dialled}
        if _is_number(dialled)
        else {"type": "sip", "uri": str(invite.uri)}
    )
    # a trunk known by its address alone needs nothing more
    trunk = next((t for t in settings.trunks if t.admits(host) and not t.inbound_auth), None)
    if trunk is not None:
        return _trunk_call(invite, trunk, dialled, to, application_for_number)
    # trunks that authenticate (from their sources, if they list any) and SIP users
    auth_trunks = {
        t.username: t
        for t in settings.trunks
        if t.inbound_auth and t.username and (not t.sources or t.admits(host))
    }
    if not settings.users and not auth_trunks:
        return Refuse(403, "Forbidden")
    if not credentials_from(invite):
        if not settings.challenge and not auth_trunks:
            return Refuse(403, "Forbidden")
        return Refuse(401, "Unauthorized", (_challenge(digest, now, salt),))

    def password_of(name: str) -> str | None:
        known = auth_trunks.get(name)
        if known is not None:
            return known.password
        user = settings.user(name)
        return user.password if user else None

    verdict, username = digest.check(invite, now, password_of)
    if verdict is Verdict.STALE:
        return Refuse(401, "Unauthorized", (_challenge(digest, now, salt, stale=True),))
    if verdict is not Verdict.OK or username is None:
        return Refuse(403, "Forbidden")
    if username in auth_trunks:
        return _trunk_call(invite, auth_trunks[username], dialled, to, application_for_number)
    user = settings.user(username)
    assert user is not None
    app_id = application_for_number(dialled) if _is_number(dialled) else None
    return Admit(
        app_id or user.application,
        {"type": "app", "user": username},
        to,
        user=username,
    )


def _trunk_call(
    invite: Request,
    trunk: Trunk,
    dialled: str,
    to: dict[str, Any],
    application_for_number: Callable[[str], str | None],
) -> Admit | Refuse:
    """A carrier's call to one of our numbers (404 for numbers nobody has)."""
    app_id = application_for_number(dialled)
    if app_id is None:
        return Refuse(404, "Not Found")
    caller = caller_of(invite)
    from_: dict[str, Any] = (
        {"type": "phone", "number": caller}
        if _is_number(caller)
        else {"type": "sip", "uri": str(invite.from_.uri)}
    )
    return Admit(app_id, from_, to, trunk=trunk)
