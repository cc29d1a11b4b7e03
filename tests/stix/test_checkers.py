"""The identifier shortcut in accord.stix.checkers against the rule it restates (ids.split_id)."""

from __future__ import annotations

import random

from accord.stix.checkers import parse_id_type, ref_type
from accord.stix.ids import split_id

_BASES = [
    "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
    "x-a-b--8E2E2D2B-17d4-4cbf-938f-98ee46b3cd3f",
    "abc--00000000-0000-0000-0000-000000000000",
    "a" * 250 + "--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
]


def _by_split_id(value: str) -> str | None:
    parts = split_id(value)
    # split_id anchors with ``$``, which lets a trailing newline through; identifiers refuse it.
    return None if parts is None or value.endswith("\n") else parts[0]


def test_parse_id_type_agrees_with_split_id() -> None:
    r = random.Random(11)
    accepted = 0
    for _ in range(50_000):
        value = r.choice(_BASES)
        for _ in range(r.randint(1, 3)):
            i = r.randrange(len(value) + 1)
            kind = r.random()
            piece = r.choice("-a0Z\n_ .x9F\u0663")
            if kind < 0.3:
                value = value[:i] + piece + value[i:]
            elif kind < 0.6:
                value = value[:i] + value[i + 1 :]
            elif kind < 0.8:
                value = value[:i] + piece + value[i + 1 :]
            else:
                value = value[:i] + "-" + value[i:]
        expected = _by_split_id(value)
        assert parse_id_type(value) == expected, value
        assert ref_type(value) == expected, value
        accepted += expected is not None
    assert accepted > 1000


def test_identifier_edges() -> None:
    uuid = "8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"
    for value in [
        f"ab--{uuid}",
        f"{'a' * 251}--{uuid}",
        f"a--b--{uuid}",
        f"-ab--{uuid}",
        f"ab---{uuid}",
        f"abc--{uuid}\n",
        f"abc--{uuid[:-1]}\u0663",
        f"ABC--{uuid}",
        f"abc--{uuid.upper()}",
        f"abc-{uuid}",
    ]:
        assert parse_id_type(value) == _by_split_id(value), value
    assert ref_type(["x"]) is None
