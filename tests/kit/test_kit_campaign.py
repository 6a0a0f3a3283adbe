"""An outbound campaign with machine detection (examples/campaign_fastapi.py).

The app places its calls through ``app.call(...)`` — in production, the Vonage SDK.
"""

from __future__ import annotations

from examples import campaign_fastapi as reminders

from trunkline.testing import VoiceNetwork, press

CONFIRMS = "447700900301"
CANCELS = "447700900302"
MACHINE = "447700900303"
BUSY = "447700900304"
NO_ANSWER = "447700900305"
SILENT = "447700900306"


def test_the_campaign_reaches_people_and_skips_machines(voice: VoiceNetwork) -> None:
    campaign = reminders.Campaign([CONFIRMS, CANCELS, MACHINE, BUSY, NO_ANSWER, SILENT])
    app = voice.application(reminders.create_app(campaign))
    voice.phone(CONFIRMS, script=[press("1", at=2, when_heard="Press 1")])
    voice.phone(CANCELS, ring=5, script=[press("2", at=1, when_heard="Press 1")])
    machine = voice.phone(MACHINE, answer="machine")
    voice.phone(BUSY, answer="busy")
    voice.phone(NO_ANSWER, answer="no_answer")
    voice.phone(SILENT)

    campaign.start(lambda number: app.call(number, machine_detection="hangup", ringing_timer=30))
    voice.run()

    assert campaign.outcomes == {
        CONFIRMS: "confirmed",
        CANCELS: "cancelled",
        MACHINE: "machine",
        BUSY: "retry later",
        NO_ANSWER: "retry later",
        SILENT: "no reply",
    }
    assert voice.phone(CONFIRMS).heard("appointment is confirmed")
    # the machine was hung up on before it heard the reminder
    assert machine.answered() and not machine.heard("reminding you")
    [to_machine] = machine.calls
    assert to_machine.direction == "outbound"
    assert "machine" in app.statuses(to_machine)
    assert to_machine.statuses == ["started", "ringing", "answered", "completed"]
    # nobody answered for 30 s: the platform gave up
    [unanswered] = voice.phone(NO_ANSWER).calls
    assert unanswered.statuses[-1] == "timeout"
    assert unanswered.record.end_time is not None
    assert unanswered.record.end_time - unanswered.record.created_at == 30


def test_a_person_is_told_they_will_be_called_again(voice: VoiceNetwork) -> None:
    campaign = reminders.Campaign([SILENT])
    app = voice.application(reminders.create_app(campaign))
    person = voice.phone(SILENT)

    campaign.start(lambda number: app.call(number, machine_detection="continue"))
    [call] = person.calls  # the leg exists at once; the phone rings a moment later
    call.wait_until("completed")

    assert call.heard("We will call you again")
    assert app.statuses(call)[:4] == ["started", "ringing", "answered", "human"]
    assert [ex.kind for ex in app.requests_to("/answer")] == ["answer"]
    assert app.requests_to("/answer")[0].body["to"] == SILENT
