"""NCCO models and parser: Vonage call-control JSON in, typed frozen actions out.

>>> parsed = parse_ncco([{"action": "talk", "text": "Hello"}])
>>> parsed.actions[0].text
'Hello'

Invalid documents raise :class:`trunkline.errors.NccoError` whose ``issues`` are
:class:`NccoIssue` objects with a JSON pointer to each field at fault.
"""

from trunkline.ncco.endpoints import (
    AppEndpoint,
    Endpoint,
    OnAnswer,
    PhoneEndpoint,
    SipEndpoint,
    VbcEndpoint,
    WebsocketEndpoint,
)
from trunkline.ncco.issues import NccoIssue, ParsedNcco
from trunkline.ncco.models import (
    Action,
    AdvancedMachineDetection,
    Connect,
    Conversation,
    DtmfSettings,
    Input,
    Notify,
    Record,
    SpeechSettings,
    Stream,
    Talk,
    Transfer,
    Wait,
)
from trunkline.ncco.parse import parse_endpoint, parse_ncco, parse_ncco_json
from trunkline.ncco.render import dump_action, summarize

__all__ = [
    "Action",
    "AdvancedMachineDetection",
    "AppEndpoint",
    "Connect",
    "Conversation",
    "DtmfSettings",
    "Endpoint",
    "Input",
    "NccoIssue",
    "Notify",
    "OnAnswer",
    "ParsedNcco",
    "PhoneEndpoint",
    "Record",
    "SipEndpoint",
    "SpeechSettings",
    "Stream",
    "Talk",
    "Transfer",
    "VbcEndpoint",
    "Wait",
    "WebsocketEndpoint",
    "dump_action",
    "parse_endpoint",
    "parse_ncco",
    "parse_ncco_json",
    "summarize",
]
