"""Sharing records: agreements, the release state of object versions, RED recipients and the
audit log's rows.

A mixin of :class:`accord.storage.sql.SQLStore`. Like identity.py it records facts; what an
agreement allows is decided in accord/policy/. Every change made here that the audit log must
show is appended to it in the same transaction, so a change and its record commit together.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any

import orjson

from accord.audit.chain import GENESIS, entry_hash, items_digest
from accord.errors import AlreadyExistsError, ConfigError, NotFoundError, StorageError
from accord.stix.markings import UNKNOWN, definition_level
from accord.storage.base import (
    Agreement,
    AuditEvent,
    AuditItem,
    AuditRecord,
    Collection,
    ListedVersion,
    State,
    VersionFacts,
)
from accord.storage.ordering import placeholders

_AUDIT_COLUMNS = "seq, at, actor, org, action, agreement, subject, detail, prev_hash, hash"

# The audit entries whose items name an object (the "?"), oldest first: audit_object_index up
# to the entry the indexing has reached, then the items appended since, read by entry (the
# (seq, stix_id) index only grows at its end, so the items of the newest entries are its last
# pages). One statement, so one snapshot: the index and its watermark move together (migration
# 0017, SharingQueries.index_audit_objects), and every indexing state gives the same seqs.
_SEQS_NAMING = ("SELECT o.seq FROM audit_object_index o WHERE o.stix_id = {sid}{before} UNION ALL "
                "SELECT t.seq FROM audit_items t WHERE t.seq > (SELECT indexed_through FROM audit_index_state) "
                "AND t.stix_id = {sid}{tail_before}")
# Whether the watermark is anywhere but at the newest entry (behind it, or past a log cut short).
_LAGGING = "SELECT coalesce((SELECT max(seq) FROM audit_log), 0) <> (SELECT indexed_through FROM audit_index_state)"
# Items indexed by object in one step of index_audit_objects (more when one entry alone has more):
# a step holds the write lock, which partners' receipts wait for, so it is kept to ~10k items.
INDEX_STEP_ITEMS = 10_000


MARKING_DEFINITIONS = "SELECT body FROM object_versions WHERE type = 'marking-definition'"


def learn_marking(levels: dict[str, str], obj: dict[str, Any]) -> None:
    """Record what a stored marking definition says. A definition Accord cannot read, or two
    versions of one id that disagree, make the marking UNKNOWN: it fails closed, so re-issuing a
    marking id can never loosen what it restricts."""
    level = definition_level(obj)
    value = level if level is not None else UNKNOWN
    seen = levels.get(obj["id"])
    levels[obj["id"]] = value if seen is None or seen == value else UNKNOWN


def read_marking_levels(conn: Any) -> dict[str, str]:
    """Levels of every stored non-standard marking definition (partial index, see migration 0004)."""
    levels: dict[str, str] = {}
    for (body,) in conn.execute(MARKING_DEFINITIONS):
        learn_marking(levels, orjson.loads(body))
    return levels


def new_record(seq: int, at: int, event: AuditEvent, detail: bytes, prev_hash: bytes) -> AuditRecord:
    digest = entry_hash(prev_hash, seq, at, event.actor, event.org, event.action, event.agreement, event.subject,
                        detail)
    return AuditRecord(seq, at, event.actor, event.org, event.action, event.agreement, event.subject, detail,
                       prev_hash, digest)


def _record(row: Any) -> AuditRecord:
    seq, at, actor, org, action, agreement, subject, detail, prev, digest = row
    return AuditRecord(seq, at, actor, org, action, agreement, subject, bytes(detail), bytes(prev), bytes(digest))


def insert_audit_items(conn: Any, sql: Callable[[str], str], seq: int, items: Sequence[AuditItem]) -> None:
    """An entry's item rows, one INSERT each (PostgreSQL copies long lists: postgres.copy_audit_items)."""
    cur = conn.cursor()
    cur.executemany(sql("INSERT INTO audit_items (seq, stix_id, version, recipient, owner) VALUES (?, ?, ?, ?, ?)"),
                    [(seq, sid, ver, rcpt, owner) for sid, ver, rcpt, owner in items])
    cur.close()


