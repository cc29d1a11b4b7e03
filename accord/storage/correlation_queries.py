"""Correlation: the versions sharing an observable with one object, a bounded number per value.

A mixin of :class:`accord.storage.sql.SQLStore`. Like every listing it takes the policy gate's
predicate (``where``, aliases ``m`` and ``v``) inside the WHERE clause. Unlike
``observable_versions`` (lookup), each key gets its own bounded arm: a value that thousands of
visible objects share (a public resolver, a popular domain) costs ``per_key`` rows, never the
whole of its index entry, so an object page stays within budget however common its values are.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

from accord.storage.base import ListedVersion, RowFilter
from accord.storage.search import _ROW_COLUMNS, _listed


class CorrelationQueries:
    _sql: Callable[[str], str]
    _read: Callable[[], AbstractContextManager[Any]]

    def correlated_versions(self, keys: Sequence[tuple[str, str]], where: RowFilter, *, per_key: int,
                            ) -> list[tuple[str, str, ListedVersion]]:
        """(index type, value, membership row with body) of the versions ``where`` admits that
        the index holds under each of ``keys``: at most ``per_key`` rows per key, newest version
        first; one statement for all the keys (a UNION ALL of one seek per key)."""
        if not keys:
            return []
        arms: list[str] = []
        params: list[object] = []
        for i, (index_type, value) in enumerate(keys):
            arms.append(f"SELECT * FROM (SELECT x.type AS xtype, x.value AS xvalue, {_ROW_COLUMNS} "
                        "FROM observables x CROSS JOIN object_versions v CROSS JOIN collection_objects m "
                        f"WHERE x.type = ? AND x.value = ? AND v.pk = x.version_pk AND m.version_pk = v.pk "
                        f"AND ({where.sql}) ORDER BY v.pk DESC, m.date_added LIMIT ?) AS arm{i}")
            params.extend((index_type, value, *where.params, per_key))
        with self._read() as conn:
            rows = conn.execute(self._sql(" UNION ALL ".join(arms)), params).fetchall()
        return [(r[0], r[1], _listed(r[2:])) for r in rows]
