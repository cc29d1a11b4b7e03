"""Schema migrations: Alembic, run programmatically so ``accord init`` needs no alembic.ini.

The same migration scripts serve SQLite and PostgreSQL. ``head()`` is read from the scripts,
``current()`` from the database, and the store refuses to open a database whose revision is
not the head (run ``accord init`` to upgrade).
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from accord.errors import NotInitialisedError, StorageError

MIGRATIONS = Path(__file__).parent / "migrations"


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head() -> str:
    rev = ScriptDirectory.from_config(_config()).get_current_head()
    assert rev is not None
    return rev


def current(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    cfg = _config()
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    except sa.exc.SQLAlchemyError as exc:
        raise StorageError(f"migration failed: {exc}") from exc


def check_current(engine: sa.Engine) -> None:
    rev = current(engine)
    if rev is None:
        raise NotInitialisedError("the database has no Accord schema: run `accord init` first")
    if rev != head():
        raise NotInitialisedError(
            f"the database schema is at revision {rev}, this Accord expects {head()}: run `accord init`"
        )
