"""trunkline's own OpenAPI 3.1 document (``/openapi.json``) and interactive docs (``/docs``).

Written out by hand so that the shapes are Vonage's (voice.yml, application.v2.yml)
rather than whatever our pydantic models happen to generate; the test suite checks
that the voice paths match voice.yml and runs schemathesis against this document.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from trunkline.api.schemas import CALL_STATUSES

UUID = r"^[0-9a-fA-F-]{36}$"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _problems(*codes: int) -> dict[str, Any]:
    return {
        str(code): {
            "description": "Problem document (RFC 7807)",
            "content": {"application/problem+json": {"schema": _ref("Problem")}},
        }
        for code in codes
    }


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


_URL = {"type": "string", "pattern": "^https?://[a-z0-9.-]+(:[0-9]+)?(/[A-Za-z0-9/._-]*)?$"}
_URLS = {"type": "array", "items": _URL, "minItems": 1, "maxItems": 1}
_STR = {"type": "string"}
_LINK = {"type": "object", "required": ["href"], "properties": {"href": _STR}}

SCHEMAS: dict[str, Any] = {
    "Problem": {
        "type": "object",
        "required": ["type", "title", "detail", "instance"],
        "properties": {
            "type": _STR,
            "title": _STR,
            "detail": _STR,
            "instance": _STR,
            "invalid_parameters": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "reason"],
                    "properties": {"name": _STR, "reason": _STR},
                },
            },
        },
    },
    "EndpointPhone": {
        "type": "object",
        "required": ["type", "number"],
        "properties": {
            "type": {"const": "phone"},
            "number": {"type": "string", "pattern": "^[1-9][0-9]{6,14}$"},
            "dtmfAnswer": {"type": "string", "pattern": "^[0-9*#p]{1,20}$"},
        },
    },
    "EndpointSip": {
        "type": "object",
        "required": ["type", "uri"],
        "properties": {
            "type": {"const": "sip"},
            "uri": {"type": "string", "pattern": "^sips?:[a-z0-9]+@[a-z0-9.]+$"},
        },
    },
    "EndpointWebsocket": {
        "type": "object",
        "required": ["type", "uri", "content-type"],
        "properties": {
            "type": {"const": "websocket"},
            "uri": {"type": "string", "pattern": "^wss?://[a-z0-9.]+/[a-z]*$"},
            "content-type": {"enum": ["audio/l16;rate=8000", "audio/l16;rate=16000"]},
        },
    },
    "EndpointVbc": {
        "type": "object",
        "required": ["type", "extension"],
        "properties": {"type": {"const": "vbc"}, "extension": {"type": "string"}},
    },
    "EndpointApp": {
        "type": "object",
        "required": ["type", "user"],
        "properties": {"type": {"const": "app"}, "user": {"type": "string"}},
    },
    "Endpoint": {
        "oneOf": [
            _ref("EndpointPhone"),
            _ref("EndpointSip"),
            _ref("EndpointWebsocket"),
            _ref("EndpointVbc"),
            _ref("EndpointApp"),
        ]
    },
    "NccoTalk": {
        "type": "object",
        "required": ["action", "text"],
        "properties": {
            "action": {"const": "talk"},
            "text": {"type": "string", "minLength": 1, "maxLength": 200},
            "loop": {"type": "integer", "minimum": 0, "maximum": 10},
        },
    },
    "Ncco": {"type": "array", "minItems": 1, "maxItems": 5, "items": _ref("NccoTalk")},
    "CreateCallRequest": {
        "type": "object",
        "required": ["to"],
        "properties": {
            "to": {"type": "array", "items": _ref("Endpoint"), "minItems": 1, "maxItems": 1},
            "from": _ref("EndpointPhone"),
            "random_from_number": {"type": "boolean"},
            "ncco": _ref("Ncco"),
            "answer_url": _URLS,
            "answer_method": {"enum": ["GET", "POST"]},
            "event_url": _URLS,
            "event_method": {"enum": ["GET", "POST"]},
            "machine_detection": {"enum": ["continue", "hangup"]},
            "advanced_machine_detection": {
                "type": "object",
                "properties": {
                    "behavior": {"enum": ["continue", "hangup"]},
                    "mode": {"enum": ["default", "detect", "detect_beep"]},
                    "beep_timeout": {"type": "integer", "minimum": 45, "maximum": 120},
                },
            },
            "length_timer": {"type": "integer", "minimum": 1, "maximum": 86400},
            "ringing_timer": {"type": "integer", "minimum": 1, "maximum": 120},
        },
    },
    "CreateCallResponse": {
        "type": "object",
        "required": ["uuid", "status", "direction", "conversation_uuid"],
        "properties": {
            "uuid": _STR,
            "status": _STR,
            "direction": {"enum": ["outbound"]},
            "conversation_uuid": _STR,
        },
    },
    "Call": {
        "type": "object",
        "required": [
            "_links",
            "uuid",
            "conversation_uuid",
            "to",
            "from",
            "status",
            "direction",
        ],
        "properties": {
            "_links": {"type": "object", "required": ["self"], "properties": {"self": _LINK}},
            "uuid": _STR,
            "conversation_uuid": _STR,
            "to": {"type": "object", "required": ["type"]},
            "from": {"type": "object", "required": ["type"]},
            "status": _STR,
            "direction": {"enum": ["inbound", "outbound"]},
            "rate": _STR,
            "price": _STR,
            "duration": _STR,
            "start_time": _STR,
            "end_time": _STR,
            "network": _STR,
        },
    },
    "CallList": {
        "type": "object",
        "required": ["count", "page_size", "record_index", "_links", "_embedded"],
        "properties": {
            "count": {"type": "integer"},
            "page_size": {"type": "integer"},
            "record_index": {"type": "integer"},
            "_links": {
                "type": "object",
                "required": ["self", "first", "last"],
                "properties": {k: _LINK for k in ("self", "first", "last", "next", "prev")},
            },
            "_embedded": {
                "type": "object",
                "required": ["calls"],
                "properties": {"calls": {"type": "array", "items": _ref("Call")}},
            },
        },
    },
    "ModifyCallRequest": {
        "oneOf": [
            {
                "type": "object",
                "required": ["action"],
                "properties": {
                    "action": {"enum": ["hangup", "mute", "unmute", "earmuff", "unearmuff"]}
                },
            },
            {
                "type": "object",
                "required": ["action", "destination"],
                "properties": {
                    "action": {"const": "transfer"},
                    "destination": {
                        "type": "object",
                        "required": ["type"],
                        "properties": {
                            "type": {"const": "ncco"},
                            "ncco": _ref("Ncco"),
                            "url": _URLS,
                        },
                    },
                },
            },
        ]
    },
    "TalkRequest": {
        "type": "object",
        "required": ["text"],
        "properties": {
            "text": {"type": "string", "minLength": 1, "maxLength": 1500},
            "language": {"type": "string", "enum": ["en-US", "en-GB", "de-DE", "fr-FR"]},
            "style": {"type": "integer", "minimum": 0, "maximum": 10},
            "premium": {"type": "boolean"},
            "loop": {"type": "integer", "minimum": 0, "maximum": 10},
            "level": {"type": "number", "minimum": -1, "maximum": 1},
            "voice_name": {"type": "string"},
        },
    },
    "StreamRequest": {
        "type": "object",
        "required": ["stream_url"],
        "properties": {
            "stream_url": _URLS,
            "loop": {"type": "integer", "minimum": 0, "maximum": 10},
            "level": {"type": "number", "minimum": -1, "maximum": 1},
        },
    },
    "DtmfRequest": {
        "type": "object",
        "required": ["digits"],
        "properties": {"digits": {"type": "string", "pattern": "^[0-9*#p]{1,20}$"}},
    },
    "CallMessage": {
        "type": "object",
        "required": ["message", "uuid"],
        "properties": {"message": _STR, "uuid": _STR},
    },
    "Webhook": {
        "type": "object",
        "required": ["address"],
        "properties": {
            "address": _URL,
            "http_method": {"enum": ["GET", "POST"]},
            "connect_timeout": {"type": "integer", "minimum": 300, "maximum": 1000},
            "socket_timeout": {"type": "integer", "minimum": 1000, "maximum": 5000},
        },
    },
    "ApplicationRequest": {
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 100},
            "capabilities": {
                "type": "object",
                "properties": {
                    "voice": {
                        "type": "object",
                        "properties": {
                            "webhooks": {
                                "type": "object",
                                "properties": {
                                    "answer_url": _ref("Webhook"),
                                    "fallback_answer_url": _ref("Webhook"),
                                    "event_url": _ref("Webhook"),
                                },
                            },
                            "signed_callbacks": {"type": "boolean"},
                            "conversations_ttl": {"type": "integer", "minimum": 1, "maximum": 9000},
                            "leg_persistence_time": {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": 31,
                            },
                            "region": {
                                "enum": [
                                    "na-east",
                                    "na-west",
                                    "eu-west",
                                    "eu-east",
                                    "apac-sng",
                                    "apac-australia",
                                ]
                            },
                            # trunkline extension: the TTS engine of the application's talks
                            "trunkline": {
                                "type": "object",
                                "properties": {"tts": {"enum": ["espeak", "piper"]}},
                            },
                        },
                    }
                },
            },
            "privacy": {"type": "object", "properties": {"improve_ai": {"type": "boolean"}}},
        },
    },
    "Application": {
        "type": "object",
        "required": ["id", "name", "keys", "capabilities", "_links"],
        "properties": {
            "id": _STR,
            "name": _STR,
            "keys": {
                "type": "object",
                "properties": {"public_key": _STR, "private_key": _STR},
            },
            "privacy": {"type": "object"},
            "capabilities": {"type": "object"},
            "_links": {"type": "object", "required": ["self"], "properties": {"self": _LINK}},
        },
    },
    "ApplicationList": {
        "type": "object",
        "required": ["page_size", "page", "total_items", "total_pages", "_embedded", "_links"],
        "properties": {
            "page_size": {"type": "integer"},
            "page": {"type": "integer"},
            "total_items": {"type": "integer"},
            "total_pages": {"type": "integer"},
            "_embedded": {
                "type": "object",
                "required": ["applications"],
                "properties": {"applications": {"type": "array", "items": _ref("Application")}},
            },
            "_links": {"type": "object", "required": ["self"]},
        },
    },
    "NumbersStatus": {
        "type": "object",
        "required": ["error-code", "error-code-label"],
        "properties": {"error-code": _STR, "error-code-label": _STR},
    },
    "OwnedNumbers": {
        "type": "object",
        "required": ["count"],
        "properties": {
            "count": {"type": "integer"},
            "numbers": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["country", "msisdn", "type", "features"],
                    "properties": {
                        "country": _STR,
                        "msisdn": _STR,
                        "type": _STR,
                        "features": {"type": "array", "items": _STR},
                        "app_id": _STR,
                    },
                },
            },
        },
    },
}


def _uuid_param() -> dict[str, Any]:
    return {
        "name": "uuid",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": UUID},
    }


def _query(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema}


def _play(request: str) -> dict[str, Any]:
    return {
        "parameters": [_uuid_param()],
        "put": {
            "security": [{"jwt": []}],
            "requestBody": _body(_ref(request)),
            "responses": {"200": _json(_ref("CallMessage")), **_problems(400, 401, 404)},
        },
    }


def build_openapi(server_url: str = "/") -> dict[str, Any]:
    """The OpenAPI 3.1 document of trunkline's Vonage-compatible REST API."""
    stop = {
        "security": [{"jwt": []}],
        "responses": {"200": _json(_ref("CallMessage")), **_problems(400, 401, 404)},
    }
    talk, stream = _play("TalkRequest"), _play("StreamRequest")
    talk["delete"] = stop
    stream["delete"] = stop
    app_id = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
    basic_or_jwt: list[dict[str, list[str]]] = [{"basic": []}, {"jwt": []}]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "trunkline REST API (Vonage-compatible)",
            "version": "1.0.0",
            "description": "Voice API /v1/calls, Application API v2 and the Numbers API "
            "subset that links numbers to applications, as Vonage serves them.",
        },
        "servers": [{"url": server_url}],
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "jwt": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "basic": {"type": "http", "scheme": "basic"},
            },
        },
        "paths": {
            "/v1/calls": {
                "post": {
                    "summary": "Create an outbound call",
                    "security": [{"jwt": []}],
                    "requestBody": _body(_ref("CreateCallRequest")),
                    "responses": {
                        "201": _json(_ref("CreateCallResponse"), "Created"),
                        **_problems(400, 401, 429),
                    },
                },
                "get": {
                    "summary": "List calls",
                    "security": [{"jwt": []}],
                    "parameters": [
                        _query("status", {"enum": list(CALL_STATUSES)}),
                        _query("date_start", {"type": "string", "format": "date-time"}),
                        _query("date_end", {"type": "string", "format": "date-time"}),
                        _query("page_size", {"type": "integer", "minimum": 1, "maximum": 100}),
                        _query("record_index", {"type": "integer", "minimum": 0}),
                        _query("order", {"enum": ["asc", "desc"]}),
                        _query("conversation_uuid", {"type": "string"}),
                    ],
                    "responses": {"200": _json(_ref("CallList")), **_problems(400, 401)},
                },
            },
            "/v1/calls/{uuid}": {
                "parameters": [_uuid_param()],
                "get": {
                    "summary": "Get a call",
                    "security": [{"jwt": []}],
                    "responses": {"200": _json(_ref("Call")), **_problems(401, 404)},
                },
                "put": {
                    "summary": "Modify a call (hangup, mute, earmuff, transfer)",
                    "security": [{"jwt": []}],
                    "requestBody": _body(_ref("ModifyCallRequest")),
                    "responses": {
                        "204": {"description": "Done"},
                        **_problems(400, 401, 404),
                    },
                },
            },
            "/v1/calls/{uuid}/talk": talk,
            "/v1/calls/{uuid}/stream": stream,
            "/v1/calls/{uuid}/dtmf": _play("DtmfRequest"),
            "/v1/files/{file_id}": {
                "parameters": [
                    {
                        "name": "file_id",
                        "in": "path",
                        "required": True,
                        "description": "The id at the end of a record event's recording_url",
                        "schema": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_-]*$"},
                    }
                ],
                "get": {
                    "summary": "Download a recording (only the application that made it)",
                    "security": [{"jwt": []}],
                    "responses": {
                        "200": {
                            "description": "The recording (MP3 or WAV)",
                            "content": {
                                media: {"schema": {"type": "string", "format": "binary"}}
                                for media in ("audio/mpeg", "audio/wav")
                            },
                        },
                        **_problems(401, 404),
                    },
                },
            },
            "/v2/applications": {
                "get": {
                    "security": basic_or_jwt,
                    "parameters": [
                        _query("page_size", {"type": "integer", "minimum": 1, "maximum": 100}),
                        _query("page", {"type": "integer", "minimum": 1}),
                    ],
                    "responses": {"200": _json(_ref("ApplicationList")), **_problems(400, 401)},
                },
                "post": {
                    "security": basic_or_jwt,
                    "requestBody": _body(_ref("ApplicationRequest")),
                    "responses": {
                        "201": _json(_ref("Application"), "Created"),
                        **_problems(400, 401),
                    },
                },
            },
            "/v2/applications/{id}": {
                "parameters": [app_id],
                "get": {
                    "security": basic_or_jwt,
                    "responses": {"200": _json(_ref("Application")), **_problems(401, 404)},
                },
                "put": {
                    "security": basic_or_jwt,
                    "requestBody": _body(_ref("ApplicationRequest")),
                    "responses": {
                        "200": _json(_ref("Application")),
                        **_problems(400, 401, 404),
                    },
                },
                "delete": {
                    "security": basic_or_jwt,
                    "responses": {"204": {"description": "Deleted"}, **_problems(401, 404)},
                },
            },
            "/account/numbers": {
                "get": {
                    "security": [{"basic": []}],
                    "parameters": [
                        _query("application_id", {"type": "string"}),
                        _query("has_application", {"type": "boolean"}),
                        _query("country", {"type": "string", "pattern": "^[A-Z]{2}$"}),
                        _query("pattern", {"type": "string", "pattern": "^[0-9]{1,5}$"}),
                        _query("search_pattern", {"enum": [0, 1, 2]}),
                        _query("size", {"type": "integer", "minimum": 1, "maximum": 100}),
                        _query("index", {"type": "integer", "minimum": 1}),
                    ],
                    "responses": {
                        "200": _json(_ref("OwnedNumbers")),
                        "400": _json(_ref("NumbersStatus"), "Bad request"),
                        "401": _json(_ref("NumbersStatus"), "Unauthorized"),
                    },
                },
            },
            "/number/update": {
                "post": {
                    "security": [{"basic": []}],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/x-www-form-urlencoded": {
                                "schema": {
                                    "type": "object",
                                    "required": ["country", "msisdn"],
                                    "properties": {
                                        "country": {"type": "string", "pattern": "^[A-Z]{2}$"},
                                        "msisdn": {"type": "string", "pattern": "^[0-9]{7,15}$"},
                                        "app_id": {"type": "string"},
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": _json(_ref("NumbersStatus")),
                        "400": _json(_ref("NumbersStatus"), "Bad request"),
                        "401": _json(_ref("NumbersStatus"), "Unauthorized"),
                    },
                },
            },
        },
    }


_DOCS_HTML = """<!doctype html>
<html><head><meta charset="utf-8"><title>trunkline API</title>
<link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css">
</head><body><div id="ui"></div>
<script src="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({url: "/openapi.json", dom_id: "#ui"});</script>
</body></html>
"""


def routes() -> list[Route]:
    document = build_openapi()

    async def openapi(request: Request) -> Response:
        return JSONResponse(document)

    async def docs(request: Request) -> Response:
        return HTMLResponse(_DOCS_HTML)

    return [
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/docs", docs, methods=["GET"]),
    ]
