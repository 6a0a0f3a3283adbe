"""``trunkline apps``, ``numbers`` and ``dev-ca`` on a real SQLite file."""

from __future__ import annotations

import json
import ssl
from pathlib import Path

import pytest
from cryptography import x509

from trunkline.cli.main import main
from trunkline.config import load_config
from trunkline.keys import generate_key_pair
from trunkline.store import open_store


@pytest.fixture
def cfg_path(tmp_path: Path) -> Path:
    path = tmp_path / "trunkline.toml"
    path.write_text(
        f"""
[server]
database = "sqlite:///{tmp_path / "t.db"}"

[[applications]]
name = "configured"
event_url = "https://example.com/event"
numbers = ["447700900000"]
"""
    )
    return path


def test_apps_and_numbers(
    cfg_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key_out = tmp_path / "new.key"
    assert (
        main(
            [
                "apps",
                "--config",
                str(cfg_path),
                "create",
                "new",
                "--private-key-out",
                str(key_out),
                "--answer-url",
                "https://example.com/answer",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    app_id = out.split()[1]
    assert key_out.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert key_out.stat().st_mode & 0o077 == 0
    assert main(["apps", "--config", str(cfg_path), "list"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["name"], r["has_public_key"]) for r in rows] == [
        ("configured", False),
        ("new", True),
    ]
    assert main(["numbers", "--config", str(cfg_path), "link", "+447700900123", app_id]) == 0
    assert main(["numbers", "--config", str(cfg_path), "unlink", "447700900000"]) == 0
    capsys.readouterr()
    assert main(["numbers", "--config", str(cfg_path), "list"]) == 0
    # the config file is applied first: its number is linked again to its application
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == f"447700900123\t{app_id}"
    assert lines[0].startswith("447700900000\t") and not lines[0].endswith("-")
    store = open_store(load_config(cfg_path).database)
    try:
        assert store.application_for_number("447700900123").name == "new"  # type: ignore[union-attr]
    finally:
        store.close()
    assert main(["numbers", "--config", str(cfg_path), "link", "447700900124", "nope"]) == 1
    assert main(["numbers", "--config", str(cfg_path), "unlink", "15550000000"]) == 1
    assert main(["apps", "--config", str(cfg_path), "delete", app_id]) == 0
    assert main(["apps", "--config", str(cfg_path), "delete", app_id]) == 1


def test_apps_create_with_a_public_key(
    cfg_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pub = tmp_path / "pub.pem"
    pub.write_text(generate_key_pair().public_key)
    assert (
        main(["apps", "--config", str(cfg_path), "create", "mine", "--public-key-file", str(pub)])
        == 0
    )
    assert "private key" not in capsys.readouterr().out
    bad = tmp_path / "bad.pem"
    bad.write_text("nope")
    assert (
        main(["apps", "--config", str(cfg_path), "create", "x", "--public-key-file", str(bad)]) == 1
    )


def test_dev_ca_issues_a_trusted_certificate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dev-ca", "--dir", str(tmp_path / "tls")]) == 0
    out = capsys.readouterr().out
    assert "REQUESTS_CA_BUNDLE=" in out and "--tls-cert" in out
    ca_pem = (tmp_path / "tls" / "ca.pem").read_bytes()
    chain = (tmp_path / "tls" / "server.pem").read_bytes()
    leaf = x509.load_pem_x509_certificates(chain)[0]
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    ctx = ssl.create_default_context(cadata=ca_pem.decode())
    ctx.load_cert_chain(tmp_path / "tls" / "server.pem", tmp_path / "tls" / "server.key")
    # a second run reuses the CA, so clients that trust it keep trusting new certificates
    assert main(["dev-ca", "--dir", str(tmp_path / "tls"), "--name", "trunkline.test"]) == 0
    assert (tmp_path / "tls" / "ca.pem").read_bytes() == ca_pem


def test_serve_refuses_half_a_tls_pair(cfg_path: Path) -> None:
    assert main(["serve", "--config", str(cfg_path), "--tls-cert", "x.pem"]) == 2
