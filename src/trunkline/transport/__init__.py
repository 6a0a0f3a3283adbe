"""Sockets for SIP: UDP and TCP listeners around the pure :mod:`trunkline.sip.core`.

This package is the only place where SIP touches the operating system.
"""

from trunkline.transport.server import DecideCall, SipServer
from trunkline.transport.tcp import TcpListener
from trunkline.transport.udp import UdpListener

__all__ = ["DecideCall", "SipServer", "TcpListener", "UdpListener"]
