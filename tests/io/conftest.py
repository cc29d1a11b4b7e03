"""Format tests run the real ``accord`` command on SQLite: formats do not touch storage, so the
storage contract suite (both backends) already covers what lies under them."""

from __future__ import annotations

import pytest

from tests.cli.conftest import Run, accord, db_url, stored_total

__all__ = ["Run", "accord", "db_url", "stored_total"]


@pytest.fixture
def backend() -> str:
    return "sqlite"
