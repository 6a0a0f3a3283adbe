"""SIP over UDP: one message per datagram (RFC 3261 §18.3)."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

#: What the listener hands each datagram to: ``(data, (host, port))``.
OnDatagram = Callable[[bytes, tuple[str, int]], None]


def sendable(host: str) -> bool:
    """Whether we may send to ``host``: never broadcast, multicast or unspecified addresses."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False  # the core only ever answers source addresses, which are IP literals
    if address.is_multicast or address.is_unspecified:
        return False
    return not (isinstance(address, ipaddress.IPv4Address) and address.packed[-1] == 255)


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, on_datagram: OnDatagram) -> None:
        self.on_datagram = on_datagram

    # The transport is not checked with isinstance: on CPython 3.11 the selector loop's
    # datagram transport does not subclass asyncio.DatagramTransport (media-feasibility notes).
    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        try:
            self.on_datagram(data, (addr[0], addr[1]))
        except Exception:  # one bad packet must never stop the listener
            log.exception("SIP datagram from %s:%s could not be handled", addr[0], addr[1])

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable and the like, from an earlier sendto.
        log.info("UDP error: %s", exc)


class UdpListener:
    """A bound UDP socket: hands each datagram to ``on_datagram``; :meth:`send` answers."""

    def __init__(self, on_datagram: OnDatagram) -> None:
        self._on_datagram = on_datagram
        self._transport: asyncio.DatagramTransport | None = None
        self.address: tuple[str, int] = ("", 0)

    async def start(self, host: str, port: int) -> tuple[str, int]:
        """Bind; returns the bound address (port 0 picks a free port)."""
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Protocol(self._on_datagram), local_addr=(host, port)
        )
        self._transport = transport
        sockname = transport.get_extra_info("sockname")
        self.address = (sockname[0], sockname[1])
        return self.address

    def send(self, data: bytes, host: str, port: int) -> bool:
        """Send one datagram; ``False`` when it was refused (closed, forbidden address)."""
        if self._transport is None or self._transport.is_closing() or not sendable(host):
            log.info("not sending a datagram to %s:%s", host, port)
            return False
        self._transport.sendto(data, (host, port))
        return True

    def close(self) -> None:
        """Close the socket."""
        if self._transport is not None:
            self._transport.close()
            self._transport = None
