"""The config file's account, TLS and application key settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from trunkline.config import parse_config
from trunkline.errors import ConfigError
from trunkline.keys import generate_key_pair

PEM = generate_key_pair().public_key


def test_account_tls_and_keys(tmp_path: Path) -> None:
    key_file = tmp_path / "app.pub"
    key_file.write_text(PEM)
    cfg = parse_config(
        {
            "server": {"tls_cert": "cert.pem", "tls_key": "key.pem"},
            "account": {"api_key": "k", "api_secret": "s"},
            "applications": [
                {"name": "inline", "public_key": PEM, "call_rate_limit": 3},
                {"name": "file", "public_key_file": str(key_file)},
                {"name": "none"},
            ],
        }
    )
    assert (cfg.api_key, cfg.api_secret) == ("k", "s")
    assert (cfg.tls_cert, cfg.tls_key) == ("cert.pem", "key.pem")
    inline, from_file, none = cfg.applications
    assert inline.public_key == PEM and inline.call_rate_limit == 3
    assert from_file.public_key == PEM
    assert none.public_key is None and none.call_rate_limit is None


def test_defaults_have_no_account_and_no_tls() -> None:
    cfg = parse_config({})
    assert cfg.api_key is None and cfg.tls_cert is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"server": {"tls_cert": "c.pem"}}, "tls_key"),
        ({"account": {"api_key": "k"}}, "account.api_secret: required"),
        ({"applications": [{"name": "a", "public_key": "nope"}]}, "applications[0].public_key"),
        (
            {"applications": [{"name": "a", "public_key": PEM, "public_key_file": "x"}]},
            "applications[0].public_key_file",
        ),
        (
            {"applications": [{"name": "a", "public_key_file": "/no/such/file"}]},
            "applications[0].public_key_file: cannot read",
        ),
        ({"applications": [{"name": "a", "call_rate_limit": 0}]}, "call_rate_limit"),
    ],
)
def test_bad_settings_name_the_key(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_config(data)
