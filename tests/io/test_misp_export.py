"""MISP export through the real command: events PyMISP loads, envelopes, TLP tags, feeds."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from accord.cli.main import cli
from tests.io.conftest import Run
from tests.io.test_misp_import import BARE, EVENT, EVENT_UUID, RESPONSE, SAMPLE_STIX, exported


def load_event(doc: dict[str, Any]) -> Any:
    from pymisp import MISPEvent

    event = MISPEvent()
    event.load(doc)
    return event


def events_of(output: bytes) -> list[Any]:
    doc = orjson.loads(output)
    entries = doc.get("response", [doc])
    return [load_event(entry) for entry in entries]


def values(event: Any) -> set[str]:
    found = {a.value for a in event.attributes}
    found.update(a.value for obj in event.objects for a in obj.attributes)
    return found


def tags(record: Any) -> set[str]:
    return {t.name for t in record.tags}


def test_one_event_round_trips_with_values_tags_and_objects(accord: Run, tmp_path: Path) -> None:
    assert accord("import", "--format", "misp", str(EVENT)).exit_code == 0
    out = tmp_path / "event.json"
    result = accord("export", "--format", "misp", "-o", str(out))
    assert result.exit_code == 0, result.output
    doc = orjson.loads(out.read_bytes())
    assert list(doc) == ["Event"]  # one event: the shape MISP's event view and PyMISP's load_file read
    event = load_event(doc)
    assert event.uuid == EVENT_UUID and event.info == "Accord fixture: phishing wave against test org"
    assert event.Orgc.name == "Accord Fixture CERT" and str(event.date) == "2025-03-14"
    assert "tlp:green" in tags(event)
    source = orjson.loads(EVENT.read_bytes())["Event"]
    original = {a["value"] for a in source["Attribute"]}
    original.update(a["value"] for o in source["Object"] for a in o["Attribute"])
    assert original <= values(event)
    by_value = {a.value: a for a in event.attributes}
    assert "tlp:amber" in tags(by_value["198.51.100.23"])
    assert "tlp:amber+strict" in tags(by_value["https://login-portal.example-bad.test/owa/auth.php"])
    assert by_value["198.51.100.23"].sightings and by_value["198.51.100.23"].to_ids
    assert [o.name for o in event.objects] == ["domain-ip"]
    assert any(c.value == "Fixture Spider" for g in event.galaxies for c in g.clusters)


def test_several_events_come_as_a_response_list(accord: Run) -> None:
    assert accord("import", "--format", "misp", str(RESPONSE), str(BARE)).exit_code == 0
    result = accord("export", "--format", "misp")
    assert result.exit_code == 0
    doc = orjson.loads(result.stdout)
    assert list(doc) == ["response"]
    events = events_of(result.stdout_bytes)
    assert {e.uuid for e in events} == {"c6a0372b-b2e5-4403-b13c-25c1b2b34e01", "f9d36a5e-e518-4736-a46f-58f4e5e67104",
                                         "2c069d81-184a-4a69-9792-8bc718190407"}
    published = {e.uuid: e.published for e in events}
    assert published["f9d36a5e-e518-4736-a46f-58f4e5e67104"] is False  # it was a grouping: unpublished
    assert {"loader.dll|9a8b7c6d5e4f30211203f4e5d6c7b8a9", "FixtureScanner/2.1", "relay.example-bad.test"} <= \
        set().union(*(values(e) for e in events))


def test_envelope_option_and_an_empty_export(accord: Run) -> None:
    empty = accord("export", "--format", "misp")
    assert empty.exit_code == 0 and orjson.loads(empty.stdout) == {"response": []}
    assert accord("import", "--format", "misp", str(BARE)).exit_code == 0
    listed = accord("export", "--format", "misp", "-O", "envelope=response")
    assert len(orjson.loads(listed.stdout)["response"]) == 1
    bad = accord("export", "--format", "misp", "-O", "envelope=xml")
    assert bad.exit_code != 0 and "auto or response" in bad.output


def test_stix_from_elsewhere_becomes_events_by_report_and_by_node(accord: Run) -> None:
    assert accord("import", str(SAMPLE_STIX)).exit_code == 0
    report = next(o for o in exported(accord) if o["type"] == "report")
    result = accord("export", "--format", "misp")
    assert result.exit_code == 0, result.output
    events = {e.uuid: e for e in events_of(result.stdout_bytes)}
    from_report = events[report["id"].split("--", 1)[1]]
    assert from_report.info == report["name"] and "tlp:green" in tags(from_report)
    indicator_values = values(from_report)
    assert "update-check.example.net" in indicator_values
    # the observable the report does not list goes into the node's own event, with the node as Orgc
    (rest,) = [e for uuid, e in events.items() if uuid != from_report.uuid]
    assert rest.Orgc.name == "accord" and "198.51.100.23" in values(rest)


def test_objects_in_no_report_are_split_by_max_event_objects(accord: Run, tmp_path: Path) -> None:
    objects = [{"type": "indicator", "spec_version": "2.1", "id": f"indicator--00000000-0000-4000-8000-00000000000{i}",
                "created": "2025-06-01T00:00:00.000Z", "modified": "2025-06-01T00:00:00.000Z",
                "pattern": f"[domain-name:value = 'split{i}.example-bad.test']", "pattern_type": "stix",
                "valid_from": "2025-06-01T00:00:00Z"} for i in range(5)]
    (tmp_path / "b.json").write_bytes(orjson.dumps(objects))
    assert accord("import", str(tmp_path / "b.json")).exit_code == 0
    result = accord("export", "--format", "misp", "-O", "max_event_objects=2")
    events = events_of(result.stdout_bytes)
    assert len(events) == 3
    assert set().union(*(values(e) for e in events)) == {f"split{i}.example-bad.test" for i in range(5)}
    # the same objects exported again give the same events (feeds overwrite, not add)
    again = events_of(accord("export", "--format", "misp", "-O", "max_event_objects=2").stdout_bytes)
    assert [e.uuid for e in again] == [e.uuid for e in events]
    assert [str(e.date) for e in events] == ["2025-06-01"] * 3


def test_a_report_whose_objects_were_filtered_out_still_converts(accord: Run) -> None:
    assert accord("import", "--format", "misp", str(EVENT)).exit_code == 0
    result = accord("export", "--format", "misp", "--type", "report", "--type", "indicator", "--type", "identity",
                    "--type", "marking-definition")
    assert result.exit_code == 0, result.output
    (event,) = events_of(result.stdout_bytes)
    assert "198.51.100.23" in values(event) and "login-portal.example-bad.test" in values(event)


def _feed_files(directory: Path) -> tuple[dict[str, Any], list[str], dict[str, Any]]:
    manifest = orjson.loads((directory / "manifest.json").read_bytes())
    hashes = (directory / "hashes.csv").read_text().splitlines()
    events = {p.stem: orjson.loads(p.read_bytes()) for p in directory.glob("*.json") if p.name != "manifest.json"}
    return manifest, hashes, events


def test_feed_manifest_and_hashes_match_the_event_files(accord: Run, tmp_path: Path) -> None:
    assert accord("import", "--format", "misp", str(EVENT), str(RESPONSE)).exit_code == 0
    result = accord("export", "--format", "misp-feed", "-o", str(tmp_path / "feed"))
    assert result.exit_code == 0, result.output
    manifest, hashes, files = _feed_files(tmp_path / "feed")
    assert set(manifest) == set(files) == {EVENT_UUID, "c6a0372b-b2e5-4403-b13c-25c1b2b34e01",
                                           "f9d36a5e-e518-4736-a46f-58f4e5e67104"}
    expected_hashes = set()
    for uuid, doc in files.items():
        event = load_event(doc)
        entry = manifest[uuid]
        # the MUST fields of the manifest (MISP core format section 4.1), equal to the event's
        assert entry["info"] == event.info and entry["Orgc"]["name"] == event.Orgc.name
        assert entry["date"] == str(event.date) and int(entry["timestamp"]) == int(event.timestamp.timestamp())
        assert {"analysis", "threat_level_id"} <= set(entry)
        attributes = list(event.attributes) + [a for o in event.objects for a in o.attributes]
        for attribute in attributes:
            parts = attribute.value.split("|") if "|" in attribute.type or attribute.type == "malware-sample" \
                else [attribute.value]
            expected_hashes.update(f"{hashlib.md5(p.encode()).hexdigest()},{uuid}" for p in parts)
    assert set(hashes) == expected_hashes
    assert not list((tmp_path / "feed").glob("*.partial"))


def test_a_feed_written_by_accord_is_read_back_by_accord(accord: Run, tmp_path: Path) -> None:
    assert accord("import", "--format", "misp", str(EVENT), str(RESPONSE), str(BARE)).exit_code == 0
    assert accord("export", "--format", "misp-feed", "-o", str(tmp_path / "feed")).exit_code == 0
    other = f"sqlite:///{tmp_path / 'other.db'}"
    runner = CliRunner()
    assert runner.invoke(cli, ["--db", other, "init"]).exit_code == 0
    result = runner.invoke(cli, ["--db", other, "import", str(tmp_path / "feed")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    back = orjson.loads(runner.invoke(cli, ["--db", other, "export"]).stdout)["objects"]
    text = orjson.dumps(back).decode()
    for fixture in (EVENT, RESPONSE, BARE):
        doc = orjson.loads(fixture.read_bytes())
        for entry in doc.get("response", [doc]):
            event = entry.get("Event", entry)
            for attribute in event["Attribute"]:
                assert all(part in text for part in attribute["value"].split("|")), attribute["value"]


@pytest.mark.parametrize("fmt", ["misp", "misp-feed"])
def test_bad_export_options_are_refused(accord: Run, tmp_path: Path, fmt: str) -> None:
    for option in ("max_event_objects=0", "distribution=7", "max_event_objects=lots"):
        result = accord("export", "--format", fmt, "-O", option, "-o", str(tmp_path / "x"))
        assert result.exit_code != 0 and option.split("=")[0] in result.output
