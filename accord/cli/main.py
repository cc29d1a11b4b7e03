"""The ``accord`` command: one group, its subcommands in modules of one concept each.

Errors from the domain (accord.errors) are turned into a message on stderr and exit status 1
here, once; usage errors exit 2 (click's convention). A new command module lists its commands
in ``COMMANDS`` and each command's name in :data:`COMMAND_MODULES` below.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from accord import __version__
from accord.cli.context import NodeContext
from accord.errors import AccordError

# The modules (in accord.cli) of each command: the first defines it, any others add subcommands
# to it (overlap_cmds adds `agreement overlap-key` and `peer overlap`). A command's modules, and
# what they import (the HTTP client, the server, the web UI), load when that command runs or a
# listing needs it: importing every module made each `accord import` start with ~0.3 s of imports
# it never used. tests/cli/test_reference.py checks this table against the modules.
COMMAND_MODULES: dict[str, tuple[str, ...]] = {
    "init": ("store_cmds",), "db": ("store_cmds",),
    "import": ("transfer",), "export": ("transfer",),
    "stats": ("stats_cmd",),
    "collection": ("collection_cmds",),
    "org": ("identity_cmds",), "user": ("identity_cmds",), "token": ("identity_cmds",),
    "agreement": ("sharing_cmds", "overlap_cmds"), "publish": ("sharing_cmds",), "retract": ("sharing_cmds",),
    "audit": ("audit_cmds",),
    "peer": ("federation_cmds", "overlap_cmds"), "sync": ("federation_cmds",),
    "lookup": ("lookup_cmds",),
    "overlap": ("overlap_cmds",),
    "sighting": ("sighting_cmds",),
    "alert": ("alert_cmds",),
    "serve": ("serve_cmd",),
}


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

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMAND_MODULES, *self.commands})

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[str | None, click.Command | None,
                                                                          list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except click.exceptions.NoSuchCommand as exc:
            # click suggests a near name from the commands loaded so far: give it all of them.
            raise click.exceptions.NoSuchCommand(exc.command_name, possibilities=self.list_commands(ctx),
                                                 ctx=ctx) from None

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands:
            for module in COMMAND_MODULES.get(cmd_name, ()):
                for command in importlib.import_module(f"accord.cli.{module}").COMMANDS:
                    self.commands.setdefault(command.name or "", command)
        return self.commands.get(cmd_name)


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


def main() -> None:
    try:
        cli.main(prog_name="accord")
    except BrokenPipeError:
        # `accord export | head`: the reader left early; that is not an error of ours.
        sys.stderr.close()
        sys.exit(0)
