"""``accord export --min-score N`` (docs/early-warning.md, "Decay") through the real command on
both backends: indicators below N for the exporting reader are left out, other objects kept,
sightings the reader may not see move nothing; bad values are named and exit non-zero."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from accord.services.sightings import KIND_PROPERTY, SEEN
from accord.stix.markings import TLP2_GREEN, TLP2_RED
from tests.cli.conftest import Run


def _time(days_ago: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days_ago)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _indicator(days_old: float, confidence: int = 90) -> dict[str, Any]:
    t = _time(days_old)
    return {"type": "indicator", "spec_version": "2.1", "id": f"indicator--{uuid.uuid4()}", "created": t,
            "modified": t, "valid_from": t, "pattern": "[ipv4-addr:value = '198.51.100.4']", "pattern_type": "stix",
            "confidence": confidence, "object_marking_refs": [TLP2_GREEN]}


def _bundle(*objects: dict[str, Any]) -> bytes:
    return orjson.dumps({"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": list(objects)})


def _kinds(accord: Run, world: dict[str, str], *args: str) -> list[str]:
    result = accord("export", "--latest", *args)
    assert result.exit_code == 0, result.output
    names = {v: k for k, v in world.items()}
    return sorted(names[o["id"]] for o in orjson.loads(result.stdout)["objects"] if o["type"] != "identity")


@pytest.fixture
def world(accord: Run) -> dict[str, str]:
    for org in ("cert-a", "cert-b"):
        assert accord("org", "add", org).exit_code == 0
        assert accord("collection", "grant", "default", org, "--read").exit_code == 0
    assert accord("user", "add", "alice", "--org", "cert-a", "--role", "publisher").exit_code == 0
    assert accord("user", "add", "bob", "--org", "cert-b", "--role", "reader").exit_code == 0
    assert accord("agreement", "add", "mou", "--party", "cert-a", "--party", "cert-b", "--max-tlp", "amber"
                  ).exit_code == 0
    fresh, old = _indicator(1), _indicator(25)  # 30-day IPv4 lifetime: 87 and 15
    malware = {"type": "malware", "spec_version": "2.1", "id": f"malware--{uuid.uuid4()}", "created": _time(400),
               "modified": _time(400), "name": "old family", "is_family": True, "object_marking_refs": [TLP2_GREEN]}
    assert accord("import", "--as", "alice", "-", input=_bundle(fresh, old, malware)).exit_code == 0
    # cert-b saw the old indicator today and keeps it to itself (RED, no recipient named).
    now = _time(0)
    sighting = {"type": "sighting", "spec_version": "2.1", "id": f"sighting--{uuid.uuid4()}", "created": now,
                "modified": now, "sighting_of_ref": old["id"], "first_seen": now, "last_seen": now, "count": 1,
                KIND_PROPERTY: SEEN, "object_marking_refs": [TLP2_RED]}
    assert accord("import", "--org", "cert-b", "-", input=_bundle(sighting)).exit_code == 0
    return {"fresh": fresh["id"], "old": old["id"], "malware": malware["id"], "sighting": sighting["id"]}


def test_min_score_keeps_what_scores_enough_for_the_exporting_reader(accord: Run, world: dict[str, str]) -> None:
    assert _kinds(accord, world, "--as", "alice") == ["fresh", "malware", "old"]
    assert _kinds(accord, world, "--as", "alice", "--min-score", "50") == ["fresh", "malware"]
    assert _kinds(accord, world, "--for-org", "cert-a", "--min-score", "50") == ["fresh", "malware"]
    assert _kinds(accord, world, "--as", "alice", "--min-score", "88") == ["malware"]
    # cert-b's own sighting refreshes the old indicator for cert-b, and for the operator.
    assert _kinds(accord, world, "--as", "bob", "--min-score", "50") == ["fresh", "malware", "old", "sighting"]
    assert _kinds(accord, world, "--min-score", "50") == ["fresh", "malware", "old", "sighting"]
    assert _kinds(accord, world, "--min-score", "0", "--format", "stix") == ["fresh", "malware", "old", "sighting"]
    csv = accord("export", "--as", "alice", "--min-score", "50", "--format", "csv")
    assert csv.exit_code == 0 and "198.51.100.4" in csv.stdout


def test_a_bad_min_score_is_named(accord: Run) -> None:
    for value, why in (("101", "not in the range 0<=x<=100"), ("-1", "not in the range"),
                       ("high", "not a valid integer")):
        result = accord("export", "--min-score", value)
        assert result.exit_code == 2, value
        assert "--min-score" in result.stderr and why in result.stderr


def test_bad_lifetimes_stop_the_export_naming_the_setting(accord: Run,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACCORD_DECAY_LIFETIMES", "ipv4=30")
    result = accord("export", "--min-score", "50")
    assert result.exit_code == 1
    assert "decay_lifetimes" in result.stderr and "'ipv4' is not a type Accord indexes" in result.stderr
    assert result.stdout == ""


def test_lookup_shows_each_hits_score_for_the_reader(accord: Run, world: dict[str, str]) -> None:
    def scores(*args: str) -> dict[str, str]:
        result = accord("lookup", "--no-warninglists", *args, "198.51.100.4")
        assert result.exit_code == 0, result.output
        return {line.split("\t")[5]: line.split("\t")[-1] for line in result.stdout.splitlines()}

    assert scores("--as", "alice") == {world["fresh"]: "score=87", world["old"]: "score=15"}
    assert scores("--as", "bob") == {world["fresh"]: "score=87", world["old"]: "score=90"}  # its own sighting
    answer = accord("lookup", "--no-warninglists", "--json", "--as", "alice", "198.51.100.4")
    hits = orjson.loads(answer.stdout)["results"][0]["hits"]
    assert {h["id"]: h["score"] for h in hits} == {world["fresh"]: 87, world["old"]: 15}
