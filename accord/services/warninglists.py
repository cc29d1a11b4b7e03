"""Known-benign values, from MISP's warninglists (the ``pymispwarninglists`` package's copy).

Public DNS resolvers, top-million domains, hashes of empty files, documentation address
ranges: values that show up in reports and feeds but must not become blocking indicators.
Importers flag them instead of importing them as indicators; exporters of blocklists leave
them out unless asked; lookup (services/lookup.py) names the lists a value is on. Loading the
lists takes seconds, so it happens once per process, on first use.
"""

from __future__ import annotations

import threading
from typing import Any

_lock = threading.Lock()
_lists: Any = None


def _loaded() -> Any:
    global _lists
    with _lock:
        if _lists is None:
            from pymispwarninglists.api import WarningLists

            # slow_search=False: exact, CIDR and hostname-suffix matching per list type, which
            # is what each list declares; the slow mode substring-matches every list.
            _lists = WarningLists(slow_search=False)
        return _lists


def benign(value: str) -> list[str]:
    """Names of the warninglists ``value`` is on (empty when it is on none)."""
    value = value.strip()
    if not value:
        return []
    return sorted({hit.name for hit in _loaded().search(value)})
