"""``trunkline ncco validate FILE``: explain what is wrong with an NCCO, or what it does.

On success it prints ``valid: N action(s)``, one summary line per action and the
warnings, and exits 0. Otherwise it prints one ``error:`` line per problem (then the
warnings) and exits 1.
"""

import argparse
import sys
from pathlib import Path

from trunkline.errors import NccoError
from trunkline.ncco import parse_ncco_json, summarize


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Add the ``ncco`` command and its ``validate`` subcommand to a CLI."""
    ncco = subparsers.add_parser("ncco", help="work with NCCO documents")
    commands = ncco.add_subparsers(dest="ncco_command", required=True, metavar="COMMAND")
    validate = commands.add_parser(
        "validate",
        help="check an NCCO JSON file and summarize its actions",
        description=__doc__,
    )
    validate.add_argument("file", metavar="FILE", help="NCCO JSON file, or - to read stdin")
    validate.set_defaults(func=run_validate)


def _read(name: str) -> bytes:
    if name == "-":
        buffer = getattr(sys.stdin, "buffer", None)
        return buffer.read() if buffer is not None else sys.stdin.read().encode()
    return Path(name).read_bytes()


def run_validate(args: argparse.Namespace) -> int:
    """Validate the NCCO named by ``args.file``; return the exit code."""
    name: str = args.file
    try:
        text = _read(name)
    except OSError as exc:
        print(f"error: cannot read {name}: {exc.strerror or exc}")
        return 1
    try:
        parsed = parse_ncco_json(text)
    except NccoError as exc:
        for issue in exc.issues:
            print(f"error: {issue}")
        for warning in exc.warnings:
            print(f"warning: {warning}")
        return 1
    count = len(parsed.actions)
    width = len(str(count - 1))
    print(f"valid: {count} action(s)")
    for index, action in enumerate(parsed.actions):
        print(f"  {index:<{width}}  {summarize(action)}")
    for warning in parsed.warnings:
        print(f"warning: {warning}")
    return 0
