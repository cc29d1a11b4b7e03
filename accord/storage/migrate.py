"""Schema migrations: Alembic, run programmatically so ``accord init`` needs no alembic.ini.

The same migration scripts serve SQLite and PostgreSQL. Every command but ``init`` only needs
to know that the database is at the revision this code expects; that check reads the
``alembic_version`` table directly against :data:`HEAD`, so ordinary commands do not pay for
importing SQLAlchemy and Alembic (a third of a second). ``tests/storage/test_migrations.py``
keeps :data:`HEAD` equal to the newest script.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from accord.errors import NotInitialisedError, StorageError

if TYPE_CHECKING:
    import sqlalchemy as sa
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
# The newest revision in migrations/versions/: bump it with every new migration script.
# The chain is 0001 -> ... -> 0008 -> 0011 -> 0010 -> 0009 -> 0012 -> ... -> 0017: three scripts written
# side by side were chained in the order they landed (revision ids are names, not positions).
HEAD = "0017"


def _config() -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def scripts_head() -> str:
    """The newest revision as Alembic reads it from the scripts (for the test that checks HEAD)."""
    from alembic.script import ScriptDirectory

    rev = ScriptDirectory.from_config(_config()).get_current_head()
    assert rev is not None
    return rev


def _driver_autocommit(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # sqlite3 begins nothing by itself: _begin_immediate does


def _begin_immediate(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _transactional_sqlite(engine: sa.Engine) -> None:
    """Make an upgrade on SQLite one transaction, DDL included. Left to itself, Python's sqlite3
    opens a transaction only before INSERT, UPDATE or DELETE, so a migration's CREATE TABLE ran
    (and stayed) outside it: an upgrade that failed half-way (interrupted, disk full) left new
    tables behind at the old revision, and every later `accord init` failed on them. SQLite
    itself rolls DDL back like anything else, once it is inside the transaction."""
    from sqlalchemy import event

    if not event.contains(engine, "connect", _driver_autocommit):
        event.listen(engine, "connect", _driver_autocommit)
        event.listen(engine, "begin", _begin_immediate)


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    """Upgrade the schema to ``revision`` in one transaction, on either backend."""
    import sqlalchemy as sa
    from alembic import command

    if engine.dialect.name == "sqlite":
        _transactional_sqlite(engine)
    cfg = _config()
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    except sa.exc.SQLAlchemyError as exc:
        raise StorageError(f"migration failed: {exc}") from exc


def check_revision(current: str | None) -> None:
    """Refuse a database whose schema revision is missing or is not the one this code expects."""
    if current is None:
        raise NotInitialisedError("the database has no Accord schema: run `accord init` first")
    if current != HEAD:
        raise NotInitialisedError(
            f"the database schema is at revision {current}, this Accord expects {HEAD}: run `accord init`"
        )
