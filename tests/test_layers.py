"""The dependency rule of docs/architecture.md, checked on every import statement in accord/.

    stix, audit  <-  storage  <-  policy  <-  services  <-  {io, sync, taxii, api, web, cli}

A package may import its own modules, the leaf modules (errors, settings) and the layers below
it; the outer packages never import each other; only app.py (the wiring) imports anything. So
a REST handler cannot reach for an exporter module, or the policy gate for a TAXII helper, and
the place a change belongs stays obvious.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "accord"
LEAVES = {"errors", "settings"}
LAYERS = [{"stix", "audit"}, {"storage"}, {"policy"}, {"services", "telemetry"},
          {"io", "sync", "taxii", "api", "web", "cli"}]
WIRING = {"app", "__init__"}
RANK = {part: rank for rank, layer in enumerate(LAYERS) for part in layer}
# Only these name a concrete storage backend; everything else receives a Store.
BACKEND_OPENERS = {"app", "cli", "storage"}


def _part(module: str) -> str:
    return module.split(".")[1]


def _imports() -> list[tuple[str, str, int]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            found.extend((module, name, node.lineno) for name in names
                         if name.startswith("accord.") and name.count(".") >= 1)
    return found


def test_every_part_has_a_layer() -> None:
    parts = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
             if (p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists()))}
    assert parts - LEAVES - WIRING - set(RANK) == set()


def test_imports_follow_the_dependency_rule() -> None:
    broken = []
    for module, imported, line in _imports():
        source, target = _part(module), _part(imported)
        if source == target or target in LEAVES or source in WIRING:
            continue
        if source in LEAVES or RANK.get(target, -1) >= RANK.get(source, -1):
            broken.append(f"{module}:{line} imports {imported}")
    assert broken == []


@pytest.mark.parametrize("backend", ["accord.storage.sqlite", "accord.storage.postgres", "accord.storage.open_store"])
def test_only_the_wiring_names_a_concrete_backend(backend: str) -> None:
    users = {module for module, imported, _ in _imports() if imported.startswith(backend)}
    assert {_part(m) for m in users} <= BACKEND_OPENERS
