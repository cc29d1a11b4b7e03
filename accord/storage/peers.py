"""Partner nodes (peers) and the collections exchanged with each (links).

A mixin of :class:`accord.storage.sql.SQLStore`. Storage keeps the facts: where a peer is, which
organisation it speaks for, its sealed token, how far each link has got. Which objects a push may
send is the policy gate's decision (the peer's organisation is the reader), never this module's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

import orjson

from accord.errors import AlreadyExistsError, ConfigError, NotFoundError
from accord.stix.timestamps import parse_to_micros
from accord.storage.base import AuditEvent, Peer, PeerLink
from accord.storage.sharing import append_audit

DIRECTIONS = ("pull", "push")


def cursor_order(cursor: str) -> tuple[int, str]:
    """A link cursor as something that sorts in time: a push cursor is a local date_added (an
    integer), a pull cursor the remote's RFC 3339 date_added (compared as an instant, since
    servers write different numbers of fractional digits)."""
    if cursor.isdigit():
        return int(cursor), ""
    micros = parse_to_micros(cursor)
    return (micros, "") if micros is not None else (-1, cursor)
_PEER_COLUMNS = ("p.pk, p.name, p.url, p.username, p.sealed_token, p.org_pk, o.name, p.interval_s, p.paused, "
                 "p.accept_max_tlp, p.accept_types, p.created")
_LINK_COLUMNS = ("pk, peer_pk, direction, remote_collection, local_collection_pk, cursor, objects, last_attempt, "
                 "last_success, last_error, retractions_cursor, feedback_cursor")


class PeerQueries:
    _sql: Callable[[str], str]
    _read: Callable[[], AbstractContextManager[Any]]
    _write: Callable[[], AbstractContextManager[Any]]
    _clock: Callable[[], int]
    get_collection: Callable[[str], Any]
    get_org: Callable[[str], Any]

    def add_peer(self, name: str, *, url: str, username: str, sealed_token: bytes, org: str, interval_s: int,
                 accept_max_tlp: str, accept_types: Sequence[str], links: Sequence[tuple[str, str, str]],
                 actor: str) -> Peer:
        organisation = self.get_org(org)
        resolved = []
        for direction, remote, local in links:
            if direction not in DIRECTIONS:
                raise ConfigError(f"peer link direction {direction!r} is not pull or push")
            resolved.append((direction, remote, self.get_collection(local).pk))
        now = self._clock()
        try:
            with self._write() as conn:
                conn.execute(self._sql(
                    "INSERT INTO peers (name, url, username, sealed_token, org_pk, interval_s, paused, accept_max_tlp, "
                    "accept_types, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
                    (name, url, username, sealed_token, organisation.pk, interval_s, False, accept_max_tlp,
                     orjson.dumps(sorted(accept_types)).decode() if accept_types else None, now))
                peer_pk = conn.execute(self._sql("SELECT pk FROM peers WHERE name = ?"), (name,)).fetchone()[0]
                for direction, remote, local_pk in resolved:
                    conn.execute(self._sql(
                        "INSERT INTO peer_links (peer_pk, direction, remote_collection, local_collection_pk, objects) "
                        "VALUES (?, ?, ?, ?, 0)"), (peer_pk, direction, remote, local_pk))
                append_audit(conn, self._sql, now, AuditEvent(
                    actor, "peer.add", org=org, subject=name,
                    detail={"url": url, "username": username, "links": [list(link) for link in links],
                            "interval_s": interval_s, "accept_max_tlp": accept_max_tlp,
                            "accept_types": sorted(accept_types)}))
        except AlreadyExistsError as exc:
            raise AlreadyExistsError(f"cannot add peer {name!r}: the name is taken, or a link is listed twice") \
                from exc
        return self.get_peer(name)

    def _links(self, conn: Any, peer_pks: Sequence[int]) -> dict[int, list[PeerLink]]:
        out: dict[int, list[PeerLink]] = {pk: [] for pk in peer_pks}
        for row in conn.execute(f"SELECT {_LINK_COLUMNS} FROM peer_links ORDER BY pk"):
            if row[1] in out:
                out[row[1]].append(PeerLink(*row))
        return out

    def _peer(self, row: Any, links: list[PeerLink]) -> Peer:
        pk, name, url, username, sealed, org_pk, org_name, interval_s, paused, max_tlp, types, created = row
        return Peer(pk, name, url, username, bytes(sealed), org_pk, org_name, interval_s, bool(paused), max_tlp,
                    tuple(orjson.loads(types)) if types else (), created, tuple(links))

    def get_peer(self, name: str) -> Peer:
        with self._read() as conn:
            row = conn.execute(self._sql(
                f"SELECT {_PEER_COLUMNS} FROM peers p JOIN organisations o ON o.pk = p.org_pk WHERE p.name = ?"),
                (name,)).fetchone()
            if row is None:
                raise NotFoundError(f"no peer {name!r}")
            return self._peer(row, self._links(conn, [row[0]])[row[0]])

    def peers(self) -> list[Peer]:
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {_PEER_COLUMNS} FROM peers p JOIN organisations o ON o.pk = p.org_pk ORDER BY p.name"
            ).fetchall()
            links = self._links(conn, [r[0] for r in rows])
        return [self._peer(r, links[r[0]]) for r in rows]

    def change_peer(self, name: str, *, action: str, actor: str) -> Peer:
        peer = self.get_peer(name)
        with self._write() as conn:
            if action in ("pause", "resume"):
                conn.execute(self._sql("UPDATE peers SET paused = ? WHERE pk = ?"), (action == "pause", peer.pk))
            elif action == "remove":
                conn.execute(self._sql("DELETE FROM peer_links WHERE peer_pk = ?"), (peer.pk,))
                conn.execute(self._sql("DELETE FROM peer_overlap_keys WHERE peer_pk = ?"), (peer.pk,))
                conn.execute(self._sql("DELETE FROM peers WHERE pk = ?"), (peer.pk,))
            else:
                raise ConfigError(f"unknown peer action {action!r}")
            append_audit(conn, self._sql, self._clock(), AuditEvent(actor, f"peer.{action}", org=peer.org_name,
                                                                    subject=name))
        return peer if action == "remove" else self.get_peer(name)

    def record_link_attempt(self, link_pk: int, *, error: str | None) -> None:
        now = self._clock()
        with self._write() as conn:
            if error is None:
                conn.execute(self._sql(
                    "UPDATE peer_links SET last_attempt = ?, last_success = ?, last_error = NULL WHERE pk = ?"),
                    (now, now, link_pk))
            else:
                conn.execute(self._sql("UPDATE peer_links SET last_attempt = ?, last_error = ? WHERE pk = ?"),
                             (now, error[:2000], link_pk))

    def set_feedback_cursor(self, link_pk: int, date_added: int) -> None:
        with self._write() as conn:
            conn.execute(self._sql(
                "UPDATE peer_links SET feedback_cursor = ? WHERE pk = ? AND feedback_cursor < ?"),
                (date_added, link_pk, date_added))

    def set_retractions_cursor(self, link_pk: int, seq: int) -> None:
        with self._write() as conn:
            conn.execute(self._sql(
                "UPDATE peer_links SET retractions_cursor = ? WHERE pk = ? AND retractions_cursor < ?"),
                (seq, link_pk, seq))
