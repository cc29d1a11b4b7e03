"""Store administration: ``accord init``."""

from __future__ import annotations

import click

from accord.cli.context import NodeContext
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


COMMANDS = [init]
