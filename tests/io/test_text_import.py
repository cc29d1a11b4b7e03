"""`accord import --format text`: the real command on our own fixture, generated HTML/PDF/junk, and real reports."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson
import pytest

from accord.stix.validate import validate_object
from tests.conftest import shared_data
from tests.io.conftest import Run, stored_total

FIXTURE = Path(__file__).parent / "fixtures" / "text_report.md"
ROOT = Path(__file__).resolve().parents[2]


def dry_run(accord: Run, *args: str) -> list[dict[str, Any]]:
    result = accord("import", "--dry-run", "--format", "text", *args)
    assert result.exit_code == 0, result.output
    objects: list[dict[str, Any]] = orjson.loads(result.stdout)["objects"]
    for obj in objects:
        assert validate_object(obj) == [], obj
    return objects


def by_type(objects: list[dict[str, Any]], stix_type: str) -> dict[str, dict[str, Any]]:
    """Objects of one type by pattern (indicators), name, or id (relationships)."""
    return {o.get("pattern") or o.get("name") or o["id"]: o for o in objects if o["type"] == stix_type}


def test_dry_run_prints_a_valid_report_of_what_the_text_states(accord: Run) -> None:
    objects = dry_run(accord, str(FIXTURE))
    assert stored_total(accord) == 0
    report = by_type(objects, "report")["Operation Paper Lantern: a made-up intrusion for Accord's tests"]
    assert report["published"] == report["created"] == "2024-03-14T00:00:00.000Z"
    assert set(report["object_refs"]) == {o["id"] for o in objects if o["type"] != "report"}
    patterns = set(by_type(objects, "indicator"))
    assert patterns == {
        "[domain-name:value = 'lantern-update.com']", "[url:value = 'https://cdn.lantern-update.com/gate.php?id=7']",
        "[ipv4-addr:value = '203.0.113.77']", "[email-addr:value = 'operator@lantern-mail.net']",
        "[ipv6-addr:value = '2001:db8:85a3::8a2e:370:7334']",
        "[file:hashes.'MD5' = '5d41402abc4b2a76b9719d911017c592']",
        "[file:hashes.'SHA-1' = '2fd4e1c67a2d28fced849ee1bb76e7391b93eb12']",
        "[file:hashes.'SHA-256' = '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08']",
    }
    turla = by_type(objects, "intrusion-set")["Turla"]
    assert "Snake" in turla["aliases"]
    assert {"source_name": "mitre-attack", "external_id": "G0010", "url": "https://attack.mitre.org/groups/G0010"} \
        in turla["external_references"]
    assert set(by_type(objects, "malware")) == {"Carbon"}
    assert by_type(objects, "location")["Armenia"]["country"] == "AM"
    assert {i["sectors"][0] for i in by_type(objects, "identity").values()} == {"government-national",
                                                                               "telecommunications"}
    techniques = {p["external_references"][0]["external_id"] for p in by_type(objects, "attack-pattern").values()}
    assert techniques == {"T1059.001", "T1566.001"}
    assert set(by_type(objects, "vulnerability")) == {"CVE-2023-23397"}
    # ATT&CK says Turla uses Carbon and PowerShell; the text names both ends of each.
    ids = {o["id"]: o.get("name") for o in objects}
    uses = {(ids[r["source_ref"]], ids[r["target_ref"]]) for r in by_type(objects, "relationship").values()}
    assert ("Turla", "Carbon") in uses and ("Turla", "PowerShell") in uses


def test_import_stores_drafts_notes_benign_values_and_is_idempotent(accord: Run) -> None:
    report_id = next(o["id"] for o in dry_run(accord, str(FIXTURE)) if o["type"] == "report")
    first = accord("import", str(FIXTURE))  # --format auto takes .md as text
    assert first.exit_code == 0, first.output
    assert "[text]" in first.stdout and "refused 0" in first.stdout
    assert "8.8.8.8: known-benign" in first.stderr and "www.google.com: known-benign" in first.stderr
    assert "da39a3ee5e6b4b0d3255bfef95601890afd80709: known-benign" in first.stderr
    assert "https://blog.example.org/paper-lantern: the target of a link" in first.stderr
    stored = stored_total(accord)
    again = accord("import", "--format", "text", str(FIXTURE))
    assert "stored 0," in again.stdout and f"unchanged {stored}" in again.stdout
    # Extraction needs review: the report is a draft until someone publishes it.
    assert "published 1 version(s)" in accord("publish", report_id).stdout


def test_include_benign_imports_flagged_values(accord: Run) -> None:
    patterns = set(by_type(dry_run(accord, "-O", "include_benign=true", str(FIXTURE)), "indicator"))
    assert "[ipv4-addr:value = '8.8.8.8']" in patterns
    assert "[file:hashes.'SHA-1' = 'da39a3ee5e6b4b0d3255bfef95601890afd80709']" in patterns


def test_options_name_date_and_indicators_only(accord: Run) -> None:
    objects = dry_run(accord, "-O", "name=Renamed", "-O", "date=2020-02-03", "-O", "entities=false", str(FIXTURE))
    report = by_type(objects, "report")["Renamed"]
    assert report["created"] == "2020-02-03T00:00:00.000Z"
    assert {o["type"] for o in objects} <= {"report", "indicator", "file", "url", "domain-name", "ipv4-addr",
                                            "ipv6-addr", "email-addr", "vulnerability"}
    bad = accord("import", "--format", "text", "-O", "max_bytes=lots", str(FIXTURE))
    assert bad.exit_code != 0 and "max_bytes" in bad.output


def test_binary_junk_and_oversized_input_are_refused_whole(accord: Run, tmp_path: Path) -> None:
    junk = tmp_path / "sample.txt"
    junk.write_bytes(b"MZ\x90\x00" + bytes(range(256)) * 4)
    result = accord("import", "--format", "text", str(junk))
    assert result.exit_code == 1
    assert "refused, nothing stored: a NUL byte: this is binary data" in result.output
    # Far more than the limit: refused from its size alone, without reading it (the same path takes
    # a 200 MB file under the default limit; a lowered limit keeps the test small).
    big = tmp_path / "big.txt"
    big.write_bytes(FIXTURE.read_bytes() * 50)
    result = accord("import", "--format", "text", "-O", "max_bytes=4096", str(big))
    assert result.exit_code == 1 and "over the text importer's limit of 4096 bytes" in result.output
    piped = accord("import", "--format", "text", "-O", "max_bytes=4096", "-", input=big.read_bytes())
    assert piped.exit_code == 1 and "more than 4096 bytes" in piped.output
    assert stored_total(accord) == 0


def test_a_long_text_is_read_in_chunks_and_finds_what_is_at_the_end(accord: Run, tmp_path: Path) -> None:
    filler = "Nothing to see in this line of a long and dull report, version 1.2.3.4 aside.\n" * 40_000
    path = tmp_path / "long.txt"
    path.write_text("Long report\n\n" + filler + "The last C2 was tail-end[.]example[.]net.\n", encoding="utf-8")
    patterns = set(by_type(dry_run(accord, str(path)), "indicator"))
    assert patterns == {"[domain-name:value = 'tail-end.example.net']"}


def test_html_by_content(accord: Run, tmp_path: Path) -> None:
    page = tmp_path / "post.htm"
    page.write_text("<!doctype html><html><head><title>Lantern in the browser</title>"
                    "<script>fetch('https://tracker.example.com/x')</script></head><body>"
                    "<p>The Turla operators used</p><table><tr><td>lantern-update[.]com</td></tr></table>"
                    "</body></html>", encoding="utf-8")
    result = accord("import", "--dry-run", str(page))
    assert result.exit_code == 0 and "[text]" in result.stderr
    objects = orjson.loads(result.stdout)["objects"]
    assert by_type(objects, "report")["Lantern in the browser"]
    assert set(by_type(objects, "indicator")) == {"[domain-name:value = 'lantern-update.com']"}


def _pdf(lines: list[str]) -> bytes:
    """A one-page PDF with ``lines`` in Helvetica, its cross-reference offsets computed."""
    content = "BT /F1 11 Tf 72 720 Td 14 TL " + " ".join(f"({line}) '" for line in lines) + " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        "/Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(content)} >>\nstream\n{content}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{o:010d} 00000 n \n" for o in offsets).encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def test_pdf_text_layer(accord: Run, tmp_path: Path) -> None:
    path = tmp_path / "brief.pdf"
    path.write_bytes(_pdf(["Lantern brief", "Published 2 May 2023.", "C2: lantern-update[.]com and 203.0.113[.]77",
                           "Hash 5d41402abc4b2a76b9719d911017c592 was seen in Armenia."]))
    objects = dry_run(accord, str(path))
    report = by_type(objects, "report")["Lantern brief"]
    assert report["created"] == "2023-05-02T00:00:00.000Z"
    assert set(by_type(objects, "indicator")) == {"[domain-name:value = 'lantern-update.com']",
                                                 "[ipv4-addr:value = '203.0.113.77']",
                                                 "[file:hashes.'MD5' = '5d41402abc4b2a76b9719d911017c592']"}
    assert "Armenia" in by_type(objects, "location")
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4\n" + b"garbage " * 100)
    result = accord("import", str(broken))
    assert result.exit_code == 1 and "refused, nothing stored" in result.output


@pytest.mark.realdata
def test_a_spyware_report_links_malware_vendor_and_country(accord: Run) -> None:
    text = shared_data("amnesty-investigations", "2024-05-02_wintego_helios", "README.md")
    objects = dry_run(accord, str(text))
    vendors = by_type(objects, "identity")
    assert {"Wintego", "Intellexa"} <= set(vendors)
    assert vendors["Intellexa"]["identity_class"] == "organization"
    predator = by_type(objects, "malware")["PREDATOR"]  # the galaxy spells Intellexa's product so
    assert by_type(objects, "location")["Indonesia"]["country"] == "ID"
    links = {(r["source_ref"], r["target_ref"]) for r in by_type(objects, "relationship").values()}
    assert (predator["id"], vendors["Intellexa"]["id"]) in links
    report = next(o for o in objects if o["type"] == "report")
    assert {predator["id"], vendors["Intellexa"]["id"], by_type(objects, "location")["Indonesia"]["id"]} \
        <= set(report["object_refs"])
    # Its links are citations, not indicators.
    assert not by_type(objects, "indicator")


@pytest.mark.realdata
def test_a_report_on_spyware_found_abroad_names_both_states(accord: Run) -> None:
    text = shared_data("amnesty-investigations", "2020-09-25_finfisher", "README.md")
    objects = dry_run(accord, str(text))
    assert {"Egypt", "Germany"} <= set(by_type(objects, "location"))
    assert "FinSpy" in by_type(objects, "malware")["FinFisher"]["aliases"]


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_extraction", ROOT / "bench" / "extraction.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.realdata
@pytest.mark.parametrize("name", ["xdspy", "kryptocibule", "sednit/2017-05-09_Trump_Attack_on_Syria_IoCs"])
def test_recall_and_precision_floors_on_eset_write_ups(name: str) -> None:
    shared_data("eset-malware-ioc", name.split("/")[0])
    bench = _bench()
    pair = next(p for p in bench.pairs() if p.name == name)
    score = bench.score(pair)
    assert len(score.stated) >= 4
    assert score.recall >= 0.95, sorted(score.stated - score.found)
    assert score.precision >= 0.9, sorted(score.found - score.hits)
