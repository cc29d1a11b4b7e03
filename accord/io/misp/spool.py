"""A temporary SQLite file that holds an export's objects so they can be grouped into MISP events.

MISP groups intelligence into events; a STIX export is a stream of objects in store order, and a
report may come before or after what it refers to. The exporter therefore spools every body to
a temporary SQLite file keyed by STIX id (with its outgoing references in a second table), then
builds one event at a time from it: memory holds one event's objects, never the whole export.

Only the newest version of each object is kept: a MISP event holds the current state of an
attribute, not its history.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

from accord.stix.timestamps import timestamp_key

# Types that group other objects: each becomes one MISP event.
CONTAINER_TYPES = ("report", "grouping")
# Objects about other objects: they go into an event when what they point at is in it.
# type -> the reference properties that must all land inside the event (notes and opinions:
# any one of them).
ATTACHED = {
    "relationship": ("source_ref", "target_ref"),
    "sighting": ("sighting_of_ref",),
    "note": ("object_refs",),
    "opinion": ("object_refs",),
}
# Never an event's subject on their own: they come in when something refers to them.
SUPPORTING_TYPES = ("marking-definition", "identity", "extension-definition", "language-content")
_BATCH = 500


def outgoing_refs(value: Any, prop: str = "") -> Iterator[tuple[str, str]]:
    """(property, id) for every ``*_ref``/``*_refs`` anywhere in an object (extensions and
    granular markings included)."""
    if isinstance(value, dict):
        for key, child in value.items():
            if key.endswith("_ref") and isinstance(child, str):
                yield key, child
            elif key.endswith("_refs") and isinstance(child, list):
                yield from ((key, ref) for ref in child if isinstance(ref, str))
            elif isinstance(child, (dict, list)):
                yield from outgoing_refs(child, key)
    elif isinstance(value, list):
        for child in value:
            yield from outgoing_refs(child, prop)


class Spool:
    """Objects by id (newest version), their references, and which event each went into."""

    def __init__(self) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="accord-misp-"))
        self.db = sqlite3.connect(self._dir / "spool.db")
        # A scratch file: losing it on a crash loses nothing.
        self.db.execute("PRAGMA journal_mode=OFF")
        self.db.execute("PRAGMA synchronous=OFF")
        self.db.executescript("""
            CREATE TABLE objects (seq INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, type TEXT NOT NULL,
                                  version TEXT NOT NULL, body BLOB NOT NULL, placed INTEGER NOT NULL DEFAULT 0,
                                  written INTEGER NOT NULL DEFAULT 0);
            CREATE TABLE refs (src TEXT NOT NULL, prop TEXT NOT NULL, dst TEXT NOT NULL);
            CREATE INDEX refs_src ON refs (src);
            CREATE INDEX refs_dst ON refs (dst);
        """)
        self._pending = 0

    def close(self) -> None:
        self.db.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add(self, body: bytes) -> str | None:
        """Spool one body; returns why it was left out (an older version, not an object), or None."""
        try:
            obj = orjson.loads(body)
        except orjson.JSONDecodeError:
            return "not JSON"
        if not isinstance(obj, dict) or not isinstance(obj.get("id"), str) or not isinstance(obj.get("type"), str):
            return "not a STIX object"
        oid, kind = obj["id"], obj["type"]
        version = timestamp_key(obj.get("modified") or obj.get("created")) or ""
        row = self.db.execute("SELECT version FROM objects WHERE id = ?", (oid,)).fetchone()
        if row is not None:
            if row[0] >= version:
                return "older version of an object exported"
            self.db.execute("DELETE FROM refs WHERE src = ?", (oid,))
        self.db.execute("INSERT OR REPLACE INTO objects (id, type, version, body) VALUES (?, ?, ?, ?)",
                        (oid, kind, version, body))
        self.db.executemany("INSERT INTO refs (src, prop, dst) VALUES (?, ?, ?)",
                            [(oid, prop, dst) for prop, dst in outgoing_refs(obj)])
        self._pending += 1
        if self._pending >= 1000:
            self.db.commit()
            self._pending = 0
        # Replacing an older version leaves that one out, just as refusing an older one does.
        return None if row is None else "older version of an object exported"

    def containers(self) -> list[str]:
        """Ids of the reports and groupings, in store order (a few per event: small)."""
        marks = ",".join("?" * len(CONTAINER_TYPES))
        return [r[0] for r in self.db.execute(f"SELECT id FROM objects WHERE type IN ({marks}) ORDER BY seq",
                                              CONTAINER_TYPES)]

    def unplaced(self, chunk: int) -> Iterator[list[str]]:
        """Ids of objects in no event yet (supporting types aside), ``chunk`` at a time, store order."""
        marks = ",".join("?" * len(SUPPORTING_TYPES))
        last = 0
        while True:
            rows = self.db.execute(f"SELECT seq, id FROM objects WHERE placed = 0 AND seq > ? AND type NOT IN "
                                   f"({marks}) ORDER BY seq LIMIT ?", (last, *SUPPORTING_TYPES, chunk)).fetchall()
            if not rows:
                return
            last = rows[-1][0]
            yield [r[1] for r in rows]

    def _select(self, sql: str, ids: list[str]) -> Iterator[tuple[Any, ...]]:
        for start in range(0, len(ids), _BATCH):
            batch = ids[start:start + _BATCH]
            yield from self.db.execute(sql.format(marks=",".join("?" * len(batch))), batch)

    def closure(self, roots: Iterable[str]) -> list[str]:
        """``roots`` and everything they refer to, transitively, that is in the spool; then the
        relationships, sightings, notes and opinions whose subjects all lie inside, and what
        those refer to."""
        members = dict.fromkeys(self._present(list(roots)))
        self._follow(members, list(members))
        attached = self._attached(members)
        members.update(dict.fromkeys(attached))
        self._follow(members, attached)
        return list(members)

    def _present(self, ids: list[str]) -> list[str]:
        return [r[0] for r in self._select("SELECT id FROM objects WHERE id IN ({marks})", ids)]

    def _follow(self, members: dict[str, None], frontier: list[str]) -> None:
        while frontier:
            targets = {r[0] for r in self._select("SELECT DISTINCT dst FROM refs WHERE src IN ({marks})", frontier)}
            frontier = self._present([t for t in targets if t not in members])
            members.update(dict.fromkeys(frontier))

    def _attached(self, members: dict[str, None]) -> list[str]:
        candidates = {r[0]: r[1] for r in self._select(
            "SELECT DISTINCT r.src, o.type FROM refs r JOIN objects o ON o.id = r.src "
            "WHERE r.dst IN ({marks})", list(members)) if r[1] in ATTACHED and r[0] not in members}
        found = []
        for oid, kind in candidates.items():
            props = ATTACHED[kind]
            marks = ",".join("?" * len(props))
            subjects = [r[0] for r in self.db.execute(f"SELECT dst FROM refs WHERE src = ? AND prop IN ({marks})",
                                                      (oid, *props))]
            if kind in ("note", "opinion") or all(s in members for s in subjects):
                found.append(oid)
        return found

    def bodies(self, ids: list[str]) -> list[dict[str, Any]]:
        return [orjson.loads(r[0]) for r in self._select("SELECT body FROM objects WHERE id IN ({marks})", ids)]

    def mark(self, ids: list[str], *, written: bool) -> None:
        column = "placed = 1, written = 1" if written else "placed = 1"
        for start in range(0, len(ids), _BATCH):
            batch = ids[start:start + _BATCH]
            self.db.execute(f"UPDATE objects SET {column} WHERE id IN ({','.join('?' * len(batch))})", batch)

    def count(self, where: str = "1") -> int:
        row = self.db.execute(f"SELECT count(*) FROM objects WHERE {where}").fetchone()
        return int(row[0])
