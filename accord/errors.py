"""Accord's error tree: every error Accord raises on purpose is one of these.

    AccordError
     ├── InputError            the bytes are not a usable STIX document (not JSON, too deep, bad encoding)
     ├── InvalidObjectError    one object breaks STIX 2.1; carries every Problem found in it
     ├── StorageError          something the store refused or could not do
     │    ├── ConflictError    same (id, modified) already stored with different content
     │    ├── AlreadyExistsError   a name or key that must be unique is taken
     │    ├── NotInitialisedError  the store has no schema, or an older one than this code
     │    └── NotFoundError    no such collection / object (callers must not tell "hidden" apart)
     ├── RequestError          a parameter of a query or form is unusable (names the parameter)
     ├── AuthenticationError   missing, unknown, expired or revoked credentials (one message for all)
     ├── ConfigError           a setting, flag or environment variable is unusable
     └── SyncError             a partner's node could not be reached, refused us, or answered something
                               unusable (peer_status: the error status it answered, if any)

Domain errors carry structured fields (object id, property, reason) and no HTTP status or exit
code: the outer layers (CLI, TAXII, REST, web) translate them once, at their boundary (a
SyncError's ``peer_status`` is the partner's answer, a fact about it, not ours to give).
Foreign exceptions (sqlite3, psycopg, orjson) are translated where they are caught, with
``raise ... from exc``, so nothing above the storage layer sees a driver's exception type.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason an object (or a document) was refused.

    ``object_id`` is the STIX id when the object had a usable one, ``property`` a dotted path
    into the object (``kill_chain_phases[0].phase_name``) or None for the object as a whole,
    ``index`` the object's position in its input (0-based) when it came from a stream.
    """

    object_id: str | None
    property: str | None
    reason: str
    index: int | None = None

    def __str__(self) -> str:
        where = self.object_id or (f"object #{self.index}" if self.index is not None else "input")
        if self.property:
            where += f" property {self.property!r}"
        return f"{where}: {self.reason}"


class AccordError(Exception):
    """Base of every error Accord raises deliberately."""


class InputError(AccordError):
    """The input document cannot be read as STIX JSON at all (syntax, encoding, nesting)."""

    def __init__(self, reason: str, *, source: str | None = None, offset: int | None = None):
        self.reason = reason
        self.source = source
        self.offset = offset
        where = source or "input"
        if offset is not None:
            where += f" at byte {offset}"
        super().__init__(f"{where}: {reason}")


class RequestError(AccordError):
    """A parameter the caller gave (a search filter, a form field) cannot be used."""

    def __init__(self, parameter: str, reason: str):
        self.parameter = parameter
        self.reason = reason
        super().__init__(f"{parameter}: {reason}")


class InvalidObjectError(AccordError):
    """An object breaks STIX 2.1. ``problems`` lists every violation found, not just the first."""

    def __init__(self, problems: list[Problem]):
        if not problems:
            raise ValueError("InvalidObjectError needs at least one problem")
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))

    @property
    def object_id(self) -> str | None:
        return self.problems[0].object_id


class StorageError(AccordError):
    """The store refused or failed an operation."""


class ConflictError(StorageError):
    """The same (id, modified) is already stored with different content; nothing was overwritten."""

    def __init__(self, object_id: str, modified: str):
        self.object_id = object_id
        self.modified = modified
        super().__init__(
            f"{object_id}: version {modified} is already stored with different content "
            "(a new version needs a new 'modified')"
        )


class AlreadyExistsError(StorageError):
    """A name or key that must be unique (organisation, user, collection alias) is taken."""


class NotInitialisedError(StorageError):
    """The database has no Accord schema, or one older than this code expects."""


class NotFoundError(StorageError):
    """No such thing, as far as the caller may know."""


class AuthenticationError(AccordError):
    """The credentials do not identify an active user. Deliberately says nothing more."""

    def __init__(self) -> None:
        super().__init__("authentication failed")


class ConfigError(AccordError):
    """A setting, flag or environment value cannot be used."""


class SyncError(AccordError):
    """A partner's node could not be reached, refused us, or answered something unusable
    (accord/sync/client.py raises it for every outbound request). ``peer_status`` is the error
    status (4xx, 5xx) the partner's node answered with, whatever its body, or None when it gave
    none (no answer, a redirect, a success whose body cannot be used)."""

    def __init__(self, message: str, *, peer_status: int | None = None):
        self.peer_status = peer_status
        super().__init__(message)
