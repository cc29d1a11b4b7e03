"""Sealing secrets the node must keep but never show: partner nodes' API tokens, and the overlap
check's keys (services/overlap.py).

A token is sealed (authenticated encryption, Fernet: AES-128-CBC with HMAC-SHA256) with a key
kept in a file beside the database, not in it (``key_file``, docs/operations.md). A database
dump or backup alone therefore does not let anyone call a partner's node in this node's name;
losing the key file means re-entering the peers' tokens, nothing worse.
"""

from __future__ import annotations

import os
from pathlib import Path

from accord.errors import ConfigError


class SecretBox:
    def __init__(self, key_file: Path):
        self.key_file = key_file

    def _key(self, *, create: bool) -> bytes:
        from cryptography.fernet import Fernet

        try:
            return self.key_file.read_bytes().strip()
        except FileNotFoundError:
            if not create:
                raise ConfigError(f"the node key file {self.key_file} is missing: the peers' tokens cannot be "
                                  "unsealed; restore the file, or remove and add the peers again") from None
        self.key_file.parent.mkdir(parents=True, exist_ok=True)
        key = Fernet.generate_key()
        try:
            # O_EXCL: two processes creating it at once must not end up with different keys.
            fd = os.open(self.key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return self.key_file.read_bytes().strip()
        with os.fdopen(fd, "wb") as out:
            out.write(key + b"\n")
        return key

    def seal(self, secret: str) -> bytes:
        from cryptography.fernet import Fernet

        return Fernet(self._key(create=True)).encrypt(secret.encode())

    def unseal(self, sealed: bytes) -> str:
        from cryptography.fernet import Fernet, InvalidToken

        try:
            return Fernet(self._key(create=False)).decrypt(sealed).decode()
        except InvalidToken:
            raise ConfigError(f"a sealed token does not open with the key in {self.key_file}: the key file was "
                              "replaced; remove and add the peer again") from None
