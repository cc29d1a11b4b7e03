"""Search: the versions an analyst is looking for, newest first, through the caller's filter.

A mixin of :class:`accord.storage.sql.SQLStore`. Like every listing it takes the policy gate's
predicate (``where``, aliases ``m`` and ``v``) and applies it inside the WHERE clause; it adds
the analyst's filters and returns light rows, each the newest version of its object (per owning
organisation) that the predicate admits. Free text and labels are only *narrowed* here (a
substring of the stored JSON); services/search.py makes the exact decision on the parsed body.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from operator import attrgetter, itemgetter
from typing import Any

from accord.storage.base import ListedVersion, ObservableQuery, RowFilter, SearchFilter
from accord.storage.ordering import placeholders, version_order

_COLUMNS = ("m.date_added AS date_added, v.stix_id AS stix_id, v.version AS version, "
            "v.spec_version AS spec_version, v.pk AS vpk, m.collection_pk AS cpk, v.type AS type, "
            "v.owner_org AS owner_org, v.origin_org AS origin_org, v.state AS state, v.tlp AS tlp")


_FAR_FUTURE = 2**62
_PKS_PER_STATEMENT = 1_000  # well under either engine's limit on bound parameters
_ROW_COLUMNS = _COLUMNS + ", v.body AS body"
# A version's memberships, by the (collection_pk, version_pk) unique index. Naming the collection
# column lets SQLite use that index when the caller's predicate is trivial (the node operator's
# "1 = 1"): with only ``m.version_pk = v.pk`` and a long IN list of versions it built an automatic
# index over all of collection_objects for every statement (3.3 s per 1,000 versions at 10M).
MEMBERSHIP = "m.collection_pk IN (SELECT pk FROM collections) AND m.version_pk = v.pk"


_KEY, _PK, _DATE_ADDED = itemgetter(0, 1), attrgetter("pk"), attrgetter("date_added")


def _listed(r: Any) -> ListedVersion:
    return ListedVersion(r[0], r[1], r[2], r[3], bytes(r[11]), r[4], r[5], r[6], r[7], r[8], r[9], r[10])


# The condition of the partial index ix_observables_networks (migration 0008), word for word.
NETWORKS_WHERE = "type IN ('ipv4-addr', 'ipv6-addr') AND value LIKE '%/%'"


def like_pattern(text: str) -> str:
    """``text`` as a LIKE substring pattern with its own wildcards escaped (ESCAPE '\\')."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class SearchQueries:
    _sql: Callable[[str], str]
    _read: Callable[[], AbstractContextManager[Any]]
    _among: Callable[[str, Sequence[Any]], tuple[str, list[Any]]]  # SQLStore._among
    _indexed_under: Callable[[str, Sequence[str]], tuple[str, list[Any]]]  # SQLStore._indexed_under
    # How a backend reads the stored JSON as case-insensitively searchable text.
    _body_like = "CAST(v.body AS TEXT) LIKE ? ESCAPE '\\'"
    # Where the first "/" of an index value is (1-based; 0: none).
    _slash_position = "instr(value, '/')"
    # Text in code point order, as Python sorts it (SQLite's default; a PostgreSQL database's
    # collation may be a language's, where "a-c.com" sorts after "ab.com").
    _code_point_order = ""

    def search_versions(self, where: RowFilter, f: SearchFilter, *, limit: int,
                        with_body: bool = True) -> list[ListedVersion]:
        """Up to ``limit`` membership rows matching ``f`` and ``where``, newest ``date_added``
        first, before ``f.before`` (the paging cursor)."""
        inner = [f"({where.sql})", "m.date_added < ?"]
        # Always bounded above: with no constraint on the membership scan SQLite builds a Bloom
        # filter over every object version first (0.5 s at 1M versions) instead of walking the
        # date_added index newest first and stopping at the limit (1 ms).
        params: list[object] = [*where.params, f.before if f.before is not None else _FAR_FUTURE]
        if f.not_before is not None:
            inner.append("m.date_added >= ?")
            params.append(f.not_before)
        if f.added_after is not None:
            inner.append("m.date_added > ?")
            params.append(f.added_after)
        for column, values in (("v.type", f.types), ("v.owner_org", f.owners), ("v.origin_org", f.origins),
                               ("v.state", f.states), ("m.collection_pk", f.collections)):
            if values:
                inner.append(f"{column} IN ({placeholders(len(values))})")
                params.extend(values)
        if f.not_owner is not None:
            inner.append("v.owner_org <> ?")
            params.append(f.not_owner)
        if f.received is not None:
            inner.append("v.origin_org IS NOT NULL" if f.received else "v.origin_org IS NULL")
        if f.tlps:
            tlp_sql = f"v.tlp IN ({placeholders(len(f.tlps))})"
            params.extend(f.tlps)
            if f.defaulted_collections:
                tlp_sql = (f"({tlp_sql} OR (v.tlp IS NULL AND m.collection_pk IN "
                           f"({placeholders(len(f.defaulted_collections))})))")
                params.extend(f.defaulted_collections)
            inner.append(tlp_sql)
        if f.observables:
            pairs = " OR ".join("(x.type = ? AND x.value = ?)" for _ in f.observables)
            inner.append(f"v.pk IN (SELECT x.version_pk FROM observables x WHERE {pairs})")
            params.extend(item for pair in f.observables for item in pair)
        for text in f.contains:
            inner.append(self._body_like)
            params.append(like_pattern(text))
        body = ", v.body AS body" if with_body else ""
        sql = (f"SELECT o.* FROM (SELECT {_COLUMNS}{body} FROM collection_objects m "
               f"JOIN object_versions v ON v.pk = m.version_pk WHERE {' AND '.join(inner)}) o "
               # The newest version of the object, of this owner, the viewer may see: an older
               # one is shown only when every newer one is hidden from the viewer. OFFSET keeps
               # PostgreSQL from turning this into an anti-join that hashes every visible version
               # of the store (0.25 s at 100k); probed per row through the stix_id index, it
               # costs what the page costs.
               "WHERE NOT EXISTS (SELECT 1 FROM object_versions v CROSS JOIN collection_objects m "
               f"WHERE m.version_pk = v.pk AND v.stix_id = o.stix_id AND v.owner_org = o.owner_org "
               f"AND ({where.sql}) AND {version_order('v', 'o', 'v.pk', 'o.vpk')} LIMIT 1 OFFSET 0) "
               "ORDER BY o.date_added DESC LIMIT ?")
        params.extend(where.params)
        params.append(limit)
        with self._read() as conn:
            rows = conn.execute(self._sql(sql), params).fetchall()
        return [ListedVersion(r[0], r[1], r[2], r[3], bytes(r[11]) if with_body else None, r[4], r[5], r[6], r[7],
                              r[8], r[9], r[10]) for r in rows]

    def observable_versions(self, q: ObservableQuery, where: RowFilter, *, limit: int | None = None,
                            ) -> list[tuple[str, str, ListedVersion]]:
        """Versions the index holds under ``q``'s keys or ranges that ``where`` admits (lookup).

        The index part is one seek per key: the keys are grouped by index type, each group one
        ``type = ? AND value IN (...)`` arm of a UNION ALL (a shape both engines answer from the
        (type, value) primary key, where an OR of pairs may make SQLite scan), and each range
        an arm of its own. The gate's predicate then judges the few versions found."""
        by_type: dict[str, list[str]] = {}
        for index_type, value in dict.fromkeys(q.keys):  # each key once, whatever form its statement takes
            by_type.setdefault(index_type, []).append(value)
        if not q.ranges and limit is None:
            return self._keyed_versions(by_type, q.types, where)
        return self._joined_versions(by_type, q.ranges, q.types, where, limit)

    def _joined_versions(self, by_type: dict[str, list[str]], ranges: Sequence[tuple[str, str, str]],
                         types: Sequence[str], where: RowFilter, limit: int | None,
                         ) -> list[tuple[str, str, ListedVersion]]:
        """``observable_versions`` as one statement: the index rows joined to the versions the
        gate admits, in the order _keyed_versions gives."""
        arms: list[str] = []
        params: list[object] = []
        for index_type, values in by_type.items():
            arms.append(f"SELECT type, value, version_pk FROM observables WHERE type = ? "
                        f"AND value IN ({placeholders(len(values))})")
            params.extend((index_type, *values))
        for index_type, low, high in ranges:
            arms.append("SELECT type, value, version_pk FROM observables WHERE type = ? AND value >= ? AND value < ?")
            params.extend((index_type, low, high))
        if not arms:
            return []
        inner = [f"({where.sql})"]
        params.extend(where.params)
        if types:
            inner.append(f"v.type IN ({placeholders(len(types))})")
            params.extend(types)
        sql = (f"SELECT x.type, x.value, {_ROW_COLUMNS} FROM ({' UNION ALL '.join(arms)}) x "
               "CROSS JOIN object_versions v CROSS JOIN collection_objects m "
               f"WHERE v.pk = x.version_pk AND {MEMBERSHIP} AND {' AND '.join(inner)} "
               f"ORDER BY x.type{self._code_point_order}, x.value{self._code_point_order}, v.pk DESC, m.date_added")
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        with self._read() as conn:
            rows = conn.execute(self._sql(sql), params).fetchall()
        return [(r[0], r[1], _listed(r[2:])) for r in rows]

    def _keyed_versions(self, by_type: dict[str, list[str]], types: Sequence[str], where: RowFilter,
                        ) -> list[tuple[str, str, ListedVersion]]:
        """``observable_versions`` for keys only, in two statements: which versions the index holds
        under the keys (the primary key alone answers it), then those versions in ``pk`` order
        through ``where``. Fetching the few versions found in pk order, rather than in key order
        inside one join, is ~4x cheaper on SQLite at 1M versions (page locality, no sort of the
        bodies). The first statement is not gated but only names candidates: every row returned
        passed the caller's predicate in the second, exactly as in the one-statement form; the
        order is the same (type, value, version newest first, membership oldest first)."""
        arms: list[str] = []
        params: list[object] = []
        for index_type, values in by_type.items():
            arm, arm_params = self._indexed_under(index_type, values)
            arms.append(arm)
            params.extend(arm_params)
        if not arms:
            return []
        with self._read() as conn:
            indexed = conn.execute(self._sql(" UNION ALL ".join(arms)), params).fetchall()
            under: dict[int, list[tuple[str, str]]] = {}
            for index_type, value, version_pk in indexed:
                under.setdefault(version_pk, []).append((index_type, value))
            if not under:
                return []
            pks = sorted(under)
            extra = f" AND v.type IN ({placeholders(len(types))})" if types else ""
            rows = []
            for start in range(0, len(pks), _PKS_PER_STATEMENT):
                among, among_params = self._among("v.pk", pks[start:start + _PKS_PER_STATEMENT])
                rows += conn.execute(self._sql(
                    f"SELECT {_ROW_COLUMNS} FROM object_versions v CROSS JOIN collection_objects m "
                    f"WHERE {among} AND {MEMBERSHIP} AND ({where.sql}){extra}"),
                    [*among_params, *where.params, *types]).fetchall()
        # (type, value, newest version, oldest membership) as stable sorts on C-level keys: a
        # Python key function per row cost a bulk lookup ~10 ms for its 5,000 rows.
        listed = sorted(map(_listed, rows), key=_DATE_ADDED)
        listed.sort(key=_PK, reverse=True)
        out = [(index_type, value, row) for row in listed for index_type, value in under[row.pk]]
        out.sort(key=_KEY)
        return out

    def network_prefixes(self) -> dict[str, frozenset[str]]:
        """Index type -> the prefix lengths (as written after the "/") of the networks it holds.

        Not gated, and never shown: a lookup uses it only to leave out keys that cannot be in the
        index (an address's containing networks of a length no indexed network has), so it cannot
        change which rows the gated query finds. Reads the partial index of migration 0008, whose
        size is the number of indexed networks, not of observables."""
        with self._read() as conn:
            rows = conn.execute(self._sql(
                f"SELECT DISTINCT type, substr(value, {self._slash_position} + 1) FROM observables "
                f"WHERE {NETWORKS_WHERE}")).fetchall()
        out: dict[str, set[str]] = {}
        for index_type, length in rows:
            out.setdefault(index_type, set()).add(length)
        return {t: frozenset(lengths) for t, lengths in out.items()}

    def index_types(self) -> frozenset[str]:
        """The index types the observable index holds anything under, read as a skip scan of the
        primary key (one seek per type, whatever the size of the index). Not gated and never
        shown, like :meth:`network_prefixes`: a bulk lookup leaves out keys of the types no
        observable has (a SHA-256 digest alone is six keys, for three owners and two algorithms)."""
        with self._read() as conn:
            rows = conn.execute(self._sql(
                "WITH RECURSIVE t(type) AS (SELECT MIN(type) FROM observables UNION ALL "
                "SELECT (SELECT MIN(o.type) FROM observables o WHERE o.type > t.type) FROM t "
                "WHERE t.type IS NOT NULL) SELECT type FROM t WHERE type IS NOT NULL")).fetchall()
        return frozenset(r[0] for r in rows)

    def membership_floor(self, before: int, rows: int) -> int | None:
        with self._read() as conn:
            row = conn.execute(self._sql(
                "SELECT date_added FROM collection_objects WHERE date_added < ? ORDER BY date_added DESC "
                "LIMIT 1 OFFSET ?"), (before, rows)).fetchone()
        return None if row is None else int(row[0])

    def listed_versions(self, version_pks: Sequence[int], where: RowFilter) -> list[ListedVersion]:
        if not version_pks:
            return []
        sql = (f"SELECT {_ROW_COLUMNS} FROM object_versions v CROSS JOIN collection_objects m "
               f"WHERE {MEMBERSHIP} AND v.pk IN ({placeholders(len(version_pks))}) AND ({where.sql}) "
               "ORDER BY m.date_added DESC")
        with self._read() as conn:
            rows = conn.execute(self._sql(sql), [*version_pks, *where.params]).fetchall()
        return [_listed(r) for r in rows]

    def object_versions(self, stix_id: str, where: RowFilter) -> list[ListedVersion]:
        """Every membership of every version of one object that ``where`` admits, oldest version
        first (an object page: its history, in every collection the viewer may read)."""
        sql = (f"SELECT {_ROW_COLUMNS} FROM object_versions v CROSS JOIN collection_objects m "
               f"WHERE m.version_pk = v.pk AND v.stix_id = ? AND ({where.sql}) ORDER BY v.pk, m.date_added")
        with self._read() as conn:
            rows = conn.execute(self._sql(sql), [stix_id, *where.params]).fetchall()
        return [_listed(r) for r in rows]

    def provenance(self, version_pks: list[int]) -> dict[int, tuple[str | None, str | None, str | None, int | None]]:
        """(origin node, author, released by, released at) of each version."""
        if not version_pks:
            return {}
        with self._read() as conn:
            rows = conn.execute(self._sql(
                "SELECT pk, origin_node, author, released_by, released_at FROM object_versions "
                f"WHERE pk IN ({placeholders(len(version_pks))})"), version_pks).fetchall()
        return {r[0]: (r[1], r[2], r[3], r[4]) for r in rows}
