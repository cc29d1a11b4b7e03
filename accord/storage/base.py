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
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

DEFAULT_API_ROOT = "default"
# How the node operator (the CLI without --as, who has direct database access) appears as an actor.
OPERATOR = "(node operator)"

# An audit item: (stix_id, version, recipient organisation, owner organisation).
AuditItem = tuple[str, str, str | None, str | None]
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


class State(enum.StrEnum):
    """Release state of an object version (DESIGN.md, sharing model)."""

    DRAFT = "draft"  # visible to its owner organisation only
    PUBLISHED = "published"  # released: shared as the agreements allow
    RETRACTED = "retracted"  # withdrawn: visible to its owner only, and what sync propagates


@dataclass(frozen=True, slots=True)
class Provenance:
    """Who a write is for: every version a transaction writes with it is owned by ``owner_org``.

    ``origin_org``/``origin_node`` are set only for data received from another node.
    ``recipients`` (organisation pks) are the named recipients of RED versions.
    """

    owner_org: int
    state: State = State.PUBLISHED
    author: str | None = None  # username; None for the node operator
    origin_org: int | None = None
    origin_node: str | None = None
    recipients: tuple[int, ...] = ()
    owner_name: str | None = None  # for the audit log


# Not frozen: a frozen dataclass sets each field through object.__setattr__ (~0.9 us a result
# against ~0.2), and the writer makes one per version written, on the import's critical path.
@dataclass(slots=True)
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
    # While disabled: by a node-admin (or the node operator), so that only one may enable it again.
    disabled_by_node_admin: bool = False


@dataclass(frozen=True, slots=True)
class WebSession:
    """A signed-in browser: its user and its times (microseconds since the epoch)."""

    user: User
    created: int
    last_seen: int
    expires: int


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
class PeerLink:
    """One collection exchanged with a peer, in one direction, and how far it has got."""

    pk: int
    peer_pk: int
    direction: str  # 'pull' (remote -> local) or 'push' (local -> remote)
    remote_collection: str
    local_collection_pk: int
    cursor: str | None
    objects: int
    last_attempt: int | None
    last_success: int | None
    last_error: str | None
    retractions_cursor: int = 0
    feedback_cursor: int = 0  # pull links: the local date_added sightings were sent back up to


@dataclass(frozen=True, slots=True)
class Peer:
    """A partner's node. ``sealed_token`` is the API token sealed with the node key."""

    pk: int
    name: str
    url: str
    username: str
    sealed_token: bytes
    org_pk: int
    org_name: str
    interval_s: int
    paused: bool
    accept_max_tlp: str
    accept_types: tuple[str, ...]
    created: int
    links: tuple[PeerLink, ...] = ()


@dataclass(frozen=True, slots=True)
class OverlapKey:
    """A key of the overlap check (storage/overlap.py), sealed with the node key. For a partner's
    key, ``remote_agreement`` is the agreement's name on the partner's node (None: not needed) and
    ``for_org`` the local organisation the peer's account there speaks for (None: not named, as
    for keys kept before migration 0013; node-admins alone may ask with it)."""

    sealed_key: bytes
    fingerprint: str
    created: int
    remote_agreement: str | None = None
    for_org: str | None = None


@dataclass(frozen=True, slots=True)
class Agreement:
    """A sharing agreement between organisations. Empty ``collections``/``types`` mean "all"."""

    pk: int
    name: str
    parties: tuple[int, ...]  # organisation pks
    party_names: tuple[str, ...]
    max_tlp: str
    onward: bool
    valid_from: int | None
    valid_until: int | None
    suspended: bool
    ended: int | None
    created: int
    collections: tuple[int, ...] = ()
    types: tuple[str, ...] = ()

    def state_at(self, now: int) -> str:
        """'active', or why not: 'ended', 'suspended', 'not yet valid', 'expired'."""
        if self.ended is not None:
            return "ended"
        if self.suspended:
            return "suspended"
        if self.valid_from is not None and now < self.valid_from:
            return "not yet valid"
        if self.valid_until is not None and now >= self.valid_until:
            return "expired"
        return "active"


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """Something to record in the audit log. ``items`` are (stix_id, version, recipient org name,
    owner org name): the owner says WHICH organisation's copy of the version it concerns."""

    actor: str
    action: str
    org: str | None = None
    agreement: str | None = None
    subject: str | None = None
    detail: dict[str, object] = field(default_factory=dict)
    items: tuple[AuditItem, ...] = ()


