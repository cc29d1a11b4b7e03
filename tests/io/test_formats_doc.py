"""docs/formats.md keeps up with the code: every registered format, and every option it declares,
is named there (a new format or option without documentation fails here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from accord.services.formats import registry

DOC = (Path(__file__).resolve().parents[2] / "docs" / "formats.md").read_text(encoding="utf-8")


def _formats() -> list[tuple[str, str, dict[str, str]]]:
    reg = registry()
    return ([("import", name, dict(imp.options)) for name, imp in reg.importers.items()]
            + [("export", name, dict(exp.options)) for name, exp in reg.exporters.items()])


@pytest.mark.parametrize(("kind", "name", "options"), _formats(), ids=lambda v: v if isinstance(v, str) else "")
def test_format_and_its_options_are_documented(kind: str, name: str, options: dict[str, str]) -> None:
    assert f"| `{name}` |" in DOC, f"{kind} format {name!r} is missing from the table in docs/formats.md"
    missing = [option for option in options if f"`{option}" not in DOC and f" {option}=" not in DOC]
    assert not missing, f"{kind} format {name!r}: options {missing} are not in docs/formats.md"
