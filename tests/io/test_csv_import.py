"""CSV import (accord/io/csv_format.py) through the real `accord` command: MISP's CSV exports,
spreadsheets with BOM/CRLF and multi-line cells, column maps, refusals per row, idempotency."""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

import orjson
import pytest
import stix2

from accord.io.indicators import KINDS, values_of
from accord.io.values_misp import stix_time
from accord.stix.markings import TLP2_AMBER, TLP2_GREEN
from accord.stix.validate import validate_object
from tests.cli.conftest import Run, stored_total
from tests.conftest import shared_data

FIXTURES = Path(__file__).parent / "fixtures"


def stored(accord: Run) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = orjson.loads(accord("export").stdout)["objects"]
    return objects


def indicator_values(objects: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(k.name, v): o for o in objects if o["type"] == "indicator" for k, v in values_of(o["pattern"])}


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_bom_crlf_multiline_defanged_composites_tags(accord: Run) -> None:
    result = accord("import", "--format", "csv", str(FIXTURES / "csv_misp_style.csv"))
    assert result.exit_code == 0, result.output
    objects = stored(accord)
    assert all(validate_object(o) == [] for o in objects)
    for obj in objects:
        stix2.parse(obj, allow_custom=False)
    found = indicator_values(objects)
    assert set(found) == {("domain", "bad-actor.example"), ("ipv4", "198.51.100.23"),
                          ("url", "https://payload.example/drop?id=7"), ("domain", "c2.example"),
                          ("ipv4", "203.0.113.9"), ("ipv4", "203.0.113.77"),
                          ("md5", "0123456789abcdef0123456789abcdef")}
    first = found[("domain", "bad-actor.example")]
    assert first["description"] == 'first line\r\nsecond line, with a comma and a "quote"'
    assert first["created"] == first["valid_from"] == "2024-01-05T00:00:00.000Z"
    assert first["object_marking_refs"] == [TLP2_AMBER]
    assert first["labels"] == ["campaign:x"]
    assert found[("ipv4", "203.0.113.9")]["object_marking_refs"] == [TLP2_GREEN]
    assert "port 8443" in found[("ipv4", "203.0.113.77")]["description"]
    assert "file name report.exe" in found[("md5", "0123456789abcdef0123456789abcdef")]["description"]
    # to_ids 0: an observable, not an indicator
    assert ("domain", "seen-only.example") not in found
    assert any(o["type"] == "domain-name" and o["value"] == "seen-only.example" for o in objects)


def test_reimport_stores_nothing_new(accord: Run, tmp_path: Path) -> None:
    path = FIXTURES / "csv_misp_style.csv"
    assert accord("import", "--format", "csv", str(path)).exit_code == 0
    again = accord("import", "--format", "csv", str(path))
    assert again.exit_code == 0
    assert "stored 0" in again.stdout
    # the same bytes from stdin, dated explicitly: again nothing new for rows carrying a date
    piped = accord("import", "--format", "csv", "-", input=path.read_bytes())
    assert piped.exit_code == 0 and "stored 0" in piped.stdout, piped.output


def test_ragged_rows_unknown_types_and_empty_values_are_refused_per_row(accord: Run, tmp_path: Path) -> None:
    path = write(tmp_path, "ragged.csv", "value,type,comment\n"
                 "ok.example,domain,fine\n"
                 "extra.example,domain,one,two\n"
                 "short.example,domain\n"
                 "weird.example,no-such-type,x\n"
                 ",domain,empty\n"
                 "not a domain!,domain,x\n"
                 "also-ok.example,domain,\"spans\ntwo lines\"\n"
                 "after.example,domain,extra,cell\n")
    result = accord("import", "--format", "csv", str(path))
    assert result.exit_code == 1
    refusals = [line for line in result.output.splitlines() if "refused:" in line]
    assert len(refusals) == 6, result.output
    expected = ["row 3: column #3: 4 cells, the header has 3 columns",
                "row 4: column 'comment' (#2): missing",
                "row 5: column 'type' (#1): unknown type 'no-such-type'",
                "row 6: column 'value' (#0): empty value",
                "row 7: column 'value' (#0): 'not a domain!' is not a valid domain",
                # the multi-line cell before it: row 9 of the sheet starts on line 10 of the file
                "row 9 (line 10): column #3: 4 cells"]
    for line, text in zip(refusals, expected, strict=True):
        assert text in line
    assert set(indicator_values(stored(accord))) == {("domain", "ok.example"), ("domain", "also-ok.example")}


