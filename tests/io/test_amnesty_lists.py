"""Amnesty's plain text lists (one value per line) import with nothing lost: as a headerless CSV
with a typed column (the exact route) and through the text importer (every domain extracted)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from tests.conftest import shared_data
from tests.io.conftest import Run

pytestmark = pytest.mark.realdata


def _values(path: Path) -> set[str]:
    return {line.strip().lower() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()}


def _indicator_values(accord: Run) -> set[str]:
    exported = accord("export", "--format", "csv")
    assert exported.exit_code == 0, exported.output
    rows = exported.stdout.splitlines()[1:]
    return {row.split(",")[3].lower() for row in rows if ",indicator," in row}


@pytest.mark.parametrize("name", ["domains.txt", "v4_validation_domains.txt"])
def test_a_domain_list_as_csv_imports_every_line(accord: Run, name: str) -> None:
    path = shared_data("amnesty-investigations", "2021-07-18_nso", name)
    expected = _values(path)
    result = accord("import", "--format", "csv", "-O", "header=false", "--map", "0:domain", "-O", "date=2021-07-18",
                    "-O", "source=amnesty-nso", str(path))
    assert result.exit_code == 0, result.output
    indicators = _indicator_values(accord)
    assert indicators | _noted(result.stderr) >= expected  # each line an indicator, or noted as benign
    assert len(indicators & expected) >= 0.95 * len(expected)


def _noted(stderr: str) -> set[str]:
    """Values the import reported as warninglisted (kept as observables, not indicators)."""
    return {word.strip(",.;:'\"").lower() for line in stderr.splitlines() if "note:" in line for word in line.split()}


def test_the_text_importer_finds_every_domain_of_a_list(accord: Run) -> None:
    path = shared_data("amnesty-investigations", "2021-07-18_nso", "v4_validation_domains.txt")
    expected = _values(path)
    result = accord("import", "--format", "text", "--dry-run", str(path))
    assert result.exit_code == 0, result.output
    bundle = orjson.loads(result.stdout)
    found = {o["value"].lower() for o in bundle["objects"] if o["type"] == "domain-name"}
    assert found | _noted(result.stderr) >= expected
    assert len(found & expected) >= 0.9 * len(expected)
