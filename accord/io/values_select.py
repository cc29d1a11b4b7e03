"""What exporters of bare values (CSV, blocklists, Suricata rules, MVT) take from STIX objects.

- :func:`kind_values`: the values an indicator's pattern compares with ``=`` or ``IN`` (or an
  observable holds), by kind of accord/io/indicators.py; for detection formats only patterns
  whose values each indicate on their own (one observation, or observations joined by OR).
- :func:`skip_reason`: revoked indicators and those past ``valid_until`` are not exported.
- :class:`LatestSpool`: the newest version of each object (STIX 2.1 section 3.6: the greatest
  ``modified``), spooled to a temporary SQLite file so memory stays flat however large the
  export; exports that need the latest state (a revocation wins over the version before it)
  read through it.
"""

from __future__ import annotations

import re
import sqlite3
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from accord.io.indicators import KINDS, Kind, values_of
from accord.stix.observables import observables_of
from accord.stix.patterns import Path as PropertyPath
from accord.stix.patterns import fast_comparisons, reference_comparisons, split_path
from accord.stix.timestamps import parse_to_micros, timestamp_key

_BY_INDEX_TYPE = {k.index_type: k for k in KINDS.values()}
_SCO_TYPES = frozenset(k.sco_type for k in KINDS.values())
_STRING = re.compile(r"'(?:[^'\\]|\\.)*'", re.DOTALL)
_ESCAPED = re.compile(r"\\(['\\])")
# Outside string literals: observations joined by AND or FOLLOWEDBY (all must be seen, so no one
# value indicates alone), qualifiers (a count or a time window), negation and inequalities.
_NOT_ALONE = re.compile(r"\][\s)]*(?:AND|FOLLOWEDBY)\b|\b(?:WITHIN|REPEATS|START|STOP|NOT)\b|!=|<>")


def values_indicate_alone(pattern: str) -> bool:
    """Whether each value ``pattern`` compares with ``=`` indicates on its own: one observation
    (its comparisons describe one object, as misp-stix writes ``network-traffic`` with a type and
    an address), or observations joined by OR, without qualifiers or negation."""
    return not _NOT_ALONE.search(_STRING.sub("''", pattern))


def equalities(pattern: str) -> list[tuple[str, PropertyPath, str]]:
    """(object type, property path, string value) of every ``=`` and ``IN`` comparison of a valid
    pattern, for formats whose vocabulary reaches past Accord's kinds (MVT's ``process:name``)."""
    fast = fast_comparisons(pattern)
    comparisons = (list(reference_comparisons(pattern)) if fast is None
                   else [(stype, split_path(path), op, literal) for stype, path, op, literal in fast])
    out: list[tuple[str, PropertyPath, str]] = []
    for stype, path, op, literal in comparisons:
        if op in ("=", "=="):
            texts = [literal]
        elif op == "IN":
            texts = _STRING.findall(literal)
        else:
            continue
        out.extend((stype, path, _ESCAPED.sub(r"\1", text[1:-1])) for text in texts if text.startswith("'"))
    return out


def kind_values(obj: Mapping[str, Any], *, disjunctive_only: bool,
                observables: bool = True) -> tuple[list[tuple[Kind, str]], str | None]:
    """The (kind, canonical value) pairs of an indicator or observable, or ([], why not)."""
    stix_type = obj.get("type")
    if stix_type == "indicator":
        pattern = obj.get("pattern")
        if obj.get("pattern_type") != "stix" or not isinstance(pattern, str):
            return [], f"indicator with a {obj.get('pattern_type')} pattern"
        if disjunctive_only and not values_indicate_alone(pattern):
            return [], "pattern whose values do not indicate alone (AND/FOLLOWEDBY of observations, qualifiers)"
        values = values_of(pattern)
        return values, None if values else "pattern names no value of a known kind"
    if stix_type in _SCO_TYPES:
        if not observables:
            return [], "observable, not an indicator (not stated for detection)"
        pairs = [(_BY_INDEX_TYPE[t], v) for t, v in observables_of(obj) if t in _BY_INDEX_TYPE]
        return pairs, None if pairs else "observable with no value of a known kind"
    return [], "not an indicator or observable"


def skip_reason(obj: Mapping[str, Any], now_micros: int) -> str | None:
    """Why an indicator must not be exported for detection any more: revoked, or expired."""
    if obj.get("revoked") is True:
        return "revoked"
    until = obj.get("valid_until")
    if isinstance(until, str):
        micros = parse_to_micros(until)
        if micros is not None and micros <= now_micros:
            return "expired (valid_until in the past)"
    return None


def version_key(obj: Mapping[str, Any]) -> str:
    return timestamp_key(obj.get("modified")) or timestamp_key(obj.get("created")) or ""


class LatestSpool:
    """The newest version of each object seen, in the order objects were first seen, on disk.

    ``connection`` is open to exporters for their own scratch tables (relationship ends, sids).
    """

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="accord-export-")
        self.connection = sqlite3.connect(Path(self._dir.name) / "spool.db")
        self.connection.execute("PRAGMA journal_mode=OFF")
        self.connection.execute("PRAGMA synchronous=OFF")
        self.connection.execute(
            "CREATE TABLE latest (id TEXT PRIMARY KEY, seq INTEGER NOT NULL, type TEXT NOT NULL, "
            "vkey TEXT NOT NULL, body BLOB NOT NULL)")
        self._seq = 0

    def add(self, obj: Mapping[str, Any], body: bytes) -> None:
        """Keep ``obj`` (serialised as ``body``) if it is newer than what is kept under its id."""
        self._seq += 1
        self.connection.execute(
            "INSERT INTO latest VALUES (?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
            "vkey = excluded.vkey, body = excluded.body WHERE excluded.vkey > latest.vkey",
            (obj.get("id"), self._seq, obj.get("type"), version_key(obj), body))

    def count(self) -> int:
        """How many objects are kept (one per id)."""
        (n,) = self.connection.execute("SELECT count(*) FROM latest").fetchone()
        return int(n)

    def bodies(self, *types: str) -> Iterator[bytes]:
        """The kept bodies of these types (all without types), in first-seen order."""
        where = f" WHERE type IN ({','.join('?' * len(types))})" if types else ""
        for (body,) in self.connection.execute(f"SELECT body FROM latest{where} ORDER BY seq", types):
            yield body

    def close(self) -> None:
        self.connection.close()
        self._dir.cleanup()

    def __enter__(self) -> LatestSpool:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
