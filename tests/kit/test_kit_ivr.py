"""The IVR (examples/ivr_fastapi.py): a menu answered by key press or by voice."""

from __future__ import annotations

import pytest
from examples import ivr_fastapi as ivr

from trunkline.testing import App, VoiceNetwork, hang_up, press, say

CALLER = "447700900100"


@pytest.fixture
def app(voice: VoiceNetwork) -> App:
    app = voice.application(ivr.create_app())
    voice.phone(ivr.AGENTS["sales"], ring=1, script=[hang_up(at=30)])
    voice.phone(ivr.AGENTS["support"], ring=1, script=[hang_up(at=30)])
    return app


def test_pressing_1_connects_sales(voice: VoiceNetwork, app: App) -> None:
    caller = voice.phone(CALLER, script=[press("1", at=1, when_heard="press 1")])
    call = caller.call(app.number)

    call.wait_until("completed")

    assert call.heard("Welcome to Acme") and call.heard("Connecting you to sales")
    assert call.pressed == "1"
    assert voice.phone(ivr.AGENTS["sales"]).answered()
    assert not voice.phone(ivr.AGENTS["support"]).rang()
    [choice] = app.events(call, kind="input")
    assert choice.path == "/ivr/menu"
    assert choice.body["dtmf"] == {"digits": "1", "timed_out": False}
    assert choice.ncco is not None and choice.ncco[1]["action"] == "connect"


def test_saying_support_connects_support(voice: VoiceNetwork, app: App) -> None:
    caller = voice.phone(CALLER, script=[say("support please", at=1, when_heard="say support")])
    call = caller.call(app.number)

    call.wait_until("completed")

    assert call.heard("Connecting you to support")
    assert call.said == ["support please"]
    assert voice.phone(ivr.AGENTS["support"]).answered()
    [choice] = app.events(call, kind="input")
    assert choice.body["speech"]["results"][0]["text"] == "support please"


def test_the_menu_is_repeated_then_the_caller_is_let_go(voice: VoiceNetwork, app: App) -> None:
    call = voice.phone(CALLER).call(app.number)  # never presses, never speaks

    call.wait_until("completed")

    assert call.prompts == [
        f"Welcome to Acme. {ivr.MENU}",
        f"Sorry, I did not get that. {ivr.MENU}",
        f"Sorry, I did not get that. {ivr.MENU}",
        "Sorry, I could not help you. Goodbye.",
    ]
    inputs = app.events(call, kind="input")
    assert [ex.body["speech"]["timeout_reason"] for ex in inputs] == ["start_timeout"] * 3
    assert not voice.phone(ivr.AGENTS["sales"]).rang()


def test_an_unknown_key_then_a_good_one(voice: VoiceNetwork, app: App) -> None:
    call = voice.phone(CALLER).call(app.number)
    call.wait_until_heard("press 1")
    call.press("9")
    call.wait_until_heard("did not get that")
    call.press("2")

    call.wait_until("completed")

    assert call.pressed == "92"
    assert call.heard("Connecting you to support")
    assert [ex.body["dtmf"]["digits"] for ex in app.events(call, kind="input")] == ["9", "2"]


def test_the_caller_can_hang_up_during_the_menu(voice: VoiceNetwork, app: App) -> None:
    call = voice.phone(CALLER, script=[hang_up(at=2)]).call(app.number)

    call.wait_until("completed")

    assert call.record.disconnected_by == "user"
    assert call.duration == 2
    assert app.events(call, kind="input") == []
