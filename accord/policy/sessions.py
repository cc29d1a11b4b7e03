"""Web UI sessions: signing in with a password, recognising a signed-in browser, CSRF tokens.

A session is a random 256-bit value in an HttpOnly, SameSite=Strict cookie; the store keeps only
its SHA-256 digest (as for API tokens). A session ends when its user signs out, changes password
or is disabled, after ``idle`` without a request, or ``lifetime`` after sign-in, whichever comes
first. Every form carries a CSRF token derived from the session (an HMAC with a node secret),
so a token is useless outside its session and needs no storage; the sign-in form, which has no
session yet, is bound to a short-lived pre-session cookie the same way.

Failed sign-ins count in the same throttle as failed API credentials, per client address and
per username (with five times the allowance, so others' failures do not lock its owner out at
once), so neither guessing one account from many addresses nor many accounts from one address
is cheap.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from accord.errors import AuthenticationError
from accord.policy.credentials import Throttle, Throttled
from accord.policy.passwords import verify_password
from accord.policy.viewer import Viewer
from accord.storage.base import Store

COOKIE = "accord_session"
PRE_SESSION_COOKIE = "accord_signin"
TOUCH_EVERY_MICROS = 60 * 1_000_000  # last_seen is written at most once a minute per session
ACCOUNT_SCALE = 5  # an account's allowance of failed sign-ins, in multiples of an address's


@dataclass(frozen=True, slots=True)
class SignedIn:
    viewer: Viewer
    digest: bytes
    csrf: str


def _digest(cookie: str) -> bytes:
    return hashlib.sha256(cookie.encode("utf-8")).digest()


def new_secret_value() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode("ascii")


def csrf_token(secret: bytes, bound_to: bytes) -> str:
    mac = hmac.new(secret, b"csrf\x00" + bound_to, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")


def csrf_ok(secret: bytes, bound_to: bytes, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(csrf_token(secret, bound_to), given)


def pre_session_csrf(secret: bytes, pre_cookie: str) -> str:
    """The sign-in form's CSRF token, bound to the browser's pre-session cookie."""
    return csrf_token(secret, b"signin\x00" + _digest(pre_cookie))


def pre_session_ok(secret: bytes, pre_cookie: str, given: str) -> bool:
    return hmac.compare_digest(pre_session_csrf(secret, pre_cookie), given)


def sign_in(store: Store, throttle: Throttle, address: str, username: str, password: str, *,
            now: int, lifetime_micros: int) -> tuple[str, Viewer]:
    """A new session cookie value for a correct password; Throttled or AuthenticationError."""
    account = "user:" + username.strip().casefold()
    # An account is shared by every address that tries it, so it gets a larger allowance than one
    # address: guessing one password from many addresses stays slow, and a stranger's five wrong
    # guesses do not lock its owner out.
    for key, scale in ((address, 1), (account, ACCOUNT_SCALE)):
        wait = throttle.retry_after(key, scale=scale)
        if wait is not None:
            raise Throttled(wait)
    try:
        user = verify_password(store, username, password)
    except AuthenticationError:
        throttle.failed(address)
        throttle.failed(account)
        raise
    cookie = new_secret_value()
    store.add_session(_digest(cookie), user.pk, expires=now + lifetime_micros)
    return cookie, Viewer.of(user)


def session_of(store: Store, secret: bytes, cookie: str | None, *, now: int, idle_micros: int) -> SignedIn | None:
    """The signed-in viewer behind a session cookie, or None (and the session ended) if it is
    unknown, expired, idle too long, or its user was disabled."""
    if not cookie or len(cookie) > 128:
        return None
    digest = _digest(cookie)
    found = store.web_session(digest)
    if found is None:
        return None
    if found.user.disabled or now >= found.expires or now - found.last_seen > idle_micros:
        store.end_session(digest)
        return None
    if now - found.last_seen > TOUCH_EVERY_MICROS:
        store.touch_session(digest, now)
    return SignedIn(Viewer.of(found.user), digest, csrf_token(secret, digest))


def sign_out(store: Store, signed_in: SignedIn) -> None:
    store.end_session(signed_in.digest)
