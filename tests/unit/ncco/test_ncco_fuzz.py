"""Seeded mutation fuzzing of the example NCCOs.

Whatever the document, parsing either succeeds — and then dump_action round-trips — or
raises NccoError whose pointers lead into the document (a missing field's pointer names
the missing key under an existing object). No other exception ever escapes.
"""

import copy
import json
import random
from collections.abc import Iterator
from pathlib import Path

from trunkline.errors import NccoError
from trunkline.ncco import NccoIssue, dump_action, parse_ncco

DATA = Path(__file__).parents[2] / "data" / "ncco"
JUNK: list[object] = [
    None,
    True,
    False,
    0,
    -1,
    1.5,
    1e308,
    "",
    "x",
    "10",
    "true",
    [],
    [1],
    ["x"],
    {},
    {"type": "phone"},
    {"a": None},
    "https://example.com/a",
    "wss://example.com",
    "sip:a@b",
    "#",
    7201,
]
JsonPath = tuple[str | int, ...]


def _paths(node: object, prefix: JsonPath = ()) -> Iterator[JsonPath]:
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*prefix, index))


def _mutate(doc: list[object], rng: random.Random) -> None:
    for _ in range(rng.randint(1, 3)):
        path = rng.choice(list(_paths(doc))[1:])
        parent: object = doc
        for key in path[:-1]:
            parent = parent[key]  # type: ignore[index]
        roll = rng.random()
        if roll < 0.6:
            parent[path[-1]] = copy.deepcopy(rng.choice(JUNK))  # type: ignore[index]
        elif isinstance(parent, dict):
            if roll < 0.8:
                del parent[path[-1]]
            else:
                parent["extra"] = rng.choice(JUNK)


def _leads_into(doc: object, pointer: str) -> bool:
    node = doc
    parts = pointer.split("/")[1:] if pointer else []
    for depth, token in enumerate(parts):
        key = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        elif isinstance(node, dict) and key in node:
            node = node[key]
        else:
            return isinstance(node, dict) and depth == len(parts) - 1
    return True


def test_mutated_examples() -> None:
    rng = random.Random(20240601)
    examples = [json.loads(path.read_text()) for path in sorted(DATA.glob("*.json"))]
    outcomes = {"valid": 0, "invalid": 0}
    for _ in range(1500):
        doc = copy.deepcopy(rng.choice(examples))
        _mutate(doc, rng)
        try:
            parsed = parse_ncco(doc)
        except NccoError as exc:
            outcomes["invalid"] += 1
            for issue in exc.issues:
                assert isinstance(issue, NccoIssue)
                assert _leads_into(doc, issue.pointer), (issue, doc)
            continue
        outcomes["valid"] += 1
        dumped = json.loads(json.dumps([dump_action(action) for action in parsed.actions]))
        assert parse_ncco(dumped).actions == parsed.actions, doc
    assert outcomes["valid"] > 100 and outcomes["invalid"] > 100
