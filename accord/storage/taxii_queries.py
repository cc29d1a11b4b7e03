"""The reads and records behind the TAXII routes: API roots, visible collections, paged version
listings, status resources, node secrets.

A mixin of :class:`accord.storage.sql.SQLStore`. Every listing takes a ``RowFilter`` (the
caller's visibility predicate from policy.gate) and ANDs it into its WHERE clause: storage
never decides visibility, and no route filters rows after the fact.

Version selection (``match[version]`` first/last) is decided among the versions the caller may
see: the subquery that looks for a newer (or older) version applies the same filter, so a
hidden newer version never hides the visible one before it.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from accord.storage.base import (
    STATUS_RETENTION_MICROS,
    ApiRoot,
    Collection,
    ListedVersion,
    ListQuery,
    RowFilter,
    VisibleCounts,
)
from accord.storage.ordering import placeholders, version_order

_COLLECTION_COLUMNS = "c.pk, c.id, c.api_root, c.alias, c.title, c.description, c.default_tlp, c.created"
# ``v`` is a later (earlier) version of the same object than the listed ``o``.
_NEWER = version_order("v", "o", "v.pk", "o.vpk")
_OLDER = version_order("v", "o", "v.pk", "o.vpk", later=False)
# Other versions of the listed object: found through the stix_id index, then their membership.
# CROSS JOIN fixes that order in SQLite (PostgreSQL plans it freely): with the visibility
# predicate naming m.collection_pk, SQLite without statistics walked the whole collection for
# every listed row instead (0.4 ms -> 460 ms for a page at 20k objects).
_SAME_OBJECT = ("SELECT 1 FROM object_versions v CROSS JOIN collection_objects m WHERE m.version_pk = v.pk "
                "AND m.collection_pk = ? AND v.stix_id = o.stix_id AND ({pred}) AND {order}")


def insert_status(conn: Any, sql: Callable[[str], str], now: int, status_id: str, api_root: str, owner: str,
                  body: bytes) -> None:
    """Keep a status resource, pruning those past retention (in the caller's write transaction)."""
    conn.execute(sql("DELETE FROM taxii_status WHERE created < ?"), (now - STATUS_RETENTION_MICROS,))
    conn.execute(sql("INSERT INTO taxii_status (id, api_root, owner, created, body) VALUES (?, ?, ?, ?, ?)"),
                 (status_id, api_root, owner, now, body))


def list_versions_sql(query: ListQuery, where: RowFilter) -> tuple[str, list[object]]:
    """The SELECT behind :meth:`TaxiiQueries.list_versions` (a function so tests can read it)."""
    body = ", v.body AS body" if query.with_body else ""
    inner = ["m.collection_pk = ?", "m.date_added > ?", f"({where.sql})"]
    params: list[object] = [query.collection_pk, query.after, *where.params]
    source = "collection_objects m JOIN object_versions v ON v.pk = m.version_pk"
    if query.ids:
        # match[id]: from the named objects' versions (stix_id index) to their memberships
        # ((collection, version) index), CROSS JOIN keeping SQLite to that order whatever its
        # statistics say; walking the collection's date index instead cost time in proportion to
        # the collection (2 ms at 20k objects, 11 ms at 100k).
        source = "object_versions v CROSS JOIN collection_objects m"
        inner.insert(0, "m.version_pk = v.pk")
        inner.append(f"v.stix_id IN ({placeholders(len(query.ids))})")
        params.extend(query.ids)
    for column, values in (("v.type", query.types), ("v.spec_version", query.spec_versions)):
        if values:
            inner.append(f"{column} IN ({placeholders(len(values))})")
            params.extend(values)
    sql = ("SELECT o.date_added, o.stix_id, o.version, o.spec_version, o.vpk, o.cpk, o.type, o.owner_org, "
           "o.origin_org, o.state, o.tlp" + (", o.body" if body else "")
           + " FROM (SELECT m.date_added AS date_added, v.pk AS vpk, v.stix_id AS stix_id, v.version AS version, "
           "v.spec_version AS spec_version, m.collection_pk AS cpk, v.type AS type, v.owner_org AS owner_org, "
           f"v.origin_org AS origin_org, v.state AS state, v.tlp AS tlp{body} FROM {source} "
           f"WHERE {' AND '.join(inner)}) o")
    match = query.versions
    if not match.all:
        alternatives: list[str] = []
        for wanted, order in ((match.last, _NEWER), (match.first, _OLDER)):
            if wanted:
                alternatives.append(f"NOT EXISTS ({_SAME_OBJECT.format(pred=where.sql, order=order)})")
                params.extend((query.collection_pk, *where.params))
        if match.keys:
            alternatives.append(f"(substr(o.version, 1, 1) <> '#' AND o.version IN ({placeholders(len(match.keys))}))")
            params.extend(match.keys)
        if match.added:
            added = placeholders(len(match.added))
            alternatives.append(f"(substr(o.version, 1, 1) = '#' AND o.date_added IN ({added}))")
            params.extend(match.added)
        sql += " WHERE " + (" OR ".join(alternatives) if alternatives else "1 = 0")
    sql += " ORDER BY o.date_added LIMIT ?"
    params.append(query.limit)
    return sql, params


class TaxiiQueries:
    _sql: Callable[[str], str]
    _read: Callable[[], AbstractContextManager[Any]]
    _write: Callable[[], AbstractContextManager[Any]]
    _clock: Callable[[], int]

    def api_roots(self) -> list[ApiRoot]:
        with self._read() as conn:
            rows = conn.execute("SELECT name, title, description, created FROM api_roots ORDER BY name").fetchall()
        return [ApiRoot(*row) for row in rows]

    def visible_collections(self, api_root: str, where: RowFilter) -> list[Collection]:
        with self._read() as conn:
            rows = conn.execute(self._sql(
                f"SELECT {_COLLECTION_COLUMNS} FROM collections c WHERE c.api_root = ? AND ({where.sql}) "
                "ORDER BY c.pk"), (api_root, *where.params)).fetchall()
        return [Collection(*row) for row in rows]

    def visible_collection(self, api_root: str, collection_id: str, where: RowFilter) -> Collection | None:
        with self._read() as conn:
            row = conn.execute(self._sql(
                f"SELECT {_COLLECTION_COLUMNS} FROM collections c WHERE c.api_root = ? AND c.id = ? "
                f"AND ({where.sql})"), (api_root, collection_id, *where.params)).fetchone()
        return None if row is None else Collection(*row)

    def visible_counts(self, where: RowFilter) -> VisibleCounts:
        # EXISTS rather than a join: a version in several collections counts once, and the filter
        # still sees each membership (it may admit a version in one collection and not another).
        source = ("FROM object_versions v WHERE EXISTS (SELECT 1 FROM collection_objects m "
                  f"WHERE m.version_pk = v.pk AND ({where.sql}))")
        with self._read() as conn:
            rows = conn.execute(self._sql(f"SELECT v.type, coalesce(v.tlp, 'unmarked'), count(*) {source} "
                                          "GROUP BY v.type, coalesce(v.tlp, 'unmarked')"), where.params).fetchall()
            objects = conn.execute(self._sql(f"SELECT count(DISTINCT v.stix_id) {source}"), where.params).fetchone()[0]
        by_type: dict[str, int] = {}
        by_tlp: dict[str, int] = {}
        for stix_type, tlp, count in rows:
            by_type[stix_type] = by_type.get(stix_type, 0) + count
            by_tlp[tlp] = by_tlp.get(tlp, 0) + count
        return VisibleCounts(sum(by_type.values()), int(objects), dict(sorted(by_type.items())),
                             dict(sorted(by_tlp.items())))

    def list_versions(self, query: ListQuery, where: RowFilter) -> list[ListedVersion]:
        sql, params = list_versions_sql(query, where)
        with self._read() as conn:
            rows = conn.execute(self._sql(sql), params).fetchall()
        return [ListedVersion(r[0], r[1], r[2], r[3], bytes(r[11]) if query.with_body else None, r[4], r[5], r[6],
                              r[7], r[8], r[9], r[10]) for r in rows]  # column order: list_versions_sql

    # -- status resources --------------------------------------------------------------------
    def save_status(self, status_id: str, api_root: str, owner: str, body: bytes) -> None:
        with self._write() as conn:
            insert_status(conn, self._sql, self._clock(), status_id, api_root, owner, body)

    def get_status(self, status_id: str, api_root: str, owner: str) -> bytes | None:
        with self._read() as conn:
            row = conn.execute(self._sql(
                "SELECT body FROM taxii_status WHERE id = ? AND api_root = ? AND owner = ?"),
                (status_id, api_root, owner)).fetchone()
        return None if row is None else bytes(row[0])

    # -- node secrets ------------------------------------------------------------------------
    def node_secret(self, name: str) -> bytes:
        query = self._sql("SELECT value FROM node_secrets WHERE name = ?")
        with self._read() as conn:
            row = conn.execute(query, (name,)).fetchone()
        if row is None:
            # Two processes starting at once both try; the first insert wins, both read it back.
            with self._write() as conn:
                conn.execute(self._sql("INSERT INTO node_secrets (name, value) VALUES (?, ?) ON CONFLICT DO NOTHING"),
                             (name, secrets.token_bytes(32)))
                row = conn.execute(query, (name,)).fetchone()
        return bytes(row[0])
