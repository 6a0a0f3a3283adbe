"""The pytest plugin, as a user meets it: installed by the entry point, in a fresh pytest."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from trunkline.testing import plugin

SUITE = """
import pytest
from flask import Flask, jsonify

def make_app():
    app = Flask(__name__)
    app.add_url_rule("/answer", "answer", lambda: jsonify(
        [{"action": "talk", "text": "Welcome to the shop"}]))
    app.add_url_rule("/event", "event", lambda: ("", 204), methods=["POST"])
    return app

def test_passes(voice):
    app = voice.application(make_app())
    call = voice.phone("447700900001").call(app.number)
    call.wait_until("completed")
    assert call.heard("welcome")

def test_fails_and_shows_the_timeline(voice):
    app = voice.application(make_app())
    call = voice.phone("447700900001").call(app.number)
    call.wait_until("completed")
    assert call.heard("Goodbye")

@pytest.mark.voice(seed=42)
def test_marker_options_reach_the_network(voice):
    app = voice.application(make_app())
    call = voice.phone("447700900001").call(app.number)
    print("UUID", call.uuid)
    assert call.uuid != "e3e70682-c209-4cac-a29f-6fbed82c07cd"  # seed 0's first uuid

@pytest.mark.voice(colour="blue")
def test_unknown_marker_options_are_refused(voice):
    pass
"""


def test_the_plugin_gives_the_fixture_and_timelines_on_failure(tmp_path: Path) -> None:
    (tmp_path / "test_shop.py").write_text(SUITE)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_shop.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = done.stdout
    assert done.returncode == 1, out + done.stderr
    assert "1 failed, 2 passed, 1 error" in out
    # the failing test's report has the timeline, with the reply the app sent
    failure = out[out.index("test_fails_and_shows_the_timeline") :]
    assert "trunkline timeline" in failure
    assert '< [{"action":"talk","text":"Welcome to the shop"}]' in failure
    assert "heard_talk     text='Welcome to the shop'" in failure
    assert "answered -> completed" in failure
    # only failures get one
    assert out.count("--- trunkline timeline ---") == 1
    assert "unknown option(s) ['colour']" in out


def test_the_entry_point_names_the_plugin_module() -> None:
    from importlib.metadata import entry_points

    [ep] = [ep for ep in entry_points(group="pytest11") if ep.name == "trunkline"]
    assert ep.load() is plugin
