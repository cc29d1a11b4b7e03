"""Each kind of bad input is refused with a message naming object, property and reason;
the command exits non-zero and the store is unchanged."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
import pytest

from accord.stix.markings import TLP1_WHITE
from tests.cli.conftest import Run, stored_total

IND_ID = "indicator--8e2f4b6a-1d3c-4e5f-9a7b-6c8d0e2f4a61"
GOOD: dict[str, Any] = {
    "type": "indicator", "spec_version": "2.1", "id": IND_ID,
    "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-02T00:00:00.000Z",
    "pattern": "[domain-name:value = 'bad.example.com']", "pattern_type": "stix",
    "valid_from": "2026-01-01T00:00:00Z",
}


def with_(**changes: Any) -> dict[str, Any]:
    obj = copy.deepcopy(GOOD)
    for key, value in changes.items():
        if value is None:
            obj.pop(key, None)
        else:
            obj[key] = value
    return obj


BAD_OBJECTS = {
    "missing id": (with_(id=None), "id"),
    "malformed id": (with_(id="indicator--not-a-uuid"), "id"),
    "id of the wrong type": (with_(id="malware--8e2f4b6a-1d3c-4e5f-9a7b-6c8d0e2f4a61"), "id"),
    "bad timestamp": (with_(created="2026-13-01T00:00:00Z"), "created"),
    "timestamp without Z": (with_(modified="2026-01-02T00:00:00+01:00"), "modified"),
    "modified before created": (with_(modified="2025-12-31T00:00:00Z"), "modified"),
    "invalid pattern": (with_(pattern="[domain-name:value = 'unterminated]"), "pattern"),
    "unknown spec_version": (with_(spec_version="2.2"), "spec_version"),
    "uppercase type": (with_(type="Indicator", id="Indicator--8e2f4b6a-1d3c-4e5f-9a7b-6c8d0e2f4a61"), "type"),
    "reference of the wrong type": (with_(created_by_ref="malware--8e2f4b6a-1d3c-4e5f-9a7b-6c8d0e2f4a61"),
                                    "created_by_ref"),
    "marking ref that is not a marking": (with_(object_marking_refs=[IND_ID]), "object_marking_refs"),
}


def write(tmp_path: Path, doc: Any, name: str = "input.json") -> str:
    path = tmp_path / name
    path.write_bytes(doc if isinstance(doc, bytes) else orjson.dumps(doc))
    return str(path)


@pytest.mark.parametrize("case", sorted(BAD_OBJECTS))
def test_bad_object_is_refused_and_nothing_stored(case: str, accord: Run, tmp_path: Path) -> None:
    obj, prop = BAD_OBJECTS[case]
    result = accord("import", write(tmp_path, {"type": "bundle", "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d",
                                               "objects": [obj]}))
    assert result.exit_code == 1
    assert "refused 1" in result.stdout
    assert f"property '{prop}" in result.stderr, result.stderr
    assert stored_total(accord) == 0


def test_forged_standard_tlp_definition_is_refused(accord: Run, tmp_path: Path) -> None:
    forged = {"type": "marking-definition", "spec_version": "2.1", "id": TLP1_WHITE,
              "created": "2017-01-20T00:00:00.000Z", "definition_type": "tlp",
              "name": "TLP:WHITE", "definition": {"tlp": "red"}}
    result = accord("import", write(tmp_path, [forged]))
    assert result.exit_code == 1
    assert TLP1_WHITE in result.stderr
    assert stored_total(accord) == 0


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00", "not JSON"),
        (b"hello world", "not JSON"),
        (b'{"type": "bundle", "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d", "objects": [',
         "unexpected end of input"),
        (b"", "empty input"),
    ],
)
def test_unreadable_document_is_refused_whole(data: bytes, reason: str, accord: Run, tmp_path: Path) -> None:
    result = accord("import", write(tmp_path, data))
    assert result.exit_code == 1
    assert "nothing stored" in result.stderr
    assert reason in result.stderr
    assert stored_total(accord) == 0


def test_truncated_file_after_good_objects_stores_nothing(accord: Run, tmp_path: Path) -> None:
    doc = orjson.dumps({"type": "bundle", "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d",
                        "objects": [GOOD]})
    result = accord("import", write(tmp_path, doc[:-2]))
    assert result.exit_code == 1
    assert stored_total(accord) == 0


def test_too_deep_nesting_is_refused(accord: Run, tmp_path: Path) -> None:
    deep: Any = "x"
    for _ in range(150):
        deep = {"x_nested": deep}
    result = accord("import", write(tmp_path, [with_(x_deep=deep)]))
    assert result.exit_code == 1
    assert "nested deeper than 100 levels" in result.stderr
    assert stored_total(accord) == 0


def test_conflicting_version_is_refused_and_original_kept(accord: Run, tmp_path: Path) -> None:
    assert accord("import", write(tmp_path, [GOOD], "a.json")).exit_code == 0
    result = accord("import", write(tmp_path, [with_(name="changed without a new modified")], "b.json"))
    assert result.exit_code == 1
    assert IND_ID in result.stderr
    assert "already stored with different content" in result.stderr
    exported = orjson.loads(accord("export").stdout)
    assert exported["objects"] == [GOOD]


def test_every_bad_object_in_a_bundle_is_reported_and_good_ones_stored(accord: Run, tmp_path: Path) -> None:
    objects = [GOOD, BAD_OBJECTS["modified before created"][0], 42,
               with_(id="indicator--11111111-1111-4111-8111-111111111111", created="yesterday",
                     pattern="nope")]
    objects[1]["id"] = "indicator--22222222-2222-4222-8222-222222222222"
    result = accord("import", write(tmp_path, objects))
    assert result.exit_code == 1
    assert "stored 1" in result.stdout and "refused 3" in result.stdout
    err = result.stderr
    assert "indicator--22222222-2222-4222-8222-222222222222 property 'modified'" in err
    assert "object #2" in err
    # both problems of the last object are reported, not only the first
    assert "indicator--11111111-1111-4111-8111-111111111111 property 'created'" in err
    assert "indicator--11111111-1111-4111-8111-111111111111 property 'pattern'" in err
    assert stored_total(accord) == 1


def test_uninitialised_store_is_refused(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from accord.cli.main import cli

    result = CliRunner().invoke(cli, ["--db", f"sqlite:///{tmp_path / 'none.db'}", "stats"])
    assert result.exit_code == 1
    assert "accord init" in result.stderr


def test_missing_file_is_a_usage_error(accord: Run, tmp_path: Path) -> None:
    result = accord("import", str(tmp_path / "nope.json"))
    assert result.exit_code == 2
    assert "no such file" in result.stderr