@dataclass(frozen=True, slots=True)
class AuditRecord:
    seq: int
    at: int
    actor: str
    org: str | None
    action: str
    agreement: str | None
    subject: str | None
    detail: bytes
    prev_hash: bytes
    hash: bytes


class VersionFacts(NamedTuple):
    """What the policy gate needs to know about one stored version to judge it. A named tuple
    (immutable, as the gate's input must be) rather than a frozen dataclass, for the reason
    ListedVersion gives: a partner's export or bulk lookup judges one per row."""

    pk: int
    stix_id: str
    version: str
    type: str
    owner_org: int
    origin_org: int | None
    state: str
    tlp: str | None
    recipients: tuple[int, ...] = ()
    author: str | None = None


@dataclass(frozen=True, slots=True)
class VersionQuery:
    """Which versions to read. Empty tuples mean "no restriction"."""

    collection_pk: int | None = None
    types: tuple[str, ...] = ()
    latest_only: bool = False
    owner_org: int | None = None  # only versions this organisation owns
    added_after: int | None = None  # only memberships with a later date_added (iter_visible)


@dataclass(frozen=True, slots=True)
class VisibleCounts:
    """Counts of the object versions one caller may see (Store.visible_counts)."""

    versions: int
    objects: int  # distinct STIX ids
    by_type: dict[str, int]
    by_tlp: dict[str, int]  # 'unmarked': no TLP marking (the collection's default applies)


@dataclass(frozen=True, slots=True)
class ObservableQuery:
    """Index keys to look up (storage/search.py, ``Store.observable_versions``): exact
    (index type, normalised value) pairs and half-open ranges (index type, low, high) of values
    (``low <= value < high`` in the database's text order: a prefix of dotted or colon-separated
    addresses), restricted to versions of ``types`` when given."""

    keys: tuple[tuple[str, str], ...] = ()
    ranges: tuple[tuple[str, str, str], ...] = ()
    types: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SearchFilter:
    """An analyst's search (storage/search.py). Empty tuples and None mean "no restriction";
    ``before`` is the paging cursor (only memberships added earlier)."""

    types: tuple[str, ...] = ()
    owners: tuple[int, ...] = ()
    origins: tuple[int, ...] = ()
    states: tuple[str, ...] = ()
    collections: tuple[int, ...] = ()
    tlps: tuple[str, ...] = ()
    defaulted_collections: tuple[int, ...] = ()  # unmarked versions here take one of ``tlps``
    observables: tuple[tuple[str, str], ...] = ()  # (index type, normalised value): any of them
    contains: tuple[str, ...] = ()  # substrings of the stored JSON (a pre-filter)
    received: bool | None = None  # True: only from partner nodes; False: only this node's own
    not_owner: int | None = None  # leave out this organisation's own versions
    added_after: int | None = None
    before: int | None = None
    not_before: int | None = None  # the window's oldest date_added (inclusive), see Store.membership_floor


@dataclass(frozen=True, slots=True)
class Stats:
    total_versions: int
    by_type: dict[str, int]
    by_collection: dict[str, int]
    by_tlp: dict[str, int]
    observables: int


class Transaction(Protocol):
    def write(self, collection: Collection, batch: Sequence[PreparedVersion],
              provenance: Provenance) -> list[WriteResult]: ...

    def audit(self, event: AuditEvent) -> AuditRecord:
        """Append an event to the audit log, committed with (and only with) this transaction."""
        ...

    def save_status(self, status_id: str, api_root: str, owner: str, body: bytes) -> None:
        """Keep a TAXII status resource, committed with the objects it reports on."""
        ...

    def set_tlp(self, fixes: Sequence[tuple[str, str, str | None]], owner_org: int) -> None:
        """Set the effective TLP of (stix_id, version, tlp) written earlier in this transaction."""
        ...

    def marking_levels(self) -> dict[str, str]:
        """Levels of the non-standard marking definitions stored so far (see stix.markings)."""
        ...

    def advance_link(self, link_pk: int, cursor: str, objects: int) -> None:
        """Move a peer link's cursor, committed with (and only with) what it moved past."""
        ...


