"""record, conversation, notify, wait, transfer."""

from __future__ import annotations

from typing import Any

from trunkline.engine.hooks import Hook
from trunkline.sim import Step
from trunkline.testing.harness import Harness

CALLER = "447700900100"
OTHER = "447700900200"


def test_async_record_lets_the_next_action_run_and_reports_at_call_end() -> None:
    h = Harness()
    h.answer(
        [
            {"action": "record", "eventUrl": ["http://app.test/rec"]},
            {"action": "talk", "text": "This call is recorded"},
            {"action": "wait", "timeout": 5},
        ]
    )
    h.on("/rec", None)
    h.phone(CALLER)
    h.sim.call(CALLER, h.number)
    h.run()
    (rec,) = h.requests_to("/rec")
    body = rec.body
    assert body["recording_url"].startswith("http://trunkline.test/v1/files/")
    assert body["recording_uuid"] not in body["recording_url"]
    assert body["size"] > 0
    for key in ("start_time", "end_time", "conversation_uuid", "timestamp"):
        assert key in body
    assert "status" not in body
    assert h.phone(CALLER).heard() == ["This call is recorded"]


def test_record_with_end_on_key_is_synchronous() -> None:
    h = Harness()
    h.answer(
        [
            {"action": "talk", "text": "Leave a message, then press hash"},
            {
                "action": "record",
                "endOnKey": "#",
                "beepStart": True,
                "eventUrl": ["http://app.test/rec"],
            },
            {"action": "talk", "text": "Thank you"},
        ]
    )
    h.on("/rec", None)
    h.phone(CALLER, script=[Step(at=8, press="#", when_heard="Leave a message")])
    h.sim.call(CALLER, h.number)
    h.run()
    (rec,) = h.requests_to("/rec")
    assert rec.body["size"] == 8 * 4000 or rec.body["size"] > 0
    log = h.phone(CALLER).log
    assert "heard_beep" in [e.event for e in log]
    thank = next(e for e in log if e.event == "heard_talk" and e.detail["text"] == "Thank you")
    pressed = next(e for e in log if e.event == "pressed")
    assert thank.t >= pressed.t


def test_record_end_on_silence_and_time_out() -> None:
    h = Harness()
    h.answer(
        [
            {
                "action": "record",
                "endOnSilence": 3,
                "timeOut": 60,
                "eventUrl": ["http://app.test/rec"],
            },
            {"action": "talk", "text": "Done"},
        ]
    )
    h.on("/rec", None)
    h.phone(CALLER, script=[Step(at=1, say="hello there"), Step(at=2.5, say="bye now")])
    h.sim.call(CALLER, h.number)
    h.run()
    (rec,) = h.requests_to("/rec")
    assert h.phone(CALLER).heard() == ["Done"]
    assert rec.body["size"] > 0


def test_conversation_never_completes_and_later_actions_are_ignored() -> None:
    h = Harness()
    h.answer([{"action": "conversation", "name": "room"}, {"action": "talk", "text": "Ignored"}])
    h.phone(CALLER)
    call = h.sim.call(CALLER, h.number)
    h.run(3600)
    assert h.phone(CALLER).heard() == []
    assert h.switch.legs[call.id].answered
    call.hang_up()
    h.run()
    assert not h.switch.legs


def test_two_callers_in_a_named_conversation_hear_each_other() -> None:
    h = Harness()
    h.answer([{"action": "conversation", "name": "standup"}])
    h.phone(CALLER, script=[Step(at=30, hangup=True)])
    h.phone(OTHER, script=[Step(at=40, hangup=True)])
    c1 = h.sim.call(CALLER, h.number)
    h.run(5)
    c2 = h.sim.call(OTHER, h.number)
    h.run()
    hears = [e.detail["peers"] for e in h.phone(CALLER).log if e.event == "hears"]
    assert [OTHER] in hears
    conv_uuids = {h.store.get_call(c.id).conversation_uuid for c in (c1, c2)}  # type: ignore[union-attr]
    assert len(conv_uuids) == 1
    transfers = h.events(kind="transfer")
    assert len(transfers) == 2 and all("conversation_uuid_to" in t for t in transfers)


