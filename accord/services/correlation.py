"""Correlation, "also seen in" (issue 9): the other visible objects that share an observable
with the object a caller is looking at (the REST object detail, the web UI's object page).

The observables are those of the object *as the caller receives it* (after granular
redaction), never the object's own index rows: a value under a granular marking the caller may
not see is not correlated. They are matched against the observable index through the caller's
gate (``Store.correlated_versions``: the visibility predicate in the same statement, one
statement for all of an object's values, a bounded number of rows per value), and each match is
checked once more on the other object's body as the caller receives it (the index is built from
whole objects). A value that more than ``cap`` visible objects share is reported as
over-correlating, with no list and no count. Nothing here depends on a row the caller may not
see: a value only hidden objects share gets no entry, exactly like a value nobody shares.

The listed objects go through :func:`services.disclose.disclose` together (one call for the
page: receipts on the page's channel).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from accord.policy.gate import Visibility
from accord.services.disclose import Received, disclose
from accord.services.search import Hit, Searcher
from accord.stix.observables import observables_of
from accord.storage.base import ListedVersion, Store

DEFAULT_CAP = 100  # settings.py: correlation_cap
MAX_VALUES = 50  # values of one object correlated (an object page's budget)
ROWS_PER_OBJECT = 4  # index rows read per value: (cap + 2) objects of up to this many versions/memberships


@dataclass
class Correlation:
    """One value of the object and the other visible objects that share it."""

    value: str
    index_type: str
    over_correlating: bool = False  # more than ``cap`` visible objects share it: not listed
    objects: list[Hit] = field(default_factory=list)


class _Received:
    """Bodies as the caller receives them (granular parts it may not see removed), parsed once."""

    def __init__(self, store: Store, vis: Visibility):
        self.store, self.vis = store, vis
        self._receiving = Received(store, vis)
        self._parsed: dict[int, list[tuple[str, str]]] = {}

    def observables(self, row: ListedVersion) -> list[tuple[str, str]]:
        found = self._parsed.get(row.pk)
        if found is None:
            found = observables_of(self._receiving.parsed(row))
            self._parsed[row.pk] = found
        return found


def correlations(store: Store, vis: Visibility, searcher: Searcher, stix_id: str, obj: dict[str, Any], *,
                 cap: int = DEFAULT_CAP, channel: str = "web") -> list[Correlation]:
    """"Also seen in" for ``obj`` (the current version of ``stix_id`` as the caller receives it)."""
    keys = list(dict.fromkeys(observables_of(obj)))[:MAX_VALUES]
    if not keys:
        return []
    per_key = (cap + 2) * ROWS_PER_OBJECT
    rows = store.correlated_versions(keys, vis.predicate(), per_key=per_key)
    read: dict[tuple[str, str], int] = {}
    # key -> (other object, owner) -> its newest visible version that, as received, holds the value
    others: dict[tuple[str, str], dict[tuple[str, int], ListedVersion]] = {}
    received = _Received(store, vis)
    for index_type, value, row in rows:
        key = (index_type, value)
        read[key] = read.get(key, 0) + 1
        if row.stix_id == stix_id:
            continue
        slot = others.setdefault(key, {})
        if (row.stix_id, row.owner_org) in slot or key not in received.observables(row):
            continue
        slot[row.stix_id, row.owner_org] = row
    out: list[Correlation] = []
    listed: dict[int, ListedVersion] = {}
    for key in keys:
        found = others.get(key, {})
        if len(found) > cap or (read.get(key, 0) >= per_key and found):
            # More visible objects share it than a page lists (or more visible versions than the
            # bounded read holds, all of the caller's own view): flagged, neither listed nor counted.
            out.append(Correlation(key[1], key[0], over_correlating=True))
        elif found:
            out.append(Correlation(key[1], key[0]))
            for row in found.values():
                listed.setdefault(row.pk, row)
    shown = {d.row.pk: d.body for d in disclose(store, vis, list(listed.values()), channel=channel, subject=stix_id)}
    for c in out:
        if c.over_correlating:
            continue
        for row in others[c.index_type, c.value].values():
            body = shown.get(row.pk)
            if body is None:
                continue
            other = orjson.loads(body)
            if (c.index_type, c.value) in observables_of(other):
                c.objects.append(searcher.hit(row, other))
        c.objects.sort(key=lambda h: (h.row.type, h.name, h.row.stix_id, h.owner))
    return [c for c in out if c.over_correlating or c.objects]
