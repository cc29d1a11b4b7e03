"""docs/cli.md is exactly what the commands say about themselves."""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import accord.cli
from accord.cli.main import cli
from accord.cli.reference import render

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def test_cli_reference_is_current() -> None:
    assert DOC.read_text(encoding="utf-8") == render(cli), (
        "docs/cli.md is stale: run `python -m accord.cli.reference > docs/cli.md`"
    )


def test_each_command_loads_with_exactly_the_modules_the_table_names() -> None:
    """cli/main.py imports a command's modules only when the command is used, from its table: a
    module left out (or a command renamed) would make a command or subcommand vanish without an
    error. Each command, loaded alone in a fresh interpreter, has the whole tree of subcommands
    it has when every command module is loaded."""
    def tree(names: list[str], preload: bool) -> dict[str, object]:
        script = (
            "import json, pkgutil, importlib, click, accord.cli\n"
            "from accord.cli.main import cli\n"
            f"if {preload}:\n"
            "    for i in pkgutil.iter_modules(accord.cli.__path__):\n"
            "        if i.name != '__main__': importlib.import_module('accord.cli.' + i.name)\n"
            "def t(c):\n"
            "    return {n: t(s) for n, s in c.commands.items()} if isinstance(c, click.Group) else None\n"
            "ctx = click.Context(cli)\n"
            f"print(json.dumps({{n: t(cli.get_command(ctx, n)) for n in {names!r}}}))\n")
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
        found: dict[str, object] = json.loads(done.stdout)
        return found

    from accord.cli.main import COMMAND_MODULES

    names = sorted(COMMAND_MODULES)
    everything = tree(names, preload=True)
    for name in names:
        assert tree([name], preload=False)[name] == everything[name], name
    defined = set()
    for info in pkgutil.iter_modules(accord.cli.__path__):
        if info.name != "__main__":
            defined |= {c.name for c in getattr(importlib.import_module(f"accord.cli.{info.name}"), "COMMANDS", ())}
    assert defined == set(names)


def test_a_mistyped_command_gets_the_nearest_name_though_its_module_is_not_loaded() -> None:
    done = subprocess.run([sys.executable, "-m", "accord.cli", "agre"], capture_output=True, text=True)
    assert done.returncode == 2
    assert "No such command 'agre'" in done.stderr and "Did you mean 'agreement'?" in done.stderr
