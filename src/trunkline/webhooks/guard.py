"""The URL guard: which addresses trunkline may fetch webhooks from (SSRF defence).

Every URL trunkline fetches or posts to (answer, fallback, event, an action's
``eventUrl``, transfer URLs) goes through :class:`~trunkline.webhooks.client.WebhookClient`;
given a :class:`UrlGuard` it checks the host twice:

* a literal address or a known metadata host name in the URL, before connecting;
* every address a host name resolves to, inside the connector
  (:class:`GuardedResolver`), so the address checked is the address connected to —
  a name that resolves to a forbidden address is refused, however it is spelt.

Redirects are never followed (a 3xx is the answer, and not a 2xx), so a redirect cannot
lead past the guard.

Always refused: link-local addresses (169.254.0.0/16, fe80::/10) and cloud metadata
endpoints (169.254.169.254, fd00:ec2::254, 100.100.100.200, 168.63.129.16,
``metadata.google.internal`` …), also as IPv4-mapped IPv6. Loopback and private ranges
are allowed by default (a self-hosted platform talks to apps on its own network) and
refused in ``strict`` mode, meant for multi-tenant hosting.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Final

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

#: The reason a refused request reports (``WebhookResponse.error``).
FORBIDDEN_ADDRESS: Final = "forbidden address"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Cloud instance-metadata endpoints (AWS, GCP, Azure, Alibaba, Oracle, DigitalOcean …).
METADATA_ADDRESSES: Final = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",
        "169.254.170.2",  # AWS ECS task metadata
        "fd00:ec2::254",  # AWS IPv6
        "100.100.100.200",  # Alibaba Cloud
        "168.63.129.16",  # Azure wire server
        "192.0.0.192",  # Oracle Cloud
    )
)
METADATA_HOSTS: Final = frozenset(
    {
        "metadata.google.internal",
        "metadata.goog",
        "metadata",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.azure.internal",
    }
)

_LINK_LOCAL: Final = (
    ipaddress.ip_network("169.254.0.0/16"),
    ipaddress.ip_network("fe80::/10"),
)
#: Beyond ``is_private``/``is_loopback``: carrier-grade NAT, refused in strict mode.
_SHARED: Final = ipaddress.ip_network("100.64.0.0/10")


class ForbiddenAddress(OSError):
    """A host resolved to an address the guard refuses (raised inside the connector)."""

    def __init__(self, host: str, address: str, why: str) -> None:
        super().__init__(f"{host} -> {address}: {why}")
        self.host = host
        self.address = address
        self.why = why


class UrlGuard:
    """Decides whether an address or host may be fetched from."""

    def __init__(self, *, strict: bool = False) -> None:
        self.strict = strict

    def address_problem(self, address: str) -> str | None:
        """Why ``address`` (a literal IP) is refused, or None if it is allowed."""
        try:
            ip: IPAddress = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return None  # not a literal: the resolver checks what it resolves to
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if ip in METADATA_ADDRESSES:
            return "cloud metadata address"
        if any(ip in net for net in _LINK_LOCAL):
            return "link-local address"
        if self.strict:
            if ip.is_loopback:
                return "loopback address (strict mode)"
            if ip.is_unspecified:
                return "unspecified address (strict mode)"
            if ip.is_multicast:
                return "multicast address (strict mode)"
            if ip.is_private or ip in _SHARED or ip.is_reserved:
                return "private address (strict mode)"
        return None

    def host_problem(self, host: str) -> str | None:
        """Why the URL host ``host`` is refused before any lookup, or None."""
        name = host.strip("[]").rstrip(".").lower()
        if name in METADATA_HOSTS:
            return "cloud metadata host"
        if self.strict and (name == "localhost" or name.endswith(".localhost")):
            return "loopback host (strict mode)"
        return self.address_problem(name)


class GuardedResolver(AbstractResolver):
    """An aiohttp resolver that refuses host names resolving to a forbidden address.

    One forbidden address among several refuses the name altogether (a host that
    answers both a public and a metadata address is not to be trusted).
    """

    def __init__(self, guard: UrlGuard, inner: AbstractResolver | None = None) -> None:
        self.guard = guard
        self._inner = inner
        self._owns_inner = inner is None

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        why = self.guard.host_problem(host)
        if why is not None:
            raise ForbiddenAddress(host, host, why)
        if self._inner is None:
            self._inner = DefaultResolver()
        results = await self._inner.resolve(host, port, family)
        for result in results:
            why = self.guard.address_problem(result["host"])
            if why is not None:
                raise ForbiddenAddress(host, result["host"], why)
        return results

    async def close(self) -> None:
        if self._inner is not None and self._owns_inner:
            await self._inner.close()
