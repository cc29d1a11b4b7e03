"""Ingest benchmark: ``accord import`` against the floor, at several sizes, in one run.

    python bench/ingest.py                       # 10k, 100k, 1M objects
    python bench/ingest.py --sizes 10000,100000 --record
    python bench/ingest.py --sizes 100000 --profile 100000

For each size N the data is generated once (bench/datagen.py, cached in bench/out/ by N, seed and
the generator's own digest), then two children are timed, each in its own process:

- accord: ``accord --db URL import BUNDLE`` into a fresh, initialised database (``init`` is not
  timed). Afterwards ``accord stats --json`` must count N versions, else the figure is void.
- floor:  ``python bench/ingest.py floor BUNDLE DB``: the least any importer must do with the same
  file - read it streamed, parse each object with orjson, and insert (id, modified, json) rows with
  ``executemany`` in one transaction into SQLite with Accord's PRAGMAs. It keeps the one index a
  versioned store cannot do without, the uniqueness of (id, modified). When ``--db-url`` is a
  PostgreSQL URL the floor is PostgreSQL's: the same rows into a fresh database on the same server
  (``floor-pg METHOD BUNDLE URL``), once with COPY and once with ``executemany`` in pipeline mode;
  the faster of the two is the floor, and the table says which.

Wall time is measured by the parent around each child and includes interpreter start-up. Peak
RSS and CPU time come from ``os.wait4`` on that child's pid: the kernel's rusage of exactly that
process (and any children it waited for), which is what ``/usr/bin/time -v`` reads too, without
the ``RUSAGE_CHILDREN`` deltas that go wrong once several children have run. ``accord import``
of a large file runs in two processes (accord/services/pipeline.py: one reads and prepares, the
other writes), so its CPU figure is the sum of both and its peak RSS the larger of the two. By
default the children are pinned to two CPUs (``--cpus``): what the pipeline needs, and the same
two for every run, so runs on a bigger machine compare with runs on this one.

Budgets (docs: ../shared/DESIGN.md "Budgets"): >= 50,000 objects/s at 1M; accord time <= 3x
the floor's; RSS flat, i.e. RSS at 1M within 1.5x of RSS at 100k. ``--record`` appends a dated
entry to bench/RESULTS.md. See bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import platform
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
OUT = BENCH / "out"
RESULTS = BENCH / "RESULTS.md"
DEFAULT_SIZES = (10_000, 100_000, 1_000_000)

# The budgets this benchmark checks.
MIN_RATE = 50_000  # objects/s, at RATE_AT objects
RATE_AT = 1_000_000
MAX_RATIO = 3.0  # accord wall time / floor wall time
RSS_REFERENCE = 100_000  # RSS at >= RATE_AT objects is compared with RSS at this size
MAX_RSS_GROWTH = 1.5
# A 1-minute load average above this (the two busy processes of an accord import plus slack)
# means the machine was shared during the run; the figures are then flagged as contended.
CONTENDED = 2.5
# CPUs the children may use: accord import's reading process and its writing process.
PIN_CPUS = 2

# Accord's SQLite settings (accord/storage/sqlite.py: _connect and initialise). Copied, not
# imported, so the floor child loads nothing of Accord; keep the two in step.
FLOOR_PRAGMAS = (
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = FULL",
    "PRAGMA cache_size = -131072",
    "PRAGMA temp_store = MEMORY",
)
FLOOR_TABLE = ("CREATE TABLE objects (id TEXT NOT NULL, modified TEXT NOT NULL, json BLOB NOT NULL, "
               "PRIMARY KEY (id, modified))")
FLOOR_BATCH = 1000  # rows per executemany, as accord.services.ingest.BATCH
READ_BUFFER = 1 << 20  # the same 1 MiB reads as accord.stix.stream
# The PostgreSQL floor: the same table, with Accord's column types (text, bytea), logged, on the
# server's own durability settings, as Accord's tables are.
PG_FLOOR_TABLE = ("CREATE TABLE objects (id text NOT NULL, modified text NOT NULL, json bytea NOT NULL, "
                  "PRIMARY KEY (id, modified))")
PG_FLOOR_METHODS = ("copy", "pipeline")
# The floor's own database on the server of --db-url, made and dropped by the benchmark.
PG_FLOOR_DB = "accord_bench_floor_{n}"


# --- the floor (runs in its own child) -----------------------------------------------------------


def floor_rows(bundle: Path) -> Iterator[tuple[str, str, bytes]]:
    """(id, modified or created or '', raw JSON) of each object of ``bundle``, parsed with orjson.

    Relies on the layout bench/datagen.py writes: header line, one object per line, ``]}`` line.
    That is what makes a streamed read this cheap; it is not a general STIX reader.
    """
    loads = orjson.loads
    with open(bundle, "rb", buffering=READ_BUFFER) as f:
        f.readline()  # {"type":"bundle","id":...,"objects":[
        for line in f:
            if line.startswith(b"]"):
                break
            body = line.rstrip(b"\r\n")
            if body.endswith(b","):
                body = body[:-1]
            obj = loads(body)
            yield obj["id"], obj.get("modified") or obj.get("created") or "", body


def floor_batches(bundle: Path) -> Iterator[list[tuple[str, str, bytes]]]:
    rows: list[tuple[str, str, bytes]] = []
    for row in floor_rows(bundle):
        rows.append(row)
        if len(rows) >= FLOOR_BATCH:
            yield rows
            rows = []
    if rows:
        yield rows


def floor(bundle: Path, db: Path) -> int:
    """Import ``bundle`` into SQLite the cheapest way that still parses every object; return the count."""
    conn = sqlite3.connect(db, isolation_level=None)
    for pragma in FLOOR_PRAGMAS:
        conn.execute(pragma)
    conn.execute(FLOOR_TABLE)
    conn.execute("BEGIN IMMEDIATE")
    insert = "INSERT INTO objects (id, modified, json) VALUES (?, ?, ?)"
    count = 0
    for rows in floor_batches(bundle):
        conn.executemany(insert, rows)
        count += len(rows)
    conn.execute("COMMIT")
    conn.close()
    return count


def floor_pg(method: str, bundle: Path, url: str) -> int:
    """The same into PostgreSQL at ``url`` (an empty database), in one transaction: ``copy`` streams
    every row through one binary ``COPY ... FROM STDIN``; ``pipeline`` sends ``executemany`` batches
    of FLOOR_BATCH rows in pipeline mode (no round trip waited for per row)."""
    import psycopg  # only this child needs it

    count = 0
    with psycopg.connect(url) as conn:
        conn.execute(PG_FLOOR_TABLE)
        conn.commit()
        with conn.cursor() as cur:
            if method == "copy":
                with cur.copy("COPY objects (id, modified, json) FROM STDIN (FORMAT BINARY)") as copy:
                    copy.set_types(["text", "text", "bytea"])
                    for row in floor_rows(bundle):
                        copy.write_row(row)
                        count += 1
            elif method == "pipeline":
                insert = "INSERT INTO objects (id, modified, json) VALUES (%s, %s, %s)"
                with conn.pipeline():
                    for rows in floor_batches(bundle):
                        cur.executemany(insert, rows)
                        count += len(rows)
            else:
                raise ValueError(f"unknown PostgreSQL floor method {method!r}")
        conn.commit()
    return count


# --- measuring children ----------------------------------------------------------------------------


@dataclass
class Run:
    wall: float  # seconds, parent's clock around the child
    cpu: float  # user + system seconds of the child
    rss_kb: int  # peak resident set of the child, KiB (Linux ru_maxrss unit)
    rc: int
    stdout: str
    stderr: str
    db_bytes: int = 0  # size of the database files the child left (SQLite; the floor's table on PostgreSQL)
    kind: str = ""  # which floor: "SQLite", "PG COPY", "PG pipeline"
    # Peak anonymous memory of the child (its heap: Python objects, SQLite's page cache), KiB,
    # sampled every 0.1 s. ru_maxrss also counts file pages the child mapped: a SQLite reader
    # maps the database (docs/operations.md), so a process reading much of a large store shows
    # an RSS near the file's size that is the OS's file cache, not the process's own memory.
    anon_kb: int = 0


def _peak_anon(pid: int, done: threading.Event, peak: list[int]) -> None:
    while not done.wait(0.1):
        try:
            with open(f"/proc/{pid}/status", "rb") as status:
                for line in status:
                    if line.startswith(b"RssAnon:"):
                        peak[0] = max(peak[0], int(line.split()[1]))
        except (OSError, ValueError):
            return  # gone (or not Linux)


def measure(cmd: list[str], log: Path) -> Run:
    """Run ``cmd`` as one child and read its own rusage with wait4 (see the module docstring)."""
    with open(log.with_suffix(".out"), "w+b") as out, open(log.with_suffix(".err"), "w+b") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=ROOT)
        done, peak = threading.Event(), [0]
        sampler = threading.Thread(target=_peak_anon, args=(proc.pid, done, peak), daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        done.set()
        sampler.join()
        # Popen did not reap the child itself; tell it, so it never waits on a recycled pid.
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, proc.returncode,
                   out.read().decode(errors="replace"), err.read().decode(errors="replace"), anon_kb=peak[0])


def median_run(runs: list[Run]) -> Run:
    """The run with the median wall time (its RSS and CPU come with it, not mixed across runs)."""
    ordered = sorted(runs, key=lambda r: r.wall)
    return ordered[(len(ordered) - 1) // 2]


def db_size(path: Path) -> int:
    return sum(p.stat().st_size for p in (Path(str(path) + s) for s in ("", "-wal")) if p.exists())


def remove_db(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal", "-write.lock", "-write.wait"):
        Path(str(path) + suffix).unlink(missing_ok=True)


# --- data ------------------------------------------------------------------------------------------


def datagen_digest() -> str:
    return hashlib.sha256((BENCH / "datagen.py").read_bytes()).hexdigest()[:16]


def ensure_data(n: int, seed: int) -> Path:
    """The bundle for (n, seed), generated unless a copy from the same generator exists."""
    path = OUT / f"bundle-{n}-seed{seed}.json"
    meta_path = path.with_suffix(".meta.json")
    meta = {"n": n, "seed": seed, "datagen": datagen_digest()}
    if path.exists() and meta_path.exists() and orjson.loads(meta_path.read_bytes()) == meta:
        print(f"data: reusing {path.relative_to(ROOT)} ({path.stat().st_size / 1e6:.0f} MB)", flush=True)
        return path
    started = time.perf_counter()
    # In a child: the generator is not what is being measured, and this keeps the parent small.
    subprocess.run([sys.executable, str(BENCH / "datagen.py"), str(n), "-o", str(path), "--seed", str(seed)],
                   check=True, stderr=subprocess.DEVNULL)
    meta_path.write_bytes(orjson.dumps(meta))
    print(f"data: generated {path.relative_to(ROOT)} ({path.stat().st_size / 1e6:.0f} MB) "
          f"in {time.perf_counter() - started:.1f} s", flush=True)
    return path


# --- accord --------------------------------------------------------------------------------------


def accord_bin(explicit: str | None) -> list[str]:
    """The command that runs the installed accord (the working tree, with an editable install)."""
    if explicit:
        return [explicit]
    beside = Path(sys.executable).parent / "accord"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("accord")
    if found is None:
        sys.exit("accord is not installed: pip install -e . (or pass --accord PATH)")
    return [found]


# Runs accord from a snapshot directory instead of the editable install, whose import finder
# would otherwise win over sys.path and load the working tree.
SNAPSHOT_MAIN = '''import sys
sys.meta_path[:] = [f for f in sys.meta_path if "__editable__" not in getattr(f, "__module__", "")]
from accord.cli.main import main
main()
'''


def accord_at(rev: str) -> tuple[list[str], str]:
    """A command running accord/ as of git revision ``rev``, and the full commit id.

    The tree is extracted with ``git archive`` (read-only for the repository), so the figures
    belong to one commit even while someone edits the working tree during a long run.
    """
    commit = subprocess.run(["git", "rev-parse", "--verify", f"{rev}^{{commit}}"], capture_output=True,
                            text=True, cwd=ROOT).stdout.strip()
    if not commit:
        sys.exit(f"--at {rev}: not a commit in {ROOT}")
    snapshot = OUT / f"src-{commit[:12]}"
    if not (snapshot / "run_accord.py").exists():
        shutil.rmtree(snapshot, ignore_errors=True)
        snapshot.mkdir(parents=True)
        archive = subprocess.run(["git", "archive", commit, "accord"], capture_output=True, check=True, cwd=ROOT)
        subprocess.run(["tar", "-x", "-C", str(snapshot)], input=archive.stdout, check=True)
        (snapshot / "run_accord.py").write_text(SNAPSHOT_MAIN)
    compile_sources(snapshot / "accord")
    return [sys.executable, str(snapshot / "run_accord.py")], commit


def compile_sources(package: Path) -> None:
    """Write the bytecode of ``package`` before anything is timed.

    pip compiles what it installs, an editable install is compiled on first import, and
    scripts/bootstrap compiles accord/: an installed accord never starts from source. Where
    PYTHONDONTWRITEBYTECODE is set nothing would be cached, and every timed run would include
    compiling each module it loads (~0.3 s of a 10,000-object import).
    """
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(package)], check=True)  # -q: errors only


def stats_versions(accord: list[str], url: str) -> int:
    done = subprocess.run([*accord, "--db", url, "stats", "--json"], capture_output=True, check=True,
                          cwd=ROOT)
    return int(orjson.loads(done.stdout)["versions"])


def fresh_accord_db(accord: list[str], n: int, url_template: str | None) -> str:
    """An initialised, empty database for one import; ours is recreated, a given one is checked."""
    if url_template is None:
        path = OUT / f"accord-{n}.db"
        remove_db(path)
        url = f"sqlite:///{path}"
    else:
        url = url_template.format(n=n)
    done = subprocess.run([*accord, "--db", url, "init"], capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        sys.exit(f"accord init {url} failed ({done.returncode}): {(done.stderr or done.stdout).strip()[-2000:]}")
    if url_template is not None and (held := stats_versions(accord, url)) != 0:
        # Never empty someone's database for them; a non-empty one would make the figures lie.
        sys.exit(f"{url} already holds {held} object versions; give an empty database")
    return url


def run_accord(accord: list[str], bundle: Path, n: int, url_template: str | None) -> tuple[Run, list[str]]:
    url = fresh_accord_db(accord, n, url_template)
    run = measure([*accord, "--db", url, "import", str(bundle)], OUT / f"accord-{n}")
    problems = []
    if run.rc != 0:
        problems.append(f"accord import exited {run.rc}: {(run.stderr or run.stdout).strip()[:500]}")
    refused = re.search(r"refused (\d+)", run.stdout)
    if refused is None or refused.group(1) != "0":
        problems.append(f"accord import did not report 0 refused: {run.stdout.strip()[:300]}")
    held = stats_versions(accord, url)
    if held != n:
        problems.append(f"accord stats counts {held} versions, expected {n}")
    if url_template is None:
        run.db_bytes = db_size(OUT / f"accord-{n}.db")
        remove_db(OUT / f"accord-{n}.db")  # 1M objects take a few GB; keep the disk for the next size
    return run, problems


def floor_problems(run: Run, n: int) -> list[str]:
    if run.rc != 0 or run.stdout.strip() != str(n):
        return [f"floor ({run.kind}) exited {run.rc} after {run.stdout.strip()!r} objects: "
                f"{run.stderr.strip()[:300]}"]
    return []


def run_floor(bundle: Path, n: int) -> tuple[Run, list[str]]:
    db = OUT / f"floor-{n}.db"
    remove_db(db)
    run = measure([sys.executable, str(Path(__file__).resolve()), "floor", str(bundle), str(db)],
                  OUT / f"floor-{n}")
    run.kind = "SQLite"
    run.db_bytes = db_size(db)
    remove_db(db)
    return run, floor_problems(run, n)


def is_postgres(url: str | None) -> bool:
    return url is not None and url.startswith(("postgresql://", "postgres://"))


def run_floors_pg(bundle: Path, n: int, accord_url: str) -> tuple[list[Run], list[str]]:
    """One run of each PostgreSQL floor method, each into a database of its own, created fresh on the
    server of ``accord_url`` and dropped afterwards."""
    import psycopg
    from psycopg.conninfo import make_conninfo

    name = PG_FLOOR_DB.format(n=n)
    admin = make_conninfo(accord_url, dbname="postgres")
    target = make_conninfo(accord_url, dbname=name)
    runs, problems = [], []
    for method in PG_FLOOR_METHODS:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')  # the benchmark's own, left by a broken run
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            run = measure([sys.executable, str(Path(__file__).resolve()), "floor-pg", method, str(bundle), target],
                          OUT / f"floor-pg-{method}-{n}")
            run.kind = {"copy": "PG COPY", "pipeline": "PG pipeline"}[method]
            if run.rc == 0:
                with psycopg.connect(target) as conn:
                    size = conn.execute("SELECT pg_total_relation_size('objects')").fetchone()
                    run.db_bytes = int(size[0]) if size else 0
        finally:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        runs.append(run)
        problems += floor_problems(run, n)
    print(f"{n:>9,}: PostgreSQL floor " + ", ".join(f"{r.kind} {r.wall:.2f} s" for r in runs), flush=True)
    return runs, problems


# --- results ---------------------------------------------------------------------------------------


@dataclass
class Row:
    n: int
    accord: Run
    floor: Run
    problems: list[str]
    load: tuple[float, float]  # 1-minute load average before and after this size's runs
    # Every floor measured at this size (median run of each kind); ``floor`` is the fastest of them.
    floors: list[Run] = field(default_factory=list)

    @property
    def accord_rate(self) -> float:
        return self.n / self.accord.wall

    @property
    def floor_rate(self) -> float:
        return self.n / self.floor.wall

    @property
    def ratio(self) -> float:
        return self.accord.wall / self.floor.wall

    @property
    def cpu_ratio(self) -> float:
        return self.accord.cpu / self.floor.cpu


def verdicts(rows: list[Row]) -> dict[int, list[tuple[str, bool, str]]]:
    """Per size, (budget, passed, detail) for each budget that applies to that size."""
    by_n = {r.n: r for r in rows}
    out: dict[int, list[tuple[str, bool, str]]] = {}
    for r in rows:
        checks = [("ratio", r.ratio <= MAX_RATIO, f"accord/floor {r.ratio:.2f} (<= {MAX_RATIO:g})")]
        if r.n >= RATE_AT:
            checks.append(("rate", r.accord_rate >= MIN_RATE,
                           f"{r.accord_rate:,.0f} obj/s (>= {MIN_RATE:,})"))
            ref = by_n.get(RSS_REFERENCE)
            if ref is not None:
                growth = r.accord.rss_kb / ref.accord.rss_kb
                checks.append(("rss", growth <= MAX_RSS_GROWTH,
                               f"RSS {growth:.2f}x of {RSS_REFERENCE:,} (<= {MAX_RSS_GROWTH:g}x)"))
        if r.problems:
            checks.append(("valid", False, "; ".join(r.problems)))
        out[r.n] = checks
    return out


HEADER = ("N", "accord s", "accord obj/s", "floor", "floor s", "floor obj/s", "accord/floor", "accord CPU s",
          "floor CPU s", "CPU ratio", "accord RSS MB", "floor RSS MB", "accord DB MB", "floor DB MB", "load",
          "verdict")


def table_rows(rows: list[Row]) -> list[tuple[str, ...]]:
    checks = verdicts(rows)
    lines = []
    for r in rows:
        failed = [name for name, ok, _ in checks[r.n] if not ok]
        verdict = "PASS" if not failed else "FAIL (" + ", ".join(failed) + ")"
        lines.append((f"{r.n:,}", f"{r.accord.wall:.2f}", f"{r.accord_rate:,.0f}", r.floor.kind,
                      f"{r.floor.wall:.2f}", f"{r.floor_rate:,.0f}", f"{r.ratio:.2f}",
                      f"{r.accord.cpu:.2f}", f"{r.floor.cpu:.2f}", f"{r.cpu_ratio:.2f}",
                      f"{r.accord.rss_kb / 1024:.0f}", f"{r.floor.rss_kb / 1024:.0f}",
                      f"{r.accord.db_bytes / 1e6:.0f}" if r.accord.db_bytes else "-",
                      f"{r.floor.db_bytes / 1e6:.0f}", f"{max(r.load):.1f}", verdict))
    return lines


def print_table(rows: list[Row]) -> None:
    body = table_rows(rows)
    widths = [max(len(h), *(len(line[i]) for line in body)) for i, h in enumerate(HEADER)]
    print()
    print("  ".join(h.rjust(w) for h, w in zip(HEADER, widths, strict=True)))
    for line in body:
        print("  ".join(c.rjust(w) for c, w in zip(line, widths, strict=True)))
    print()
    for n, checks in verdicts(rows).items():
        for name, ok, detail in checks:
            print(f"  {n:>9,}  {name:<5}  {'PASS' if ok else 'FAIL'}  {detail}")
    for line in floor_lines(rows):
        print(f"  {line}")


def floor_lines(rows: list[Row]) -> list[str]:
    """Where several floors were measured (PostgreSQL), each one's figures and which became the floor."""
    out = []
    for r in rows:
        if len(r.floors) > 1:
            each = ", ".join(f"{f.kind} {f.wall:.2f} s ({r.n / f.wall:,.0f} obj/s, {f.cpu:.2f} CPU s)"
                             for f in r.floors)
            out.append(f"{r.n:,} floor: {each}; the floor is {r.floor.kind}")
    return out


