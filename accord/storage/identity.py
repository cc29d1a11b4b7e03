"""Who is who on a node: organisations, users, API token digests and collection grants.

A mixin of :class:`accord.storage.sql.SQLStore`, kept apart because it is a concept of its own
and because the policy layer is its only reader. Storage records facts; what a role or a grant
allows is decided in accord/policy/, never here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from typing import Any

from accord.errors import AlreadyExistsError, NotFoundError
from accord.storage.base import OPERATOR, AuditEvent, Collection, Grant, Organisation, Token, User
from accord.storage.sharing import append_audit

_SELECT_USERS = ("SELECT u.pk, u.username, u.org_pk, o.name, u.role, u.disabled, u.created, u.disabled_by_node_admin "
         "FROM users u JOIN organisations o ON o.pk = u.org_pk")
_SELECT_TOKENS = ("SELECT t.pk, t.user_pk, u.username, t.label, t.created, t.expires, t.revoked "
          "FROM tokens t JOIN users u ON u.pk = t.user_pk")


def _user(row: Any) -> User:
    pk, username, org_pk, org_name, role, disabled, created, by_node_admin = row
    return User(pk, username, org_pk, org_name, role, bool(disabled), created, bool(by_node_admin))


class IdentityQueries:
    _sql: Callable[[str], str]
    _read: Callable[[], AbstractContextManager[Any]]
    _write: Callable[[], AbstractContextManager[Any]]
    _clock: Callable[[], int]

    # -- organisations -----------------------------------------------------------------------
    def add_org(self, name: str, *, kind: str = "local", actor: str = OPERATOR) -> Organisation:
        try:
            with self._write() as conn:
                conn.execute(self._sql("INSERT INTO organisations (name, kind, created) VALUES (?, ?, ?)"),
                             (name, kind, self._clock()))
                append_audit(conn, self._sql, self._clock(), AuditEvent(actor, "org.add", org=name,
                                                                        detail={"kind": kind}))
        except AlreadyExistsError as exc:
            raise AlreadyExistsError(f"cannot add organisation {name!r}: it exists already") from exc
        return self.get_org(name)

    def get_org(self, name: str) -> Organisation:
        with self._read() as conn:
            row = conn.execute(self._sql("SELECT pk, name, kind, created FROM organisations WHERE name = ?"),
                               (name,)).fetchone()
        if row is None:
            raise NotFoundError(f"no organisation {name!r}")
        return Organisation(*row)

    def orgs(self) -> list[Organisation]:
        with self._read() as conn:
            rows = conn.execute("SELECT pk, name, kind, created FROM organisations ORDER BY name").fetchall()
        return [Organisation(*r) for r in rows]

    def org_names(self, pks: Iterable[int | None] = ()) -> dict[int, str]:
        # An organisation is never renamed or removed, so a name once read stays right: the copy
        # is read again only when asked for a pk it lacks (an organisation added since, by this
        # process or another).
        names: dict[int, str] | None = getattr(self, "_org_name_copy", None)
        if names is None or any(pk is not None and pk not in names for pk in pks):
            names = {o.pk: o.name for o in self.orgs()}
            self._org_name_copy = names
        return names

    # -- users -------------------------------------------------------------------------------
    def add_user(self, username: str, *, org: str, role: str, actor: str = OPERATOR) -> User:
        organisation = self.get_org(org)
        try:
            with self._write() as conn:
                conn.execute(self._sql(
                    "INSERT INTO users (username, org_pk, role, disabled, created) VALUES (?, ?, ?, ?, ?)"),
                    (username, organisation.pk, role, False, self._clock()))
                append_audit(conn, self._sql, self._clock(), AuditEvent(
                    actor, "user.add", org=org, subject=username, detail={"role": role}))
        except AlreadyExistsError as exc:
            raise AlreadyExistsError(f"cannot add user {username!r}: the username is taken") from exc
        return self.get_user(username)

    def get_user(self, username: str) -> User:
        with self._read() as conn:
            row = conn.execute(self._sql(f"{_SELECT_USERS} WHERE u.username = ?"), (username,)).fetchone()
        if row is None:
            raise NotFoundError(f"no user {username!r}")
        return _user(row)

    def users(self) -> list[User]:
        with self._read() as conn:
            rows = conn.execute(f"{_SELECT_USERS} ORDER BY u.username").fetchall()
        return [_user(r) for r in rows]

    def set_user_disabled(self, username: str, disabled: bool, *, actor: str = OPERATOR,
                          by_node_admin: bool = True) -> User:
        with self._write() as conn:
            row = conn.execute(self._sql(f"{_SELECT_USERS} WHERE u.username = ?"), (username,)).fetchone()
            if row is None:
                raise NotFoundError(f"no user {username!r}")
            user = _user(row)
            if user.disabled != disabled:
                conn.execute(self._sql("UPDATE users SET disabled = ?, disabled_by_node_admin = ? WHERE pk = ?"),
                             (disabled, disabled and by_node_admin, user.pk))
                if disabled:  # signed-in browsers are refused anyway; their sessions need not linger
                    conn.execute(self._sql("DELETE FROM web_sessions WHERE user_pk = ?"), (user.pk,))
                append_audit(conn, self._sql, self._clock(), AuditEvent(
                    actor, "user.disable" if disabled else "user.enable", org=user.org_name, subject=username))
        return self.get_user(username)

    # -- tokens ------------------------------------------------------------------------------
    def add_token(self, username: str, digest: bytes, *, label: str | None = None,
                  expires: int | None = None, actor: str = OPERATOR) -> Token:
        user = self.get_user(username)
        with self._write() as conn:
            conn.execute(self._sql(
                "INSERT INTO tokens (user_pk, digest, label, created, expires) VALUES (?, ?, ?, ?, ?)"),
                (user.pk, digest, label, self._clock(), expires))
            row = conn.execute(self._sql(f"{_SELECT_TOKENS} WHERE t.digest = ?"), (digest,)).fetchone()
            append_audit(conn, self._sql, self._clock(), AuditEvent(
                actor, "token.create", org=user.org_name, subject=username,
                detail={"token": row[0], "label": label, "expires": expires}))
        return Token(*row)

    def token_owner(self, digest: bytes) -> tuple[Token, User] | None:
        """The token with this digest and its user, or None. Expiry and revocation are the
        caller's (policy's) to judge; this only reports them."""
        with self._read() as conn:
            row = conn.execute(self._sql(f"{_SELECT_TOKENS} WHERE t.digest = ?"), (digest,)).fetchone()
            if row is None:
                return None
            token = Token(*row)
            user_row = conn.execute(self._sql(f"{_SELECT_USERS} WHERE u.pk = ?"), (token.user_pk,)).fetchone()
        return token, _user(user_row)

    def tokens(self, username: str | None = None) -> list[Token]:
        with self._read() as conn:
            if username is None:
                rows = conn.execute(f"{_SELECT_TOKENS} ORDER BY t.pk").fetchall()
            else:
                rows = conn.execute(self._sql(f"{_SELECT_TOKENS} WHERE u.username = ? ORDER BY t.pk"),
                                    (username,)).fetchall()
        return [Token(*r) for r in rows]

    def revoke_token(self, token_pk: int, *, actor: str = OPERATOR) -> Token:
        with self._write() as conn:
            conn.execute(self._sql("UPDATE tokens SET revoked = ? WHERE pk = ? AND revoked IS NULL"),
                         (self._clock(), token_pk))
            row = conn.execute(self._sql(f"{_SELECT_TOKENS} WHERE t.pk = ?"), (token_pk,)).fetchone()
            if row is None:
                raise NotFoundError(f"no token #{token_pk}")
            append_audit(conn, self._sql, self._clock(), AuditEvent(actor, "token.revoke", subject=row[2],
                                                                    detail={"token": token_pk}))
        return Token(*row)

    # -- collection grants -------------------------------------------------------------------
    def set_grant(self, collection: Collection, org: str, *, can_read: bool, can_write: bool,
                  actor: str = OPERATOR) -> Grant:
        organisation = self.get_org(org)
        with self._write() as conn:
            append_audit(conn, self._sql, self._clock(), AuditEvent(
                actor, "grant.set", org=org, subject=collection.id, detail={"read": can_read, "write": can_write}))
            conn.execute(self._sql(
                "INSERT INTO collection_grants (collection_pk, org_pk, can_read, can_write) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (collection_pk, org_pk) DO UPDATE SET can_read = excluded.can_read, "
                "can_write = excluded.can_write"), (collection.pk, organisation.pk, can_read, can_write))
        return Grant(collection.pk, organisation.pk, organisation.name, can_read, can_write)

    def remove_grant(self, collection: Collection, org: str, *, actor: str = OPERATOR) -> None:
        organisation = self.get_org(org)
        with self._write() as conn:
            append_audit(conn, self._sql, self._clock(), AuditEvent(actor, "grant.remove", org=org,
                                                                    subject=collection.id))
            conn.execute(self._sql("DELETE FROM collection_grants WHERE collection_pk = ? AND org_pk = ?"),
                         (collection.pk, organisation.pk))

    def grants(self, collection: Collection | None = None) -> list[Grant]:
        query = ("SELECT g.collection_pk, g.org_pk, o.name, g.can_read, g.can_write FROM collection_grants g "
                 "JOIN organisations o ON o.pk = g.org_pk")
        with self._read() as conn:
            if collection is None:
                rows = conn.execute(f"{query} ORDER BY g.collection_pk, o.name").fetchall()
            else:
                rows = conn.execute(self._sql(f"{query} WHERE g.collection_pk = ? ORDER BY o.name"),
                                    (collection.pk,)).fetchall()
        return [Grant(c, o, n, bool(r), bool(w)) for c, o, n, r, w in rows]
