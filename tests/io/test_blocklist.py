"""Blocklist export (accord/io/blocklist.py): live indicators only, latest versions, warninglists,
kinds, styles; the RPZ zone checked by BIND's named-checkzone when it is installed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest

from accord.io.indicators import KINDS, indicator, observable
from accord.io.warninglists import benign
from tests.cli.conftest import Run

CREATED = "2024-04-01T00:00:00.000Z"
FIXTURES = Path(__file__).parent / "fixtures"


def ind(kind: str, value: str, **extra: Any) -> dict[str, Any]:
    return indicator(KINDS[kind], value, source_key="blocklist-test", created=CREATED, **extra)


def load(accord: Run, tmp_path: Path, objects: list[dict[str, Any]], name: str = "in.json") -> None:
    """Import ``objects`` as one STIX file; every one must be stored."""
    path = tmp_path / name
    path.write_bytes(orjson.dumps(objects))
    result = accord("import", str(path))
    assert result.exit_code == 0, result.output


def lines(accord: Run, *options: str) -> list[str]:
    result = accord("export", "--format", "blocklist", *options)
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()


@pytest.fixture
def store(accord: Run, tmp_path: Path) -> Run:
    # 198.51.100.0/24 is on the RFC 5735 list as written; 203.0.113.0/25 is not
    assert benign("8.8.8.8") and benign("198.51.100.0/24") and not benign("203.0.113.0/25")
    revoked_v1 = ind("domain", "was-bad.example")
    revoked_v2 = {**revoked_v1, "modified": "2024-05-01T00:00:00.000Z", "revoked": True}
    either = ind("domain", "one.bad-actor.example")
    either["pattern"] = "[domain-name:value = 'one.bad-actor.example'] OR [ipv4-addr:value = '203.0.113.5']"
    both = ind("domain", "two.bad-actor.example")
    both["pattern"] = "[domain-name:value = 'two.bad-actor.example'] AND [ipv4-addr:value = '203.0.113.6']"
    load(accord, tmp_path, [
        ind("domain", "c2.bad-actor.example"), ind("domain", "C2.Bad-Actor.example", name="same value, other case"),
        ind("ipv4", "198.51.100.0/24"), ind("ipv4", "203.0.113.0/25"), ind("ipv6", "2001:db8:abcd::/48"),
        ind("ipv4", "8.8.8.8"),
        ind("url", "http://c2.bad-actor.example/gate.php"), ind("sha256", "ef" * 32),
        ind("domain", "expired.example", valid_until="2024-04-02T00:00:00.000Z"),
        ind("domain", "still-valid.example", valid_until="2099-01-01T00:00:00.000Z"),
        revoked_v1, revoked_v2, either, both, observable(KINDS["domain"], "only-seen.example"),
        {"type": "indicator", "spec_version": "2.1", "id": "indicator--7b0d8f3e-1f55-4c6e-9b8a-5d1e6f7a8b9c",
         "created": CREATED, "modified": CREATED, "pattern": "rule x { condition: true }", "pattern_type": "yara",
         "valid_from": CREATED},
    ])
    return accord


def test_all_kinds_grouped_deduplicated_live_only(store: Run) -> None:
    result = store("export", "--format", "blocklist")
    assert result.stdout.splitlines() == [
        "# ipv4", "203.0.113.0/25", "203.0.113.5", "",
        "# ipv6", "2001:db8:abcd::/48", "",
        "# domain", "c2.bad-actor.example", "one.bad-actor.example", "still-valid.example", "",
        "# url", "http://c2.bad-actor.example/gate.php", "",
        "# sha256", "ef" * 32,
    ]
    out = store("export", "--format", "blocklist", "-o", "/dev/null").output
    assert "exported 8 of 16 objects" in out
    for reason in ("1: revoked", "1: expired (valid_until in the past)", "2: values left out: on a MISP warninglist",
                   "2: indicators whose values are all on MISP warninglists",
                   "1: older versions of exported indicators", "1: indicator with a yara pattern",
                   "1: observable, not an indicator", "1: pattern whose values do not indicate alone"):
        reason = "skipped " + reason
        assert reason in out, reason


def test_one_kind_is_a_bare_list(store: Run) -> None:
    assert lines(store, "-O", "kind=ip") == ["203.0.113.0/25", "203.0.113.5", "2001:db8:abcd::/48"]
    assert lines(store, "-O", "kind=ipv4", "-O", "include_benign=true") == [
        "198.51.100.0/24", "203.0.113.0/25", "203.0.113.5", "8.8.8.8"]
    assert lines(store, "-O", "kind=sha256", "-O", "comments=true") == ["# sha256", "ef" * 32]
    assert store("export", "--format", "blocklist", "-O", "kind=nonsense").exit_code != 0


def test_hosts_style(store: Run) -> None:
    assert lines(store, "-O", "style=hosts") == ["0.0.0.0 c2.bad-actor.example", "0.0.0.0 one.bad-actor.example",
                                                 "0.0.0.0 still-valid.example"]
    assert store("export", "--format", "blocklist", "-O", "style=hosts", "-O", "kind=url").exit_code != 0


def test_rpz_zone(store: Run, tmp_path: Path) -> None:
    zone = lines(store, "-O", "style=rpz")
    assert "c2.bad-actor.example CNAME ." in zone and "*.c2.bad-actor.example CNAME ." in zone
    assert "25.0.113.0.203.rpz-ip CNAME ." in zone
    assert "48.zz.abcd.db8.2001.rpz-ip CNAME ." in zone
    assert zone == lines(store, "-O", "style=rpz")  # same content, same serial
    checker = shutil.which("named-checkzone")
    if checker is None:
        pytest.skip("named-checkzone is not installed (Debian package bind9-utils)")
    path = tmp_path / "rpz.zone"
    path.write_text("\n".join(zone) + "\n")
    check = subprocess.run([checker, "rpz.test", str(path)], capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr


def test_defanged_csv_input_exports_real_values(accord: Run) -> None:
    assert accord("import", "--format", "csv", str(FIXTURES / "csv_misp_style.csv")).exit_code == 0
    values = lines(accord, "-O", "kind=ipv4,url")
    assert "198.51.100.23" in values and "https://payload.example/drop?id=7" in values
    assert not any("[" in v or "hxxp" in v for v in values)