class Store(Protocol):
    url: str

    def initialise(self) -> None:
        """Create or upgrade the schema and the default API root and collection (idempotent)."""
        ...

    def schema_revision(self) -> str | None:
        """The database's schema revision (Alembic), or None if it has no Accord schema."""
        ...

    def check_schema(self) -> None:
        """Raise NotInitialisedError unless the schema is at the revision this code expects."""
        ...

    def close(self) -> None: ...

    def wrote(self) -> bool:
        """Whether this store object has committed a write since it was opened (no I/O)."""
        ...

    def transaction(self, *, dry_run: bool = False, durable: bool = True) -> AbstractContextManager[Transaction]:
        """One write transaction: committed on normal exit, rolled back on error or dry run.
        ``durable=False`` commits without waiting for the disk (see audit_append): for work that
        nobody was told is done and that is redone if lost, like a sync page and its cursor."""
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

    def iter_visible(self, query: VersionQuery, where: RowFilter) -> Iterator[ListedVersion]:
        """Versions passing ``where`` (aliases ``m``, ``v``), each once, in date_added order."""
        ...

    def added_after(self, collection_pk: int, after: int, limit: int) -> list[tuple[int, bytes]]:
        """(date_added, body) of versions added to a collection after ``after``, oldest first."""
        ...

    def stats(self) -> Stats: ...

    # organisations, users, tokens, grants (storage/identity.py)
    def add_org(self, name: str, *, kind: str = "local", actor: str = OPERATOR) -> Organisation: ...

    def get_org(self, name: str) -> Organisation: ...

    def orgs(self) -> list[Organisation]: ...

    def org_names(self, pks: Iterable[int | None] = ()) -> dict[int, str]:
        """Organisation pk -> name, holding at least every pk of ``pks`` that exists (None is
        ignored); kept between calls, since organisations are never renamed or removed."""
        ...

    def add_user(self, username: str, *, org: str, role: str, actor: str = OPERATOR) -> User: ...

    def get_user(self, username: str) -> User: ...

    def users(self) -> list[User]: ...

    def set_user_disabled(self, username: str, disabled: bool, *, actor: str = OPERATOR,
                          by_node_admin: bool = True) -> User:
        """Disable a user (every way in refused from the next request: tokens, password, web
        sessions, which are ended) or enable it again; audited when it changes anything.
        ``by_node_admin``: whether the one disabling holds the node-admin level (kept while the
        user stays disabled, for policy/administration.may_enable_user)."""
        ...

    def add_token(self, username: str, digest: bytes, *, label: str | None = None,
                  expires: int | None = None, actor: str = OPERATOR) -> Token: ...

    def token_owner(self, digest: bytes) -> tuple[Token, User] | None: ...

    def tokens(self, username: str | None = None) -> list[Token]: ...

    def revoke_token(self, token_pk: int, *, actor: str = OPERATOR) -> Token: ...

    def set_grant(self, collection: Collection, org: str, *, can_read: bool, can_write: bool,
                  actor: str = OPERATOR) -> Grant: ...

    def remove_grant(self, collection: Collection, org: str, *, actor: str = OPERATOR) -> None: ...

    def grants(self, collection: Collection | None = None) -> list[Grant]: ...

    # search (storage/search.py)
    def search_versions(self, where: RowFilter, f: SearchFilter, *, limit: int,
                        with_body: bool = True) -> list[ListedVersion]:
        """Newest first: each object's newest version ``where`` admits, among those matching ``f``."""
        ...

    def observable_versions(self, q: ObservableQuery, where: RowFilter, *, limit: int | None = None,
                            ) -> list[tuple[str, str, ListedVersion]]:
        """(index type, indexed value, membership row with body) for every version ``where``
        admits that the index holds under one of ``q``'s keys or ranges: one statement for the
        whole query, ordered by key, then newest version first; at most ``limit`` rows."""
        ...

    def network_prefixes(self) -> dict[str, frozenset[str]]:
        """Index type -> the prefix lengths (the text after "/") of the networks the index holds.
        Not gated and never shown: a lookup only skips keys nothing can be indexed under."""
        ...

    def index_types(self) -> frozenset[str]:
        """The index types the observable index holds anything under. Not gated and never shown,
        for the same use as :meth:`network_prefixes`."""
        ...

    def correlated_versions(self, keys: Sequence[tuple[str, str]], where: RowFilter, *, per_key: int,
                            ) -> list[tuple[str, str, ListedVersion]]:
        """(index type, indexed value, membership row with body) for the versions ``where`` admits
        that the index holds under each of ``keys``, at most ``per_key`` rows per key, newest
        version first: one statement for all the keys (correlation, services/correlation.py)."""
        ...

    def membership_floor(self, before: int, rows: int) -> int | None:
        """The ``date_added`` ``rows`` memberships older than ``before`` (None: fewer remain):
        the lower edge of a bounded search window."""
        ...

    def listed_versions(self, version_pks: Sequence[int], where: RowFilter) -> list[ListedVersion]:
        """The memberships of these versions that ``where`` admits, with bodies, newest first."""
        ...

    def object_versions(self, stix_id: str, where: RowFilter) -> list[ListedVersion]:
        """Every membership of every version of one object ``where`` admits, oldest version first."""
        ...

    def provenance(self, version_pks: list[int]) -> dict[int, tuple[str | None, str | None, str | None, int | None]]:
        """(origin node, author, released by, released at) of each version."""
        ...

    # web sign-in: password hashes and sessions (storage/sessions.py)
    def set_password_hash(self, username: str, password_hash: str | None, *, actor: str = OPERATOR) -> None:
        """Replace a user's password hash (None: no web sign-in) and end all their sessions; audited."""
        ...

    def password_hash(self, username: str) -> tuple[User, str | None] | None: ...

    def add_session(self, digest: bytes, user_pk: int, *, expires: int) -> None: ...

    def web_session(self, digest: bytes) -> WebSession | None: ...

    def touch_session(self, digest: bytes, last_seen: int) -> None: ...

    def end_session(self, digest: bytes) -> None: ...

    # TAXII reads and status resources (storage/taxii_queries.py). Every listing takes the
    # caller's visibility filter from policy.gate and applies it inside its WHERE clause.
    def api_roots(self) -> list[ApiRoot]: ...

    def visible_collections(self, api_root: str, where: RowFilter) -> list[Collection]:
        """Collections of an API root that pass ``where`` (alias ``c``), oldest first."""
        ...

    def visible_collection(self, api_root: str, collection_id: str, where: RowFilter) -> Collection | None:
        """One collection by its id, or None if there is none or ``where`` hides it."""
        ...

    def visible_counts(self, where: RowFilter) -> VisibleCounts:
        """Counts of the versions passing ``where`` (aliases ``m``, ``v``; a version in several
        collections counts once): what a caller may see, never the node's totals."""
        ...

    def list_versions(self, query: ListQuery, where: RowFilter) -> list[ListedVersion]:
        """Versions in a collection passing ``where`` (aliases ``m``, ``v``) and the query, oldest
        ``date_added`` first; at most ``query.limit`` rows."""
        ...

    def save_status(self, status_id: str, api_root: str, owner: str, body: bytes) -> None:
        """Keep a TAXII status resource; statuses older than STATUS_RETENTION are pruned here."""
        ...

    def get_status(self, status_id: str, api_root: str, owner: str) -> bytes | None: ...

    def node_secret(self, name: str) -> bytes:
        """A 32-byte secret of the node, created on first use and the same for every process."""
        ...

    # sharing: agreements, release state, audit log (storage/sharing.py)
    def add_agreement(self, name: str, *, parties: Sequence[str], max_tlp: str, onward: bool,
                      valid_from: int | None, valid_until: int | None, collections: Sequence[str] = (),
                      types: Sequence[str] = (), actor: str) -> Agreement: ...

    def agreements(self) -> list[Agreement]: ...

    def get_agreement(self, name: str) -> Agreement: ...

    def change_agreement(self, name: str, *, action: str, actor: str) -> Agreement:
        """``action`` is 'suspend', 'resume' or 'end'; audited in the same transaction."""
        ...

    def marking_levels(self) -> dict[str, str]:
        """Levels of the non-standard marking definitions stored (see stix.markings)."""
        ...

    def version_facts(self, stix_id: str, owner_org: int | None = None) -> list[VersionFacts]:
        """Every stored version of an object (of one owner, if given), oldest version first."""
        ...

    def drafts(self, owner_org: int, limit: int = 1000) -> list[VersionFacts]:
        """An organisation's drafts, oldest first (the approval queue)."""
        ...

    def set_state(self, versions: Sequence[VersionFacts], state: State, *, actor: str,
                  recipients: Sequence[int] = (), detail: dict[str, object] | None = None) -> None:
        """Move versions to a release state (and add RED recipients), audited in one transaction."""
        ...

    def remove_from_collection(self, collection: Collection, rows: Sequence[ListedVersion], *, actor: str,
                               org: str | None) -> None: ...

    def audit_append(self, event: AuditEvent, *, durable: bool = True) -> AuditRecord:
        """Append an event in its own transaction; ``durable=False`` skips waiting for the disk."""
        ...

    def audit_records(self, *, org: str | None = None, stix_id: str | None = None,
                      agreement: str | None = None, action: str | None = None,
                      limit: int | None = None, after: int | None = None, before: int | None = None,
                      newest_first: bool = False) -> list[AuditRecord]:
        """Matching entries in sequence order (reversed with ``newest_first``); ``after`` / ``before``:
        only those with a later / an earlier ``seq`` (paging either way)."""
        ...

    def audit_items(self, seqs: Sequence[int]) -> dict[int, list[AuditItem]]: ...

    def index_audit_objects(self, *, most: int = 10_000) -> bool:
        """Index by object (for ``audit_records(stix_id=...)`` and the retraction feed) the items
        of about ``most`` audit items appended since the last call; True while more remain.
        Reads by object are exact at any point; this only keeps them fast (the server runs it
        in the background, a command before it exits: services/audit_index.py)."""
        ...

    def iter_audit(self) -> Iterator[AuditRecord]:
        """Every audit record in sequence order, streamed (for verification)."""
        ...

    # federation: peers and their links (storage/peers.py)
    def add_peer(self, name: str, *, url: str, username: str, sealed_token: bytes, org: str, interval_s: int,
                 accept_max_tlp: str, accept_types: Sequence[str], links: Sequence[tuple[str, str, str]],
                 actor: str) -> Peer:
        """``links`` are (direction, remote collection id, local collection id or alias)."""
        ...

    def get_peer(self, name: str) -> Peer: ...

    def peers(self) -> list[Peer]: ...

    def change_peer(self, name: str, *, action: str, actor: str) -> Peer:
        """``action`` is 'pause', 'resume' or 'remove'; audited."""
        ...

    def record_link_attempt(self, link_pk: int, *, error: str | None) -> None:
        """Note a sync attempt of a link: its time, and its error (None: it succeeded)."""
        ...

    def set_retractions_cursor(self, link_pk: int, seq: int) -> None: ...

    def set_feedback_cursor(self, link_pk: int, date_added: int) -> None: ...

    def originated_here(self, keys: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        """The (stix_id, version) of ``keys`` held as this node's own data, not received from a peer."""
        ...

    def retractions_received(self, org: str, *, after: int, limit: int) -> list[tuple[int, int, str, str]]:
        """(audit seq, time, stix_id, version) of retractions, after audit entry ``after``, of
        versions the audit log records as received by organisation ``org``, oldest first."""
        ...

    # alerts: rules, the cursor, alerts and their webhook deliveries (storage/alerts.py)
    def add_alert_rule(self, rule: NewAlertRule, *, actor: str) -> AlertRule:
        """Store a rule (audited); it counts memberships added after the newest one now."""
        ...

    def alert_rules(self, org_pk: int | None = None, *, deliveries: bool = True) -> list[AlertRule]:
        """Rules of one organisation (None: every organisation's), by organisation and name; with
        their deliveries counted by state and the newest error unless ``deliveries`` is False."""
        ...

    def get_alert_rule(self, pk: int) -> AlertRule:
        """One rule; NotFoundError if there is none."""
        ...

    def remove_alert_rule(self, pk: int, *, actor: str) -> AlertRule:
        """Delete a rule with its alerts and deliveries (audited; receipts stay in the audit log)."""
        ...

    def alert_position(self) -> int:
        """The cursor: the ``date_added`` up to which every membership has been evaluated."""
        ...

    def membership_window(self, after: int, rows: int) -> int | None:
        """The ``date_added`` ``rows`` memberships after ``after`` (or the newest, if fewer follow);
        None if none follows: the upper edge of the next window to evaluate."""
        ...

    def added_between(self, after: int, upto: int, where: RowFilter) -> list[ListedVersion]:
        """Published versions ``where`` admits with a membership added in ``(after, upto]``, each
        version once (its first such membership), in ``date_added`` order."""
        ...

    def owned_observables(self, keys: Sequence[tuple[str, str]], org_pk: int, *, per_key: int,
                          ) -> dict[tuple[str, str], list[str]]:
        """Key -> ids of up to ``per_key`` of the organisation's own objects (not retracted) that
        carry it, newest first; keys no own object carries are absent."""
        ...

    def alerted(self, rule_pks: Sequence[int], version_pks: Sequence[int]) -> set[tuple[int, int]]:
        """The (rule, version) pairs of these that have raised an alert already."""
        ...

    def record_alerts(self, after: int, upto: int, alerts: Sequence[NewAlert],
                      receipts: Sequence[AuditEvent]) -> bool:
        """In one transaction: move the cursor from ``after`` to ``upto``, store the alerts and
        their deliveries, append the receipts. False (and nothing done) if the cursor was no longer
        at ``after``: another run evaluated the window first."""
        ...

    def alerts(self, org_pk: int | None, *, limit: int, before: int | None = None,
               acknowledged: bool | None = None) -> list[Alert]:
        """An organisation's alerts (None: every one's), newest first, before alert ``before``;
        only the acknowledged ones (True) or the others (False) when ``acknowledged`` says so."""
        ...

    def get_alert(self, uid: str) -> Alert:
        """One alert by its public id; NotFoundError if there is none."""
        ...

    def acknowledge_alert(self, pk: int, *, actor: str) -> Alert:
        """Record that ``actor`` acknowledged the alert now, with an ``alert.ack`` audit entry in
        the same transaction; an alert acknowledged already keeps its first acknowledgement (and
        no entry is added). Returns the alert as it stands; NotFoundError if there is none."""
        ...

    def claim_deliveries(self, now: int, *, lease: int, limit: int) -> list[Delivery]:
        """Pending deliveries due at ``now``, each put off by ``lease`` microseconds in the same
        transaction, so that two runners never send one at once."""
        ...

    def finish_delivery(self, alert_pk: int, *, state: str, attempts: int, next_attempt: int,
                        status: int | None, error: str | None) -> None:
        """Record one attempt's outcome: 'delivered', 'pending' (retry at ``next_attempt``),
        'failed' (gave up) or 'withheld' (no longer the organisation's to receive)."""
        ...

    # the overlap check: keys and what the answering node hashes (storage/overlap.py)
    def set_agreement_overlap_key(self, name: str, *, sealed_key: bytes, fingerprint: str, actor: str) -> OverlapKey:
        """Give an agreement its (new) overlap key, replacing any; audited with the fingerprint only."""
        ...

    def remove_agreement_overlap_key(self, name: str, *, actor: str) -> None: ...

    def agreement_overlap_keys(self) -> dict[int, OverlapKey]:
        """Agreement pk -> its overlap key, for the agreements that have one."""
        ...

    def set_peer_overlap_key(self, name: str, *, sealed_key: bytes, fingerprint: str, remote_agreement: str | None,
                             for_org: str | None, actor: str) -> OverlapKey:
        """Keep a partner's key for a peer, replacing any (NotFoundError: no such peer or organisation)."""
        ...

    def set_peer_overlap_org(self, name: str, *, for_org: str, actor: str) -> OverlapKey:
        """Name the local organisation the peer's kept key speaks for (ConfigError: no key kept)."""
        ...

    def remove_peer_overlap_key(self, name: str, *, actor: str) -> None: ...

    def peer_overlap_key(self, name: str) -> OverlapKey | None:
        """The partner's key kept for a peer (NotFoundError: no such peer; None: no key)."""
        ...

    def indexed_values(self) -> Iterator[tuple[str, str, int]]:
        """(index type, value, one version pk holding it) for every distinct indexed value but
        references, streamed; not gated (it feeds the overlap check's hash table only)."""
        ...

    def newest_version_pk(self) -> int: ...

    def bodies_after(self, after_pk: int, limit: int) -> list[tuple[int, bytes]]:
        """(pk, stored JSON) of versions after ``after_pk``, oldest first; not gated (see indexed_values)."""
        ...

    def bodies_of(self, version_pks: Sequence[int]) -> dict[int, bytes]:
        """The stored JSON of these versions; not gated (see indexed_values)."""
        ...


# A status resource stays readable at least this long (TAXII clients poll it; 24 h promised).
STATUS_RETENTION_MICROS = 7 * 24 * 3600 * 1_000_000


class RowFilter(Protocol):
    """A SQL boolean expression with ``?`` placeholders, and its parameters (policy.gate.Predicate)."""

    @property
    def sql(self) -> str: ...

    @property
    def params(self) -> tuple[object, ...]: ...


@dataclass(frozen=True, slots=True)
class ApiRoot:
    name: str
    title: str
    description: str | None
    created: int


@dataclass(frozen=True, slots=True)
class VersionMatch:
    """TAXII ``match[version]``: any of the first, the last, every version, or given versions.

    ``keys`` are version keys (stix.versions.version_key) of timestamped objects; ``added``
    are ``date_added`` values, which stand for the version of objects without timestamps.
    """

    all: bool = False
    first: bool = False
    last: bool = False
    keys: tuple[str, ...] = ()
    added: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class ListQuery:
    collection_pk: int
    ids: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    spec_versions: tuple[str, ...] = ()
    versions: VersionMatch = VersionMatch(last=True)
    after: int = 0  # only versions with date_added > after
    limit: int = 100
    with_body: bool = True


class ListedVersion(NamedTuple):
    """One membership of one version, as a listing returns it. A named tuple rather than a
    frozen dataclass: every listing makes one per row (a bulk lookup 5,000, an export one per
    object), and a frozen dataclass's constructor sets each of its twelve fields through
    object.__setattr__ (~3 us a row, against ~0.7)."""

    date_added: int
    stix_id: str
    version: str  # the version key
    spec_version: str
    body: bytes | None
    pk: int = 0
    collection_pk: int = 0
    type: str = ""
    owner_org: int = 0
    origin_org: int | None = None
    state: str = "published"
    tlp: str | None = None

    def facts(self, recipients: tuple[int, ...] = ()) -> VersionFacts:
        return VersionFacts(self.pk, self.stix_id, self.version, self.type, self.owner_org, self.origin_org,
                            self.state, self.tlp, recipients)


@dataclass(frozen=True, slots=True)
class NewAlertRule:
    """A rule as its creator gives it (services/alert_rules.py checks it first)."""

    org_pk: int
    name: str
    kind: str  # 'sighting', 'watchlist', 'own-indicators'
    partner_org: int | None = None
    values: tuple[str, ...] = ()
    sighting_types: tuple[str, ...] = ()
    webhook_url: str | None = None
    sealed_secret: bytes | None = None


@dataclass(frozen=True, slots=True)
class AlertRule:
    pk: int
    org_pk: int
    org_name: str
    name: str
    kind: str
    partner_org: int | None
    partner_name: str | None
    values: tuple[str, ...]
    sighting_types: tuple[str, ...]
    webhook_url: str | None
    sealed_secret: bytes | None
    since: int
    created: int
    created_by: str
    deliveries: dict[str, int] = field(default_factory=dict)  # state -> count
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class NewAlert:
    uid: str  # the alert's public id (a UUID), also in its webhook payload
    rule_pk: int
    org_pk: int
    version_pk: int
    stix_id: str
    date_added: int
    matched: bytes  # JSON
    related: tuple[int, ...] = ()  # other versions disclosed with it
    payload: bytes | None = None  # the webhook body; None: the rule has no webhook


@dataclass(frozen=True, slots=True)
class Alert:
    pk: int
    uid: str
    rule_pk: int
    rule_name: str
    kind: str
    org_pk: int
    version_pk: int
    stix_id: str
    related: tuple[int, ...]
    date_added: int
    matched: bytes
    created: int
    delivery: str | None  # None: no webhook
    attempts: int = 0
    last_error: str | None = None
    acknowledged: int | None = None  # when a member of its organisation acknowledged it (None: not yet)
    acknowledged_by: str | None = None  # who: a username, or the node operator


@dataclass(frozen=True, slots=True)
class Delivery:
    alert_pk: int
    uid: str
    rule_pk: int
    org_pk: int
    version_pks: tuple[int, ...]  # the alert's version and its related ones
    webhook_url: str
    sealed_secret: bytes
    payload: bytes
    attempts: int
