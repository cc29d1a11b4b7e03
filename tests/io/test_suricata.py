"""Suricata export (accord/io/suricata.py): escaping, sids stable and unique in the node's range,
and the rules loaded by Suricata itself (`suricata -T`) when it is installed (Debian bookworm:
`apt-get install -t bookworm-backports suricata`)."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from accord.io.indicators import KINDS, indicator
from accord.io.suricata import content
from tests.cli.conftest import Run
from tests.conftest import shared_data
from tests.io.test_blocklist import load

CREATED = "2024-04-01T00:00:00.000Z"
# Just what `suricata -T` needs: the address variables the rules use and the parsers they name.
MINIMAL_YAML = """%YAML 1.1
---
vars:
  address-groups:
    HOME_NET: "[10.0.0.0/8,172.16.0.0/12,192.168.0.0/16]"
    EXTERNAL_NET: "!$HOME_NET"
app-layer:
  protocols:
    tls:
      enabled: yes
    http:
      enabled: yes
    dns:
      tcp:
        enabled: yes
      udp:
        enabled: yes
outputs: []
"""
RULE = re.compile(r'^(alert|drop|reject) (\w+) .*\(msg:"(?:[^"\\]|\\.)*"; .* sid:(\d+); rev:(\d+);\)$')
WEIRD_URL = 'http://weird.example/a;b"c\\d|e?q=1&r=\u00e9'


def ind(kind: str, value: str, **extra: Any) -> dict[str, Any]:
    return indicator(KINDS[kind], value, source_key="suricata-test", created=CREATED, **extra)


def export(accord: Run, *options: str) -> list[str]:
    result = accord("export", "--format", "suricata", *options)
    assert result.exit_code == 0, result.output
    return [line for line in result.stdout.splitlines() if not line.startswith("#")]


def sids(rules: list[str]) -> dict[str, int]:
    """sid per rule, keyed by the rule without its sid."""
    out = {}
    for line in rules:
        m = RULE.match(line)
        assert m is not None, line
        out[re.sub(r" sid:\d+;", "", line)] = int(m.group(3))
    return out


def suricata_check(tmp_path: Path, rules: list[str]) -> str:
    binary = shutil.which("suricata")
    if binary is None:
        pytest.skip("suricata is not installed (Debian: apt-get install -t bookworm-backports suricata)")
    (tmp_path / "suricata.yaml").write_text(MINIMAL_YAML)
    (tmp_path / "accord.rules").write_text("\n".join(rules) + "\n")
    (tmp_path / "log").mkdir(exist_ok=True)
    done = subprocess.run([binary, "-T", "-c", str(tmp_path / "suricata.yaml"), "-S", str(tmp_path / "accord.rules"),
                           "-l", str(tmp_path / "log")], capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


@pytest.fixture
def store(accord: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    monkeypatch.setenv("ACCORD_NODE_NAME", 'cert-x "lab"; east')
    load(accord, tmp_path, [
        ind("domain", "c2.bad-actor.example"), ind("url", WEIRD_URL), ind("url", "https://files.bad-actor.example"),
        ind("ipv4", "203.0.113.77"), ind("ipv6", "2001:db8:feed::/48"), ind("ipv4", "8.8.8.8"),
        ind("md5", "ab" * 16), ind("domain", "old.example", revoked=True), ind("url", "ftp://files.example/x"),
    ])
    return accord


def test_rules_load_in_suricata_with_escaped_content(store: Run, tmp_path: Path) -> None:
    rules = export(store)
    assert len(rules) == 3 + 1 + 1 + 1 + 1  # domain x3 protocols, two URLs, two addresses
    by_sid = sids(rules)
    assert len(set(by_sid.values())) == len(rules)
    assert all(1_000_000 <= sid < 2_000_000 for sid in by_sid.values())
    weird = next(r for r in rules if "weird.example" in r)
    assert 'content:"/a|3B|b|22|c|5C|d|7C|e?q=1&r=|C3 A9|"' in weird
    assert 'msg:"ACCORD cert-x \\"lab\\"\\; east HTTP url http://weird.example/a\\;b\\"c\\\\d|e?q=1&r=?"' in weird
    assert "accord_node cert-x__lab___east" in weird
    assert not any("8.8.8.8" in r or "old.example" in r or "ftp:" in r for r in rules)
    domain_rules = [r for r in rules if "c2.bad-actor.example" in r]
    assert {r.split()[1] for r in domain_rules} == {"dns", "tls", "http"}
    assert all('dotprefix; content:".c2.bad-actor.example"' in r and "endswith;" in r for r in domain_rules)
    output = suricata_check(tmp_path, rules)
    assert f"{len(rules)} rules successfully loaded, 0 rules failed" in output


def test_sids_are_stable_across_exports_and_growth(store: Run, tmp_path: Path) -> None:
    first = sids(export(store))
    assert sids(export(store)) == first
    load(store, tmp_path, [ind("domain", f"more{n}.example") for n in range(30)], name="more.json")
    grown = sids(export(store))
    assert len(grown) == len(first) + 90
    assert all(grown[rule] == sid for rule, sid in first.items())
    shifted = sids(export(store, "-O", "sid_base=3000000", "-O", "sid_range=500"))
    assert all(3_000_000 <= sid < 3_000_500 for sid in shifted.values())
    assert len(set(shifted.values())) == len(shifted)


def test_collisions_resolve_within_a_tiny_range(store: Run) -> None:
    rules = export(store, "-O", "sid_base=100", "-O", "sid_range=7", "-O", "action=drop")
    assert sorted(sids(rules).values()) == list(range(100, 107))
    assert all(r.startswith("drop ") for r in rules)
    assert store("export", "--format", "suricata", "-O", "sid_base=100", "-O", "sid_range=6").exit_code != 0
    assert store("export", "--format", "suricata", "-O", "sid_base=4294967295", "-O", "sid_range=2").exit_code != 0


def test_kinds_and_rev(store: Run) -> None:
    rules = export(store, "-O", "kind=ip")
    assert len(rules) == 2 and all(" ip $HOME_NET any <> [" in r for r in rules)
    # rev: the indicator's modified, in seconds since the epoch
    modified = int(datetime.fromisoformat(CREATED.replace("Z", "+00:00")).timestamp())
    assert all(r.endswith(f"rev:{modified};)") for r in rules)


@pytest.mark.realdata
def test_citizenlab_indicators_as_rules(accord: Run, tmp_path: Path) -> None:
    paths = sorted(shared_data("citizenlab-malware-indicators").glob("*/*.csv"))
    accord("import", *map(str, paths))
    rules = export(accord)
    assert len(rules) > 2000
    assert len(set(sids(rules).values())) == len(rules)
    output = suricata_check(tmp_path, rules)
    assert f"{len(rules)} rules successfully loaded, 0 rules failed" in output


@pytest.mark.parametrize(("value", "expected"), [
    ("evil.example", "evil.example"),
    ('a"b;\x01c', "a|22|b|3B 01|c"),
    ("|\\", "|7C 5C|"),
    ("caf\u00e9", "caf|C3 A9|"),
])
def test_content_escaping(value: str, expected: str) -> None:
    assert content(value) == expected
