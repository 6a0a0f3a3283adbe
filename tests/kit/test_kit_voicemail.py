"""Record a message (examples/voicemail_flask.py)."""

from __future__ import annotations

from examples import voicemail_flask as voicemail

from trunkline.testing import VoiceNetwork, hang_up, press, say

CALLER = "447700900100"


def test_a_message_ends_with_hash(voice: VoiceNetwork) -> None:
    flask_app = voicemail.create_app()
    app = voice.application(flask_app)
    caller = voice.phone(
        CALLER,
        script=[
            # a prompt is heard as it starts; the greeting takes 5.5 s to say
            say("Hi Sam, it is Alex, call me back", at=6, when_heard="after the tone"),
            press("#", at=10, when_heard="after the tone"),
        ],
    )
    call = caller.call(app.number)

    call.wait_until("completed")

    assert call.heard("leave a message") and call.heard("Thank you. Goodbye.")
    assert "heard_beep" in caller.events()
    [recorded] = app.events(call, kind="record")
    assert recorded.path == "/recording"
    [message] = flask_app.config["MESSAGES"]
    assert message["from"] == CALLER
    assert message["recording_url"] == recorded.body["recording_url"]
    assert message["size"] > 0
    assert message["start_time"].endswith("T00:00:05.500Z")  # after the greeting
    assert message["end_time"].endswith("T00:00:10.000Z")  # when # was pressed


def test_silence_ends_the_recording(voice: VoiceNetwork) -> None:
    flask_app = voicemail.create_app()
    app = voice.application(flask_app)
    caller = voice.phone(CALLER, script=[say("It is Alex", at=6, when_heard="tone")])
    call = caller.call(app.number)

    call.wait_until("completed")

    # "It is Alex" takes 0.71 s to say; 3 s of silence later the recording stops
    [message] = flask_app.config["MESSAGES"]
    assert message["end_time"].endswith("T00:00:09.710Z")
    assert call.heard("Thank you. Goodbye.")
    assert len(flask_app.config["MESSAGES"]) == 1


def test_hanging_up_keeps_the_message(voice: VoiceNetwork) -> None:
    flask_app = voicemail.create_app()
    app = voice.application(flask_app)
    caller = voice.phone(
        CALLER,
        script=[say("Call me", at=6, when_heard="tone"), hang_up(at=7, when_heard="tone")],
    )
    call = caller.call(app.number)

    call.wait_until("completed")

    assert call.record.disconnected_by == "user"
    assert not call.heard("Goodbye")
    [message] = flask_app.config["MESSAGES"]
    assert message["from"] == CALLER
