"""The hash chain behind the audit log.

Each entry's hash is SHA-256 over the previous entry's hash and a canonical encoding of the
entry's own fields (sequence number included), so editing a field, deleting an entry or
swapping two changes every later hash. Verification needs nothing but the rows: anyone holding
a copy of the log, or just the hash of its newest entry as published to a partner, can check it.

What a chain cannot show by itself is a truncated tail (the newest entries removed together);
that is why ``accord audit show --head`` prints the newest hash for operators and partners to
keep, and ``verify --expect-head`` checks against it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

GENESIS = b"\x00" * 32


class Entry(Protocol):
    @property
    def seq(self) -> int: ...
    @property
    def at(self) -> int: ...
    @property
    def actor(self) -> str: ...
    @property
    def org(self) -> str | None: ...
    @property
    def action(self) -> str: ...
    @property
    def agreement(self) -> str | None: ...
    @property
    def subject(self) -> str | None: ...
    @property
    def detail(self) -> bytes: ...
    @property
    def prev_hash(self) -> bytes: ...
    @property
    def hash(self) -> bytes: ...


def _field(value: str | int | bytes | None) -> bytes:
    # Length-prefixed, with a type tag: no two different field lists encode alike.
    if value is None:
        return b"N"
    if isinstance(value, int):
        raw, tag = str(value).encode(), b"I"
    elif isinstance(value, str):
        raw, tag = value.encode("utf-8"), b"S"
    else:
        raw, tag = value, b"B"
    return tag + len(raw).to_bytes(8, "big") + raw


def entry_hash(prev_hash: bytes, seq: int, at: int, actor: str, org: str | None, action: str,
               agreement: str | None, subject: str | None, detail: bytes) -> bytes:
    return hashlib.sha256(prev_hash + _field(seq) + entry_tail(at, actor, org, action, agreement, subject,
                                                                detail)).digest()


def entry_tail(at: int, actor: str, org: str | None, action: str, agreement: str | None, subject: str | None,
               detail: bytes) -> bytes:
    """The encoded fields an entry's hash covers after its sequence number: everything that does
    not depend on where in the chain the entry lands. A database that knows the chain's head can
    hash the entry itself from this (storage/postgres.py does)."""
    return b"".join(_field(value) for value in (at, actor, org, action, agreement, subject, detail))


@dataclass(frozen=True, slots=True)
class Break:
    """The first entry at which the chain does not hold, and why."""

    seq: int
    reason: str


def verify(entries: Iterable[Entry], *, expect_head: bytes | None = None) -> tuple[int, Break | None]:
    """Walk entries in stored order; return how many were checked and the first break, if any."""
    prev = GENESIS
    expected_seq = 1
    count = 0
    last_seq = 0
    for e in entries:
        count += 1
        last_seq = e.seq
        if e.seq != expected_seq:
            return count, Break(e.seq, f"sequence number {e.seq} where {expected_seq} was expected "
                                       "(an entry was removed or reordered)")
        if e.prev_hash != prev:
            return count, Break(e.seq, "its previous-hash does not match the entry before it "
                                       "(an entry before it was removed, reordered or altered)")
        recomputed = entry_hash(prev, e.seq, e.at, e.actor, e.org, e.action, e.agreement, e.subject, e.detail)
        if recomputed != e.hash:
            return count, Break(e.seq, "its content does not match its hash (the entry was altered)")
        prev = e.hash
        expected_seq += 1
    if expect_head is not None and prev != expect_head:
        return count, Break(last_seq + 1, "the newest entry's hash is not the expected head "
                                          "(entries were removed from the end, or the log was replaced)")
    return count, None


def items_digest(items: Iterable[tuple[str, str, str | None, str | None]]) -> str:
    """Digest of an entry's item rows (stix_id, version, recipient, owner), kept in its (hashed)
    detail so the rows are covered too. Order-free (rows are sorted first): databases return
    unordered rows in any order. An item without an owner hashes as entries written before
    owners were recorded did, so those still verify."""
    h = hashlib.sha256()
    # Recipients and owners repeat from item to item (a lookup's receipt names one recipient and
    # a few owners over thousands of items): each is encoded once.
    tails: dict[tuple[str | None, str | None], bytes] = {}
    for stix_id, version, recipient, owner in sorted(items, key=lambda i: (i[0], i[1], i[2] or "", i[3] or "")):
        tail = tails.get((recipient, owner))
        if tail is None:
            tail = tails[recipient, owner] = _field(recipient) + (_field(owner) if owner is not None else b"")
        h.update(_field(stix_id) + _field(version) + tail)
    return h.hexdigest()
