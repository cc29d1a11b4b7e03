"""Run the real `accord` command in-process against a fresh SQLite database."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner, Result

from accord.cli.main import cli

Run = Callable[..., Result]


@pytest.fixture
def db_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL per backend: a fresh SQLite file, or a fresh PostgreSQL database."""
    if backend == "postgres":
        url: str = request.getfixturevalue("pg_url")
        return url
    return f"sqlite:///{tmp_path / 'node' / 'accord.db'}"


@pytest.fixture
def accord(db_url: str) -> Run:
    """``accord(*args, input=...)`` runs the command with --db set; the store is initialised."""
    runner = CliRunner()

    def run(*args: str, input: bytes | str | None = None) -> Result:
        return runner.invoke(cli, ["--db", db_url, *args], input=input, catch_exceptions=False)

    assert run("init").exit_code == 0
    return run


def stored_total(accord: Run) -> int:
    result = accord("stats", "--json")
    assert result.exit_code == 0, result.output
    total: int = orjson.loads(result.stdout)["versions"]
    return total
