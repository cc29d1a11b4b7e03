"""The live values of a stream of indicators, de-duplicated on disk: what blocklists and detection
rules are made of.

An indicator counts at its newest version, while live (not revoked, ``valid_until`` not passed),
for the values of its pattern that indicate alone (accord/io/values_select.py); values on a
MISP warninglist are left out unless asked for. Each distinct (kind, value) is kept once, with the
first indicator that stated it and the newest version key among those that did. Everything is
spooled to a temporary SQLite file, so memory stays flat however large the export.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from types import TracebackType

import orjson

from accord.errors import ConfigError
from accord.io.values_select import LatestSpool, kind_values, skip_reason, version_key
from accord.services.formats import ExportSummary

BENIGN_VALUES = "values left out: on a MISP warninglist"


def parse_kinds(text: str | None, allowed: tuple[str, ...]) -> list[str]:
    """The kinds named by ``-O kind=a,b`` (``ip`` is ipv4 and ipv6, ``all`` or nothing is every
    allowed one), in the order given."""
    if not text or text == "all":
        return list(allowed)
    out: list[str] = []
    for name in (n.strip().lower() for n in text.split(",")):
        for one in ["ipv4", "ipv6"] if name == "ip" else [name]:
            if one not in allowed:
                raise ConfigError(f"-O kind: {name!r} is not one of {', '.join(allowed)}, ip or all")
            if one not in out:
                out.append(one)
    return out


class LiveValues:
    """``collect`` the bodies, then read ``rows()``: (kind, value, indicator id, version key)."""

    def __init__(self, kinds: list[str], include_benign: bool) -> None:
        self.kinds = kinds
        self.include_benign = include_benign
        self.spool = LatestSpool()
        self.spool.connection.execute(
            "CREATE TABLE vals (rank INTEGER, value TEXT, benign INTEGER, indicator TEXT, vkey TEXT, "
            "PRIMARY KEY (rank, value)) WITHOUT ROWID")

    def collect(self, bodies: Iterable[bytes], summary: ExportSummary) -> None:
        for body in bodies:
            summary.objects_in += 1
            obj = orjson.loads(body)
            if obj.get("type") == "indicator":
                self.spool.add(obj, body)
            else:
                summary.skip(kind_values(obj, disjunctive_only=True, observables=False)[1] or "not an indicator")
        superseded = summary.objects_in - sum(summary.skipped.values()) - self.spool.count()
        if superseded:
            summary.skip("older versions of exported indicators", superseded)
        now = int(time.time() * 1_000_000)
        for body in self.spool.bodies():
            obj = orjson.loads(body)
            reason = skip_reason(obj, now)
            values, why = kind_values(obj, disjunctive_only=True)
            chosen = [(kind.name, value) for kind, value in values if kind.name in self.kinds]
            if reason or not chosen:
                summary.skip(reason or why or "no value of the kinds asked")
            # A list, not a generator: every value is recorded, not just those up to the first kept.
            elif any([self._add(kind, value, obj["id"], version_key(obj), summary) for kind, value in chosen]):
                summary.written += 1
            else:
                summary.skip("indicators whose values are all on MISP warninglists")

    def _add(self, kind: str, value: str, indicator: str, vkey: str, summary: ExportSummary) -> bool:
        """Record one value; whether it is kept (not warninglisted)."""
        from accord.io.warninglists import benign

        db = self.spool.connection
        rank = self.kinds.index(kind)
        row = db.execute("SELECT benign FROM vals WHERE rank = ? AND value = ?", (rank, value)).fetchone()
        if row is not None:
            db.execute("UPDATE vals SET vkey = max(vkey, ?) WHERE rank = ? AND value = ?", (vkey, rank, value))
            return not row[0]
        listed = not self.include_benign and bool(benign(value))
        db.execute("INSERT INTO vals VALUES (?, ?, ?, ?, ?)", (rank, value, listed, indicator, vkey))
        if listed:
            summary.skip(BENIGN_VALUES)
        return not listed

    def rows(self) -> Iterator[tuple[str, str, str, str]]:
        """The kept values by kind (in the order asked) and value."""
        query = "SELECT rank, value, indicator, vkey FROM vals WHERE NOT benign ORDER BY rank, value"
        for rank, value, indicator, vkey in self.spool.connection.execute(query):
            yield self.kinds[rank], value, indicator, vkey

    def newest(self) -> str:
        """The newest version key among the kept values' indicators ('' when none)."""
        (vkey,) = self.spool.connection.execute("SELECT max(vkey) FROM vals WHERE NOT benign").fetchone()
        return str(vkey or "")

    def __enter__(self) -> LiveValues:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.spool.close()
