"""Real data nobody here wrote (../shared/data): every STIX 2.1 file imports and exports losslessly,
STIX 2.0 files import with upgrade, and exports hold up in the OASIS tools."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.cli.conftest import Run, stored_total
from tests.conftest import shared_data

pytestmark = pytest.mark.realdata

STIX21_FILES = [
    "oasis-cti-stix2-json-schemas/examples/indicator-for-c2-ip-address.json",
    "oasis-cti-stix2-json-schemas/examples/indicator-to-campaign-relationship.json",
    "oasis-cti-stix2-json-schemas/examples/indicators-for-C2-with-COA.json",
    "oasis-cti-stix2-json-schemas/examples/infrastructure.json",
    "oasis-cti-stix2-json-schemas/examples/interop-objectmarking-test.json",
    "oasis-cti-stix2-json-schemas/examples/malicious-email-indicator-with-attachment.json",
    "oasis-cti-stix2-json-schemas/examples/threat-reports/apt1.json",
    "oasis-cti-stix2-json-schemas/examples/threat-reports/poisonivy.json",
    *(f"oasis-cti-documentation/examples/example_json/{name}" for name in (
        "defining-campaigns-threat-actors-intrusion-sets.json", "identifying-a-threat-actor-profile.json",
        "indicator-for-malicious-url.json", "malware-indicator-for-file-hash.json",
        "sighting-of-an-indicator.json", "sighting-of-observed-data.json",
        "threat-actor-leveraging-attack-patterns-and-malware.json", "using-granular-markings.json",
        "using-marking-definitions.json")),
    "oasis-cti-python-stix2/sco-examples-bundle.json",
    "amnesty-investigations/2021-07-18_nso/pegasus.stix2",
    "amnesty-investigations/2021-12-16_cytrox/cytrox.stix2",
    "amnesty-investigations/2024-05-02_wintego_helios/wintego_helios.stix2",
    "amnesty-investigations/2024-12-16_serbia_novispy/novispy.stix2",
    "amnesty-investigations/2023-03-29_android_campaign/malware.stix2",
    "mitre-attack-stix-data/ics-attack/ics-attack-18.1.json",
    "mitre-attack-stix-data/mobile-attack/mobile-attack-17.1.json",
]


def objects_of(path: Path) -> list[dict[str, Any]]:
    doc = orjson.loads(path.read_bytes())
    if isinstance(doc, list):
        return doc
    objects: list[dict[str, Any]] = doc.get("objects", [doc])
    return objects


def version_of(obj: dict[str, Any]) -> tuple[str, str]:
    """(id, version) as the store sees it: modified, else created, else the content (SCOs)."""
    stamp = obj.get("modified") or obj.get("created")
    return obj["id"], stamp if stamp else orjson.dumps(obj, option=orjson.OPT_SORT_KEYS).decode()


def distinct_versions(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Input order, each version once, as the store keeps them."""
    seen: set[tuple[str, str]] = set()
    out = []
    for obj in objects:
        key = version_of(obj)
        if key not in seen:
            seen.add(key)
            out.append(obj)
    return out


def test_every_stix21_file_in_the_corpus_is_listed() -> None:
    """A new STIX 2.1 file in ../shared/data must be added to STIX21_FILES, not silently skipped."""
    root = shared_data()
    found = {str(p.relative_to(root)) for p in root.rglob("*.stix2")}
    found |= {str(p.relative_to(root)) for p in (root / "mitre-attack-stix-data").rglob("*-attack-*.json")}
    assert found <= set(STIX21_FILES)


@pytest.mark.parametrize("relpath", STIX21_FILES)
def test_stix21_file_round_trips_losslessly(relpath: str, accord: Run, tmp_path: Path) -> None:
    path = shared_data(relpath)
    result = accord("import", str(path))
    assert result.exit_code == 0, result.stderr[:2000]
    assert "refused 0" in result.stdout
    out = tmp_path / "export.json"
    assert accord("export", "-o", str(out)).exit_code == 0
    exported = orjson.loads(out.read_bytes())["objects"]
    expected = distinct_versions(objects_of(path))
    assert len(exported) == len(expected)
    assert exported == expected
    # a second import changes nothing
    again = accord("import", str(path))
    assert again.exit_code == 0
    assert "stored 0" in again.stdout


@pytest.mark.parametrize("relpath", [
    "oasis-cti-stix2-json-schemas/examples/threat-reports/poisonivy.json",
    "amnesty-investigations/2021-07-18_nso/pegasus.stix2",
    "oasis-cti-documentation/examples/example_json/using-granular-markings.json",
])
def test_exports_hold_up_in_stix2_and_stix2_validator(relpath: str, accord: Run, tmp_path: Path) -> None:
    import stix2
    from stix2validator import ValidationOptions, validate_string

    path = shared_data(relpath)
    accord("import", str(path))
    out = tmp_path / "export.json"
    accord("export", "-o", str(out))
    options = ValidationOptions(version="2.1", strict=False)

    def error_count(text: str) -> int:
        # For a bundle, stix2-validator returns one result holding every object's errors.
        return len(validate_string(text, options).errors)

    assert error_count(out.read_text(encoding="utf-8")) <= error_count(path.read_text(encoding="utf-8"))
    bundle = stix2.parse(out.read_text(encoding="utf-8"), allow_custom=True)
    assert len(bundle.objects) == len(distinct_versions(objects_of(path)))


def test_stix20_attack_enterprise_imports_with_upgrade(accord: Run) -> None:
    root = shared_data("mitre-cti", "enterprise-attack")
    files = sorted(root.rglob("*.json"))
    expected = len({version_of(o) for f in files for o in objects_of(f)})
    result = accord("import", str(root))
    assert result.exit_code == 0, result.stderr[:2000]
    assert stored_total(accord) == expected
    for obj in orjson.loads(accord("export", "--type", "malware").stdout)["objects"][:50]:
        assert obj["spec_version"] == "2.1"
        assert "is_family" in obj


def test_stix20_unit42_reports_import_with_upgrade(accord: Run) -> None:
    """Unit 42's report bundles upgrade and import; the three objects that are wrong in the
    source itself are refused, each with the precise reason, and nothing else is."""
    root = shared_data("unit42-iocs", "stix2-reports", "report_json")
    result = accord("import", str(root))
    assert result.exit_code == 1
    assert "upgraded from STIX 2.0" in result.stdout
    refused = sorted(line.strip() for line in result.stderr.splitlines() if "refused:" in line)
    assert refused == sorted([
        # the producer's own 2.0 data says first_seen 2023-03-14 but last_seen earlier
        "refused: campaign--16efdab8-cb72-4a4a-b463-0a2a7e739d94 property 'last_seen': "
        "must be equal to or later than first_seen",
        # identity_class given as a list
        "refused: identity--57d5873e-086d-49d3-b4c0-5d368e3849fc property 'identity_class': must be a string",
        # test.json re-publishes an attack-pattern under the same modified with other content
        "refused: attack-pattern--2b742742-28c3-4e1b-bab7-8350d6300fa7 property 'modified': this version is "
        "already stored with different content; a changed object needs a new 'modified' timestamp",
    ])
    assert stored_total(accord) > 1000
