"""Who is calling an HTTP API (TAXII, REST): HTTP Basic (username + API token) or
``Authorization: Bearer TOKEN`` (TAXII 2.1 section 1.6.9 leaves the scheme to the server),
checked by policy.tokens. Each API turns the errors raised here into its own error format.

Failed attempts are counted per client address in memory; an address that fails more than
``limit`` times within a minute is refused with 429 until its oldest failure is a minute old,
even with good credentials, so guessing tokens costs a minute per ``limit`` guesses. The count
is per process: with several workers the allowance is per worker (docs/api.md).
"""

from __future__ import annotations

import base64
import binascii
import threading
from collections import deque
from collections.abc import Callable

from accord.errors import AccordError, AuthenticationError
from accord.policy.tokens import authenticate
from accord.policy.viewer import Viewer
from accord.storage.base import Store

# The WWW-Authenticate challenge of every 401, in every API.
AUTH_CHALLENGE = 'Basic realm="accord", charset="UTF-8", Bearer realm="accord"'
WINDOW_MICROS = 60 * 1_000_000
# Addresses tracked at most; beyond it the quietest are forgotten, so the table stays bounded.
MAX_TRACKED = 10_000


class Throttled(AccordError):
    """Too many failed authentications from one address: refuse it for ``retry_after`` seconds."""

    def __init__(self, retry_after: int):
        super().__init__("too many failed authentications from this address; try again later")
        self.retry_after = retry_after


class Throttle:
    """Failed authentications per client address in a sliding one-minute window."""

    def __init__(self, limit: int, clock: Callable[[], int]):
        self.limit = limit
        self._clock = clock
        self._failures: dict[str, deque[int]] = {}
        self._lock = threading.Lock()

    def _recent(self, address: str, now: int) -> deque[int] | None:
        failures = self._failures.get(address)
        if failures is not None:
            while failures and failures[0] <= now - WINDOW_MICROS:
                failures.popleft()
            if not failures:
                del self._failures[address]
                return None
        return failures

    def retry_after(self, address: str, *, scale: int = 1) -> int | None:
        """Seconds until ``address`` may try again, or None if it may try now (after ``scale``
        times the limit for keys many clients share, like one account)."""
        now = self._clock()
        with self._lock:
            failures = self._recent(address, now)
            if failures is None or len(failures) < self.limit * scale:
                return None
            return max(1, -(-(failures[0] + WINDOW_MICROS - now) // 1_000_000))

    def failed(self, address: str) -> None:
        now = self._clock()
        with self._lock:
            failures = self._recent(address, now)
            if failures is None:
                if len(self._failures) >= MAX_TRACKED:
                    self._failures.pop(next(iter(self._failures)))
                failures = self._failures[address] = deque()
            failures.append(now)


def credentials(header: str | None) -> tuple[str | None, str]:
    """(username or None, token) from an Authorization header; raises AuthenticationError."""
    if not header:
        raise AuthenticationError()
    scheme, _, value = header.strip().partition(" ")
    scheme = scheme.lower()
    value = value.strip()
    if scheme == "bearer" and value:
        return None, value
    if scheme == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):  # ValueError: non-ASCII header text (UnicodeDecodeError is one too)
            raise AuthenticationError() from None
        username, sep, token = decoded.partition(":")
        if sep and username and token:
            return username, token
    raise AuthenticationError()


def authenticate_request(store: Store, throttle: Throttle, address: str, header: str | None, *,
                         now: int) -> Viewer:
    """The viewer behind a request's credentials; raises Throttled or AuthenticationError."""
    wait = throttle.retry_after(address)
    if wait is not None:
        raise Throttled(wait)
    try:
        username, token = credentials(header)
        return authenticate(store, token, now=now, username=username)
    except AuthenticationError:
        throttle.failed(address)
        raise
