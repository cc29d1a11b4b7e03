"""A pg_dump of a node's PostgreSQL database, restored into a new database, serves the same objects."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from accord.cli.main import cli
from tests.conftest import _pg_admin, _pg_url

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sample-bundle.json"


@pytest.mark.parametrize("backend", ["postgres"])
def test_pg_dump_restore_serves_the_same_objects(backend: str, pg_url: str, tmp_path: Path) -> None:
    if shutil.which("pg_dump") is None or shutil.which("pg_restore") is None:
        pytest.skip("pg_dump/pg_restore are not installed (Debian package postgresql-client)")
    runner = CliRunner()

    def accord(url: str, *args: str) -> str:
        result = runner.invoke(cli, ["--db", url, *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.stdout

    accord(pg_url, "import", str(SAMPLE))
    accord(pg_url, "org", "add", "CERT-A")
    dump = tmp_path / "accord.dump"
    subprocess.run(["pg_dump", "-Fc", "-f", str(dump), pg_url], check=True)
    restored = f"accord_restored_{uuid.uuid4().hex[:12]}"
    _pg_admin(f"CREATE DATABASE {restored}")
    try:
        subprocess.run(["pg_restore", "--no-owner", "-d", _pg_url(restored), str(dump)], check=True)
        restored_url = _pg_url(restored)
        original = orjson.loads(accord(pg_url, "export"))["objects"]
        assert orjson.loads(accord(restored_url, "export"))["objects"] == original
        assert accord(restored_url, "stats", "--json") == accord(pg_url, "stats", "--json")
        assert accord(restored_url, "org", "list") == "CERT-A\tlocal\nnode\tlocal\n"
        # the restored node keeps working: new writes get later date_added values
        accord(restored_url, "import", str(SAMPLE))
    finally:
        _pg_admin(f"DROP DATABASE IF EXISTS {restored} WITH (FORCE)")