def git_commit() -> str:
    try:
        rev = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True,
                             check=True, cwd=ROOT).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "accord"], capture_output=True,
                               text=True, check=True, cwd=ROOT).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return rev + (" + uncommitted changes in accord/" if dirty else "")


def source_digest() -> str:
    """Digest of accord/*.py as measured: the commit alone does not say what an edited tree ran."""
    digest = hashlib.sha256()
    for path in sorted((ROOT / "accord").rglob("*.py")):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def machine() -> str:
    cpus = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip() or str(os.cpu_count())
    mem = "?"
    free = subprocess.run(["free", "-g"], capture_output=True, text=True).stdout.splitlines()
    for line in free:
        if line.startswith("Mem:"):
            mem = line.split()[1]
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{cpus} CPUs (nproc){', ' + model if model else ''}; {mem} GiB RAM (free -g); "
            f"Python {platform.python_version()}; SQLite {sqlite3.sqlite_version}; {platform.platform()}")


def record(rows: list[Row], args: argparse.Namespace, context: dict[str, str], startup: float | None) -> None:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"## {now}, commit {context['commit']}", ""]
    lines.append(f"- Machine: {context['machine']}")
    source = context["source"]
    if context["source_after"] != source:
        source += f" at the start, {context['source_after']} at the end (accord/ changed during the run)"
    lines.append(f"- accord/ source digest (sha256 of accord/**/*.py, first 12): {source}")
    pinned = context["pinned"]
    lines.append(f"- Children: {pinned}; peak RSS and CPU from os.wait4 of each child (accord import: CPU of "
                 f"its two processes, RSS of the larger); median of {args.repeat} run(s) per size")
    lines.append(f"- Data: bench/datagen.py seed {args.seed}; accord database: "
                 f"{args.db_url or 'fresh SQLite file per size'}")
    if is_postgres(args.db_url):
        lines.append(f"- Floor: PostgreSQL, a fresh database ({PG_FLOOR_DB}) on the same server per run, the "
                     "faster of COPY and executemany in pipeline mode (column 'floor'); CPU columns are the "
                     "client's, not the server's")
    if startup is not None:
        lines.append(f"- accord start-up (`accord --version`, included in every accord time): "
                     f"{startup:.2f} s")
    if any(max(r.load) > CONTENDED for r in rows):
        lines.append(f"- Contended: 1-minute load average above {CONTENDED:g} during the run (column "
                     "'load'); wall-clock figures are pessimistic, CPU seconds less so")
    lines.append("")
    lines.append("| " + " | ".join(HEADER) + " |")
    lines.append("|" + "|".join("---" if h in ("floor", "verdict") else "---:" for h in HEADER) + "|")
    for line in table_rows(rows):
        lines.append("| " + " | ".join(line) + " |")
    lines.append("")
    for n, checks in verdicts(rows).items():
        for name, ok, detail in checks:
            lines.append(f"- {n:,} {name}: {'PASS' if ok else 'FAIL'}, {detail}")
    lines += [f"- {line}" for line in floor_lines(rows)]
    lines.append("")
    if not RESULTS.exists():
        RESULTS.write_text(RESULTS_PREAMBLE)
    # Other benchmarks append here too, not all ending with a blank line; a heading needs one.
    separator = "" if RESULTS.read_text().endswith("\n\n") else "\n"
    with open(RESULTS, "a") as f:
        f.write(separator + "\n".join(lines) + "\n")
    print(f"recorded in {RESULTS.relative_to(ROOT)}")


