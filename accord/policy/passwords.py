"""Passwords for the web UI: argon2id hashes, checked in constant shape.

People choose passwords, so unlike API tokens (policy/tokens.py) they get a slow, memory-hard
hash. Every failure looks the same to the caller (unknown user, no password set, disabled user,
wrong password), and an unknown user costs the same hash verification as a known one, so the
answer time does not tell which usernames exist.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from accord.errors import AuthenticationError, ConfigError
from accord.storage.base import OPERATOR, Store, User

MIN_LENGTH = 12
MAX_LENGTH = 1024  # argon2 takes any length; a bound keeps a hostile form post cheap
_hasher = PasswordHasher()
# Verified when the user is unknown, so both paths do the same work.
_DUMMY_HASH = _hasher.hash("accord: no such user")


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
        ok = _hasher.verify(stored or _DUMMY_HASH, password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        ok = False
    if not ok or found is None or found[0].disabled:
        raise AuthenticationError()
    user = found[0]
    if stored is not None and _hasher.check_needs_rehash(stored):
        store.set_password_hash(username, _hasher.hash(password), actor=username)
    return user
