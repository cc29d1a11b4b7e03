"""``accord stats``: what the store holds, by type, collection and marking."""

from __future__ import annotations

import click
import orjson

from accord.cli.context import NodeContext


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.pass_obj
def stats(node: NodeContext, as_json: bool) -> None:
    """Count stored object versions by type, collection and TLP marking."""
    s = node.store().stats()
    if as_json:
        click.echo(orjson.dumps({
            "versions": s.total_versions, "by_type": s.by_type, "by_collection": s.by_collection,
            "by_tlp": s.by_tlp, "observables": s.observables,
        }, option=orjson.OPT_INDENT_2).decode())
        return
    click.echo(f"object versions: {s.total_versions}")
    click.echo(f"indexed observables: {s.observables}")
    for title, counts in (("by type", s.by_type), ("by collection", s.by_collection), ("by TLP", s.by_tlp)):
        click.echo(f"{title}:")
        width = max((len(k) for k in counts), default=0)
        for key, n in counts.items():
            click.echo(f"  {key:<{width}}  {n:>10}")


COMMANDS = [stats]
