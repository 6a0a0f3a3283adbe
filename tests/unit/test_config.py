"""The configuration file: the example loads, defaults, every invalid case names its key."""

from __future__ import annotations

import uuid
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest

from trunkline.config import (
    APPLICATION_NAMESPACE,
    Config,
    application_id_for,
    apply_config,
    load_config,
    parse_config,
)
from trunkline.domain import Application, Webhook
from trunkline.errors import ConfigError
from trunkline.store import MemoryStore

EXAMPLE = files("trunkline") / "examples" / "trunkline.example.toml"
CALL_CENTRE = "aaaaaaaa-bbbb-cccc-dddd-0123456789ab"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "trunkline.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_example_file_loads() -> None:
    config = load_config(str(EXAMPLE))
    survey = application_id_for("survey")
    assert config == Config(
        host="127.0.0.1",
        port=8080,
        public_url="http://127.0.0.1:8080",
        database="sqlite:///var/trunkline.db",
        log_level="info",
        sim_enabled=True,
        sim_clock="real",
        applications=(
            Application(
                id=CALL_CENTRE,
                name="call-centre",
                answer_url=Webhook("http://127.0.0.1:3000/answer", "GET", 1.0, 5.0),
                event_url=Webhook("http://127.0.0.1:3000/event", "POST", 1.0, 10.0),
                fallback_answer_url=None,
            ),
            Application(
                id=survey,
                name="survey",
                answer_url=Webhook("http://127.0.0.1:3001/answer", "POST", 0.5, 3.0),
                event_url=Webhook("http://127.0.0.1:3001/event", "POST", 1.0, 8.0),
                fallback_answer_url=Webhook("http://127.0.0.1:3001/fallback", "GET", 1.0, 5.0),
            ),
        ),
        numbers=(
            ("447700900000", CALL_CENTRE),
            ("447700900001", survey),
            ("447700900002", survey),
        ),
    )


def test_no_file_means_every_default() -> None:
    config = load_config(None)
    assert config == Config()
    assert (config.host, config.port, config.public_url) == (
        "127.0.0.1",
        8080,
        "http://127.0.0.1:8080",
    )
    assert config.database == "sqlite:///var/trunkline.db"
    assert (config.log_level, config.sim_enabled, config.sim_clock) == ("info", True, "real")
    assert config.applications == () and config.numbers == ()


def test_empty_file_means_every_default(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "")) == Config()


