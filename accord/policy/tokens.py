"""API tokens: how they are made, stored and checked.

A token is 32 random bytes, shown once as ``acc_`` + URL-safe base64. The store keeps only its
SHA-256 digest: tokens carry 256 bits of entropy, so a fast hash is as good as a slow one
against a stolen database, and a lookup by digest keeps checking cheap. (Passwords, which people
choose, are hashed with argon2 when the web UI arrives.)
"""

from __future__ import annotations

import base64
import hashlib
import secrets

from accord.errors import AuthenticationError
from accord.policy.viewer import Viewer
from accord.storage.base import Store, Token

PREFIX = "acc_"


def new_token() -> tuple[str, bytes]:
    """A fresh token and the digest to store for it."""
    token = PREFIX + base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    return token, digest(token)


def state(token: Token, now: int) -> str:
    """'active', 'expired' or 'revoked': what every interface shows of a token."""
    if token.revoked is not None:
        return "revoked"
    return "expired" if token.expires is not None and token.expires <= now else "active"


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def authenticate(store: Store, token: str, *, now: int, username: str | None = None) -> Viewer:
    """The viewer a token stands for. Every failure gives the same error, so a caller cannot
    tell an unknown token from a revoked or expired one, or a user name that does not match."""
    found = store.token_owner(digest(token)) if token.startswith(PREFIX) else None
    if found is None:
        raise AuthenticationError()
    tok, user = found
    if (tok.revoked is not None or (tok.expires is not None and tok.expires <= now) or user.disabled
            or (username is not None and username != user.username)):
        raise AuthenticationError()
    return Viewer.of(user)
