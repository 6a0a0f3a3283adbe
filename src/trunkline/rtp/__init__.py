"""Pure RTP code (STYLE rule 1): bytes in, objects out, no sockets and no clock.

- :mod:`trunkline.rtp.packet` — RTP packets (RFC 3550 §5.1).
- :mod:`trunkline.rtp.rtcp` — RTCP sender and receiver reports (RFC 3550 §6.4).
- :mod:`trunkline.rtp.telephone_event` — RFC 4733 telephone-events and a digit receiver.
- :mod:`trunkline.rtp.jitter` — a jitter buffer driven by the caller's 20 ms tick.
"""

from __future__ import annotations

from trunkline.rtp.packet import RtpError, RtpExtension, RtpPacket

__all__ = ["RtpError", "RtpExtension", "RtpPacket"]
