"""docs/cli.md is exactly what the commands say about themselves."""

from __future__ import annotations

from pathlib import Path

from accord.cli.main import cli
from accord.cli.reference import render

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def test_cli_reference_is_current() -> None:
    assert DOC.read_text(encoding="utf-8") == render(cli), (
        "docs/cli.md is stale: run `python -m accord.cli.reference > docs/cli.md`"
    )
