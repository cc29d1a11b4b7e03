"""The storage contract: what every backend (SQLite, PostgreSQL, the in-memory fake) promises.

A backend stores object versions keyed by (STIX id, version), their membership in collections
with a node-wide ``date_added``, and an observable index. The contract, checked by
``tests/storage/test_contract.py`` against every backend:

* writing an identical version again changes nothing (same ``date_added``);
* the same (id, version) with different content is a conflict: reported, never overwritten;
* ``date_added`` is unique across the node and strictly increasing in commit order;
* a transaction is all or nothing; a committed one survives a crash of the process.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol

DEFAULT_API_ROOT = "default"
DEFAULT_COLLECTION_ALIAS = "default"


class Status(enum.StrEnum):
    STORED = "stored"  # a new version, now in the collection
    ADDED = "added"  # a version stored before, now also in this collection
    UNCHANGED = "unchanged"  # identical version already in this collection
    CONFLICT = "conflict"  # same (id, version), different content: refused


@dataclass(slots=True)
class PreparedVersion:
    """An object version ready to store: validated, normalised, serialised.

    ``content_hash`` is the digest of ``body`` (see stix.versions.body_hash): a backend that
    finds the same (id, version) with another digest compares the two bodies' content before
    calling it a conflict, so a producer that re-serialises an object is not refused.
    """

    index: int
    stix_id: str
    version: str
    type: str
    spec_version: str
    revoked: bool
    tlp: str | None
    content_hash: bytes
    body: bytes
    observables: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class WriteResult:
    index: int
    stix_id: str
    version: str
    status: Status
    date_added: int | None  # microseconds since the epoch; None for a conflict


@dataclass(frozen=True, slots=True)
class Collection:
    pk: int
    id: str
    api_root: str
    alias: str | None
    title: str
    description: str | None
    default_tlp: str
    created: int


@dataclass(frozen=True, slots=True)
class Organisation:
    pk: int
    name: str
    kind: str  # 'local' (a member of this node) or 'partner'
    created: int


@dataclass(frozen=True, slots=True)
class User:
    pk: int
    username: str
    org_pk: int
    org_name: str
    role: str
    disabled: bool
    created: int


@dataclass(frozen=True, slots=True)
class Token:
    pk: int
    user_pk: int
    username: str
    label: str | None
    created: int
    expires: int | None
    revoked: int | None


@dataclass(frozen=True, slots=True)
class Grant:
    collection_pk: int
    org_pk: int
    org_name: str
    can_read: bool
    can_write: bool


@dataclass(frozen=True, slots=True)
class VersionQuery:
    """Which versions to read. Empty tuples mean "no restriction"."""

    collection_pk: int | None = None
    types: tuple[str, ...] = ()
    latest_only: bool = False


@dataclass(frozen=True, slots=True)
class Stats:
    total_versions: int
    by_type: dict[str, int]
    by_collection: dict[str, int]
    by_tlp: dict[str, int]
    observables: int


class Transaction(Protocol):
    def write(self, collection: Collection, batch: Sequence[PreparedVersion]) -> list[WriteResult]: ...

    def set_tlp(self, fixes: Sequence[tuple[str, str, str | None]]) -> None:
        """Set the effective TLP of (stix_id, version, tlp) written earlier in this transaction."""
        ...

    def marking_levels(self) -> dict[str, str]:
        """Levels of the non-standard marking definitions stored so far (see stix.markings)."""
        ...


class Store(Protocol):
    url: str

    def initialise(self) -> None:
        """Create or upgrade the schema and the default API root and collection (idempotent)."""
        ...

    def check_schema(self) -> None:
        """Raise NotInitialisedError unless the schema is at the revision this code expects."""
        ...

    def close(self) -> None: ...

    def transaction(self, *, dry_run: bool = False) -> AbstractContextManager[Transaction]:
        """One write transaction: committed on normal exit, rolled back on error or dry run."""
        ...

    def collections(self) -> list[Collection]: ...

    def get_collection(self, ref: str) -> Collection:
        """A collection by id or alias; NotFoundError if there is none."""
        ...

    def add_collection(
        self, title: str, *, description: str | None = None, default_tlp: str = "amber",
        alias: str | None = None, api_root: str = DEFAULT_API_ROOT,
    ) -> Collection: ...

    def iter_bodies(self, query: VersionQuery) -> Iterator[bytes]:
        """Stored JSON of matching versions, in date_added order (first membership for no collection)."""
        ...

    def added_after(self, collection_pk: int, after: int, limit: int) -> list[tuple[int, bytes]]:
        """(date_added, body) of versions added to a collection after ``after``, oldest first."""
        ...

    def stats(self) -> Stats: ...

    # organisations, users, tokens, grants (storage/identity.py)
    def add_org(self, name: str, *, kind: str = "local") -> Organisation: ...

    def get_org(self, name: str) -> Organisation: ...

    def orgs(self) -> list[Organisation]: ...

    def add_user(self, username: str, *, org: str, role: str) -> User: ...

    def get_user(self, username: str) -> User: ...

    def users(self) -> list[User]: ...

    def add_token(self, username: str, digest: bytes, *, label: str | None = None,
                  expires: int | None = None) -> Token: ...

    def token_owner(self, digest: bytes) -> tuple[Token, User] | None: ...

    def tokens(self, username: str | None = None) -> list[Token]: ...

    def revoke_token(self, token_pk: int) -> Token: ...

    def set_grant(self, collection: Collection, org: str, *, can_read: bool, can_write: bool) -> Grant: ...

    def remove_grant(self, collection: Collection, org: str) -> None: ...

    def grants(self, collection: Collection | None = None) -> list[Grant]: ...
