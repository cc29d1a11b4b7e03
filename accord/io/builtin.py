"""Accord's own formats, registered through the ``accord.formats`` entry point like any plugin.

Every module of ``accord.io`` that defines ``register(registry)`` is a built-in format; adding
a format is adding such a module. Modules import their heavy libraries (misp-stix, pymisp,
warninglists) inside the functions that use them, so listing formats stays cheap.
"""

from __future__ import annotations

import importlib
import pkgutil

import accord.io
from accord.services.formats import FormatRegistry

# Modules of accord.io that are infrastructure, not formats.
NOT_FORMATS = frozenset({"builtin"})


def register(registry: FormatRegistry) -> None:
    for info in sorted(pkgutil.iter_modules(accord.io.__path__), key=lambda m: m.name):
        if info.name in NOT_FORMATS or info.name.startswith("_"):
            continue
        name = f"accord.io.{info.name}"
        try:
            module = importlib.import_module(name)
        except Exception as exc:  # one broken format must not take the others (or the CLI) down
            registry.record_broken(name, exc)
            continue
        hook = getattr(module, "register", None)
        if callable(hook):
            try:
                hook(registry)
            except Exception as exc:
                registry.record_broken(name, exc)
