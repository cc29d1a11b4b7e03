"""``accord lookup`` (accord/cli/lookup_cmds.py) on every backend, and the real-data check of
issue 9: Amnesty's Pegasus indicators are found by their domains, warninglisted values flagged."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.cli.conftest import Run
from tests.conftest import shared_data

PEGASUS = ("amnesty-investigations", "2021-07-18_nso", "pegasus.stix2")
CYTROX = ("amnesty-investigations", "2021-12-16_cytrox", "cytrox.stix2")
MOBILE_ATTACK = ("mitre-attack-stix-data", "mobile-attack", "mobile-attack-17.1.json")
_DOMAIN_PATTERN = re.compile(r"\[domain-name:value\s*=\s*'([^']+)'\]")


def pegasus_domains(source: tuple[str, ...] = PEGASUS) -> dict[str, str]:
    """domain -> the id of the indicator whose pattern names it, read from the file itself."""
    found: dict[str, str] = {}
    for obj in orjson.loads(shared_data(*source).read_bytes())["objects"]:
        m = _DOMAIN_PATTERN.fullmatch(obj.get("pattern", "")) if obj["type"] == "indicator" else None
        if m is not None:
            found.setdefault(m.group(1).lower(), obj["id"])
    return found


def looked_up(result: Any) -> dict[str, dict[str, Any]]:
    assert result.exit_code == 0, result.output
    return {r["value"]: r for r in orjson.loads(result.stdout)["results"]}


@pytest.mark.realdata
def test_pegasus_domains_are_found_and_warninglisted_values_flagged(accord: Run, tmp_path: Path) -> None:
    # Issue 9's real data: Amnesty's Pegasus and Cytrox sets, and MITRE ATT&CK (mobile) beside them.
    for source in (PEGASUS, CYTROX, MOBILE_ATTACK):
        imported = accord("import", str(shared_data(*source)))
        assert imported.exit_code == 0, imported.output
    cytrox = pegasus_domains(CYTROX)
    assert cytrox
    found = looked_up(accord("lookup", *sorted(cytrox)[:20], "--json", "--no-warninglists"))
    for domain in sorted(cytrox)[:20]:
        assert cytrox[domain] in {h["id"] for h in found[domain]["hits"]}, domain
    domains = pegasus_domains()
    sample = sorted(domains)[:: max(1, len(domains) // 50)]
    values = tmp_path / "values.txt"
    values.write_text("# Pegasus domains, a subdomain of one, and known-benign values\n"
                      + "\n".join([*sample, f"www.{sample[0]}", "8.8.8.8", "google.com"]) + "\n")
    answer = looked_up(accord("lookup", "--file", str(values), "--json"))
    for domain in sample:
        assert {(h["id"], h["relation"]) for h in answer[domain]["hits"]} >= {(domains[domain], "exact")}
        assert all(h["owner"] == "node" and h["type"] == "indicator" for h in answer[domain]["hits"])
    assert {(h["matched"], h["relation"]) for h in answer[f"www.{sample[0]}"]["hits"]} == {(sample[0], "parent")}
    assert any("DNS resolvers" in name for name in answer["8.8.8.8"]["warninglists"])
    assert answer["google.com"]["warninglists"] and answer["google.com"]["hits"] == []
    # The text form: one tab-separated line per hit, one naming the warninglists.
    text = accord("lookup", sample[0], "8.8.8.8")
    assert text.exit_code == 0
    lines = [line.split("\t") for line in text.stdout.splitlines()]
    assert lines[0][:6] == [sample[0], "exact", sample[0], "amber", "indicator", domains[sample[0]]]
    assert lines[-1][:2] == ["8.8.8.8", "warninglists"]


def test_as_another_organisation_the_operators_data_is_not_there(accord: Run) -> None:
    bundle = {"type": "bundle", "id": "bundle--00000000-0000-4000-8000-000000000001", "objects": [{
        "type": "indicator", "spec_version": "2.1", "id": "indicator--00000000-0000-4000-8000-000000000002",
        "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z", "pattern_type": "stix",
        "pattern": "[ipv4-addr:value = '192.0.2.0/24']", "valid_from": "2026-01-01T00:00:00Z"}]}
    assert accord("import", "-", input=orjson.dumps(bundle)).exit_code == 0
    assert accord("org", "add", "other").exit_code == 0
    assert accord("user", "add", "olga", "--org", "other", "--role", "reader").exit_code == 0
    mine = looked_up(accord("lookup", "192.0.2.9", "--json", "--no-warninglists"))
    assert [(h["matched"], h["relation"]) for h in mine["192.0.2.9"]["hits"]] == [("192.0.2.0/24", "within")]
    theirs = looked_up(accord("lookup", "192.0.2.9", "--json", "--no-warninglists", "--as", "olga"))
    nobody = looked_up(accord("lookup", "198.51.100.9", "--json", "--no-warninglists", "--as", "olga"))
    assert theirs["192.0.2.9"]["hits"] == [] == nobody["198.51.100.9"]["hits"]


def test_a_value_that_is_nothing_is_named_with_the_reason(accord: Run) -> None:
    result = accord("lookup", "hello world", "--no-warninglists")
    assert result.exit_code == 1
    assert "'hello world': not an IP address" in result.stderr
    assert accord("lookup").exit_code != 0