RESULTS_PREAMBLE = """# Benchmark results

Entries are appended by `python bench/ingest.py --record` (newest last); bench/README.md explains
the figures and how the floor is defined. Budgets: >= 50,000 objects/s at 1M objects; accord time
<= 3x the floor's; RSS at 1M within 1.5x of RSS at 100k.

"""


# --- profile ---------------------------------------------------------------------------------------


def profile(accord: list[str], bundle: Path, n: int, top: int) -> None:
    """Run one import under cProfile and print the top functions by cumulative and by own time."""
    import pstats  # only this path needs it

    url = fresh_accord_db(accord, n, None)
    prof = OUT / f"import-{n}.prof"
    # accord[-1] is a Python script either way (the console script or the snapshot's runner).
    subprocess.run([sys.executable, "-m", "cProfile", "-o", str(prof), accord[-1], "--db", url, "import",
                    str(bundle)], check=True, capture_output=True, cwd=ROOT)
    remove_db(OUT / f"accord-{n}.db")
    report = OUT / f"profile-{n}.txt"
    with open(report, "w") as f:
        stats = pstats.Stats(str(prof), stream=f)
        for key in ("cumulative", "tottime"):
            print(f"\n==== accord import, {n:,} objects, top {top} by {key} ====", file=f)
            stats.sort_stats(key).print_stats(top)
    print(report.read_text())
    print(f"profile data in {prof.relative_to(ROOT)}, report in {report.relative_to(ROOT)}")


