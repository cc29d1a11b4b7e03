"""Every real MISP event in ../shared/data imported through the command (valid STIX, no value lost,
nothing new on re-import) and exported back to MISP (no value lost but where misp-stix cannot
read back what it wrote, below); and a feed built from real events, read back.

"No value lost" is checked against the exported STIX text, case-insensitively (STIX patterns
and MISP disagree on hash case). Three spellings differ on purpose and are compared as such:
a composite value (``filename|md5``, ``regkey|value``) is looked for part by part, since the
parts land in separate properties; an AS number loses its ``AS`` prefix (STIX
``autonomous-system.number`` is an integer); a ``datetime`` is compared as an instant, since
STIX writes RFC 3339 in UTC.

Back to MISP, one exception: misp-stix 2026.10.12 cannot read back the observed-data it writes
for MISP ``network-socket`` objects whose address family STIX does not list (it puts them in
``x_misp_*`` properties, and its reverse parser expects ``socket-ext``) nor for ``email``
objects with attachments (its reverse parser splits a header into a list and calls ``strip`` on
it). When the object was also an indicator (``to_ids``) Accord reads it back from the indicator;
otherwise its values are missing from the MISP output. Only misp-core's kitchen-sink events have
such objects.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from accord.stix.validate import validate_object
from tests.conftest import SHARED_DATA, shared_data
from tests.io.conftest import Run

# MISP objects misp-stix cannot always read back from STIX (see above).
NOT_READ_BACK = frozenset({"network-socket", "email"})

pytestmark = pytest.mark.realdata

# Where the MISP event files are, by source (PROVENANCE.md in each folder).
SOURCES = {
    "misp-pymisp": ["tests/**/*.json"],
    "misp-core": ["tests/event.json", "app/files/scripts/stixtest/misp_*_test.json"],
    "eset-malware-ioc": ["**/*.json"],
    "citizenlab-malware-indicators": ["**/*.json"],
}


def _files() -> list[Any]:
    found = []
    for source, patterns in SOURCES.items():
        for pattern in patterns:
            for path in sorted((SHARED_DATA / source).glob(pattern)):
                found.append(pytest.param(source, path.relative_to(SHARED_DATA / source).as_posix(),
                                          id=f"{source}/{path.relative_to(SHARED_DATA / source)}"))
    return found or [pytest.param("misp-pymisp", "tests", id="shared-data-absent")]


def misp_events(doc: Any) -> list[dict[str, Any]] | None:
    """The events of a MISP document, or None when it is not one (some ESET JSON is malware config)."""
    if isinstance(doc, dict) and isinstance(doc.get("response"), list):
        return [e.get("Event", e) for e in doc["response"]]
    if isinstance(doc, dict) and isinstance(doc.get("Event"), dict):
        return [doc["Event"]]
    if isinstance(doc, dict) and "info" in doc and "Attribute" in doc:
        return [doc]
    return None


def attribute_values(event: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(type, value) of every attribute and object attribute of an event."""
    for attr in event.get("Attribute") or ():
        yield attr["type"], str(attr["value"])
    for obj in event.get("Object") or ():
        for attr in obj.get("Attribute") or ():
            yield attr["type"], str(attr["value"])


def _json_text(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)[1:-1].lower()


def _instant(value: str) -> str | None:
    try:
        moment = datetime.fromisoformat(value.replace(" ", "T"))
    except ValueError:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def value_found(kind: str, value: str, text: str) -> bool:
    """Whether ``value`` (of MISP type ``kind``) appears in ``text`` (lower-cased JSON)."""
    if _json_text(value) in text:
        return True
    if kind in ("ssdeep", "md5", "sha1", "sha256") and _json_text("".join(value.split())) in text:
        return True  # a line-wrapped digest, joined on import
    if "|" in value:
        return all(value_found(kind, part.strip(), text) for part in value.split("|"))
    if kind == "AS" and value.upper().startswith("AS"):
        return value[2:] in text
    if kind == "datetime":
        instant = _instant(value)
        return instant is not None and instant.lower() in text
    return False


