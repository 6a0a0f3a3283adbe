"""A Django app, called in-process through WSGI and through ASGI, like Flask and FastAPI."""

from __future__ import annotations

import json
from typing import Any

import django
import pytest
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path

from trunkline.testing import VoiceNetwork, press

CALLER = "447700900100"
EVENTS: list[dict[str, Any]] = []


def answer(request: HttpRequest) -> HttpResponse:
    return JsonResponse(
        [
            {"action": "talk", "text": "Django here. Press 1.", "bargeIn": True},
            {
                "action": "input",
                "type": ["dtmf"],
                "dtmf": {"maxDigits": 1},
                "eventUrl": [request.build_absolute_uri("/input")],
            },
        ],
        safe=False,
    )


def on_input(request: HttpRequest) -> HttpResponse:
    digits = json.loads(request.body)["dtmf"]["digits"]
    return JsonResponse([{"action": "talk", "text": f"Django got {digits}"}], safe=False)


def event(request: HttpRequest) -> HttpResponse:
    EVENTS.append(json.loads(request.body))
    return HttpResponse(status=204)


urlpatterns = [path("answer", answer), path("input", on_input), path("event", event)]

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="test-only",
        ROOT_URLCONF=__name__,
        ALLOWED_HOSTS=["*"],
        MIDDLEWARE=[],  # no CSRF: webhooks are machine-to-machine POSTs
        INSTALLED_APPS=[],
    )
    django.setup()


@pytest.mark.parametrize("interface", ["wsgi", "asgi"])
def test_a_django_app_runs_in_process(voice: VoiceNetwork, interface: str) -> None:
    if interface == "wsgi":
        from django.core.wsgi import get_wsgi_application

        django_app: object = get_wsgi_application()
    else:
        from django.core.asgi import get_asgi_application

        django_app = get_asgi_application()
    EVENTS.clear()
    app = voice.application(django_app)
    caller = voice.phone(CALLER, script=[press("1", at=0.5, when_heard="Press 1")])
    call = caller.call(app.number)

    call.wait_until("completed")

    assert call.heard("Django got 1")
    assert [e["status"] for e in EVENTS] == ["started", "ringing", "answered", "completed"]
    assert app.statuses(call) == ["started", "ringing", "answered", "completed"]
