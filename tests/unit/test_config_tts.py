"""``[[applications]] tts``: the TTS engine an application's talk actions use."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import pytest

from trunkline.config import apply_config, load_config, parse_config
from trunkline.domain import DEFAULT_TTS, TTS_ENGINES
from trunkline.errors import ConfigError
from trunkline.store import MemoryStore, open_store

EXAMPLE = files("trunkline") / "examples" / "trunkline.example.toml"


def test_engines_and_default() -> None:
    assert TTS_ENGINES == ("espeak", "piper") and DEFAULT_TTS == "espeak"


def test_tts_is_espeak_unless_chosen() -> None:
    config = parse_config({"applications": [{"name": "plain"}, {"name": "neural", "tts": "piper"}]})
    plain, neural = config.applications
    assert plain.tts == "espeak" and neural.tts == "piper"


def test_the_example_file_documents_it() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    assert 'tts = "espeak"' in text and '"piper"' in text
    assert load_config(str(EXAMPLE)).applications[0].tts == "espeak"


@pytest.mark.parametrize("value", ["festival", "Piper", "", 1])
def test_unknown_engine_names_the_key(value: object) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"applications": [{"name": "a"}, {"name": "b", "tts": value}]}, source="t")
    assert "t: applications[1].tts: Input should be 'espeak' or 'piper'" in str(err.value)


def test_toml_file_to_store_and_back(tmp_path: Path) -> None:
    path = tmp_path / "trunkline.toml"
    path.write_text(
        '[[applications]]\nname = "ivr"\ntts = "piper"\nnumbers = ["447700900123"]\n',
        encoding="utf-8",
    )
    config = load_config(str(path))
    for store in (MemoryStore(), open_store(f"sqlite:///{tmp_path}/t.db")):
        apply_config(config, store)
        app = store.application_for_number("447700900123")
        assert app is not None and app.tts == "piper"
        store.close()
    reopened = open_store(f"sqlite:///{tmp_path}/t.db")
    (app,) = reopened.list_applications()
    assert app == config.applications[0]
    reopened.close()
