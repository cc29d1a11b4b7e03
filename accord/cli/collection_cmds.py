"""Collections and who may use them: ``accord collection``."""

from __future__ import annotations

import click

from accord.cli.context import NodeContext
from accord.stix.markings import TLP_LEVELS


@click.group()
def collection() -> None:
    """TAXII collections and the organisations that may read or write them."""


@collection.command("add")
@click.argument("title")
@click.option("--description", help="What the collection holds.")
@click.option("--default-tlp", type=click.Choice(TLP_LEVELS), default="amber", show_default=True,
              help="TLP applied to objects in it that carry no TLP marking.")
@click.option("--alias", help="A short name usable wherever a collection id is.")
@click.pass_obj
def collection_add(node: NodeContext, title: str, description: str | None, default_tlp: str,
                   alias: str | None) -> None:
    """Add a collection and print its id."""
    added = node.store().add_collection(title, description=description, default_tlp=default_tlp, alias=alias)
    click.echo(added.id)


@collection.command("list")
@click.pass_obj
def collection_list(node: NodeContext) -> None:
    """List collections with their grants."""
    store = node.store()
    for c in store.collections():
        grants = ", ".join(f"{g.org_name}:{'r' if g.can_read else ''}{'w' if g.can_write else ''}"
                           for g in store.grants(c))
        click.echo(f"{c.id}\t{c.alias or '-'}\t{c.title}\tdefault TLP {c.default_tlp}\t{grants or 'no grants'}")


@collection.command("grant")
@click.argument("collection_ref", metavar="ID")
@click.argument("org_name", metavar="ORG")
@click.option("--read", "can_read", is_flag=True, help="ORG may read the collection.")
@click.option("--write", "can_write", is_flag=True, help="ORG may add objects to it.")
@click.pass_obj
def collection_grant(node: NodeContext, collection_ref: str, org_name: str, can_read: bool, can_write: bool) -> None:
    """Let ORG read and/or write collection ID (replaces ORG's previous grant)."""
    if not (can_read or can_write):
        raise click.UsageError("say what to grant: --read, --write or both")
    store = node.store()
    grant = store.set_grant(store.get_collection(collection_ref), org_name, can_read=can_read, can_write=can_write)
    click.echo(f"{grant.org_name}: read={'yes' if grant.can_read else 'no'} write={'yes' if grant.can_write else 'no'}")


@collection.command("revoke")
@click.argument("collection_ref", metavar="ID")
@click.argument("org_name", metavar="ORG")
@click.pass_obj
def collection_revoke(node: NodeContext, collection_ref: str, org_name: str) -> None:
    """Remove ORG's grant on collection ID."""
    store = node.store()
    store.remove_grant(store.get_collection(collection_ref), org_name)
    click.echo(f"{org_name}: no access")


COMMANDS = [collection]
