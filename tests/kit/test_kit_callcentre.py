"""The seeds' call centre (examples/callcentre_flask.py), tested the way its developer would."""

from __future__ import annotations

from examples import callcentre_flask as centre

from trunkline.testing import VoiceNetwork, hang_up

CALLER = "447700900100"


def test_busy_agent_falls_back_to_the_next_agent(voice: VoiceNetwork) -> None:
    app = voice.application(centre.create_app())
    agent1 = voice.phone(centre.MAIN_AGENT, answer="busy", ring=4)
    agent2 = voice.phone(centre.NEXT_AGENT, ring=6, script=[hang_up(at=45)])
    call = voice.phone(CALLER).call(app.number)

    call.wait_until("completed")

    assert call.heard("Connecting you to an agent")
    assert call.heard("Trying the next agent")
    assert agent1.rang() and not agent1.answered()
    assert agent2.rang() and agent2.answered()
    assert app.statuses(call) == ["started", "ringing", "answered", "completed"]
    # the synchronous connect's failure went to its own eventUrl, and was answered
    [main] = agent1.calls
    assert app.statuses(main) == ["started", "ringing", "busy"]
    busy = app.events(main)[-1]
    assert busy.path == "/event/main-agent" and busy.body["sip_code"] == 486
    assert busy.ncco is not None and busy.ncco[1]["endpoint"][0]["number"] == centre.NEXT_AGENT
    # the agent talked for 45 s of virtual time, and hung up
    [talk] = agent2.calls
    assert talk.duration == 45 and talk.record.disconnected_by == "user"
    assert voice.now > 45


def test_nobody_free_says_goodbye(voice: VoiceNetwork) -> None:
    app = voice.application(centre.create_app())
    voice.phone(centre.MAIN_AGENT, answer="busy")
    voice.phone(centre.NEXT_AGENT, answer="no_answer")
    call = voice.phone(CALLER).call(app.number)

    call.wait_until("completed")

    assert call.prompts == [
        "Thanks for calling. Connecting you to an agent.",
        "All agents are busy. Trying the next agent.",
        "Sorry, nobody is free. Goodbye.",
    ]
    [ringing] = voice.phone(centre.NEXT_AGENT).calls
    # connect's timeout is 10 s: the next agent rang that long, then the leg timed out
    assert ringing.statuses == ["started", "ringing", "timeout"]
    assert [n[0]["action"] for n in app.nccos] == ["talk", "talk", "talk"]


def test_the_bundled_starlette_call_centre_behaves_the_same(voice: VoiceNetwork) -> None:
    from trunkline.examples import callcentre as bundled

    app = voice.application(bundled.create_app())
    voice.phone(bundled.MAIN_AGENT, answer="busy", ring=4)
    agent2 = voice.phone(bundled.NEXT_AGENT, ring=6, script=[hang_up(at=45)])
    call = voice.phone(CALLER).call(app.number)

    call.wait_until("completed")

    assert call.heard("Trying the next agent") and agent2.answered()
    assert app.statuses(call) == ["started", "ringing", "answered", "completed"]
