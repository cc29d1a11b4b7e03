"""The shortcuts ingest takes give the answers of the general code they stand in front of.

- ``validate._surely_valid`` (one plan per type and key tuple) may only ever say "valid" when the
  general walk finds nothing, and should say it for ordinary valid objects, or it buys nothing;
- ``timestamps.timestamp_key``'s slicing path gives the key the calendar check gives;
- ``markings.tlp_of_refs``'s single-ref path gives the level the general resolution gives.
"""

from __future__ import annotations

import copy
import random
import re
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.stix import validate
from accord.stix.markings import (
    STANDARD_TLP,
    TLP1_RED,
    TLP2_AMBER,
    TLP2_GREEN,
    TLP_RANK,
    UNKNOWN,
    object_tlp,
    tlp_of_refs,
)
from accord.stix.timestamps import timestamp_key
from tests.stix.test_validate import MINIMAL, REAL_FILES, RICH, _objects

VALID = MINIMAL + RICH


def general_walk(obj: Any) -> list[Any]:
    return validate._walk(obj, None)


@pytest.mark.parametrize("obj", VALID, ids=[o["type"] for o in VALID])
def test_fast_path_accepts_valid_fixtures(obj: dict[str, Any]) -> None:
    assert general_walk(obj) == []
    assert validate._surely_valid(obj)


def test_custom_objects_and_properties_take_the_fast_path() -> None:
    obj = {
        "type": "x-mitre-tactic", "spec_version": "2.1", "id": "x-mitre-tactic--11111111-1111-4111-8111-111111111111",
        "created": "2020-01-01T00:00:00.000Z", "modified": "2020-01-01T00:00:00.000Z",
        "x_mitre_shortname": "execution", "x_mitre_data_source_ref": "",
        "x_mitre_domain_refs": ["identity--22222222-2222-4222-8222-222222222222"],
    }
    assert general_walk(obj) == []
    assert validate._surely_valid(obj)
    obj["x_mitre_data_source_ref"] = "not an id"
    assert not validate._surely_valid(obj)
    assert [(p.property, p.reason) for p in validate.validate_object(obj)] == [
        ("x_mitre_data_source_ref", "must be an identifier like indicator--<UUID>")
    ]


@pytest.mark.realdata
@pytest.mark.skipif(not REAL_FILES, reason="shared data not found (set ACCORD_SHARED_DATA)")
def test_fast_path_accepts_real_data() -> None:
    for path in REAL_FILES:
        for obj in _objects(path):
            assert validate._surely_valid(obj), (path.name, obj.get("id"))


# Values to put in place of a property: wrong JSON types, near misses of each kind's format.
odd_value = st.sampled_from([
    None, True, 0, -1, 101, 1.5, "", "x", "2.1", "2.0", [], [""], ["x"], [1], {}, {"a": 1},
    "2020-01-01T00:00:00Z", "2020-01-01T00:00:00.000Z", "2020-02-30T00:00:00.000Z", "2020-01-01T00:00:00.000Z\n",
    "identity--3f1a2b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b", "indicator--0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
    ["marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"], ["identity--3f1a2b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b"],
    [{"kill_chain_name": "k", "phase_name": "p"}], [{"kill_chain_name": "k"}], [{"source_name": "cve"}],
    [{"selectors": ["name"], "marking_ref": "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"}],
    [{"selectors": ["nothing"], "marking_ref": "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"}],
    "[ipv4-addr:value = '1.2.3.4']", "[ipv4-addr:value = ", "stix", "ab", "AB", "0a", {"MD5": "0" * 32}, {"MD5": "0"},
])
# Property names: the type's own, common ones, custom ones good and bad, reserved ones.
some_name = st.sampled_from([
    "type", "id", "spec_version", "created", "modified", "name", "description", "labels", "confidence",
    "object_marking_refs", "granular_markings", "created_by_ref", "external_references", "kill_chain_phases",
    "pattern", "pattern_type", "valid_from", "valid_until", "source_ref", "target_ref", "relationship_type",
    "value", "hashes", "is_family", "object_refs", "first_seen", "last_seen", "revoked", "extensions",
    "x_custom", "x_custom_ref", "x_custom_refs", "x", "bad name", "action", "severity", "defanged",
])
edit = st.tuples(st.sampled_from(["set", "delete", "set", "add"]), some_name, odd_value)


