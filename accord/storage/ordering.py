"""SQL fragments every query agrees on: placeholder lists and which of two versions is later.

A version key is a timestamp key, or ``#`` + a content digest for objects without timestamps
(stix.versions). Two timestamped versions order by key; two content-versioned ones by arrival
(primary key). ``substr``, not ``LIKE '#%'``: a ``%`` upsets drivers that use ``%s`` placeholders.
"""

from __future__ import annotations


def placeholders(n: int) -> str:
    """``?, ?, ...`` for an IN list of n values."""
    return ",".join("?" * n)


def version_order(a: str, b: str, a_pk: str, b_pk: str, *, later: bool = True) -> str:
    """SQL true when version ``a`` is later (or, with ``later=False``, earlier) than ``b``.

    ``a``/``b`` are table aliases with a ``version`` column; ``a_pk``/``b_pk`` their primary keys.
    """
    op = ">" if later else "<"
    both = f"(substr({a}.version, 1, 1) = '#' AND substr({b}.version, 1, 1) = '#')"
    return f"(({a}.version {op} {b}.version AND NOT {both}) OR ({both} AND {a_pk} {op} {b_pk}))"
