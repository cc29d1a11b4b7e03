"""Web sign-in facts: users' password hashes and the web UI's sessions.

A mixin of :class:`accord.storage.sql.SQLStore`. Like identity.py it records facts only:
hashing, checking a password and judging a session's age are policy's (policy/passwords.py,
policy/sessions.py).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from accord.errors import NotFoundError
from accord.storage.base import OPERATOR, AuditEvent, User, WebSession
from accord.storage.sharing import append_audit

_USER_COLUMNS = "u.pk, u.username, u.org_pk, o.name, u.role, u.disabled, u.created"


def _user(row: Any) -> User:
    pk, username, org_pk, org_name, role, disabled, created = row[:7]
    return User(pk, username, org_pk, org_name, role, bool(disabled), created)


class SessionQueries:
    _sql: Callable[[str], str]
    _read: Callable[[], AbstractContextManager[Any]]
    _write: Callable[..., AbstractContextManager[Any]]
    _clock: Callable[[], int]

    def set_password_hash(self, username: str, password_hash: str | None, *, actor: str = OPERATOR) -> None:
        """Replace a user's password hash (None: no web sign-in) and end their sessions."""
        with self._write() as conn:
            row = conn.execute(self._sql(
                "SELECT u.pk, o.name FROM users u JOIN organisations o ON o.pk = u.org_pk WHERE u.username = ?"),
                (username,)).fetchone()
            if row is None:
                raise NotFoundError(f"no user {username!r}")
            conn.execute(self._sql("UPDATE users SET password_hash = ? WHERE pk = ?"), (password_hash, row[0]))
            conn.execute(self._sql("DELETE FROM web_sessions WHERE user_pk = ?"), (row[0],))
            append_audit(conn, self._sql, self._clock(), AuditEvent(
                actor, "user.password", org=row[1], subject=username, detail={"set": password_hash is not None}))

    def password_hash(self, username: str) -> tuple[User, str | None] | None:
        """A user and their password hash, or None if there is no such user."""
        with self._read() as conn:
            row = conn.execute(self._sql(
                f"SELECT {_USER_COLUMNS}, u.password_hash FROM users u JOIN organisations o ON o.pk = u.org_pk "
                "WHERE u.username = ?"), (username,)).fetchone()
        return None if row is None else (_user(row), row[7])

    def add_session(self, digest: bytes, user_pk: int, *, expires: int) -> None:
        now = self._clock()
        with self._write() as conn:
            # Sessions past their absolute expiry are useless: clear them while the lock is held.
            conn.execute(self._sql("DELETE FROM web_sessions WHERE expires <= ?"), (now,))
            conn.execute(self._sql(
                "INSERT INTO web_sessions (digest, user_pk, created, last_seen, expires) VALUES (?, ?, ?, ?, ?)"),
                (digest, user_pk, now, now, expires))

    def web_session(self, digest: bytes) -> WebSession | None:
        with self._read() as conn:
            row = conn.execute(self._sql(
                f"SELECT {_USER_COLUMNS}, s.created, s.last_seen, s.expires FROM web_sessions s "
                "JOIN users u ON u.pk = s.user_pk JOIN organisations o ON o.pk = u.org_pk WHERE s.digest = ?"),
                (digest,)).fetchone()
        return None if row is None else WebSession(_user(row), row[7], row[8], row[9])

    def touch_session(self, digest: bytes, last_seen: int) -> None:
        # Not worth an fsync: losing the last touch only shortens an idle session.
        with self._write(durable=False) as conn:
            conn.execute(self._sql("UPDATE web_sessions SET last_seen = ? WHERE digest = ?"), (last_seen, digest))

    def end_session(self, digest: bytes) -> None:
        with self._write() as conn:
            conn.execute(self._sql("DELETE FROM web_sessions WHERE digest = ?"), (digest,))
