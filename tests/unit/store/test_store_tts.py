"""An application's TTS engine is kept by every store (in the settings JSON: no new column)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from trunkline.domain import Application
from trunkline.store import Store, open_store


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    s = open_store("memory:" if request.param == "memory" else f"sqlite:///{tmp_path}/s.db")
    yield s
    s.close()


def test_tts_round_trips_and_is_replaced(store: Store) -> None:
    neural = Application(id="app-1", name="neural", tts="piper", region="eu-west")
    store.put_application(neural)
    store.put_application(Application(id="app-2", name="plain"))
    assert store.get_application("app-1") == neural
    got = store.get_application("app-2")
    assert got is not None and got.tts == "espeak"
    store.put_application(replace(neural, tts="espeak"))
    again = store.get_application("app-1")
    assert again is not None and again.tts == "espeak"


def test_it_lives_in_the_settings_column_and_old_rows_default_to_espeak(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = open_store(f"sqlite:///{path}")
    store.put_application(Application(id="app-1", name="neural", tts="piper"))
    store.put_application(Application(id="app-2", name="older"))
    store.close()
    with sqlite3.connect(path) as raw:
        (settings,) = raw.execute("SELECT settings FROM applications WHERE id='app-1'").fetchone()
        assert json.loads(settings)["tts"] == "piper"
        # a row written before the setting existed: its JSON has no "tts" key
        old = json.loads(settings)
        del old["tts"]
        raw.execute("UPDATE applications SET settings=? WHERE id='app-2'", (json.dumps(old),))
    store = open_store(f"sqlite:///{path}")
    assert [a.tts for a in store.list_applications()] == ["piper", "espeak"]
    store.close()
