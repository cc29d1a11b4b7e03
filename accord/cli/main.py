"""The ``accord`` command: one group, subcommands registered from modules of one concept each.

Errors from the domain (accord.errors) are turned into a message on stderr and exit status 1
here, once; usage errors exit 2 (click's convention). Later issues add command modules
(serve, org, user, token, collection, agreement, audit, peer, sync) the same way.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from accord import __version__
from accord.cli import (
    alert_cmds,
    audit_cmds,
    collection_cmds,
    federation_cmds,
    identity_cmds,
    lookup_cmds,
    overlap_cmds,
    serve_cmd,
    sharing_cmds,
    sighting_cmds,
    stats_cmd,
    store_cmds,
    transfer,
)
from accord.cli.context import NodeContext
from accord.errors import AccordError


class DomainError(click.ClickException):
    """A domain error on its way out: message on stderr, exit status 1."""

    exit_code = 1

    def show(self, file: Any = None) -> None:
        click.echo(f"accord: error: {self.message}", err=True)


class AccordGroup(click.Group):
    """The command group; translates Accord's domain errors at this one boundary."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AccordError as exc:
            raise DomainError(str(exc)) from exc


@click.group(cls=AccordGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--db", "database_url", metavar="URL", envvar="ACCORD_DATABASE_URL",
              help="Database URL (sqlite:///PATH). Also read from ACCORD_DATABASE_URL; "
                   "default: accord.db in the data directory.")
@click.option("--config", "config_file", metavar="FILE", type=click.Path(dir_okay=False),
              help="TOML settings file (also ACCORD_CONFIG).")
@click.version_option(__version__, prog_name="accord")
@click.pass_context
def cli(ctx: click.Context, database_url: str | None, config_file: str | None) -> None:
    """Accord: exchange STIX 2.1 threat intelligence with partner nodes under enforced agreements.

    Commands act as the node operator, who has direct access to the database.
    """
    ctx.obj = NodeContext(database_url=database_url, config_file=config_file)
    ctx.call_on_close(ctx.obj.close)


for module in (store_cmds, transfer, stats_cmd, collection_cmds, identity_cmds, sharing_cmds, audit_cmds,
               federation_cmds, lookup_cmds, overlap_cmds, sighting_cmds, alert_cmds, serve_cmd):
    for command in module.COMMANDS:
        cli.add_command(command)


def main() -> None:
    try:
        cli.main(prog_name="accord")
    except BrokenPipeError:
        # `accord export | head`: the reader left early; that is not an error of ours.
        sys.stderr.close()
        sys.exit(0)
