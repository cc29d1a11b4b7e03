"""Store administration: ``accord init`` and ``accord db``."""

from __future__ import annotations

import click

from accord.cli.context import NodeContext
from accord.storage import migrate
from accord.storage.base import DEFAULT_COLLECTION_ALIAS


@click.command()
@click.pass_obj
def init(node: NodeContext) -> None:
    """Create the store, or upgrade its schema; safe to run again.

    Also creates the default TAXII API root and the default collection, which imports use
    when no --collection is given.
    """
    store = node.store(check_schema=False)
    store.initialise()
    default = store.get_collection(DEFAULT_COLLECTION_ALIAS)
    click.echo(f"store ready: {store.url}")
    click.echo(f"default collection: {default.id} ({default.title})")


@click.group()
def db() -> None:
    """The database schema: which revision it is at, and upgrading it."""


@db.command("current")
@click.pass_obj
def db_current(node: NodeContext) -> None:
    """Print the schema revision of the database and the one this Accord expects.

    Exits 1 when they differ (run `accord db upgrade`).
    """
    store = node.store(check_schema=False)
    current = store.schema_revision()
    click.echo(f"database: {current or 'no Accord schema'}")
    click.echo(f"expected: {migrate.HEAD}")
    if current != migrate.HEAD:
        raise SystemExit(1)


@db.command("upgrade")
@click.pass_obj
def db_upgrade(node: NodeContext) -> None:
    """Upgrade the schema to the revision this Accord expects (what `accord init` does too)."""
    store = node.store(check_schema=False)
    before = store.schema_revision()
    store.initialise()
    click.echo(f"schema: {before or 'none'} -> {store.schema_revision()}")


COMMANDS = [init, db]
