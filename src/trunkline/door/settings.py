"""The ``[sip]`` section of the configuration: where SIP listens, trunks and SIP users.

Models (pydantic, strict, unknown keys refused) at the edge; frozen dataclasses inside.
A trunk is two things a carrier is to trunkline: a set of source addresses whose INVITEs
are trusted as calls to our numbers (inbound), and a gateway trunkline sends ``phone``
calls to (outbound). SIP users are softphones that register and call in with digest
credentials; each belongs to an application.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

__all__ = ["SipSection", "SipSettings", "SipUser", "Trunk"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Trunk:
    """A carrier trunk: who may send us calls, and where our ``phone`` calls go."""

    name: str
    #: INVITEs from these networks are this trunk's calls to our numbers
    sources: tuple[Network, ...] = ()
    #: the gateway for outbound ``phone`` calls (None: inbound only)
    gateway: str | None = None
    gateway_port: int = 5060
    transport: Literal["udp", "tcp"] = "udp"
    #: credentials for a gateway that challenges (401/407); with ``inbound_auth`` the
    #: carrier must also present them (digest) on the INVITEs it sends us
    username: str | None = None
    password: str | None = None
    inbound_auth: bool = False
    #: the caller ID used when the call's ``from`` is not one we may present
    caller_id: str | None = None
    #: prepended to dialled numbers (e.g. "+" or a tech prefix)
    prefix: str = ""

    def admits(self, host: str) -> bool:
        """Whether ``host`` is one of this trunk's source addresses."""
        try:
            address = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            return False
        return any(address in net for net in self.sources)


@dataclass(frozen=True)
class SipUser:
    """A softphone's account: it registers and calls in with digest credentials."""

    username: str
    password: str
    application: str  # application name or id, as written; resolved by the config


@dataclass(frozen=True)
class SipSettings:
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 5060
    #: the address peers reach us at (Contact, SDP c=); empty: ``host``
    public_host: str = ""
    udp: bool = True
    tcp: bool = True
    rtp_ports: tuple[int, int] = (20000, 30000)
    realm: str = "trunkline"
    #: 401 for callers we do not know; False answers 403 without a challenge
    challenge: bool = True
    #: a source (not a trunk's) failing authentication this often in a minute is ignored
    #: for ``ban_seconds``; so are floods and known scanners
    max_auth_failures: int = 10
    ban_seconds: float = 300.0
    trunks: tuple[Trunk, ...] = ()
    users: tuple[SipUser, ...] = ()
    #: user -> application id (filled by the config once applications are known)
    user_apps: dict[str, str] = field(default_factory=dict)

    @property
    def advertised_host(self) -> str:
        return self.public_host or self.host

    @property
    def outbound_trunk(self) -> Trunk | None:
        """The trunk ``phone`` endpoints go out on: the first with a gateway."""
        return next((t for t in self.trunks if t.gateway), None)

    def user(self, username: str) -> SipUser | None:
        return next((u for u in self.users if u.username == username), None)


# -- the file -------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def _network(value: str) -> str:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise PydanticCustomError("address", "must be an IP address or network (CIDR)") from None
    return value


def _number(value: str) -> str:
    digits = value.removeprefix("+")
    if not (digits.isascii() and digits.isdigit() and 1 <= len(digits) <= 15):
        raise PydanticCustomError("number", "must be an E.164 number (up to 15 digits)")
    return digits


class _Trunk(_Model):
    name: str = Field(min_length=1)
    sources: list[Annotated[str, AfterValidator(_network)]] = Field(default_factory=list)
    gateway: str | None = Field(None, min_length=1)
    gateway_port: int = Field(5060, ge=1, le=65535)
    transport: Literal["udp", "tcp"] = "udp"
    username: str | None = Field(None, min_length=1)
    password: str | None = Field(None, min_length=1)
    inbound_auth: bool = False
    caller_id: Annotated[str, AfterValidator(_number)] | None = None
    prefix: str = Field("", pattern=r"^[+0-9#*]*$")

    @model_validator(mode="after")
    def _useful(self) -> _Trunk:
        if (self.username is None) != (self.password is None):
            raise PydanticCustomError("config", "password: give username and password together")
        if self.inbound_auth and self.username is None:
            raise PydanticCustomError(
                "config", "inbound_auth: needs the username and password callers present"
            )
        if not self.sources and not self.gateway and not self.inbound_auth:
            raise PydanticCustomError(
                "config", "sources: a trunk needs sources, a gateway or inbound_auth"
            )
        return self

    def build(self) -> Trunk:
        return Trunk(
            name=self.name,
            sources=tuple(ipaddress.ip_network(s, strict=False) for s in self.sources),
            gateway=self.gateway,
            gateway_port=self.gateway_port,
            transport=self.transport,
            username=self.username,
            password=self.password,
            inbound_auth=self.inbound_auth,
            caller_id=self.caller_id,
            prefix=self.prefix,
        )


class _User(_Model):
    username: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._~-]+$")
    password: str = Field(min_length=8, max_length=256)
    application: str = Field(min_length=1)


class SipSection(_Model):
    """``[sip]`` as written in the file."""

    enabled: bool = False
    host: str = Field("127.0.0.1", min_length=1)
    port: int = Field(5060, ge=0, le=65535)
    public_host: str = ""
    udp: bool = True
    tcp: bool = True
    rtp_ports: list[int] = Field(default_factory=lambda: [20000, 30000], min_length=2, max_length=2)
    realm: str = Field("trunkline", min_length=1)
    challenge: bool = True
    max_auth_failures: int = Field(10, ge=1, le=10_000)
    ban_seconds: int = Field(300, ge=0, le=86_400)
    trunks: list[_Trunk] = Field(default_factory=list)
    users: list[_User] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> SipSection:
        low, high = self.rtp_ports
        if not 1024 <= low < high <= 65535:
            raise PydanticCustomError("config", "rtp_ports: must be [low, high] within 1024-65535")
        if not (self.udp or self.tcp):
            raise PydanticCustomError("config", "udp: SIP needs UDP, TCP or both")
        names = [u.username for u in self.users]
        names += [t.username for t in self.trunks if t.inbound_auth and t.username]
        for name in names:
            if names.count(name) > 1:
                raise PydanticCustomError(
                    "config",
                    "users: the username {name} appears twice (users and trunks)",
                    {"name": name},
                )
        return self

    def build(self, user_apps: dict[str, str]) -> SipSettings:
        return SipSettings(
            enabled=self.enabled,
            host=self.host,
            port=self.port,
            public_host=self.public_host,
            udp=self.udp,
            tcp=self.tcp,
            rtp_ports=(self.rtp_ports[0], self.rtp_ports[1]),
            realm=self.realm,
            challenge=self.challenge,
            max_auth_failures=self.max_auth_failures,
            ban_seconds=float(self.ban_seconds),
            trunks=tuple(t.build() for t in self.trunks),
            users=tuple(
                SipUser(u.username, u.password, user_apps.get(u.username, u.application))
                for u in self.users
            ),
            user_apps=dict(user_apps),
        )
