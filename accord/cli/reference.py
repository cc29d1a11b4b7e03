"""Render the CLI reference (docs/cli.md) from the commands themselves.

``python -m accord.cli.reference > docs/cli.md`` regenerates it; ``tests/cli/test_reference.py``
fails when the file and the code disagree, so the reference cannot go stale.
"""

from __future__ import annotations

import click

INTRO = """# CLI reference

Generated from the code by `python -m accord.cli.reference > docs/cli.md`; a test fails when
this file and the commands disagree. Every command accepts `-h`/`--help`.

Exit status: 0 on success; 1 when something was refused or failed (the message on stderr says
what, and for objects which id, which property and why); 2 for a usage error.
"""


def _help(command: click.Command, path: list[str]) -> str:
    # A fixed width, so the reference does not depend on the terminal that generated it.
    ctx = click.Context(command, info_name=" ".join(path), terminal_width=100, max_content_width=100,
                        help_option_names=["-h", "--help"])
    return command.get_help(ctx)


def render(root: click.Group) -> str:
    parts = [INTRO, "## accord\n", "```text", _help(root, ["accord"]), "```\n"]
    ctx = click.Context(root, info_name="accord")
    for name in root.list_commands(ctx):
        command = root.get_command(ctx, name)
        assert command is not None, name
        parts += [f"## accord {name}\n", "```text", _help(command, ["accord", name]), "```\n"]
        parts += _subcommands(command, ["accord", name])
    return "\n".join(parts)


def _subcommands(command: click.Command, path: list[str]) -> list[str]:
    """A group's commands, one heading level deeper per level (accord alert rule add)."""
    parts: list[str] = []
    if isinstance(command, click.Group):
        for sub in sorted(command.commands):
            here = [*path, sub]
            parts += [f"{'#' * len(here)} {' '.join(here)}\n", "```text",
                      _help(command.commands[sub], here), "```\n"]
            parts += _subcommands(command.commands[sub], here)
    return parts


if __name__ == "__main__":
    from accord.cli.main import cli

    print(render(cli), end="")