@settings(max_examples=3000, deadline=None)
@given(base=st.sampled_from(VALID), edits=st.lists(edit, min_size=1, max_size=3))
def test_fast_path_never_accepts_what_the_walk_refuses(base: dict[str, Any], edits: list[Any]) -> None:
    obj = copy.deepcopy(base)
    for action, name, value in edits:
        if action == "delete":
            obj.pop(name, None)
        elif (action == "set" and name in obj) or action == "add":
            obj[name] = value
    problems = general_walk(obj)
    if validate._surely_valid(obj):
        assert problems == []
    assert validate.validate_object(obj) == problems


# --- timestamps --------------------------------------------------------------------------------

# RFC 3339 digits are ASCII (timestamps.py says so too since 154c7ad).
_GENERAL = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.([0-9]+))?Z")


def general_key(value: str) -> str | None:
    """The key as the calendar check computes it (timestamp_key's path for unusual values)."""
    m = _GENERAL.fullmatch(value)
    if m is None:
        return None
    try:
        datetime.fromisoformat(m.group(1))
    except ValueError:
        return None
    return f"{m.group(1)}.{(m.group(2) or '')[:9].ljust(9, '0')}Z"


@pytest.mark.parametrize("value", [
    "0000-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "2024-02-29T00:00:00Z", "2023-02-29T00:00:00.1Z",
    "2024-12-31T23:59:60Z", "2024-01-01T24:00:00Z", "2024-01-01T00:00:00.123Z\n", "2024-01-01T00:00:00.Z",
    "2024-01-01T00:00:00.1234567891234Z", "\u0662\u0660\u0662\u0664-01-01T00:00:00Z", "2024-01-01t00:00:00Z",
    "2016-05-12T08:17:27.000Z", "2016-05-12T08:17:27Z", "2016-05-12T08:17:27.1Z",
])
def test_timestamp_key_edge_cases(value: str) -> None:
    assert timestamp_key(value) == general_key(value)


def test_timestamp_key_on_many_random_timestamps() -> None:
    rnd = random.Random(7)
    digits = "0123456789"
    for _ in range(20_000):
        fraction = rnd.choice(["", ".", "." + "".join(rnd.choice(digits) for _ in range(rnd.randint(1, 12)))])
        value = (f"{''.join(rnd.choice(digits) for _ in range(4))}-{rnd.randint(0, 13):02d}-{rnd.randint(0, 32):02d}"
                 f"T{rnd.randint(0, 25):02d}:{rnd.randint(0, 61):02d}:{rnd.randint(0, 61):02d}{fraction}Z")
        assert timestamp_key(value) == general_key(value), value


# --- effective TLP -------------------------------------------------------------------------------

UNKNOWN_REF = "marking-definition--0b1a2b3c-4d5e-4f60-8a9b-0c1d2e3f4a5b"


def general_tlp(refs: list[Any], known: dict[str, str] | None) -> str | None:
    """tlp_of_refs as the loop over every ref computes it."""
    levels = []
    for ref in refs:
        std = STANDARD_TLP.get(ref)
        if std is not None:
            levels.append(std[0])
        elif (known or {}).get(ref) != "":
            levels.append((known or {}).get(ref) or UNKNOWN)
    return max(levels, key=TLP_RANK.__getitem__, default=None)


@pytest.mark.parametrize("refs", [
    [], [TLP2_GREEN], [TLP1_RED], [UNKNOWN_REF], [TLP2_GREEN, TLP2_AMBER], [TLP2_GREEN, UNKNOWN_REF], ["x"],
    [TLP1_RED, TLP2_GREEN],
])
@pytest.mark.parametrize("known", [None, {UNKNOWN_REF: ""}, {UNKNOWN_REF: "red"}])
def test_tlp_of_refs_matches_the_general_resolution(refs: list[Any], known: dict[str, str] | None) -> None:
    assert tlp_of_refs(refs, known) == general_tlp(refs, known)
    assert tlp_of_refs(iter(refs), known) == general_tlp(refs, known)
    obj = {"type": "indicator", "object_marking_refs": refs}
    assert object_tlp(obj, known) == (general_tlp(refs, known) if refs else None)
