"""Reports the information-flow case counts at the end of every run (also under ``pytest -q``)."""

from __future__ import annotations

import pytest

from tests.policy.tally import CASES, DEFERRED, RULES, SUBSETS, WORLDS


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not CASES:
        return
    total = sum(CASES.values())
    worlds = ", ".join(f"{k} {v}" for k, v in sorted(WORLDS.items()))
    paths = ", ".join(f"{k} {v}" for k, v in sorted(CASES.items()))
    terminalreporter.write_line(f"information flow: {total} (world, reader, path) cases checked "
                                f"in {len(CASES)} paths; worlds: {worlds}")
    terminalreporter.write_line(f"information flow cases by path: {paths}")
    if SUBSETS:
        subsets = ", ".join(f"{k} {v}" for k, v in sorted(SUBSETS.items()))
        terminalreporter.write_line(f"information flow cases (already counted above) in which: {subsets}")
    if RULES:
        rules = ", ".join(f"{k} {v}" for k, v in sorted(RULES.items()))
        terminalreporter.write_line(f"information flow: (organisation, version) pairs by the rule that "
                                    f"admits them (at T): {rules}")
    if DEFERRED:
        deferred = ", ".join(f"{k} {v}" for k, v in sorted(DEFERRED.items()))
        terminalreporter.write_line(f"information flow cases left to the xfail tests of findings: {deferred}")
