"""kill -9 during an import: what was acknowledged before survives, the killed file left nothing,
and the database is intact. (The randomised many-kill harness arrives with the PostgreSQL issue.)"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from tests.cli.conftest import Run, stored_total

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sample-bundle.json"


def big_bundle(path: Path, count: int) -> None:
    with path.open("wb") as out:
        out.write(b'{"type": "bundle", "id": "bundle--0b7e3a6c-1d2f-4a5b-8c9d-0e1f2a3b4c5d", "objects": [')
        for i in range(count):
            obj = {"type": "indicator", "spec_version": "2.1",
                   "id": f"indicator--{i:08x}-0000-4000-8000-000000000000",
                   "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
                   "pattern": f"[ipv4-addr:value = '10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}']",
                   "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z"}
            out.write((b"," if i else b"") + orjson.dumps(obj))
        out.write(b"]}")


@pytest.mark.slow
def test_kill_during_import_keeps_acknowledged_and_leaves_no_half_file(accord: Run, db_url: str,
                                                                       tmp_path: Path) -> None:
    assert accord("import", str(SAMPLE)).exit_code == 0  # acknowledged
    before = orjson.loads(accord("export").stdout)["objects"]
    big = tmp_path / "big.json"
    big_bundle(big, 200_000)
    kills = 0
    for delay in (0.3, 0.8, 1.5):
        proc = subprocess.Popen([sys.executable, "-m", "accord.cli", "--db", db_url, "import", str(big)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait()
        if proc.returncode == 0:
            continue  # finished before the kill: then everything must be there (checked below)
        if db_url.startswith("sqlite:///"):
            conn = sqlite3.connect(db_url.removeprefix("sqlite:///"))
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            conn.close()
        # the file is one transaction: a killed import stored none of it
        stats = orjson.loads(accord("stats", "--json").stdout)
        assert stats["versions"] == len(before)
        assert stats["by_collection"] == {"default": len(before)}
    assert kills > 0, "the import always finished before the kill; make the file bigger"
    assert orjson.loads(accord("export").stdout)["objects"][: len(before)] == before
    assert stored_total(accord) in (len(before), len(before) + 200_000)
