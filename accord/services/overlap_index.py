"""The answering node's table of keyed hashes: from a submitted hash back to an index key.

A keyed hash cannot be reversed, so answering "which of these hashes are of values you hold?"
means hashing every distinct indexed value under the agreement's key (1M values: about a
second) and looking the submitted hashes up. :class:`HashTable` does that once per key and keeps
the result in memory, compactly: for each value the first 32 bits of its hash and one version
that holds it, packed in one sorted array of 64-bit integers (8 bytes per value: 8 MB per million).
A submitted hash finds its prefix by bisection; the versions found are read and their values
hashed again in full, so a 32-bit collision costs one body read and never a wrong answer.

The table follows the store: each question first hashes the values of the versions written
since (version keys only grow), and rebuilds from scratch when too many are new. It only
proposes candidates, never decides: a value it lacks (a version written a moment ago) is at
worst missing from one answer, and a candidate whose versions the caller may not see is dropped
by the gate afterwards (services/overlap.py). :class:`HashTables` keeps the tables of the last
few keys used, one lock each, in the server process (each worker its own).
"""

from __future__ import annotations

import hashlib
import threading
from array import array
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import orjson

from accord.stix.observables import observables_of
from accord.storage.base import Store

_LOW = (1 << 32) - 1
REFRESH_BATCH = 2_000  # new versions read per statement when catching up
REBUILD_AFTER = 100_000  # more new versions than this: hash the index again rather than the bodies
KEPT_TABLES = 4  # keys whose tables stay in memory (a table is ~8 bytes per distinct indexed value)

Pair = tuple[str, str]


class Hasher:
    """services/overlap.overlap_hash for many values under one key, about twice as fast: HMAC's
    inner and outer SHA-256 states after the padded key (RFC 2104) are computed once and copied
    per value, rather than set up again for each (the answering node hashes every indexed value).
    ``tests/services/test_overlap.py`` holds it equal to ``hmac``."""

    def __init__(self, key: bytes):
        if len(key) > 64:  # SHA-256's block: a longer key is hashed first (RFC 2104); ours are 32 bytes
            key = hashlib.sha256(key).digest()
        padded = key.ljust(64, b"\x00")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in padded))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in padded))
        self._typed: dict[str, hashlib._Hash] = {}

    def digest(self, index_type: str, value: str) -> bytes:
        typed = self._typed.get(index_type)
        if typed is None:
            typed = self._typed[index_type] = self._inner.copy()
            typed.update(f"{index_type}\x00".encode())
        inner = typed.copy()
        inner.update(value.encode())
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()

    def hexdigest(self, index_type: str, value: str) -> str:
        return self.digest(index_type, value).hex()


class HashTable:
    """Every distinct indexed value (references excepted) of a store, hashed under one key."""

    def __init__(self, key: bytes):
        self._hasher = Hasher(key)
        self._sorted = array("Q")  # (hash prefix << 32) | version pk, ascending
        self._extra: dict[int, list[int]] = {}  # hash prefix -> version pks, added since the build
        self._extra_size = 0
        self.upto = -1  # the newest version pk hashed; -1: never built
        self.lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._sorted) + self._extra_size

    def _prefix(self, index_type: str, value: str) -> int:
        return int.from_bytes(self._hasher.digest(index_type, value)[:4], "big")

    def _add(self, prefix: int, version_pk: int) -> None:
        self._extra.setdefault(prefix, []).append(version_pk)
        self._extra_size += 1

    def build(self, store: Store) -> None:
        """Hash every indexed value. The newest version pk is read first: a version written during
        the scan is hashed again by the next refresh, which is harmless."""
        upto = store.newest_version_pk()
        # 256 buckets by the hash's top byte, each sorted on its own: the transient lists stay small.
        buckets = [array("Q") for _ in range(256)]
        self._extra, self._extra_size = {}, 0
        digest = self._hasher.digest
        for index_type, value, version_pk in store.indexed_values():
            prefix = int.from_bytes(digest(index_type, value)[:4], "big")
            if version_pk > _LOW:  # beyond four billion versions: kept aside rather than packed
                self._add(prefix, version_pk)
            else:
                buckets[prefix >> 24].append(prefix << 32 | version_pk)
        packed = array("Q")
        for bucket in buckets:
            packed.extend(sorted(bucket))
        self._sorted = packed
        self.upto = upto

    def refresh(self, store: Store) -> None:
        """Catch up with the versions written since the table was built or last refreshed."""
        newest = store.newest_version_pk()
        if self.upto < 0 or newest - self.upto > REBUILD_AFTER or self._extra_size > max(
                REBUILD_AFTER, len(self._sorted) // 4):
            self.build(store)
            return
        while self.upto < newest:
            batch = store.bodies_after(self.upto, REFRESH_BATCH)
            if not batch:
                break
            for version_pk, body in batch:
                obj: Any = orjson.loads(body)
                # The index holds observables_of(body) (and references) of each version: the same
                # function at ingest, so the same keys.
                for index_type, value in observables_of(obj) if isinstance(obj, dict) else ():
                    self._add(self._prefix(index_type, value), version_pk)
            self.upto = batch[-1][0]

    def version_pks(self, prefix: int) -> list[int]:
        """The versions holding a value whose hash starts with these 32 bits."""
        found = list(self._extra.get(prefix, ()))
        low = prefix << 32
        i = bisect_left(self._sorted, low)
        while i < len(self._sorted) and self._sorted[i] >> 32 == prefix:
            found.append(self._sorted[i] & _LOW)
            i += 1
        return found

    def candidates(self, store: Store, hashes: Sequence[str]) -> dict[str, Pair]:
        """Submitted hash -> the index key it is the hash of, for those of an indexed value."""
        wanted = set(hashes)
        versions: set[int] = set()
        for h in wanted:
            versions.update(self.version_pks(int(h[:8], 16)))
        found: dict[str, Pair] = {}
        for body in store.bodies_of(sorted(versions)).values():
            obj: Any = orjson.loads(body)
            for index_type, value in observables_of(obj) if isinstance(obj, dict) else ():
                full = self._hasher.hexdigest(index_type, value)
                if full in wanted:
                    found[full] = (index_type, value)
        return found


class HashTables:
    """The hash tables of the keys asked with lately, by key fingerprint (one per server process)."""

    def __init__(self, kept: int = KEPT_TABLES):
        self._kept = kept
        self._tables: OrderedDict[str, HashTable] = OrderedDict()
        self._lock = threading.Lock()

    def table(self, fingerprint: str, key: bytes) -> HashTable:
        with self._lock:
            table = self._tables.get(fingerprint)
            if table is None:
                table = self._tables[fingerprint] = HashTable(key)
            self._tables.move_to_end(fingerprint)
            while len(self._tables) > self._kept:
                self._tables.popitem(last=False)
        return table

    def forget_except(self, fingerprints: set[str]) -> None:
        """Drop the tables of keys no agreement has any more (rotated or removed)."""
        with self._lock:
            for gone in [fp for fp in self._tables if fp not in fingerprints]:
                del self._tables[gone]

    def candidates_for(self, store: Store, fingerprint: str, key: bytes, hashes: Sequence[str]) -> dict[str, Pair]:
        """Refresh the key's table with what was written since, then look the hashes up; one question at
        a time per key (a refresh changes the table)."""
        table = self.table(fingerprint, key)
        with table.lock:
            table.refresh(store)
            return table.candidates(store, hashes)
