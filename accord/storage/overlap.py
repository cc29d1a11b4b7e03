"""The overlap check's records (services/overlap.py, docs/early-warning.md): sealed keys, and the
reads that build the answering node's table of keyed hashes.

A mixin of :class:`accord.storage.sql.SQLStore`. The keys arrive sealed (services/secrets.py);
storage keeps them with their fingerprint and records every change in the audit log, in the
same transaction, with the fingerprint only. The reads below are not gated: they feed the hash
table, which only proposes candidate index keys; whether the caller may know of a value is
decided afterwards through the gate (services/lookup.Lookup.visible_keys), and no body read here
is ever handed out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any

from accord.errors import ConfigError, NotFoundError
from accord.stix.references import REF_INDEX
from accord.storage.base import AuditEvent, OverlapKey
from accord.storage.ordering import placeholders
from accord.storage.sharing import append_audit


class OverlapQueries:
    _sql: Callable[[str], str]
    _read: Callable[[], AbstractContextManager[Any]]
    _write: Callable[[], AbstractContextManager[Any]]
    _stream: Callable[[str, Sequence[Any]], Iterator[tuple[Any, ...]]]
    _clock: Callable[[], int]
    _org_pk: Callable[[Any, str], int]  # storage/sharing.py

    # -- keys of our agreements (partners ask us) -----------------------------------------
    def _agreement_pk(self, conn: Any, name: str) -> int:
        row = conn.execute(self._sql("SELECT pk FROM agreements WHERE name = ?"), (name,)).fetchone()
        if row is None:
            raise NotFoundError(f"no agreement {name!r}")
        return int(row[0])

    def set_agreement_overlap_key(self, name: str, *, sealed_key: bytes, fingerprint: str, actor: str) -> OverlapKey:
        now = self._clock()
        with self._write() as conn:
            pk = self._agreement_pk(conn, name)
            old = conn.execute(self._sql("SELECT fingerprint FROM agreement_overlap_keys WHERE agreement_pk = ?"),
                               (pk,)).fetchone()
            conn.execute(self._sql("DELETE FROM agreement_overlap_keys WHERE agreement_pk = ?"), (pk,))
            conn.execute(self._sql("INSERT INTO agreement_overlap_keys (agreement_pk, sealed_key, fingerprint, "
                                   "created) VALUES (?, ?, ?, ?)"), (pk, sealed_key, fingerprint, now))
            append_audit(conn, self._sql, now, AuditEvent(
                actor, "agreement.overlap-key", agreement=name,
                detail={"fingerprint": fingerprint, "replaced": None if old is None else old[0]}))
        return OverlapKey(sealed_key, fingerprint, now)

    def remove_agreement_overlap_key(self, name: str, *, actor: str) -> None:
        with self._write() as conn:
            pk = self._agreement_pk(conn, name)
            old = conn.execute(self._sql("SELECT fingerprint FROM agreement_overlap_keys WHERE agreement_pk = ?"),
                               (pk,)).fetchone()
            if old is None:
                raise ConfigError(f"agreement {name!r} has no overlap key to remove")
            conn.execute(self._sql("DELETE FROM agreement_overlap_keys WHERE agreement_pk = ?"), (pk,))
            append_audit(conn, self._sql, self._clock(), AuditEvent(
                actor, "agreement.overlap-key", agreement=name, detail={"fingerprint": None, "replaced": old[0]}))

    def agreement_overlap_keys(self) -> dict[int, OverlapKey]:
        with self._read() as conn:
            rows = conn.execute("SELECT agreement_pk, sealed_key, fingerprint, created FROM agreement_overlap_keys"
                                ).fetchall()
        return {pk: OverlapKey(bytes(sealed), fingerprint, created) for pk, sealed, fingerprint, created in rows}

    # -- partners' keys (we ask them) --------------------------------------------------------
    def _peer_pk(self, conn: Any, name: str) -> int:
        row = conn.execute(self._sql("SELECT pk FROM peers WHERE name = ?"), (name,)).fetchone()
        if row is None:
            raise NotFoundError(f"no peer {name!r}")
        return int(row[0])

    def set_peer_overlap_key(self, name: str, *, sealed_key: bytes, fingerprint: str, remote_agreement: str | None,
                             for_org: str | None, actor: str) -> OverlapKey:
        now = self._clock()
        with self._write() as conn:
            pk = self._peer_pk(conn, name)
            org_pk = None if for_org is None else self._org_pk(conn, for_org)
            conn.execute(self._sql("DELETE FROM peer_overlap_keys WHERE peer_pk = ?"), (pk,))
            conn.execute(self._sql("INSERT INTO peer_overlap_keys (peer_pk, sealed_key, fingerprint, remote_agreement, "
                                   "for_org_pk, created) VALUES (?, ?, ?, ?, ?, ?)"),
                         (pk, sealed_key, fingerprint, remote_agreement, org_pk, now))
            append_audit(conn, self._sql, now, AuditEvent(
                actor, "peer.overlap-key", org=for_org, subject=name,
                detail={"fingerprint": fingerprint, "remote_agreement": remote_agreement, "for_org": for_org}))
        return OverlapKey(sealed_key, fingerprint, now, remote_agreement, for_org)

    def set_peer_overlap_org(self, name: str, *, for_org: str, actor: str) -> OverlapKey:
        with self._write() as conn:
            pk = self._peer_pk(conn, name)
            org_pk = self._org_pk(conn, for_org)
            kept = conn.execute(self._sql("SELECT sealed_key, fingerprint, created, remote_agreement "
                                          "FROM peer_overlap_keys WHERE peer_pk = ?"), (pk,)).fetchone()
            if kept is None:
                raise ConfigError(f"peer {name!r} has no overlap key: keep the partner's key first (--set -)")
            conn.execute(self._sql("UPDATE peer_overlap_keys SET for_org_pk = ? WHERE peer_pk = ?"), (org_pk, pk))
            append_audit(conn, self._sql, self._clock(), AuditEvent(
                actor, "peer.overlap-key", org=for_org, subject=name,
                detail={"fingerprint": kept[1], "remote_agreement": kept[3], "for_org": for_org}))
        return OverlapKey(bytes(kept[0]), kept[1], kept[2], kept[3], for_org)

    def remove_peer_overlap_key(self, name: str, *, actor: str) -> None:
        with self._write() as conn:
            pk = self._peer_pk(conn, name)
            kept = conn.execute(self._sql("SELECT o.name FROM peer_overlap_keys k LEFT JOIN organisations o "
                                          "ON o.pk = k.for_org_pk WHERE k.peer_pk = ?"), (pk,)).fetchone()
            if kept is None:
                raise ConfigError(f"peer {name!r} has no overlap key to remove")
            conn.execute(self._sql("DELETE FROM peer_overlap_keys WHERE peer_pk = ?"), (pk,))
            append_audit(conn, self._sql, self._clock(), AuditEvent(
                actor, "peer.overlap-key", org=kept[0], subject=name, detail={"fingerprint": None}))

    def peer_overlap_key(self, name: str) -> OverlapKey | None:
        with self._read() as conn:
            pk = self._peer_pk(conn, name)
            row = conn.execute(self._sql("SELECT k.sealed_key, k.fingerprint, k.created, k.remote_agreement, o.name "
                                         "FROM peer_overlap_keys k LEFT JOIN organisations o ON o.pk = k.for_org_pk "
                                         "WHERE k.peer_pk = ?"), (pk,)).fetchone()
        return None if row is None else OverlapKey(bytes(row[0]), row[1], row[2], row[3], row[4])

    # -- what the answering side hashes ------------------------------------------------------
    def indexed_values(self) -> Iterator[tuple[str, str, int]]:
        """Every distinct (index type, value) of the observable index but references (``ref``: ids,
        not values), with one version that holds it, streamed in index order. The primary key
        (type, value, version) hands the groups out in order: no sort, no memory for the result."""
        for index_type, value, version_pk in self._stream(self._sql(
                "SELECT type, value, min(version_pk) FROM observables WHERE type <> ? GROUP BY type, value"),
                (REF_INDEX,)):
            yield index_type, value, int(version_pk)

    def newest_version_pk(self) -> int:
        """The highest object version key so far (0: none). Keys are handed out under the write
        lock in commit order, so every version up to it is committed when this is read."""
        with self._read() as conn:
            row = conn.execute("SELECT max(pk) FROM object_versions").fetchone()
        return int(row[0] or 0)

    def bodies_after(self, after_pk: int, limit: int) -> list[tuple[int, bytes]]:
        """(pk, stored JSON) of the versions after ``after_pk``, oldest first, at most ``limit``."""
        with self._read() as conn:
            rows = conn.execute(self._sql("SELECT pk, body FROM object_versions WHERE pk > ? ORDER BY pk LIMIT ?"),
                                (after_pk, limit)).fetchall()
        return [(int(pk), bytes(body)) for pk, body in rows]

    def bodies_of(self, version_pks: Sequence[int]) -> dict[int, bytes]:
        """The stored JSON of these versions (a version pk that does not exist is left out)."""
        found: dict[int, bytes] = {}
        pks = sorted(set(version_pks))
        with self._read() as conn:
            for start in range(0, len(pks), 500):
                part = pks[start:start + 500]
                for pk, body in conn.execute(self._sql(
                        f"SELECT pk, body FROM object_versions WHERE pk IN ({placeholders(len(part))})"), part):
                    found[int(pk)] = bytes(body)
        return found
