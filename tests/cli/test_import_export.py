"""Import and export through the real command: round trips, idempotency, shapes of input."""

from __future__ import annotations

import codecs
from pathlib import Path

import orjson

from tests.cli.conftest import Run, stored_total

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sample-bundle.json"


def sample_objects() -> list[dict[str, object]]:
    objects: list[dict[str, object]] = orjson.loads(SAMPLE.read_bytes())["objects"]
    return objects


def test_sample_round_trip_is_exact(accord: Run) -> None:
    result = accord("import", str(SAMPLE))
    assert result.exit_code == 0, result.output
    assert "stored 7" in result.stdout
    exported = orjson.loads(accord("export").stdout)
    assert exported["type"] == "bundle"
    assert exported["objects"] == sample_objects()
    # byte-for-byte: each object is the compact serialisation of what came in, key order kept
    assert [orjson.dumps(o) for o in exported["objects"]] == [orjson.dumps(o) for o in sample_objects()]


def test_reimport_is_idempotent(accord: Run) -> None:
    accord("import", str(SAMPLE))
    first = accord("export").stdout
    result = accord("import", str(SAMPLE))
    assert result.exit_code == 0
    assert "stored 0" in result.stdout and "unchanged 7" in result.stdout
    assert orjson.loads(accord("export").stdout)["objects"] == orjson.loads(first)["objects"]


def test_dry_run_stores_nothing(accord: Run) -> None:
    result = accord("import", "--dry-run", str(SAMPLE))
    assert result.exit_code == 0
    assert "would store 7" in result.stdout
    assert stored_total(accord) == 0


def test_stdin_bom_crlf_array_and_single_object(accord: Run, tmp_path: Path) -> None:
    objects = sample_objects()
    text = orjson.dumps(objects[:3], option=orjson.OPT_INDENT_2).replace(b"\n", b"\r\n")
    assert accord("import", "-", input=codecs.BOM_UTF8 + text).exit_code == 0
    single = tmp_path / "one.json"
    single.write_bytes(orjson.dumps(objects[3]))
    assert accord("import", str(single)).exit_code == 0
    assert stored_total(accord) == 4


def test_directory_import(accord: Run, tmp_path: Path) -> None:
    objects = sample_objects()
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "a.json").write_bytes(orjson.dumps(objects[:2]))
    (tmp_path / "d" / "sub" / "b.stix2").write_bytes(orjson.dumps(objects[2:]))
    (tmp_path / "d" / "notes.txt").write_text("not STIX, not read")
    result = accord("import", str(tmp_path / "d"))
    assert result.exit_code == 0, result.output
    assert stored_total(accord) == 7


def test_export_filters_and_output_file(accord: Run, tmp_path: Path) -> None:
    accord("import", str(SAMPLE))
    out = tmp_path / "ind.json"
    result = accord("export", "--type", "indicator", "-o", str(out))
    assert result.exit_code == 0
    assert {o["type"] for o in orjson.loads(out.read_bytes())["objects"]} == {"indicator"}


def test_latest_keeps_only_newest_version(accord: Run, tmp_path: Path) -> None:
    malware = next(o for o in sample_objects() if o["type"] == "malware")
    newer = {**malware, "modified": "2026-11-20T00:00:00.000Z", "description": "updated"}
    (tmp_path / "v.json").write_bytes(orjson.dumps([malware, newer]))
    accord("import", str(tmp_path / "v.json"))
    all_versions = orjson.loads(accord("export").stdout)["objects"]
    latest = orjson.loads(accord("export", "--latest").stdout)["objects"]
    assert len(all_versions) == 2
    assert latest == [newer]


def test_collections_and_stats(accord: Run) -> None:
    accord("import", str(SAMPLE))
    stats = orjson.loads(accord("stats", "--json").stdout)
    assert stats["versions"] == 7
    assert stats["by_type"]["indicator"] == 2
    assert stats["by_collection"] == {"default": 7}
    assert stats["by_tlp"] == {"green": 4, "clear": 1, "amber": 1, "unmarked": 1}
    assert stats["observables"] >= 3
    assert accord("import", "--collection", "nope", str(SAMPLE)).exit_code == 1


def test_unresolved_marking_fails_closed_then_resolves_within_the_document(accord: Run, tmp_path: Path) -> None:
    statement = {"type": "marking-definition", "spec_version": "2.1",
                 "id": "marking-definition--1b9c1a2e-8f55-4d5e-b1a0-1c3d5e7f9a0b",
                 "created": "2026-01-01T00:00:00.000Z", "definition_type": "statement",
                 "definition": {"statement": "Copyright Example"}}
    marked = {**sample_objects()[1], "object_marking_refs": [statement["id"]]}
    never_defined = "marking-definition--00000000-0000-4000-8000-000000000000"
    unknown = {**sample_objects()[2], "object_marking_refs": [never_defined]}
    # the definition comes after the object that uses it, as in ATT&CK bundles
    (tmp_path / "m.json").write_bytes(orjson.dumps([marked, unknown, statement]))
    assert accord("import", str(tmp_path / "m.json")).exit_code == 0
    by_tlp = orjson.loads(accord("stats", "--json").stdout)["by_tlp"]
    assert by_tlp == {"unmarked": 2, "unknown": 1}