AuditItemsInto = Callable[[Any, Callable[[str], str], int, Sequence[AuditItem]], None]


AUDIT_HEAD = "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1"  # the chain's newest entry


def next_record(head: Any, at: int, event: AuditEvent) -> AuditRecord:
    """The entry ``event`` becomes after ``head`` (the row AUDIT_HEAD read under the write lock,
    None for an empty log), hashed into the chain."""
    last_seq, prev = (0, GENESIS) if head is None else (head[0], bytes(head[1]))
    return new_record(last_seq + 1, at, event, entry_detail(event), prev)


def entry_detail(event: AuditEvent) -> bytes:
    """The stored (and hashed) detail of ``event``: its own, plus the count and digest of its items."""
    detail = dict(event.detail)
    if event.items:
        detail["items"] = len(event.items)
        detail["items_sha256"] = items_digest(event.items)
    return orjson.dumps(detail, option=orjson.OPT_SORT_KEYS)


def write_record(conn: Any, sql: Callable[[str], str], record: AuditRecord, items: Sequence[AuditItem],
                 items_into: AuditItemsInto = insert_audit_items) -> None:
    conn.execute(sql(f"INSERT INTO audit_log ({_AUDIT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
                 (record.seq, record.at, record.actor, record.org, record.action, record.agreement, record.subject,
                  record.detail, record.prev_hash, record.hash))
    if items:
        items_into(conn, sql, record.seq, items)


def append_audit(conn: Any, sql: Callable[[str], str], at: int, event: AuditEvent, *,
                 items_into: AuditItemsInto = insert_audit_items) -> AuditRecord:
    """Append one event on a connection that holds the write lock (the chain needs the newest hash).
    ``items_into`` writes the item rows (a backend's faster way for thousands of them)."""
    record = next_record(conn.execute(AUDIT_HEAD).fetchone(), at, event)
    write_record(conn, sql, record, event.items, items_into)
    return record


class SharingQueries:
    _sql: Callable[[str], str]
    _read: Callable[[], AbstractContextManager[Any]]
    _write: Callable[..., AbstractContextManager[Any]]
    _stream: Callable[[str, Sequence[Any]], Iterator[tuple[Any, ...]]]
    _clock: Callable[[], int]
    _audit_items_into = staticmethod(insert_audit_items)  # a backend may write them faster

    # -- agreements --------------------------------------------------------------------------
    def add_agreement(self, name: str, *, parties: Sequence[str], max_tlp: str, onward: bool,
                      valid_from: int | None, valid_until: int | None, collections: Sequence[str] = (),
                      types: Sequence[str] = (), actor: str) -> Agreement:
        with self._write() as conn:
            party_pks = [self._org_pk(conn, p) for p in dict.fromkeys(parties)]
            collection_pks = [self._collection_pk(conn, c) for c in dict.fromkeys(collections)]
            if conn.execute(self._sql("SELECT 1 FROM agreements WHERE name = ?"), (name,)).fetchone():
                raise AlreadyExistsError(f"cannot add agreement {name!r}: the name is taken")
            now = self._clock()
            conn.execute(self._sql(
                "INSERT INTO agreements (name, max_tlp, onward, valid_from, valid_until, suspended, created) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)"), (name, max_tlp, onward, valid_from, valid_until, False, now))
            pk = conn.execute(self._sql("SELECT pk FROM agreements WHERE name = ?"), (name,)).fetchone()[0]
            for org_pk in party_pks:
                conn.execute(self._sql("INSERT INTO agreement_parties (agreement_pk, org_pk) VALUES (?, ?)"),
                             (pk, org_pk))
            for cpk in collection_pks:
                conn.execute(self._sql("INSERT INTO agreement_collections (agreement_pk, collection_pk) "
                                       "VALUES (?, ?)"), (pk, cpk))
            for stix_type in dict.fromkeys(types):
                conn.execute(self._sql("INSERT INTO agreement_types (agreement_pk, type) VALUES (?, ?)"),
                             (pk, stix_type))
            append_audit(conn, self._sql, now, AuditEvent(
                actor, "agreement.add", agreement=name,
                detail={"parties": list(dict.fromkeys(parties)), "max_tlp": max_tlp, "onward": onward,
                        "valid_from": valid_from, "valid_until": valid_until,
                        "collections": list(dict.fromkeys(collections)), "types": list(dict.fromkeys(types))}))
        return self.get_agreement(name)

    def _org_pk(self, conn: Any, name: str) -> int:
        row = conn.execute(self._sql("SELECT pk FROM organisations WHERE name = ?"), (name,)).fetchone()
        if row is None:
            raise NotFoundError(f"no organisation {name!r}")
        return int(row[0])

    def _collection_pk(self, conn: Any, ref: str) -> int:
        row = conn.execute(self._sql("SELECT pk FROM collections WHERE id = ? OR alias = ?"), (ref, ref)).fetchone()
        if row is None:
            raise NotFoundError(f"no collection {ref!r}")
        return int(row[0])

    def agreements(self) -> list[Agreement]:
        with self._read() as conn:
            rows = conn.execute("SELECT pk, name, max_tlp, onward, valid_from, valid_until, suspended, ended, "
                                "created FROM agreements ORDER BY name").fetchall()
            parties: dict[int, list[tuple[int, str]]] = {}
            for apk, opk, oname in conn.execute(
                    "SELECT p.agreement_pk, p.org_pk, o.name FROM agreement_parties p "
                    "JOIN organisations o ON o.pk = p.org_pk ORDER BY o.name"):
                parties.setdefault(apk, []).append((opk, oname))
            colls: dict[int, list[int]] = {}
            for apk, cpk in conn.execute("SELECT agreement_pk, collection_pk FROM agreement_collections "
                                         "ORDER BY collection_pk"):
                colls.setdefault(apk, []).append(cpk)
            types: dict[int, list[str]] = {}
            for apk, stix_type in conn.execute("SELECT agreement_pk, type FROM agreement_types ORDER BY type"):
                types.setdefault(apk, []).append(stix_type)
        found = []
        for pk, name, max_tlp, onward, vfrom, vuntil, suspended, ended, created in rows:
            members = parties.get(pk, [])
            found.append(Agreement(pk, name, tuple(o for o, _ in members), tuple(n for _, n in members), max_tlp,
                                   bool(onward), vfrom, vuntil, bool(suspended), ended, created,
                                   tuple(colls.get(pk, ())), tuple(types.get(pk, ()))))
        return found

    def get_agreement(self, name: str) -> Agreement:
        for agreement in self.agreements():
            if agreement.name == name:
                return agreement
        raise NotFoundError(f"no agreement {name!r}")

    def change_agreement(self, name: str, *, action: str, actor: str) -> Agreement:
        current = self.get_agreement(name)
        if current.ended is not None:
            raise ConfigError(f"agreement {name!r} has ended; it cannot be changed (add a new one)")
        updates = {"suspend": ("suspended = ?", True), "resume": ("suspended = ?", False),
                   "end": ("ended = ?", self._clock())}
        if action not in updates:
            raise ConfigError(f"unknown agreement action {action!r}")
        column, value = updates[action]
        with self._write() as conn:
            conn.execute(self._sql(f"UPDATE agreements SET {column} WHERE pk = ?"), (value, current.pk))
            append_audit(conn, self._sql, self._clock(), AuditEvent(actor, f"agreement.{action}", agreement=name))
        return self.get_agreement(name)

    # -- release state -----------------------------------------------------------------------
    def marking_levels(self) -> dict[str, str]:
        with self._read() as conn:
            return read_marking_levels(conn)

    def _facts(self, where: str, params: Sequence[object]) -> list[VersionFacts]:
        """Versions matching ``where``, with their RED recipients."""
        with self._read() as conn:
            rows = conn.execute(self._sql(
                "SELECT pk, stix_id, version, type, owner_org, origin_org, state, tlp, author FROM object_versions "
                f"WHERE {where}"), params).fetchall()
            recipients: dict[int, list[int]] = {}
            for start in range(0, len(rows), 500):
                pks = [r[0] for r in rows[start:start + 500]]
                for vpk, opk in conn.execute(self._sql(
                        f"SELECT version_pk, org_pk FROM version_recipients WHERE version_pk IN "
                        f"({placeholders(len(pks))}) ORDER BY org_pk"), pks):
                    recipients.setdefault(vpk, []).append(opk)
        return [VersionFacts(pk, sid, ver, t, owner, origin, state, tlp, tuple(recipients.get(pk, ())), author)
                for pk, sid, ver, t, owner, origin, state, tlp, author in rows]

    def version_facts(self, stix_id: str, owner_org: int | None = None) -> list[VersionFacts]:
        if owner_org is None:
            return self._facts("stix_id = ? ORDER BY version, pk", (stix_id,))
        return self._facts("stix_id = ? AND owner_org = ? ORDER BY version, pk", (stix_id, owner_org))

    def drafts(self, owner_org: int, limit: int = 1000) -> list[VersionFacts]:
        """An organisation's drafts, oldest first (the approval queue)."""
        return self._facts("owner_org = ? AND state = 'draft' ORDER BY pk LIMIT ?", (owner_org, limit))

    def set_state(self, versions: Sequence[VersionFacts], state: State, *, actor: str,
                  recipients: Sequence[int] = (), detail: dict[str, object] | None = None) -> None:
        if not versions:
            return
        now = self._clock()
        released = (actor, now) if state is State.PUBLISHED else (None, None)
        with self._write() as conn:
            cur = conn.cursor()
            if state is State.PUBLISHED:
                cur.executemany(self._sql("UPDATE object_versions SET state = ?, released_by = ?, released_at = ? "
                                          "WHERE pk = ?"), [(state.value, *released, v.pk) for v in versions])
                self._restamp(cur, [v.pk for v in versions], now)
            else:
                cur.executemany(self._sql("UPDATE object_versions SET state = ? WHERE pk = ?"),
                                [(state.value, v.pk) for v in versions])
            if recipients:
                cur.executemany(self._sql("INSERT INTO version_recipients (version_pk, org_pk) VALUES (?, ?) "
                                          "ON CONFLICT DO NOTHING"), [(v.pk, o) for v in versions for o in recipients])
            cur.close()
            action = {State.PUBLISHED: "publish", State.RETRACTED: "retract", State.DRAFT: "unpublish"}[state]
            names: dict[int, str] = dict(conn.execute("SELECT pk, name FROM organisations").fetchall())
            owners = sorted({names[v.owner_org] for v in versions if v.owner_org in names})
            append_audit(conn, self._sql, now, AuditEvent(
                actor, action, org=owners[0] if len(owners) == 1 else None, subject=versions[0].stix_id,
                detail=dict(detail or {}),
                items=tuple((v.stix_id, v.version, None, names.get(v.owner_org)) for v in versions)))

    def _restamp(self, cur: Any, version_pks: list[int], now: int) -> None:
        """Give published versions a new ``date_added`` in each of their collections.

        For everyone but its owner a draft appears when it is published, so that is when it is
        added as far as they can tell: a partner (or a sync link) reading with ``added_after``
        from where it last stopped would otherwise never see a draft written before that point
        and published after it. The new values continue the node's strictly increasing sequence.
        """
        last = cur.execute("SELECT coalesce(max(date_added), 0) FROM collection_objects").fetchone()[0]
        rows = []
        for start in range(0, len(version_pks), 500):
            part = version_pks[start:start + 500]
            rows.extend(cur.execute(self._sql(
                f"SELECT collection_pk, version_pk FROM collection_objects WHERE version_pk IN "
                f"({placeholders(len(part))}) ORDER BY date_added"), part).fetchall())
        stamped = []
        for collection_pk, version_pk in rows:
            last = now if now > last else last + 1
            stamped.append((last, collection_pk, version_pk))
        cur.executemany(self._sql("UPDATE collection_objects SET date_added = ? WHERE collection_pk = ? "
                                  "AND version_pk = ?"), stamped)

    def remove_from_collection(self, collection: Collection, rows: Sequence[ListedVersion], *, actor: str,
                               org: str | None) -> None:
        """Take versions out of a collection (TAXII Delete an Object); the versions stay stored."""
        with self._write() as conn:
            cur = conn.cursor()
            cur.executemany(self._sql("DELETE FROM collection_objects WHERE collection_pk = ? AND version_pk = ?"),
                            [(collection.pk, r.pk) for r in rows])
            cur.close()
            append_audit(conn, self._sql, self._clock(), AuditEvent(
                actor, "delete", org=org, subject=collection.id, detail={"collection": collection.id},
                items=tuple((r.stix_id, r.version, None, org) for r in rows)))

    def originated_here(self, keys: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which (stix_id, version) of ``keys`` this node holds as its own data (not received
        from another node): a pull must not take them back as the partner's."""
        ids = sorted({sid for sid, _ in keys})
        found: set[tuple[str, str]] = set()
        with self._read() as conn:
            for start in range(0, len(ids), 500):
                part = ids[start:start + 500]
                found.update(conn.execute(self._sql(
                    f"SELECT stix_id, version FROM object_versions WHERE origin_org IS NULL AND stix_id IN "
                    f"({placeholders(len(part))})"), part).fetchall())
        return found & set(keys)

    def retractions_received(self, org: str, *, after: int, limit: int) -> list[tuple[int, int, str, str]]:
        """The retraction feed a partner's node reads: only retractions of the very copy (same
        owner) that the audit log says this organisation received before it was retracted (over
        TAXII, an export or a push), so the feed reveals nothing about objects it never saw, and
        one organisation retracting its own copy of an id never retracts another's."""
        with self._read() as conn:
            rows = conn.execute(self._sql(
                "SELECT l.seq, l.at, i.stix_id, i.version FROM audit_log l JOIN audit_items i ON i.seq = l.seq "
                "WHERE l.action = 'retract' AND l.seq > ? AND EXISTS (SELECT 1 FROM ("
                + _SEQS_NAMING.format(sid="i.stix_id", before=" AND o.seq < l.seq", tail_before=" AND t.seq < l.seq")
                + ") s JOIN audit_items r ON r.seq = s.seq AND r.stix_id = i.stix_id "
                "WHERE r.version = i.version AND r.owner = i.owner AND r.recipient = ? "
                # A scalar read by seq rather than a join: no planner may drive this from every receipt.
                "AND (SELECT rl.action FROM audit_log rl WHERE rl.seq = s.seq) = 'receive') "
                "ORDER BY l.seq LIMIT ?"),
                (after, org, limit)).fetchall()
        return [(seq, at, sid, ver) for seq, at, sid, ver in rows]

    # -- audit log ---------------------------------------------------------------------------
    def audit_append(self, event: AuditEvent, *, durable: bool = True) -> AuditRecord:
        """Append one event in a transaction of its own. ``durable=False`` (partners' read
        receipts) commits without waiting for the disk: a crash of the process loses nothing,
        a power cut may lose the last receipts but never breaks the chain, and a read does not
        pay an fsync (SQLite synchronous=NORMAL, PostgreSQL synchronous_commit=off)."""
        with self._write(durable=durable) as conn:
            return append_audit(conn, self._sql, self._clock(), event, items_into=self._audit_items_into)

    def audit_records(self, *, org: str | None = None, stix_id: str | None = None,
                      agreement: str | None = None, action: str | None = None,
                      limit: int | None = None, after: int | None = None, before: int | None = None,
                      newest_first: bool = False) -> list[AuditRecord]:
        where: list[str] = []
        params: list[object] = []
        if after is not None:
            where.append("a.seq > ?")
            params.append(after)
        if before is not None:
            where.append("a.seq < ?")
            params.append(before)
        for column, value in (("org", org), ("agreement", agreement), ("action", action)):
            if value is not None:
                where.append(f"a.{column} = ?")
                params.append(value)
        if stix_id is not None:
            where.append(f"(a.subject = ? OR a.seq IN ({_SEQS_NAMING.format(sid='?', before='', tail_before='')}))")
            params.extend((stix_id, stix_id, stix_id))
        query = f"SELECT {', '.join('a.' + c for c in _AUDIT_COLUMNS.split(', '))} FROM audit_log a"
        if where:
            query += " WHERE " + " AND ".join(where)
        query += " ORDER BY a.seq DESC" if newest_first else " ORDER BY a.seq"
        if limit is not None:
            query += " LIMIT ?"
            params.append(limit)
        with self._read() as conn:
            return [_record(r) for r in conn.execute(self._sql(query), params).fetchall()]

    def audit_items(self, seqs: Sequence[int]) -> dict[int, list[AuditItem]]:
        found: dict[int, list[AuditItem]] = {}
        if not seqs:
            return found
        with self._read() as conn:
            for start in range(0, len(seqs), 500):
                part = list(seqs[start:start + 500])
                # rowid order is insertion order on both backends' audit_items (no updates ever)
                for seq, sid, ver, rcpt, owner in conn.execute(self._sql(
                        f"SELECT seq, stix_id, version, recipient, owner FROM audit_items WHERE seq IN "
                        f"({placeholders(len(part))})"), part):
                    found.setdefault(seq, []).append((sid, ver, rcpt, owner))
        return found

    def index_audit_objects(self, *, most: int = INDEX_STEP_ITEMS) -> bool:
        """One step of indexing by object the items of entries appended since the last step:
        about ``most`` items (all of one entry at least), sorted, in one transaction with the
        new watermark. True when entries remain unindexed. When none do it costs one read and
        takes no write lock; it is safe beside appends and beside other steps (the write lock
        orders them) and never changes what a read by object returns, only how fast.

        Not durable (a receipt's commit isn't either): a power cut may take the last step back,
        index and watermark together, and the next step does it again."""
        with self._read() as conn:
            if not conn.execute(_LAGGING).fetchone()[0]:
                return False
        with self._write(durable=False) as conn:
            state = conn.execute("SELECT indexed_through FROM audit_index_state").fetchone()
            if state is None:
                raise StorageError("audit_index_state has no row: the audit log's by-object index cannot be kept "
                                   "(was the schema edited by hand? `accord init` does not recreate it)")
            done = state[0]
            head = conn.execute(AUDIT_HEAD).fetchone()
            newest = 0 if head is None else head[0]
            if newest < done:
                # The log was cut short (`accord audit verify` reports that as tampering): the index
                # must not keep naming entries that are gone, nor skip the ones that take their seqs.
                conn.execute(self._sql("DELETE FROM audit_object_index WHERE seq > ?"), (newest,))
                conn.execute(self._sql("UPDATE audit_index_state SET indexed_through = ?"), (newest,))
                return False
            if newest == done:
                return False
            past = conn.execute(self._sql("SELECT seq FROM audit_items WHERE seq > ? ORDER BY seq LIMIT 1 OFFSET ?"),
                                (done, most)).fetchone()
            # Up to the entry before the one holding item most + 1, or that entry if it is the first.
            through = newest if past is None else (past[0] - 1 if past[0] - 1 > done else past[0])
            conn.execute(self._sql("INSERT INTO audit_object_index (stix_id, seq) SELECT DISTINCT stix_id, seq "
                                   "FROM audit_items WHERE seq > ? AND seq <= ? ORDER BY stix_id, seq"),
                         (done, through))
            conn.execute(self._sql("UPDATE audit_index_state SET indexed_through = ?"), (through,))
            return bool(through < newest)

    def iter_audit(self) -> Iterator[AuditRecord]:
        for row in self._stream(self._sql(f"SELECT {_AUDIT_COLUMNS} FROM audit_log ORDER BY seq"), ()):
            yield _record(row)