def test_settings_and_derived_public_url(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [server]
        host = "::1"
        port = 9000
        database = "memory:"
        log_level = "DEBUG"
        [sim]
        enabled = false
        clock = "virtual"
        """,
    )
    config = load_config(path)
    assert config.public_url == "http://[::1]:9000"
    assert (config.database, config.log_level) == ("memory:", "debug")
    assert (config.sim_enabled, config.sim_clock) == (False, "virtual")
    explicit = parse_config({"server": {"public_url": "https://voice.example.com/"}})
    assert explicit.public_url == "https://voice.example.com"


def test_webhook_shorthands_and_defaults() -> None:
    a = {
        "name": "a",
        "answer_url": "https://app.example/answer",
        "answer_method": "post",
        "event_url": {"address": "https://app.example/event", "http_method": "get"},
        "fallback_answer_url": {
            "address": "https://app.example/fallback",
            "connection_timeout": 300,  # the Application API's spelling
            "socket_timeout": 1000,
        },
    }
    b = {"name": "b", "event_url": "http://127.0.0.1/e", "fallback_answer_url": ""}
    first, second = parse_config({"applications": [a, b]}).applications
    assert first.answer_url == Webhook("https://app.example/answer", "POST", 1.0, 5.0)
    assert first.event_url == Webhook("https://app.example/event", "GET", 1.0, 10.0)
    assert first.fallback_answer_url == Webhook("https://app.example/fallback", "GET", 0.3, 1.0)
    assert second == Application(
        application_id_for("b"), "b", event_url=Webhook("http://127.0.0.1/e")
    )


def test_application_ids_are_stable_uuid5() -> None:
    # fixed values: changing the derivation would re-key every configured application
    assert str(APPLICATION_NAMESPACE) == str(
        uuid.uuid5(uuid.NAMESPACE_URL, "urn:trunkline:application")
    )
    assert application_id_for("call-centre") == str(
        uuid.uuid5(APPLICATION_NAMESPACE, "call-centre")
    )
    assert application_id_for("survey") == "50fa7308-5377-5831-af7f-ab3a7b11daae"
    assert uuid.UUID(application_id_for("survey")).version == 5
    twice = [parse_config({"applications": [{"name": "survey"}]}) for _ in range(2)]
    assert (
        twice[0].applications[0].id == twice[1].applications[0].id == application_id_for("survey")
    )


def test_explicit_id_is_normalised() -> None:
    config = parse_config({"applications": [{"id": CALL_CENTRE.upper(), "name": "x"}]})
    assert config.applications[0].id == CALL_CENTRE


BAD: list[tuple[dict[str, Any], str]] = [
    ({"server": {"prot": 8080}}, "server.prot: unknown key"),
    ({"serve": {}}, "serve: unknown key"),
    ({"server": {"port": "8080"}}, "server.port: Input should be a valid integer"),
    ({"server": {"port": 65536}}, "server.port: Input should be less than or equal to 65535"),
    ({"server": {"host": ""}}, "server.host:"),
    ({"server": {"public_url": "voice.example.com"}}, "server.public_url: must be an http(s) URL"),
    ({"server": {"database": ""}}, "server.database:"),
    ({"server": {"log_level": "loud"}}, "server.log_level:"),
    ({"sim": {"enabled": "yes"}}, "sim.enabled: Input should be a valid boolean"),
    ({"sim": {"clock": "fast"}}, "sim.clock: Input should be 'real' or 'virtual'"),
    ({"applications": {"name": "a"}}, "applications: Input should be a valid list"),
    ({"applications": [{}]}, "applications[0].name: required"),
    ({"applications": [{"name": ""}]}, "applications[0].name:"),
    ({"applications": [{"name": "a", "colour": 1}]}, "applications[0].colour: unknown key"),
    ({"applications": [{"name": "a", "id": "xyz"}]}, "applications[0].id: must be a uuid"),
    (
        {"applications": [{"name": "a", "answer_url": "localhost:3000/answer"}]},
        "applications[0].answer_url: must be an http(s) URL",
    ),
    (
        {"applications": [{"name": "a"}, {"name": "b", "event_url": "ftp://x/e"}]},
        "applications[1].event_url: must be an http(s) URL",
    ),
    (
        {"applications": [{"name": "a", "answer_url": 3000}]},
        "applications[0].answer_url: must be a URL string or a table with an address",
    ),
    (
        {"applications": [{"name": "a", "answer_url": {"address": "file:///x"}}]},
        "applications[0].answer_url.address: must be an http(s) URL",
    ),
    (
        {"applications": [{"name": "a", "answer_url": {"http_method": "GET"}}]},
        "applications[0].answer_url.address: required",
    ),
    (
        {"applications": [{"name": "a", "answer_url": {"address": "http://x", "timeout": 1}}]},
        "applications[0].answer_url.timeout: unknown key",
    ),
    (
        {"applications": [{"name": "a", "answer_url": "http://x", "answer_method": "PUT"}]},
        "applications[0].answer_method: Input should be 'GET' or 'POST'",
    ),
    (
        {"applications": [{"name": "a", "event_method": "POST"}]},
        "applications[0].event_method: needs event_url",
    ),
    (
        {
            "applications": [
                {
                    "name": "a",
                    "answer_url": {"address": "http://x", "http_method": "GET"},
                    "answer_method": "POST",
                }
            ]
        },
        "applications[0].answer_method: answer_url.http_method is set too",
    ),
    (
        {
            "applications": [
                {"name": "a", "answer_url": {"address": "http://x", "connect_timeout": 200}}
            ]
        },
        "applications[0].answer_url.connect_timeout: Input should be greater than or equal to 300",
    ),
    (
        {
            "applications": [
                {"name": "a", "answer_url": {"address": "http://x", "socket_timeout": 5001}}
            ]
        },
        "applications[0].answer_url.socket_timeout: Input should be less than or equal to 5000",
    ),
    (
        {
            "applications": [
                {"name": "a", "event_url": {"address": "http://x", "socket_timeout": 999}}
            ]
        },
        "applications[0].event_url.socket_timeout: Input should be greater than or equal to 1000",
    ),
    (
        {
            "applications": [
                {
                    "name": "a",
                    "fallback_answer_url": {"address": "http://x", "socket_timeout": 10000},
                }
            ]
        },
        "applications[0].fallback_answer_url.socket_timeout: Input should be less than or equal"
        " to 5000",
    ),
    (
        {"applications": [{"name": "a", "numbers": ["447700900000", "44-7700"]}]},
        "applications[0].numbers[1]: must be an E.164 number",
    ),
    (
        {"applications": [{"name": "a", "numbers": [447700900000]}]},
        "applications[0].numbers[0]: Input should be a valid string",
    ),
    (
        {"applications": [{"name": "a", "numbers": ["1234567890123456"]}]},
        "applications[0].numbers[0]: must be an E.164 number",
    ),
    (
        {
            "applications": [
                {"name": "a", "numbers": ["447700900000"]},
                {"name": "b", "numbers": ["+447700900000"]},
            ]
        },
        "applications[1].numbers[0]: 447700900000 is already linked to applications[0]",
    ),
    (
        {"applications": [{"name": "a", "numbers": ["1", "1"]}]},
        "applications[0].numbers[1]: 1 is already linked to applications[0]",
    ),
    (
        {"applications": [{"name": "a"}, {"name": "a"}]},
        "applications[1].name: gives the same application id as applications[0]",
    ),
    (
        {"applications": [{"name": "a", "id": CALL_CENTRE}, {"name": "b", "id": CALL_CENTRE}]},
        "applications[1].id: gives the same application id as applications[0]",
    ),
]


@pytest.mark.parametrize(("data", "message"), BAD, ids=[m.split(":")[0] for _, m in BAD])
def test_invalid_config_names_the_key(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(data, source="trunkline.toml")
    assert f"trunkline.toml: {message}" in str(err.value)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"server": {"port": -1}, "sim": {"clock": "x"}})
    assert str(err.value).splitlines() == [
        "config: server.port: Input should be greater than or equal to 0",
        "config: sim.clock: Input should be 'real' or 'virtual'",
    ]


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[server\nport = 1"))
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path)  # a directory
    path = write(tmp_path, '[[applications]]\nname = "a"\nanswer_url = "nope"\n')
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value) == f"{path}: applications[0].answer_url: must be an http(s) URL"


def test_apply_config_is_idempotent() -> None:
    config = load_config(str(EXAMPLE))
    store = MemoryStore()
    apply_config(config, store)
    apply_config(config, store)
    assert store.list_applications() == sorted(config.applications, key=lambda a: a.name)
    assert store.list_numbers() == list(config.numbers)
    assert store.application_for_number("447700900000") == config.applications[0]


def test_apply_config_relinks_and_keeps_others() -> None:
    store = MemoryStore()
    other = Application("other-app", "other")
    store.put_application(other)
    store.link_number("447700900000", other.id)
    store.link_number("15550001111", other.id)
    config = load_config(str(EXAMPLE))
    apply_config(config, store)
    assert store.get_application(other.id) == other
    assert store.application_for_number("447700900000") == config.applications[0]
    assert store.application_for_number("15550001111") == other


def test_webhook_delivery_settings() -> None:
    cfg = parse_config(
        {
            "account": {
                "api_key": "abcd1234",
                "api_secret": "s3cret",
                "signature_secret": "a-signature-secret-of-enough-length",
            },
            "webhooks": {"mode": "vonage", "horizon": 600, "strict_urls": True},
        }
    )
    assert cfg.webhook_mode == "vonage" and cfg.webhook_horizon == 600.0
    assert cfg.strict_urls is True
    assert cfg.signature_secret == "a-signature-secret-of-enough-length"
    defaults = parse_config({})
    assert (defaults.webhook_mode, defaults.webhook_horizon, defaults.strict_urls) == (
        "durable",
        3600.0,
        False,
    )
    assert defaults.signature_secret is None


@pytest.mark.parametrize(
    ("webhooks", "key"),
    [
        ({"mode": "sometimes"}, "webhooks.mode"),
        ({"horizon": 5}, "webhooks.horizon"),
        ({"strict_urls": "yes"}, "webhooks.strict_urls"),
        ({"retries": 3}, "webhooks.retries"),
    ],
)
def test_bad_webhook_settings_name_the_key(webhooks: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"webhooks": webhooks})
    assert key in str(err.value)
