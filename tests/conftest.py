"""Shared fixtures: the real-data folder, a fresh SQLite store per test, a fixed clock."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from accord.storage.base import Provenance, Store
from accord.storage.sqlite import SQLiteStore

# Where the PostgreSQL tests create and drop their databases (trust auth on the dev/CI machines).
PG_ADMIN_URL = os.environ.get("ACCORD_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
BACKENDS = ["sqlite", "postgres"]

SHARED_DATA = Path(os.environ.get("ACCORD_SHARED_DATA",
                                  Path(__file__).resolve().parents[1].parent / "shared" / "data"))
FIXTURES = Path(__file__).parent / "data"


def shared_data(*parts: str) -> Path:
    """A path under ../shared/data; skips the test (with the reason) when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not available: {path} is missing (set ACCORD_SHARED_DATA)")
    return path


class StepClock:
    """A clock that starts at a fixed instant and moves 1 ms per reading: deterministic date_added."""

    def __init__(self, start: int = 1_764_000_000_000_000):
        self.now = start

    def __call__(self) -> int:
        self.now += 1000
        return self.now


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An initialised SQLite database file, migrated once per session; copy it for a fresh store."""
    path = tmp_path_factory.mktemp("template") / "accord.db"
    store = SQLiteStore(f"sqlite:///{path}")
    store.initialise()
    store.close()
    return path


@pytest.fixture
def clock() -> StepClock:
    return StepClock()


@pytest.fixture
def sqlite_store(tmp_path: Path, clock: StepClock) -> Iterator[SQLiteStore]:
    store = SQLiteStore(f"sqlite:///{tmp_path / 'accord.db'}", clock=clock)
    store.initialise()
    yield store
    store.close()


def _pg_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql)


def _pg_url(dbname: str) -> str:
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{dbname}"


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A migrated PostgreSQL database to copy per test (CREATE DATABASE ... TEMPLATE is fast).

    Without a reachable server the PostgreSQL tests are skipped, saying why, except in CI
    (CI=true), where that is a failure: CI must prove both backends.
    """
    import psycopg

    from accord.storage.postgres import PostgresStore

    name = f"accord_tpl_{os.getpid()}"
    try:
        _pg_admin(f"DROP DATABASE IF EXISTS {name}")
        _pg_admin(f"CREATE DATABASE {name}")
    except psycopg.Error as exc:
        reason = f"PostgreSQL not reachable at {PG_ADMIN_URL} (set ACCORD_TEST_POSTGRES): {exc}"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    store = PostgresStore(_pg_url(name))
    store.initialise()
    store.close()
    yield name
    _pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def pg_url(pg_template: str) -> Iterator[str]:
    """URL of a fresh, initialised PostgreSQL database, dropped after the test."""
    name = f"accord_t_{uuid.uuid4().hex[:16]}"
    _pg_admin(f"CREATE DATABASE {name} TEMPLATE {pg_template}")
    yield _pg_url(name)
    _pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Parametrises a test over every storage backend."""
    param: str = request.param
    return param


def node_provenance(store: Store) -> Provenance:
    """Writes made by the node operator for the node's own organisation (what `accord import` does)."""
    return Provenance(store.get_org("node").pk, owner_name="node")


@pytest.fixture
def backend_store(backend: str, request: pytest.FixtureRequest, tmp_path: Path, clock: StepClock) -> Iterator[Store]:
    """A fresh, initialised store on the ``backend`` being tested (SQLite file or PostgreSQL database)."""
    from accord.storage.postgres import PostgresStore  # imported here: only backend tests need the drivers

    opened: Store
    if backend == "postgres":
        opened = PostgresStore(request.getfixturevalue("pg_url"), clock=clock)
    else:
        opened = SQLiteStore(f"sqlite:///{tmp_path / 'accord.db'}", clock=clock)
    opened.initialise()
    yield opened
    opened.close()


# -- the information-flow tally (tests/policy/tally.py) at the end of every run ---------------
# Under pytest-xdist each worker process counts its own cases: it hands its counters to the
# controlling process when it finishes, which adds them up and reports the whole run's.
_TALLY_KEY = "accord_flow_tally"


def pytest_sessionfinish(session: pytest.Session) -> None:
    from tests.policy import tally

    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker
        workeroutput[_TALLY_KEY] = {name: dict(getattr(tally, name)) for name in tally.COUNTERS}


def pytest_configure(config: pytest.Config) -> None:
    if config.pluginmanager.hasplugin("xdist") and not hasattr(config, "workeroutput"):
        config.pluginmanager.register(_TallyMerger(), "accord-flow-tally")


class _TallyMerger:
    """On the controlling process of an xdist run: adds up what each worker counted."""

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: object, error: object) -> None:
        from tests.policy import tally

        for name, counts in getattr(node, "workeroutput", {}).get(_TALLY_KEY, {}).items():
            getattr(tally, name).update(counts)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Reports the information-flow case counts (also under ``pytest -q``)."""
    from tests.policy.tally import CASES, DEFERRED, RULES, SUBSETS, WORLDS

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
