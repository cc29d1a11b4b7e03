"""Checking the audit log end to end: the hash chain (audit/chain.py), then each entry's item
rows against the digest its hashed detail recorded. ``accord audit verify``, ``GET
/api/v1/audit/verify`` and the web UI's audit page all ask here, so they agree on every log.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

import orjson

from accord.audit.chain import Break, items_digest, verify
from accord.storage.base import AuditRecord, Store

ITEMS_ALTERED = "its item rows (which objects, which recipients) were altered, added or removed"


@dataclass(frozen=True, slots=True)
class ChainCheck:
    """What a walk over the whole log found: how many entries it read, the first break (None if
    the log is intact) and, when intact, the newest entry's hash (None for an empty log)."""

    entries: int
    broken: Break | None
    head: bytes | None

    @property
    def intact(self) -> bool:
        return self.broken is None


def check_audit_log(store: Store, *, expect_head: bytes | None = None) -> ChainCheck:
    """Walk the chain (streamed: the log can be long), then the item rows of every entry that has them."""
    newest: deque[AuditRecord] = deque(maxlen=1)
    count, broken = verify(_remember(store.iter_audit(), newest), expect_head=expect_head)
    if broken is None:
        broken = broken_items(store)
    return ChainCheck(count, broken, newest[0].hash if broken is None and newest else None)


def broken_items(store: Store) -> Break | None:
    """The first entry whose item rows do not match the digest its (hash-covered) detail recorded."""
    records = [r for r in store.iter_audit() if b'"items_sha256"' in r.detail]
    items = store.audit_items([r.seq for r in records])
    for r in records:
        if items_digest(items.get(r.seq, [])) != orjson.loads(r.detail)["items_sha256"]:
            return Break(r.seq, ITEMS_ALTERED)
    return None


def _remember(records: Iterator[AuditRecord], newest: deque[AuditRecord]) -> Iterator[AuditRecord]:
    for record in records:
        newest.append(record)
        yield record
