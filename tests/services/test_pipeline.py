"""The two-process import (services/pipeline.py) stores and reports exactly what one process does,
fails a file whole when its reader fails or dies, and never waits for a dead child."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from accord.cli.main import cli
from accord.errors import InputError
from accord.services import pipeline
from accord.services.formats import Imported, ImportOptions, Source, registry
from accord.services.ingest import IngestReport, ingest_items
from accord.services.pipeline import Pipeline, Read, worth_forking
from accord.stix.markings import TLP2_AMBER, TLP2_CLEAR, TLP2_GREEN, TLP2_RED
from accord.stix.stream import Item
from accord.storage.sqlite import SQLiteStore
from tests.conftest import StepClock, node_provenance

STATEMENT = "marking-definition--aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
UNREADABLE = "marking-definition--bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"
BUNDLE_ID = "bundle--0b7e3a6c-1d2f-4a5b-8c9d-0e1f2a3b4c5d"
TABLES = {
    "object_versions": "SELECT * FROM object_versions ORDER BY pk",
    "observables": "SELECT * FROM observables ORDER BY 1, 2, 3",
    "collection_objects": "SELECT * FROM collection_objects ORDER BY date_added",
    "audit": "SELECT * FROM audit_log ORDER BY seq",
}


@pytest.fixture(autouse=True)
def deadline() -> Iterator[None]:
    """A pipeline that waits for a dead child would hang the suite: fail the test instead."""
    def expire(signum: int, frame: FrameType | None) -> None:
        raise TimeoutError("the test took over 120 s: something is waiting for a process that will not answer")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(120)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.fixture(autouse=True)
def small_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    """Many messages per file, so message boundaries fall everywhere (between a refusal and its
    neighbours, before and after marking definitions)."""
    monkeypatch.setattr(pipeline, "MESSAGE", 7)


def indicator(n: int, **extra: Any) -> dict[str, Any]:
    return {"type": "indicator", "spec_version": "2.1", "id": f"indicator--{n:08d}-0000-4000-8000-000000000000",
            "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
            "pattern": f"[ipv4-addr:value = '10.0.{n >> 8 & 255}.{n & 255}']", "pattern_type": "stix",
            "valid_from": "2026-01-01T00:00:00Z", **extra}


def mixed_objects() -> list[Any]:
    """Every case the writer treats differently, spread over several write batches."""
    tlp = [TLP2_CLEAR, TLP2_GREEN, TLP2_AMBER, TLP2_RED]
    objects: list[Any] = [indicator(0, object_marking_refs=[STATEMENT]),  # defined further down
                          indicator(1, object_marking_refs=[UNREADABLE, TLP2_GREEN])]
    objects += [indicator(n, object_marking_refs=[tlp[n % 4]]) for n in range(2, 1200)]
    objects += [
        {"type": "marking-definition", "spec_version": "2.1", "id": STATEMENT, "created": "2026-01-01T00:00:00.000Z",
         "definition_type": "statement", "definition": {"statement": "internal"}},
        indicator(1200, object_marking_refs=[STATEMENT, TLP2_AMBER]),
        indicator(1201, pattern="[not a pattern"),  # refused by validation
        42,  # not an object
        indicator(5, name="changed without a new modified"),  # a conflict, refused by the writer
        indicator(7, object_marking_refs=[tlp[3]]),  # the same again: unchanged
        {"type": "marking-definition", "spec_version": "2.1", "id": UNREADABLE,
         "created": "2026-01-01T00:00:00.000Z", "name": "PARTNER-RESTRICTED",
         "extensions": {"extension-definition--11111111-1111-4111-8111-111111111111":
                        {"extension_type": "property-extension", "level": "restricted"}}},
    ]
    objects += [indicator(n) for n in range(1202, 2100)]
    return objects


def bundle(path: Path, objects: list[Any], **envelope: Any) -> Path:
    path.write_bytes(orjson.dumps({"type": "bundle", "id": BUNDLE_ID, **envelope, "objects": objects}))
    return path


def fresh_store(template: Path, path: Path) -> SQLiteStore:
    shutil.copyfile(template, path)
    return SQLiteStore(f"sqlite:///{path}", clock=StepClock())


def stix_read(path: Path) -> Read:
    importer = registry().importer("stix")
    source = Source.from_path(path)
    return lambda advance: importer.read(source, ImportOptions())


def through_pipeline(store: SQLiteStore, read: Read,
                     progress: Callable[[int], None] | None = None) -> tuple[IngestReport, list[str]]:
    with Pipeline(read, progress) as two, store.transaction() as tx:
        report = two.ingest(tx, store.get_collection("default"), node_provenance(store))
    return report, two.notes


def in_one_process(store: SQLiteStore, read: Read) -> tuple[IngestReport, list[str]]:
    imported = read(None)
    with store.transaction() as tx:
        report = ingest_items(tx, store.get_collection("default"), imported.items, node_provenance(store),
                              bundle_spec_version=imported.spec_version)
    return report, imported.notes


def dump(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    conn = sqlite3.connect(db)
    try:
        return {name: conn.execute(query).fetchall() for name, query in TABLES.items()}
    finally:
        conn.close()


def versions(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        count: int = conn.execute("SELECT count(*) FROM object_versions").fetchone()[0]
        return count
    finally:
        conn.close()


def summary(report: IngestReport) -> tuple[Any, ...]:
    return report.stored, report.added, report.unchanged, report.upgraded, report.refused


def assert_same_import(template: Path, tmp_path: Path, read: Read, seed: list[Any] | None = None) -> IngestReport:
    """The same input through both paths into identical stores, with the same clock: identical rows,
    audit entries and reports, refusals in the same order."""
    outcomes = []
    for name, ingest in (("one", in_one_process), ("two", through_pipeline)):
        store = fresh_store(template, tmp_path / f"{name}.db")
        if seed is not None:
            in_one_process(store, stix_read(bundle(tmp_path / "seed.json", seed)))
        report, notes = ingest(store, read)
        store.close()
        outcomes.append((summary(report), notes, dump(tmp_path / f"{name}.db")))
    assert outcomes[0] == outcomes[1]
    return report


def test_stores_and_reports_what_one_process_does(template_db: Path, tmp_path: Path) -> None:
    report = assert_same_import(template_db, tmp_path, stix_read(bundle(tmp_path / "in.json", mixed_objects())))
    assert (report.stored, report.unchanged, len(report.refused)) == (2101, 1, 3)
    assert [p.index for p in report.refused] == [1202, 1203, 1204]
    conn = sqlite3.connect(tmp_path / "two.db")
    tlps = dict(conn.execute("SELECT stix_id, tlp FROM object_versions WHERE stix_id IN (?, ?)",
                             (indicator(0)["id"], indicator(1)["id"])))
    conn.close()
    # Resolved by a definition after it (a statement: no TLP), and one Accord cannot read.
    assert tlps == {indicator(0)["id"]: None, indicator(1)["id"]: "unknown"}


def test_markings_already_stored_and_objects_already_there(template_db: Path, tmp_path: Path) -> None:
    """Levels the store knows before the file, and a file that repeats what is stored."""
    objects = mixed_objects()
    report = assert_same_import(template_db, tmp_path, stix_read(bundle(tmp_path / "in.json", objects)),
                                seed=objects[1150:1300])
    assert report.unchanged > 100


def test_stix_2_0_is_upgraded_from_the_envelope(template_db: Path, tmp_path: Path) -> None:
    old = [{k: v for k, v in indicator(n).items() if k != "spec_version"} for n in range(30)]
    for obj in old:
        obj["labels"] = ["malicious-activity"]
    report = assert_same_import(template_db, tmp_path, stix_read(bundle(tmp_path / "in.json", old,
                                                                        spec_version="2.0")))
    assert (report.stored, report.upgraded, report.refused) == (30, 30, [])


def test_any_importer_and_its_notes(template_db: Path, tmp_path: Path) -> None:
    def read(advance: Callable[[int], None] | None) -> Imported:
        notes: list[str] = []

        def items() -> Iterator[Item]:
            for n in range(50):
                if n % 20 == 0:
                    notes.append(f"passed {n}")
                yield Item(n, indicator(n) if n != 3 else {"type": "indicator"})
        return Imported(items(), notes=notes)

    report = assert_same_import(template_db, tmp_path, read)
    assert report.stored == 49


def test_progress_counts_every_byte_of_the_file(template_db: Path, tmp_path: Path) -> None:
    path = bundle(tmp_path / "in.json", [indicator(n) for n in range(300)])
    importer = registry().importer("stix")
    counted: list[int] = []

    def read(advance: Callable[[int], None] | None) -> Imported:
        assert advance is not None
        raw = Source.from_path(path)
        return importer.read(Source(raw.name, raw.path, lambda: _Counting(path, advance), raw.size), ImportOptions())

    through_pipeline(fresh_store(template_db, tmp_path / "db"), read, counted.append)
    assert sum(counted) == path.stat().st_size


class _Counting:
    """A file whose reads are counted, as the CLI's progress bar counts them."""

    def __init__(self, path: Path, advance: Callable[[int], None]):
        self._file = open(path, "rb")  # noqa: SIM115 - closed by __exit__
        self._advance = advance

    def read(self, n: int = -1) -> bytes:
        data = self._file.read(n)
        self._advance(len(data))
        return data

    def __enter__(self) -> _Counting:
        return self

    def __exit__(self, *exc: object) -> None:
        self._file.close()


