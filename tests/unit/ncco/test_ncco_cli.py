"""``trunkline ncco validate FILE``."""

import argparse
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from trunkline.cli import ncco_cmd

DATA = Path(__file__).parents[2] / "data" / "ncco"
INVALID = [
    {"action": "talk", "text": "Connecting you", "volume": 3},
    {"action": "connect", "endpoint": [{"type": "phone", "number": "12"}]},
]


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="trunkline")
    ncco_cmd.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


def test_valid_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["ncco", "validate", str(DATA / "seed_call_centre.json")]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "valid: 4 action(s)",
        '  0  talk "Connecting you to an agent." (en-US, loop 1)',
        "  1  connect phone 447700900001 (synchronous, timeout 10s, from 447700900000)",
        '  2  talk "All our agents are busy. Please leave a…" (en-US, loop 1)',
        "  3  record mp3 (until key #, max 7200s, beep)",
    ]


def test_warnings_follow_the_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "ncco.json"
    path.write_text(json.dumps([{"action": "talk", "text": "hi", "bargeIn": True}]))
    assert run(["ncco", "validate", str(path)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "valid: 1 action(s)",
        '  0  talk "hi" (en-US, loop 1, barge-in)',
        "warning: /0/bargeIn (talk): has no effect: the next action after the prompts is "
        "the end of the NCCO, not 'input'",
    ]


def test_indexes_are_aligned(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "ncco.json"
    path.write_text(json.dumps([{"action": "wait"}] * 11))
    assert run(["ncco", "validate", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == "  0   wait 10s"
    assert lines[11] == "  10  wait 10s"


def test_invalid_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(INVALID))
    assert run(["ncco", "validate", str(path)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        "error: /1/endpoint/0/number (connect): "
        "must be a phone number of 7 to 15 digits (E.164, without '+')",
        "warning: /0/volume (talk): unknown field 'volume' is ignored",
    ]


def test_bad_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.json"
    path.write_text('[{"action": "talk",]')
    assert run(["ncco", "validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("error: (document): invalid JSON: ")
    assert len(out.splitlines()) == 1


def test_unreadable_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.json"
    assert run(["ncco", "validate", str(missing)]) == 1
    assert capsys.readouterr().out == f"error: cannot read {missing}: No such file or directory\n"


def test_stdin_text(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO('[{"action": "wait", "timeout": 2}]'))
    assert run(["ncco", "validate", "-"]) == 0
    assert capsys.readouterr().out.splitlines() == ["valid: 1 action(s)", "  0  wait 2s"]


def test_stdin_bytes(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    stdin = io.TextIOWrapper(io.BytesIO(json.dumps(INVALID).encode()), encoding="utf-8")
    monkeypatch.setattr(sys, "stdin", stdin)
    assert run(["ncco", "validate", "-"]) == 1
    assert capsys.readouterr().out.startswith("error: /1/endpoint/0/number (connect): ")


def test_validate_needs_a_file(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        run(["ncco", "validate"])
    assert caught.value.code == 2
    assert "FILE" in capsys.readouterr().err


def test_through_the_trunkline_command(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(INVALID))
    command = [sys.executable, "-m", "trunkline.cli.main", "ncco", "validate"]
    bad = subprocess.run([*command, str(path)], capture_output=True, text=True, check=False)
    assert bad.returncode == 1
    assert bad.stdout.startswith("error: /1/endpoint/0/number (connect): must be a phone number")
    good = subprocess.run(
        [*command, "-"],
        input=(DATA / "seed_ivr.json").read_text(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert good.returncode == 0, good.stderr
    assert good.stdout.splitlines()[0] == "valid: 2 action(s)"
