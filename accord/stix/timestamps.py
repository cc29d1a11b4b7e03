"""STIX timestamps (STIX 2.1 section 3.2): RFC 3339, always UTC with a literal ``Z``.

Accord keeps a timestamp as the producer wrote it and compares versions by a fixed-width
key (nanosecond precision) so that ``...00Z`` and ``...00.000Z`` are the same instant and
lexical order is time order in SQL.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

# [0-9], not \d: \d also matches other scripts' digits, which are not RFC 3339.
_TS_RE = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.([0-9]+))?Z")
# Digits kept in a comparison key; finer precision than this is rare and would compare equal.
KEY_FRACTION_DIGITS = 9


# ASCII timestamps whose date and time are valid by their form alone (year 0001-9999, day up
# to 28, hour up to 23, second up to 59): for these the key is a matter of slicing, without the
# calendar check below. Everything else takes the general path, which decides exactly as before.
_SURELY_VALID = re.compile(
    r"(?!0000)[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
    r"(?:\.[0-9]+)?Z"
)
_ZEROS = "0" * KEY_FRACTION_DIGITS


def timestamp_key(value: object) -> str | None:
    """The sortable key of a valid STIX timestamp, or None when it is not one.

    The key is ``YYYY-MM-DDTHH:MM:SS.fffffffffZ``; invalid dates (month 13, Feb 30) give None.
    """
    if not isinstance(value, str):
        return None
    if _SURELY_VALID.fullmatch(value):
        # Called once per ingested object (its version); millisecond precision is the norm.
        if len(value) == 24:
            return value[:23] + "000000Z"
        if len(value) == 20:
            return value[:19] + "." + _ZEROS + "Z"
        frac = value[20:-1]
        return f"{value[:19]}.{frac[:KEY_FRACTION_DIGITS].ljust(KEY_FRACTION_DIGITS, '0')}Z"
    m = _TS_RE.fullmatch(value)  # fullmatch: '$' would let a trailing newline through
    if m is None:
        return None
    whole = m.group(1)
    try:
        datetime.fromisoformat(whole)
    except ValueError:
        return None
    frac = m.group(2) or ""
    return f"{whole}.{frac[:KEY_FRACTION_DIGITS].ljust(KEY_FRACTION_DIGITS, '0')}Z"


def key_to_timestamp(key: str) -> str:
    """Render a key as a STIX timestamp with the shortest of millisecond/microsecond/nano precision."""
    whole, frac = key[:-1].split(".")
    if frac[6:] != "000":
        return f"{whole}.{frac}Z"
    if frac[3:6] != "000":
        return f"{whole}.{frac[:6]}Z"
    return f"{whole}.{frac[:3]}Z"


def format_micros(micros: int) -> str:
    """Microseconds since the epoch as a STIX timestamp with microsecond precision."""
    dt = datetime.fromtimestamp(micros // 1_000_000, UTC)
    return f"{dt:%Y-%m-%dT%H:%M:%S}.{micros % 1_000_000:06d}Z"


def parse_to_micros(value: str) -> int | None:
    """A STIX/RFC 3339 UTC timestamp as microseconds since the epoch (None if malformed)."""
    key = timestamp_key(value)
    if key is None:
        return None
    dt = datetime.fromisoformat(key[:19]).replace(tzinfo=UTC)
    return int(dt.timestamp()) * 1_000_000 + int(key[20:26])


def now_timestamp() -> str:
    return format_micros(int(datetime.now(UTC).timestamp() * 1_000_000))
