"""The versioned object store. ``open_store(url)`` picks the backend from the URL scheme."""

from __future__ import annotations

from accord.errors import ConfigError
from accord.storage.base import Store


def open_store(url: str) -> Store:
    if url.startswith("sqlite:///"):
        from accord.storage.sqlite import SQLiteStore

        return SQLiteStore(url)
    if url.startswith(("postgresql://", "postgres://")):
        from accord.storage.postgres import PostgresStore

        return PostgresStore(url)
    scheme = url.split(":", 1)[0]
    raise ConfigError(f"unsupported database URL scheme {scheme!r}: use sqlite:///PATH or postgresql://...")