def test_moderated_conversation_music_on_hold_and_end_on_exit() -> None:
    h = Harness()

    def answer(hook: Hook) -> Any:
        if hook.body["from"] == "447700900999":
            return [
                {"action": "conversation", "name": "conf", "startOnEnter": True, "endOnExit": True}
            ]
        return [
            {
                "action": "conversation",
                "name": "conf",
                "startOnEnter": False,
                "musicOnHoldUrl": ["http://app.test/moh.mp3"],
            }
        ]

    h.answer(answer)
    h.phone(CALLER)
    h.phone("447700900999", script=[Step(at=20, hangup=True)])
    attendee = h.sim.call(CALLER, h.number)
    h.run(10)
    log = h.phone(CALLER).log
    assert any(e.event == "heard_stream" and e.detail["url"].endswith("moh.mp3") for e in log)
    h.sim.call("447700900999", h.number)
    h.run()
    log = h.phone(CALLER).log
    assert any(e.event == "prompt_stopped" for e in log)
    # the moderator left with endOnExit: the attendee was hung up
    assert h.store.get_call(attendee.id).status == "completed"  # type: ignore[union-attr]
    assert log[-1].event == "hung_up" and log[-1].detail["by"] == "trunkline"


def test_can_hear_limits_who_a_participant_hears() -> None:
    h = Harness()
    uuids: dict[str, str] = {}

    def answer(hook: Hook) -> Any:
        uuids[hook.body["from"]] = hook.body["uuid"]
        if hook.body["from"] == "447700900301":  # the coach hears only the agent
            return [{"action": "conversation", "name": "coach", "canHear": [uuids["447700900302"]]}]
        return [{"action": "conversation", "name": "coach"}]

    h.answer(answer)
    for n in ("447700900302", "447700900303", "447700900301"):
        h.phone(n, script=[Step(at=10, hangup=True)])
        h.sim.call(n, h.number)
        h.run(1)
    coach = [e.detail["peers"] for e in h.phone("447700900301").log if e.event == "hears"]
    assert coach[-1] == ["447700900302"]


def test_notify_reply_can_replace_the_ncco() -> None:
    h = Harness()
    h.answer(
        [
            {
                "action": "notify",
                "payload": {"step": "start"},
                "eventUrl": ["http://app.test/notify"],
            },
            {"action": "talk", "text": "Original"},
        ]
    )
    h.on(
        "/notify", lambda hook: [{"action": "talk", "text": f"Step {hook.body['payload']['step']}"}]
    )
    h.phone(CALLER)
    h.sim.call(CALLER, h.number)
    h.run()
    (req,) = h.requests_to("/notify")
    assert req.body["payload"] == {"step": "start"}
    assert req.body["conversation_uuid"].startswith("CON-")
    assert h.phone(CALLER).heard() == ["Step start"]


def test_notify_with_empty_reply_continues() -> None:
    h = Harness()
    h.answer(
        [
            {"action": "notify", "payload": {"a": 1}, "eventUrl": ["http://app.test/notify"]},
            {"action": "talk", "text": "Next"},
        ]
    )
    h.on("/notify", None)
    h.phone(CALLER)
    h.sim.call(CALLER, h.number)
    h.run()
    assert h.phone(CALLER).heard() == ["Next"]


def test_wait_holds_for_its_timeout() -> None:
    h = Harness()
    h.answer([{"action": "wait", "timeout": 2.5}, {"action": "talk", "text": "After"}])
    h.phone(CALLER)
    h.sim.call(CALLER, h.number)
    h.run()
    log = h.phone(CALLER).log
    answered = next(e.t for e in log if e.event == "answered")
    after = next(e.t for e in log if e.event == "heard_talk")
    assert abs(after - answered - 2.5) < 1e-6


def test_transfer_action_moves_the_leg_into_an_existing_conversation() -> None:
    h = Harness()

    def answer(hook: Hook) -> Any:
        if hook.body["from"] == OTHER:
            return [{"action": "conversation", "name": "lobby"}]
        return [
            {"action": "talk", "text": "Moving you"},
            {"action": "transfer", "conversationId": "lobby"},
        ]

    h.answer(answer)
    h.phone(OTHER, script=[Step(at=30, hangup=True)])
    h.phone(CALLER, script=[Step(at=20, hangup=True)])
    h.sim.call(OTHER, h.number)
    h.run(1)
    h.sim.call(CALLER, h.number)
    h.run()
    hears = [e.detail["peers"] for e in h.phone(CALLER).log if e.event == "hears"]
    assert [OTHER] in hears


def test_transfer_to_a_missing_conversation_is_an_error_event_and_the_flow_goes_on() -> None:
    h = Harness()
    h.answer(
        [
            {"action": "transfer", "conversationId": "nowhere"},
            {"action": "talk", "text": "Still here"},
        ]
    )
    h.phone(CALLER)
    h.sim.call(CALLER, h.number)
    h.run()
    errors = h.events(kind="error")
    assert errors and "nowhere" in errors[0]["reason"]
    assert h.phone(CALLER).heard() == ["Still here"]
