"""The schema revision the code checks against is the newest migration script."""

from __future__ import annotations

from accord.storage import migrate


def test_head_constant_matches_the_scripts() -> None:
    assert migrate.scripts_head() == migrate.HEAD, "bump migrate.HEAD when adding a migration"
