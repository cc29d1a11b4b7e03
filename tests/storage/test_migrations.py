"""The schema revision the code checks against is the newest migration script."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from accord.storage import migrate


def test_head_constant_matches_the_scripts() -> None:
    assert migrate.scripts_head() == migrate.HEAD, "bump migrate.HEAD when adding a migration"


def _engine(url: str) -> Any:
    import sqlalchemy as sa

    return sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))


def _at_revision(backend: str, request: Any, tmp_path: Path, revision: str) -> tuple[str, Any]:
    """A fresh store of ``backend`` taken down to ``revision``: its URL and an engine on it."""
    from alembic import command

    from accord.storage import open_store

    url = request.getfixturevalue("pg_url") if backend == "postgres" else f"sqlite:///{tmp_path / 'm.db'}"
    store = open_store(url)
    store.initialise()
    store.close()
    engine = _engine(url)
    cfg = migrate._config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)
    return url, engine


def test_0017_indexes_by_object_the_items_already_in_the_log_and_goes_back(backend: str, request: Any,
                                                                           tmp_path: Path) -> None:
    """Migration 0017 moves the by-object index of audit items into audit_object_index, filled
    behind the appends: the items a log already holds must come out indexed, with the watermark
    at the newest entry, and a downgrade must give the old index back."""
    from alembic import command

    _, engine = _at_revision(backend, request, tmp_path, "0016")
    cfg = migrate._config()
    try:
        with engine.begin() as conn:
            for seq in (1, 2, 3):
                conn.exec_driver_sql(
                    "INSERT INTO audit_log (seq, at, actor, action, detail, prev_hash, hash) "
                    f"VALUES ({seq}, 0, 'a', 'receive', '{{}}', '', '')")
            conn.exec_driver_sql("INSERT INTO audit_items (seq, stix_id, version, recipient, owner) VALUES "
                                 "(1, 'x--1', 'v1', 'b', 'a'), (1, 'x--1', 'v2', 'b', 'a'), "
                                 "(1, 'x--2', 'v1', 'b', 'a'), (3, 'x--1', 'v1', 'c', 'a')")
        migrate.upgrade(engine)
        with engine.connect() as conn:
            indexed = conn.exec_driver_sql("SELECT stix_id, seq FROM audit_object_index ORDER BY stix_id, seq").all()
            through = conn.exec_driver_sql("SELECT indexed_through FROM audit_index_state").scalar()
        assert [tuple(r) for r in indexed] == [("x--1", 1), ("x--1", 3), ("x--2", 1)]
        assert through == 3
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0016")
        import sqlalchemy as sa

        with engine.connect() as conn:
            names = {ix["name"] for ix in sa.inspect(conn).get_indexes("audit_items")}
            assert {"ix_audit_items_object", "ix_audit_items_entry"} <= names
            assert not sa.inspect(conn).has_table("audit_object_index")
    finally:
        engine.dispose()


def test_an_upgrade_that_fails_half_way_changes_nothing_and_can_be_run_again(
        backend: str, request: Any, tmp_path: Path, monkeypatch: Any) -> None:
    """An upgrade is one transaction, DDL included: on SQLite a table created before the failure
    used to stay (sqlite3 ran CREATE TABLE outside the transaction), at the old revision, and
    every later `accord init` then failed on it."""
    import sqlalchemy as sa
    from alembic import op

    from accord.errors import StorageError
    from accord.storage import open_store

    url, engine = _at_revision(backend, request, tmp_path, "0016")
    try:
        engine.dispose()

        def interrupted(*args: object, **kwargs: object) -> None:
            raise RuntimeError("interrupted")  # after 0017 created its tables and filled them

        failing = _engine(url)
        with monkeypatch.context() as patched:
            patched.setattr(op, "drop_index", interrupted)
            with pytest.raises((StorageError, RuntimeError)):
                migrate.upgrade(failing)
        failing.dispose()
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == "0016"
            assert not sa.inspect(conn).has_table("audit_object_index")
            assert not sa.inspect(conn).has_table("audit_index_state")
        store = open_store(url)
        store.initialise()  # `accord init` again: the whole upgrade, this time to the end
        assert store.schema_revision() == migrate.HEAD
        store.close()
    finally:
        engine.dispose()
