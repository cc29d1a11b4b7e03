"""How many (world, reader, path) cases the information-flow tests checked, for the run's summary."""

from __future__ import annotations

from collections import Counter

CASES: Counter[str] = Counter()
WORLDS: Counter[str] = Counter()
DEFERRED: Counter[str] = Counter()  # cases left to the xfail tests of known findings
RULES: Counter[str] = Counter()  # which rule admitted each (reader organisation, version) the oracle allowed
SUBSETS: Counter[str] = Counter()  # cases of a path that exercised something in particular (counted in CASES too)
# Every counter above, by name (merged across pytest-xdist workers: tests/conftest.py).
COUNTERS = ("CASES", "WORLDS", "DEFERRED", "RULES", "SUBSETS")