def test_unmapped_misp_types_are_noted_not_refused(accord: Run, tmp_path: Path) -> None:
    path = write(tmp_path, "mixed.csv", "value,type,date\n"
                 "a.example,domain,20240101\n"
                 "free text,text,20240101\n"
                 "\"rule x {\n condition: true\n}\",yara,20240101\n")
    result = accord("import", "--format", "csv", str(path))
    assert result.exit_code == 0, result.output
    assert "these MISP types name no value to match: text (1), yara (1)" in result.output
    assert stored_total(accord) == 1


@pytest.mark.parametrize("junk", [
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)),
    b"value,type\n" + "caf\u00e9.example,domain\n".encode("latin-1"),
])
def test_binary_or_undecodable_input_stores_nothing(accord: Run, tmp_path: Path, junk: bytes) -> None:
    path = tmp_path / "junk.csv"
    path.write_bytes(junk + b"ok.example,domain\n" * 3)
    result = accord("import", "--format", "csv", str(path))
    assert result.exit_code == 1
    assert "refused, nothing stored" in result.output
    assert stored_total(accord) == 0


def test_declared_encoding(accord: Run, tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes("value,type,comment\nx.example,domain,caf\u00e9\n".encode("latin-1"))
    assert accord("import", "--format", "csv", "-O", "encoding=latin-1", str(path)).exit_code == 0
    assert indicator_values(stored(accord))[("domain", "x.example")]["description"] == "caf\u00e9"


def test_warninglisted_values_are_observables_with_a_note(accord: Run, tmp_path: Path) -> None:
    path = write(tmp_path, "benign.csv", "value,type,date\n8.8.8.8,ip-dst,20240101\nevil-c2.example,domain,20240101\n")
    result = accord("import", "--format", "csv", str(path))
    assert result.exit_code == 0
    assert "row 2: 8.8.8.8 is on MISP warninglist" in result.output
    objects = stored(accord)
    assert set(indicator_values(objects)) == {("domain", "evil-c2.example")}
    assert any(o["type"] == "ipv4-addr" and o["value"] == "8.8.8.8" for o in objects)


def test_map_by_name_and_position_and_typed_columns(accord: Run, tmp_path: Path) -> None:
    path = write(tmp_path, "list.csv", "Host;Address;Seen\nalpha.example;192.0.2.10;2024-02-01\n"
                 "beta.example;;2024-02-02\n")
    result = accord("import", "--format", "csv", "--map", "Host:domain,1:ip-dst,seen:date", str(path))
    assert result.exit_code == 0, result.output
    found = indicator_values(stored(accord))
    assert set(found) == {("domain", "alpha.example"), ("ipv4", "192.0.2.10"), ("domain", "beta.example")}
    assert found[("domain", "beta.example")]["created"] == "2024-02-02T00:00:00.000Z"


def test_headerless_needs_a_map_and_uses_file_date(accord: Run, tmp_path: Path) -> None:
    path = write(tmp_path, "bare.csv", "gamma.example\ndelta.example\n")
    os.utime(path, (1_700_000_000, 1_700_000_000))
    assert accord("import", "--format", "csv", "-O", "header=false", str(path)).exit_code != 0
    result = accord("import", "--format", "csv", "-O", "header=false", "--map", "0:domain", str(path))
    assert result.exit_code == 0, result.output
    found = indicator_values(stored(accord))
    assert found[("domain", "gamma.example")]["created"] == stix_time("1700000000")
    # from stdin there is no file date: rows need a date column or -O date
    piped = accord("import", "--format", "csv", "-O", "header=false", "--map", "0:domain", "-",
                   input=b"epsilon.example\n")
    assert piped.exit_code == 1 and "no date" in piped.output
    dated = accord("import", "--format", "csv", "-O", "header=false", "--map", "0:domain", "-O", "date=2024-03-01",
                   "-", input=b"epsilon.example\n")
    assert dated.exit_code == 0
    assert indicator_values(stored(accord))[("domain", "epsilon.example")]["created"] == "2024-03-01T00:00:00.000Z"


def test_bad_maps_and_options_are_refused_before_storing(accord: Run, tmp_path: Path) -> None:
    path = write(tmp_path, "x.csv", "value,type\na.example,domain\n")
    for args in (["--map", "value"], ["--map", "value:nonsense"], ["--map", "value:text"], ["--map", "nope:domain"],
                 ["-O", "tlp=purple"], ["-O", "delimiter=;;"]):
        result = accord("import", "--format", "csv", *args, str(path))
        assert result.exit_code != 0, args
    assert stored_total(accord) == 0


def test_auto_detects_misp_csv_headers(accord: Run, tmp_path: Path) -> None:
    path = write(tmp_path, "export.csv", "uuid,event_id,category,type,value,comment,to_ids,date\n"
                 "5f1d2c3b-0000-4000-8000-000000000001,1,Network activity,domain,zeta.example,,1,20200101\n")
    result = accord("import", str(path))
    assert result.exit_code == 0, result.output
    assert "[csv]" in result.stdout
    found = indicator_values(stored(accord))
    assert found[("domain", "zeta.example")]["labels"] == ['misp:category="Network activity"']


@pytest.mark.realdata
def test_misp_full_csv_export(accord: Run) -> None:
    path = shared_data("misp-core", "tests", "event.csv")
    result = accord("import", "--format", "csv", str(path))
    assert result.exit_code == 0, result.output
    objects = stored(accord)
    found = indicator_values(objects)
    observables = {o.get("value") or next(iter(o.get("hashes", {}).values()), None) for o in objects}
    with path.open(newline="", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if r]
    checked = 0
    for row in rows:
        kind = {"md5": "md5", "sha1": "sha1", "sha256": "sha256", "domain": "domain", "url": "url"}.get(row["type"])
        if kind is None:
            continue
        value = row["value"].lower() if kind != "url" else row["value"]
        if row["to_ids"] == "1":
            obj = found[(kind, value)]
            assert obj["created"] == stix_time(row["date"])
            assert obj["description"] == row["comment"] or not row["comment"]
        else:
            assert (kind, value) not in found and value in observables
        checked += 1
    assert checked >= 20
    again = accord("import", "--format", "csv", str(path))
    assert "stored 0" in again.stdout


@pytest.mark.realdata
def test_citizenlab_short_csv_exports(accord: Run) -> None:
    folder = shared_data("citizenlab-malware-indicators")
    paths = sorted(folder.glob("*/*.csv"))
    result = accord("import", *map(str, paths))
    refusals = [line for line in result.output.splitlines() if "refused:" in line]
    # the one refused row is a real typo in the data ("http//" without the colon)
    assert len(refusals) == 1, result.output
    assert "row 29: column 'value' (#4): 'http//www.msap.services/2bKr8Z' is not a valid url" in refusals[0]
    with (folder / "201909_MissingLink" / "iocs.csv").open(newline="", encoding="utf-8") as handle:
        assert list(csv.reader(handle))[28][4] == "http//www.msap.services/2bKr8Z"
    found = indicator_values(stored(accord))
    with (folder / "201608_NSO_Group" / "iocs.csv").open(newline="", encoding="utf-8") as handle:
        nso = [r for r in csv.DictReader(handle) if r["type"] == "domain" and r["to_ids"] == "1"]
    from accord.io.warninglists import benign

    assert nso and all(("domain", r["value"].lower()) in found or benign(r["value"]) for r in nso)
    assert KINDS["url"].name in {k for k, _ in found}


@pytest.mark.realdata
def test_amnesty_two_column_list(accord: Run) -> None:
    path = shared_data("amnesty-investigations", "2018-08-01_nso", "indicators.csv")
    result = accord("import", "--format", "csv", "--map", "domain_name:domain,ip_address:ip-dst", str(path))
    assert result.exit_code == 0, result.output
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    objects = stored(accord)
    found = indicator_values(objects)
    scos = {o["value"] for o in objects if o["type"] in ("domain-name", "ipv4-addr")}
    for row in rows:
        for kind, value in (("domain", row["domain_name"]), ("ipv4", row["ip_address"])):
            # every value is an indicator, or an observable when a warninglist knows it
            assert (kind, value.lower()) in found or value.lower() in scos, value