def test_a_file_unreadable_half_way_stores_nothing(template_db: Path, tmp_path: Path) -> None:
    whole = orjson.dumps({"type": "bundle", "id": BUNDLE_ID, "objects": [indicator(n) for n in range(500)]})
    path = tmp_path / "cut.json"
    path.write_bytes(whole[:len(whole) * 3 // 4])
    store = fresh_store(template_db, tmp_path / "db")
    with pytest.raises(InputError) as raised:
        through_pipeline(store, stix_read(path))
    assert raised.value.offset is not None
    store.close()
    assert versions(tmp_path / "db") == 0


def dying(path: Path, after: int, die: Callable[[], None]) -> Read:
    """The stix importer, cut short in the child after ``after`` objects by ``die``."""
    inner = stix_read(path)

    def read(advance: Callable[[int], None] | None) -> Imported:
        imported = inner(advance)

        def items() -> Iterator[Item]:
            for item in imported.items:
                if item.index == after:
                    die()
                yield item
        return Imported(items(), imported.spec_version)
    return read


def test_a_killed_child_fails_the_file_and_stores_nothing(template_db: Path, tmp_path: Path) -> None:
    path = bundle(tmp_path / "in.json", [indicator(n) for n in range(3000)])
    store = fresh_store(template_db, tmp_path / "db")
    with pytest.raises(InputError, match="killed by SIGKILL"):
        through_pipeline(store, dying(path, 2500, lambda: os.kill(os.getpid(), signal.SIGKILL)))
    store.close()
    assert versions(tmp_path / "db") == 0
    assert not [p for p in multiprocessing.active_children() if p.name == "accord-import-reader"]


class Local(Exception):
    """An importer's own error that pickle cannot rebuild (it needs an argument pickle does not keep)."""

    def __init__(self, code: int, text: str):
        super().__init__(text)
        self.code = code


def _raise(exc: BaseException) -> Callable[[], None]:
    def die() -> None:
        raise exc
    return die


@pytest.mark.parametrize(("exc", "expected"), [(ValueError("bad row"), ValueError),
                                               (Local(3, "odd"), RuntimeError)])
def test_an_importer_failing_in_the_child_fails_the_file(template_db: Path, tmp_path: Path, exc: BaseException,
                                                         expected: type[BaseException]) -> None:
    path = bundle(tmp_path / "in.json", [indicator(n) for n in range(100)])
    store = fresh_store(template_db, tmp_path / "db")
    with pytest.raises(expected) as raised:
        through_pipeline(store, dying(path, 60, _raise(exc)))
    assert "in the import's reading process" in "".join(getattr(raised.value, "__notes__", []))
    store.close()
    assert versions(tmp_path / "db") == 0


def test_leaving_early_stops_the_child(tmp_path: Path) -> None:
    path = bundle(tmp_path / "in.json", [indicator(n) for n in range(20_000)])
    with Pipeline(stix_read(path)):
        pass  # the caller failed before it wrote anything: the child is blocked on a full pipe
    assert not [p for p in multiprocessing.active_children() if p.name == "accord-import-reader"]


def test_which_sources_are_worth_a_second_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    small = tmp_path / "small.json"
    small.write_bytes(b"x" * 1000)
    monkeypatch.setattr(pipeline, "MIN_BYTES", 1000)
    assert worth_forking(Source.from_path(small))
    monkeypatch.setattr(pipeline, "MIN_BYTES", 1001)
    assert not worth_forking(Source.from_path(small))
    with open(small, "rb") as stream:
        assert not worth_forking(Source.from_stream("<stdin>", stream))  # size unknown
    assert not worth_forking(Source.from_path(tmp_path))  # a directory a format reads whole


@pytest.mark.parametrize("dry_run", [False, True])
def test_accord_import_prints_the_same_either_way(template_db: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch, dry_run: bool) -> None:
    path = bundle(tmp_path / "in.json", mixed_objects())
    outputs = []
    for name, min_bytes in (("one", 1 << 60), ("two", 0)):
        monkeypatch.setattr(pipeline, "MIN_BYTES", min_bytes)
        shutil.copyfile(template_db, tmp_path / f"{name}.db")
        result = CliRunner().invoke(cli, ["--db", f"sqlite:///{tmp_path / name}.db", "import", str(path),
                                          *(["--dry-run"] if dry_run else [])], catch_exceptions=False)
        outputs.append((result.exit_code, result.stdout, result.stderr, versions(tmp_path / f"{name}.db")))
    assert outputs[0] == outputs[1]
    assert outputs[0][0] == 1 and "refused 3" in outputs[0][1]
    assert outputs[0][3] == (0 if dry_run else 2101)
