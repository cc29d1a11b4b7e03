"""Paging cursors of the REST API, sealed with a node secret and bound to the caller.

A cursor holds a position in a node-wide sequence (a ``date_added``, an alert's row number).
Shown as a number it would tell the caller about rows it may not see: the date of a hidden row
where a search window ends, or, from the gaps between one organisation's alert numbers, how
many alerts other organisations received. Sealed (Fernet: encrypted and authenticated) it tells
nothing and cannot be forged to probe where hidden rows lie. Each kind of cursor has its own
key, derived from the node secret and the kind's name, so one kind is never accepted as another;
a cursor made for another user is refused like a damaged one. Cursors do not expire.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken

from accord.errors import RequestError


class Cursors:
    """Seal and open one kind of cursor (``purpose``) for one user."""

    def __init__(self, secret: bytes, username: str, *, purpose: str):
        key = hashlib.sha256(purpose.encode() + b"\x00" + secret).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(key))
        self._username = username

    def seal(self, position: int) -> str:
        # Zero-padded: Fernet pads to 16-byte blocks, so a cursor's length would otherwise
        # change where the position gains a digit, and hint at how large it is.
        return self._fernet.encrypt(f"{self._username}\n{position:020d}".encode()).decode("ascii")

    def open(self, text: str | None, *, name: str = "cursor") -> int | None:
        """The position ``text`` seals, None for no cursor; RequestError naming the parameter
        ``name`` for anything this node did not seal for this user and purpose."""
        if not text:
            return None
        try:
            username, _, value = self._fernet.decrypt(text.encode("ascii")).decode().partition("\n")
            if username != self._username or not value.isdigit():
                raise ValueError(text)
        except (InvalidToken, ValueError, UnicodeError):
            raise RequestError(name, "not a cursor this server issued to you") from None
        return int(value)
