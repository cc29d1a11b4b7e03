"""Shared fixtures: the real-data folder, a fresh SQLite store per test, a fixed clock."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from accord.storage.sqlite import SQLiteStore

SHARED_DATA = Path(os.environ.get("ACCORD_SHARED_DATA",
                                  Path(__file__).resolve().parents[1].parent / "shared" / "data"))
FIXTURES = Path(__file__).parent / "data"


def shared_data(*parts: str) -> Path:
    """A path under ../shared/data; skips the test (with the reason) when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not available: {path} is missing (set ACCORD_SHARED_DATA)")
    return path


class StepClock:
    """A clock that starts at a fixed instant and moves 1 ms per reading: deterministic date_added."""

    def __init__(self, start: int = 1_764_000_000_000_000):
        self.now = start

    def __call__(self) -> int:
        self.now += 1000
        return self.now


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An initialised SQLite database file, migrated once per session; copy it for a fresh store."""
    path = tmp_path_factory.mktemp("template") / "accord.db"
    store = SQLiteStore(f"sqlite:///{path}")
    store.initialise()
    store.close()
    return path


@pytest.fixture
def clock() -> StepClock:
    return StepClock()


@pytest.fixture
def sqlite_store(tmp_path: Path, clock: StepClock) -> Iterator[SQLiteStore]:
    store = SQLiteStore(f"sqlite:///{tmp_path / 'accord.db'}", clock=clock)
    store.initialise()
    yield store
    store.close()
