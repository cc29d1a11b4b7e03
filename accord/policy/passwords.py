"""Passwords for the web UI: argon2id hashes, checked in constant shape.

People choose passwords, so unlike API tokens (policy/tokens.py) they get a slow, memory-hard
hash. Every failure looks the same to the caller (unknown user, no password set, disabled user,
wrong password), and an unknown user costs the same hash verification as a known one, so the
answer time does not tell which usernames exist.
"""

from __future__ import annotations

import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from accord.errors import AuthenticationError, ConfigError
from accord.storage.base import OPERATOR, Store, User

MIN_LENGTH = 12
MAX_LENGTH = 1024  # argon2 takes any length; a bound keeps a hostile form post cheap
_hasher = PasswordHasher()


@functools.cache
def dummy_hash() -> str:
    """Verified when the user is unknown, so both paths do the same work.

    Made on first use rather than at import, where every `accord` command paid for it at start-up
    (an argon2 hash: ~0.1 s, a tenth of a 10,000-object import). The server makes it before it
    serves (app.build_app), so the first failed login for an unknown name is not the slower one.
    """
    return _hasher.hash("accord: no such user")


def check_strength(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise ConfigError(f"the password is too short: at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise ConfigError(f"the password is too long: at most {MAX_LENGTH} characters")


def set_password(store: Store, username: str, password: str, *, actor: str = OPERATOR) -> None:
    """Set a user's web password (ending their sessions); ConfigError if it is too weak."""
    check_strength(password)
    store.set_password_hash(username, _hasher.hash(password), actor=actor)


def verify_password(store: Store, username: str, password: str) -> User:
    """The user whose password this is; AuthenticationError otherwise, whatever the reason."""
    found = store.password_hash(username) if len(password) <= MAX_LENGTH else None
    stored = found[1] if found is not None else None
    try:
        ok = _hasher.verify(stored or dummy_hash(), password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        ok = False
    if not ok or found is None or found[0].disabled:
        raise AuthenticationError()
    user = found[0]
    if stored is not None and _hasher.check_needs_rehash(stored):
        store.set_password_hash(username, _hasher.hash(password), actor=username)
    return user