# --- main ----------------------------------------------------------------------------------------


def parse_sizes(text: str) -> tuple[int, ...]:
    return tuple(int(part.replace("_", "")) for part in text.split(",") if part.strip())


def pin(cpus: list[int] | None) -> str:
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (no sched_setaffinity here)"
    allowed = sorted(os.sched_getaffinity(0))
    # The last ones by default: CPU 0 tends to take more of the machine's interrupts.
    chosen = set(allowed[-PIN_CPUS:] if cpus is None else cpus)
    if len(chosen) < PIN_CPUS:
        print(f"WARNING: {len(chosen)} CPU(s) for the children; accord import uses {PIN_CPUS} processes, "
              "so it is measured with less than it needs", flush=True)
    os.sched_setaffinity(0, chosen)  # children inherit the parent's affinity
    return f"pinned to CPU{'s' if len(chosen) > 1 else ''} {','.join(map(str, sorted(chosen)))}"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["floor"]:
        # The floor child: kept to this one call so its RSS is the loop's, not the driver's.
        print(floor(Path(argv[1]), Path(argv[2])))
        return 0
    if argv[:1] == ["floor-pg"]:
        print(floor_pg(argv[1], Path(argv[2]), argv[3]))
        return 0
    parser = argparse.ArgumentParser(description="Measure accord import against the floor.")
    parser.add_argument("--sizes", type=parse_sizes, default=DEFAULT_SIZES, metavar="N,N,...",
                        help="object counts (default 10000,100000,1000000; '' with --profile: "
                             "profile only)")
    parser.add_argument("--db-url", metavar="URL",
                        help="accord database to import into instead of a fresh SQLite file; '{n}' is "
                             "replaced by the size; it must be empty")
    parser.add_argument("--seed", type=int, default=1, help="datagen seed (default 1)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per size; the median is reported")
    parser.add_argument("--accord", metavar="PATH", help="accord executable (default: beside this Python)")
    parser.add_argument("--at", metavar="REV",
                        help="measure accord/ as of this git revision (extracted to bench/out/src-*), "
                             "not the working tree; for runs while the code is being edited")
    parser.add_argument("--cpus", type=lambda text: [int(c) for c in text.split(",")], metavar="N,N",
                        help=f"CPUs to pin the children to (default: the last {PIN_CPUS} allowed)")
    parser.add_argument("--no-pin", action="store_true", help="let the children use every CPU")
    parser.add_argument("--record", action="store_true", help="append the results to bench/RESULTS.md")
    parser.add_argument("--profile", type=int, metavar="N",
                        help="also run the import of size N under cProfile and print the top functions")
    parser.add_argument("--top", type=int, default=25, help="functions shown per profile listing")
    args = parser.parse_args(argv)

    OUT.mkdir(exist_ok=True)
    # Before pinning: nproc counts only the CPUs this process may use.
    context = {"machine": machine(), "commit": git_commit(), "source": source_digest()}
    if args.at:
        accord, commit = accord_at(args.at)
        context["commit"] = f"{commit[:12]} (snapshot of accord/ by git archive; working tree not used)"
        context["source"] = context["source_after"] = f"commit {commit[:12]}"
    else:
        accord = accord_bin(args.accord)
        if args.accord is None:
            compile_sources(ROOT / "accord")
    sizes = sorted(set(args.sizes) | ({args.profile} if args.profile else set()))
    bundles = {n: ensure_data(n, args.seed) for n in sizes}
    pinned = context["pinned"] = "not pinned" if args.no_pin else pin(args.cpus)
    print(f"children {pinned}", flush=True)
    startup = median_run([measure([*accord, "--version"], OUT / "accord-startup") for _ in range(3)]).wall

    rows: list[Row] = []
    for n in sorted(set(args.sizes)):
        accord_runs, problems = [], []
        floor_runs: dict[str, list[Run]] = {}
        load_before = os.getloadavg()[0]
        for _ in range(args.repeat):
            run, found = run_accord(accord, bundles[n], n, args.db_url)
            accord_runs.append(run)
            problems += found
            if is_postgres(args.db_url):
                runs, found = run_floors_pg(bundles[n], n, args.db_url.format(n=n))
            else:
                run, found = run_floor(bundles[n], n)
                runs = [run]
            for run in runs:
                floor_runs.setdefault(run.kind, []).append(run)
            problems += found
        floors = [median_run(runs) for runs in floor_runs.values()]
        row = Row(n, median_run(accord_runs), min(floors, key=lambda r: r.wall), problems,
                  (load_before, os.getloadavg()[0]), floors)
        rows.append(row)
        print(f"{n:>9,}: accord {row.accord.wall:.2f} s ({row.accord_rate:,.0f}/s), "
              f"floor {row.floor.wall:.2f} s ({row.floor_rate:,.0f}/s)"
              + (f"  PROBLEMS: {'; '.join(problems)}" if problems else ""), flush=True)

    if not args.at:
        context["source_after"] = source_digest()
    if not rows:
        if args.profile:
            profile(accord, bundles[args.profile], args.profile, args.top)
        return 0
    print_table(rows)
    if context["source_after"] != context["source"]:
        print("WARNING: accord/ changed during the run; the figures mix two versions of the code")
    print(f"\naccord start-up (accord --version), included in each accord time: {startup:.2f} s")
    if any(max(r.load) > CONTENDED for r in rows):
        print(f"WARNING: load average above {CONTENDED:g} during the run: other processes competed for "
              "the CPUs, so wall times (and obj/s) are pessimistic; the CPU columns are less affected")
    if args.record:
        record(rows, args, context, startup)
    if args.profile:
        profile(accord, bundles[args.profile], args.profile, args.top)
    failed = any(not ok for checks in verdicts(rows).values() for _, ok, _ in checks)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