def missing_values(events: list[dict[str, Any]], text: str) -> list[tuple[str, str]]:
    return [(kind, value) for event in events for kind, value in attribute_values(event)
            if not value_found(kind, value, text)]


def exported_text(accord: Run, fmt: str = "stix") -> tuple[list[dict[str, Any]], str]:
    result = accord("export", "--format", fmt)
    assert result.exit_code == 0, result.output
    objects = orjson.loads(result.stdout)["objects"]
    return objects, "\n".join(orjson.dumps(o).decode() for o in objects).lower()


@pytest.mark.parametrize(("source", "relative"), _files())
def test_real_event_imports_valid_complete_and_idempotent(accord: Run, source: str, relative: str) -> None:
    path = shared_data(source, relative)
    events = misp_events(orjson.loads(path.read_bytes()))
    result = accord("import", "--format", "misp", str(path))
    if events is None:
        # not a MISP event (ESET's dnsbirthday blocklist is a malware's config): refused whole
        assert result.exit_code == 1 and "no MISP event" in result.output
        return
    assert result.exit_code == 0, result.output
    objects, text = exported_text(accord)
    assert [p for o in objects for p in validate_object(o)] == []
    assert missing_values(events, text) == []
    # every event came out as a report (published) or a grouping, under its own uuid
    containers = {o["id"].split("--", 1)[1] for o in objects if o["type"] in ("report", "grouping")}
    assert {e["uuid"] for e in events} <= containers
    again = accord("import", "--format", "misp", str(path))
    assert "stored 0" in again.stdout, again.output
    assert_round_trip(accord, events)


def assert_round_trip(accord: Run, events: list[dict[str, Any]]) -> None:
    """Export the store as MISP: PyMISP loads every event, and every value comes back."""
    from pymisp import MISPEvent

    result = accord("export", "--format", "misp", "-O", "envelope=response")
    assert result.exit_code == 0, result.output
    back = []
    for entry in orjson.loads(result.stdout)["response"]:
        event = MISPEvent()
        event.load(entry)
        back.append(event.to_json())
    assert {e["uuid"] for e in events} <= {orjson.loads(b)["uuid"] for b in back}
    text = "\n".join(back).lower()
    excused = {(a["type"], str(a["value"])) for e in events for o in e.get("Object") or ()
               if o["name"] in NOT_READ_BACK for a in o["Attribute"]}
    assert set(missing_values(events, text)) <= excused


def test_feed_of_real_events_reads_back(accord: Run, tmp_path: Path) -> None:
    """A feed directory written by the exporter from real events, imported into a second node."""
    from click.testing import CliRunner

    from accord.cli.main import cli

    folder = shared_data("misp-pymisp", "tests")
    files = sorted(folder.glob("**/*.json"))
    imported = accord("import", "--format", "misp", *map(str, files))
    assert imported.exit_code == 0, imported.output
    assert accord("export", "--format", "misp-feed", "-o", str(tmp_path / "feed")).exit_code == 0
    events = [e for f in files for e in misp_events(orjson.loads(f.read_bytes())) or ()]
    manifest = orjson.loads((tmp_path / "feed" / "manifest.json").read_bytes())
    assert {e["uuid"] for e in events} <= set(manifest)
    runner = CliRunner()
    other = f"sqlite:///{tmp_path / 'other.db'}"
    assert runner.invoke(cli, ["--db", other, "init"]).exit_code == 0
    result = runner.invoke(cli, ["--db", other, "import", str(tmp_path / "feed")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    back = orjson.loads(runner.invoke(cli, ["--db", other, "export"]).stdout)["objects"]
    assert missing_values(events, "\n".join(orjson.dumps(o).decode() for o in back).lower()) == []
