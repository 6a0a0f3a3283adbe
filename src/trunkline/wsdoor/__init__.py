"""The WebSocket door: ``connect`` to ``{"type": "websocket"}`` endpoints (spec §4).

:mod:`~trunkline.wsdoor.protocol` is the sans-I/O media protocol,
:mod:`~trunkline.wsdoor.leg` the socket (a media-pump port) and
:mod:`~trunkline.wsdoor.network` the engine's network driver.
"""

from trunkline.wsdoor.leg import CloseInfo, WebSocketConnectError, WebSocketLeg, guarded_session
from trunkline.wsdoor.network import WebSocketChannel, WebSocketDriver

__all__ = [
    "CloseInfo",
    "WebSocketChannel",
    "WebSocketConnectError",
    "WebSocketDriver",
    "WebSocketLeg",
    "guarded_session",
]
