"""MVT export (accord/io/mvt.py), loaded by the Mobile Verification Toolkit's own indicator reader."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from accord.io.indicators import KINDS, indicator
from accord.stix.validate import validate_object
from tests.cli.conftest import Run
from tests.conftest import shared_data

CREATED = "2024-04-01T00:00:00.000Z"
MVT_TYPES = ("domains", "processes", "emails", "file_names", "file_paths", "files_md5", "files_sha1",
             "files_sha256", "app_cert_hashes", "app_ids", "ios_profile_ids", "android_property_names", "urls")


def mvt_load(*paths: Path) -> Any:
    from mvt.common.indicators import Indicators

    indicators = Indicators()
    indicators.load_indicators_files([str(p) for p in paths], load_default=False)
    return indicators


def by_collection(indicators: Any) -> dict[str, dict[str, set[str]]]:
    """What MVT holds: per collection name, per indicator type, the values."""
    return {c["name"]: {t: set(c[t]) for t in MVT_TYPES if c[t]} for c in indicators.ioc_collections}


def export_mvt(accord: Run, tmp_path: Path) -> tuple[Path, str]:
    out = tmp_path / "export.stix2"
    result = accord("export", "--format", "mvt", "-o", str(out))
    assert result.exit_code == 0, result.output
    return out, result.output


@pytest.mark.realdata
def test_amnesty_pegasus_and_predator_round_trip_through_mvt(accord: Run, tmp_path: Path) -> None:
    originals = [shared_data("amnesty-investigations", "2021-07-18_nso", "pegasus.stix2"),
                 shared_data("amnesty-investigations", "2021-12-16_cytrox", "cytrox.stix2")]
    result = accord("import", *map(str, originals))
    assert result.exit_code == 0, result.output
    out, _ = export_mvt(accord, tmp_path)
    before, after = mvt_load(*originals), mvt_load(out)
    assert after.total_ioc_count == before.total_ioc_count > 1800
    assert by_collection(after) == by_collection(before)
    assert after.check_domain("https://weather4free.com/x") is not None
    for obj in orjson.loads(out.read_bytes())["objects"]:
        assert validate_object(obj) == [], obj


def test_split_patterns_reports_revocations_and_misread_values(accord: Run, tmp_path: Path) -> None:
    def ind(kind: str, value: str, **extra: Any) -> dict[str, Any]:
        return indicator(KINDS[kind], value, source_key="mvt-test", created=CREATED, **extra)

    both = ind("domain", "spy.example")
    both["pattern"] = ("[domain-name:value = 'spy.example'] OR [process:name = 'bh'] OR "
                       "[file:hashes.'SHA-256' = '" + "ab" * 32 + "']")
    in_report = ind("domain", "reported.example")
    query_url = ind("url", "https://spy.example/?id=1")
    gone_v1 = ind("domain", "gone.example")
    gone_v2 = {**gone_v1, "modified": "2024-06-01T00:00:00.000Z", "revoked": True}
    unrelated = ind("ipv4", "203.0.113.50")
    malware = {"type": "malware", "spec_version": "2.1", "id": "malware--4b5b6c7d-8e9f-4a0b-9c1d-2e3f4a5b6c7d",
               "created": CREATED, "modified": CREATED, "name": "Spyware X", "is_family": True}
    rels = [{"type": "relationship", "spec_version": "2.1",
             "id": f"relationship--{n}b5b6c7d-8e9f-4a0b-9c1d-2e3f4a5b6c7d", "created": CREATED,
             "modified": CREATED, "relationship_type": "indicates", "source_ref": src["id"],
             "target_ref": malware["id"]} for n, src in enumerate((both, query_url, gone_v1), start=1)]
    report = {"type": "report", "spec_version": "2.1", "id": "report--5b6c7d8e-9f0a-4b1c-8d2e-3f4a5b6c7d8e",
              "created": CREATED, "modified": CREATED, "name": "Campaign Y", "published": CREATED,
              "object_refs": [in_report["id"]]}
    path = tmp_path / "in.json"
    path.write_bytes(orjson.dumps([both, in_report, query_url, gone_v1, gone_v2, unrelated, malware, report, *rels]))
    assert accord("import", str(path)).exit_code == 0
    out, summary = export_mvt(accord, tmp_path)
    assert "skipped 1: revoked" in summary
    assert "skipped 1: values MVT would misread" in summary
    assert "skipped 1: older versions of exported objects" in summary
    loaded = by_collection(mvt_load(out))
    assert loaded == {
        "Spyware X": {"domains": {"spy.example"}, "processes": {"bh"}, "files_sha256": {"ab" * 32}},
        "Campaign Y": {"domains": {"reported.example"}},
        "Default collection": {"domains": {"203.0.113.50"}},
    }
    objects = orjson.loads(out.read_bytes())["objects"]
    assert all(validate_object(o) == [] for o in objects)
    split = {o["id"] for o in objects if o["type"] == "indicator" and o.get("name") == both["name"]}
    assert len(split) == 3 and both["id"] not in split
    assert {o["source_ref"] for o in objects if o["type"] == "relationship"} == split
    assert len({o["id"] for o in objects}) == len(objects)
