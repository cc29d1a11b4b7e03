"""kill -9 during `accord import`, over and over at random moments, on both backends.

Between kills a small file is imported to completion (acknowledged). After every kill the
store must hold exactly the acknowledged versions, each with identical content, with their index
rows and collection membership, nothing of the killed file, and (SQLite) pass integrity_check.
The harness prints kills, acknowledged objects and losses. tests/taxii/test_crash_serve.py does
the same to `accord serve` (with one and two workers) under concurrent TAXII clients.

A file this big is read and prepared by a child process (services/pipeline.py): killing the
import must not leave that child running, and killing the child alone must fail that file whole
(nothing of it stored, exit status 1) while the files after it are still imported.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.cli.conftest import Run

KILLS = 20
BIG = 150_000
CHILD_KILLS = 3


def children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def wait_gone(pid: int, seconds: float = 30) -> None:
    """Wait until ``pid`` has exited (a zombie nobody reaped counts as exited)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return
        if state in ("Z", "X"):
            return
        time.sleep(0.05)
    pytest.fail(f"process {pid} still running {seconds} s after the import it served was killed")


def check_store(accord: Run, db_url: str, acknowledged: list[dict[str, Any]], round_: int) -> None:
    """Exactly the acknowledged versions, whole, with their index rows and membership."""
    if db_url.startswith("sqlite:///"):
        conn = sqlite3.connect(db_url.removeprefix("sqlite:///"))
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        conn.close()
    stats = orjson.loads(accord("stats", "--json").stdout)
    exported = orjson.loads(accord("export").stdout)["objects"]
    lost = len(acknowledged) - len(exported)
    assert exported == acknowledged, f"round {round_}: {lost} acknowledged objects lost or changed"
    assert stats["by_collection"] == {"default": len(acknowledged)}
    assert stats["observables"] == len(acknowledged)  # one ipv4 per indicator: no orphan, none missing


def indicators(path: Path, start: int, count: int) -> list[dict[str, Any]]:
    """Write `count` indicators with ids from `start` as one bundle; return them if small."""
    kept: list[dict[str, Any]] = []
    with path.open("wb") as out:
        out.write(b'{"type": "bundle", "id": "bundle--0b7e3a6c-1d2f-4a5b-8c9d-0e1f2a3b4c5d", "objects": [')
        for i in range(start, start + count):
            obj = {"type": "indicator", "spec_version": "2.1",
                   "id": f"indicator--{i:08x}-0000-4000-8000-000000000000",
                   "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
                   "pattern": f"[ipv4-addr:value = '10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}']",
                   "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z"}
            out.write((b"," if i > start else b"") + orjson.dumps(obj))
            if count <= 1000:
                kept.append(obj)
        out.write(b"]}")
    return kept


@pytest.mark.slow
def test_random_kills_during_import_lose_nothing_acknowledged(accord: Run, db_url: str, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    rng = random.Random(20261125)
    big = tmp_path / "big.json"
    indicators(big, 10_000_000, BIG)  # ids that no small file uses
    acknowledged: list[dict[str, Any]] = []
    kills = 0
    for round_ in range(KILLS):
        small = tmp_path / f"small-{round_}.json"
        batch = indicators(small, round_ * 100, rng.randint(1, 100))
        result = accord("import", str(small))
        assert result.exit_code == 0, result.output
        acknowledged.extend(batch)

        proc = subprocess.Popen([sys.executable, "-m", "accord.cli", "--db", db_url, "import", str(big)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.05, 2.0))
        orphans = children(proc.pid)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait()
        if proc.returncode == 0:
            pytest.fail("the big import finished before the kill; make BIG larger")
        for pid in orphans:
            wait_gone(pid)

        check_store(accord, db_url, acknowledged, round_)
    with capsys.disabled():  # the figures belong in the CI log
        print(f"\ncrash harness ({db_url.split(':', 1)[0]}): kills={kills} "
              f"acknowledged={len(acknowledged)} lost=0")
    assert kills >= KILLS


@pytest.mark.slow
def test_killing_the_reading_child_fails_that_file_only(accord: Run, db_url: str, tmp_path: Path) -> None:
    rng = random.Random(20261126)
    big = tmp_path / "big.json"
    indicators(big, 10_000_000, BIG)
    acknowledged: list[dict[str, Any]] = []
    for round_ in range(CHILD_KILLS):
        after = tmp_path / f"after-{round_}.json"
        batch = indicators(after, round_ * 100, rng.randint(1, 100))
        proc = subprocess.Popen([sys.executable, "-m", "accord.cli", "--db", db_url, "import", str(big), str(after)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while not (readers := children(proc.pid)):
            assert proc.poll() is None and time.monotonic() < deadline, "no reading child appeared"
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 1.0))
        os.kill(readers[0], signal.SIGKILL)
        out, err = proc.communicate(timeout=120)  # the parent must notice, never wait for the dead
        assert proc.returncode == 1, err.decode()
        assert f"{big}: refused, nothing stored: the process reading it stopped (killed by SIGKILL)".encode() in err
        assert b"files refused 1" in out
        acknowledged.extend(batch)
        check_store(accord, db_url, acknowledged, round_)
