"""Sync benchmark: two Accord nodes on this machine, one pulling the other's shared collection.

    python bench/sync.py                          # 100k and 1M; prints the table and the verdicts
    python bench/sync.py --sizes 100000 --lag-samples 10
    python bench/sync.py --record                 # ... and appends a dated entry to bench/RESULTS.md
    python bench/sync.py --sizes 1000000 --profile   # + cProfile of a second, identical initial sync

For each size N, everything on 127.0.0.1, each server a child of this script stopped by its pid:

- node A (CERT-A): a fresh SQLite database; organisations cert-a and cert-b (partner), an AMBER
  agreement between them, a collection shared with cert-b (read), a publisher account ``node-b``
  of cert-b (B's node) and a publisher ``a-analyst`` of cert-a, made with the CLI. The datagen
  bundle of N objects is imported into the shared collection as cert-a's with ``accord import``:
  that import, timed, is the first baseline. Then ``accord serve`` (one worker).
- baseline 2, *bare paging*: A's collection read over TAXII as ``node-b`` the way a pull reads it
  (every version, pages of 1000 through ``next``), nothing stored: the server's share of a sync.
- node B (CERT-B): a fresh SQLite database with cert-a as a partner and a peer ``node-a`` pulling
  A's shared collection into ``default`` (added through the Store API, because the CLI allows no
  interval under 5 s). The initial sync is ``accord sync run --peer node-a``, timed as a child.
- incremental lag: B's ``accord serve`` runs the scheduler with the peer's interval of 1 s; an
  indicator is POSTed to A as ``a-analyst`` (GREEN), and B's database is polled every 10 ms until
  the version is there. Repeated ``--lag-samples`` times, with a random pause of 0 to 1 s between
  samples so that they fall at every phase of the scheduler's second.

Budgets (issue 7): the initial sync of 1M objects within 2 minutes; lag p95 within 2 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest import (  # bench/ is not a package
    OUT,
    RESULTS,
    ROOT,
    Run,
    accord_bin,
    ensure_data,
    git_commit,
    machine,
    measure,
    parse_sizes,
    remove_db,
    source_digest,
)
from taxii import TAXII, free_port, md_rows, print_rows, stop_server, wait_ready

from accord.services.secrets import SecretBox
from accord.stix.markings import TLP2_GREEN
from accord.storage import open_store

DEFAULT_SIZES = (100_000, 1_000_000)
PAGE = 1000  # as accord.sync.pull.PAGE_SIZE
MAX_SYNC_S, SYNC_BUDGET_AT = 120.0, 1_000_000
MAX_LAG_P95_S = 2.0
LAG_TIMEOUT_S = 60.0
CONTENDED = 1.5  # 1-minute load average above which a row is flagged, as in ingest.py


@dataclass
class Node:
    name: str
    db: Path
    data_dir: Path
    accord: list[str]

    @property
    def url(self) -> str:
        return f"sqlite:///{self.db}"

    def command(self, *args: str) -> list[str]:
        # `env` execs accord in place, so the child's pid (and wait4's rusage) is accord's own.
        return ["env", f"ACCORD_DATA_DIR={self.data_dir}", *self.accord, "--db", self.url, *args]

    def cli(self, *args: str) -> str:
        done = subprocess.run(self.command(*args), capture_output=True, text=True, cwd=ROOT)
        if done.returncode != 0:
            sys.exit(f"node {self.name}: accord {' '.join(args)} failed: {(done.stderr or done.stdout)[-1000:]}")
        return done.stdout.strip()

    def fresh(self) -> None:
        remove_db(self.db)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "node.key").unlink(missing_ok=True)
        self.cli("init")

    def serve(self, port: int) -> subprocess.Popen[bytes]:
        log = open(OUT / f"sync-{self.name}-serve.log", "wb")  # noqa: SIM115 - lives as long as the server
        proc = subprocess.Popen(self.command("serve", "--host", "127.0.0.1", "--port", str(port)), stdout=log,
                                stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True)
        wait_ready(port, proc)
        return proc


@dataclass
class Shared:
    """What node A hands out: its shared collection and the two accounts' tokens."""

    collection: str
    partner_token: str  # node-b, of cert-b
    publisher_token: str  # a-analyst, of cert-a


@dataclass
class SizeRun:
    n: int
    shared_versions: int = 0  # what the agreement lets cert-b read of the N
    import_run: Run | None = None
    paging_s: float = 0.0
    page_ms: list[float] = field(default_factory=list)
    sync_run: Run | None = None
    held_by_b: int = 0
    lags_s: list[float] = field(default_factory=list)
    load: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def sync_rate(self) -> float:
        return self.held_by_b / self.sync_run.wall if self.sync_run else 0.0


def setup_a(a: Node, bundle: Path, run: SizeRun) -> Shared:
    a.fresh()
    a.cli("org", "add", "cert-a")
    a.cli("org", "add", "cert-b", "--partner")
    a.cli("agreement", "add", "a-b", "--party", "cert-a", "--party", "cert-b", "--max-tlp", "amber")
    collection = a.cli("collection", "add", "Shared with CERT-B").splitlines()[-1]
    a.cli("collection", "grant", collection, "cert-b", "--read")
    a.cli("collection", "grant", collection, "cert-a", "--read", "--write")
    a.cli("user", "add", "node-b", "--org", "cert-b", "--role", "publisher")
    a.cli("user", "add", "a-analyst", "--org", "cert-a", "--role", "publisher")
    partner, publisher = (a.cli("token", "create", u).splitlines()[-1] for u in ("node-b", "a-analyst"))
    print(f"  A: accord import of {run.n:,} objects into the shared collection ...", flush=True)
    run.import_run = measure(a.command("import", "--collection", collection, "--org", "cert-a", str(bundle)),
                             OUT / f"sync-a-import-{run.n}.log")
    if run.import_run.rc != 0:
        run.problems.append(f"A's import exited {run.import_run.rc}: {run.import_run.stderr[-300:]}")
    return Shared(collection, partner, publisher)


def bare_paging(port: int, shared: Shared, run: SizeRun) -> None:
    """Every version of A's shared collection as node-b reads it, pages of PAGE through `next`, not stored."""
    url = f"http://127.0.0.1:{port}/default/collections/{shared.collection}/objects/"
    params = {"match[version]": "all", "limit": str(PAGE)}
    started = time.perf_counter()
    with httpx.Client(auth=("node-b", shared.partner_token), headers={"Accept": TAXII}, timeout=300) as http:
        while True:
            sent = time.perf_counter()
            answer = http.get(url, params=params)
            run.page_ms.append((time.perf_counter() - sent) * 1000)
            answer.raise_for_status()
            envelope = orjson.loads(answer.content)
            run.shared_versions += len(envelope.get("objects", []))
            if not envelope.get("more"):
                break
            params["next"] = envelope["next"]
    run.paging_s = time.perf_counter() - started


def setup_b(b: Node, port_a: int, shared: Shared) -> None:
    b.fresh()
    b.cli("org", "add", "cert-a", "--partner")
    store = open_store(b.url)
    try:
        store.add_peer("node-a", url=f"http://127.0.0.1:{port_a}/taxii2/", username="node-b",
                       sealed_token=SecretBox(b.data_dir / "node.key").seal(shared.partner_token), org="cert-a",
                       interval_s=1, accept_max_tlp="amber+strict", accept_types=[],
                       links=[("pull", shared.collection, "default")], actor="bench")
    finally:
        store.close()


def held(url: str) -> int:
    store = open_store(url)
    try:
        return store.stats().total_versions
    finally:
        store.close()


def measure_lag(b: Node, port_a: int, shared: Shared, samples: int, rng: random.Random, run: SizeRun) -> None:
    """POST one indicator at A, poll B's database until it holds it; `samples` times."""
    port_b = free_port()
    proc = b.serve(port_b)
    store = open_store(b.url)
    url = f"http://127.0.0.1:{port_a}/default/collections/{shared.collection}/objects/"
    try:
        time.sleep(2)  # B's scheduler runs its first cycle at once: let it find A up to date
        with httpx.Client(auth=("a-analyst", shared.publisher_token), timeout=60,
                          headers={"Accept": TAXII, "Content-Type": TAXII}) as http:
            for i in range(samples):
                time.sleep(rng.uniform(0, 1))
                stix_id = f"indicator--{uuid.UUID(int=rng.getrandbits(128), version=4)}"
                now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
                obj = {"type": "indicator", "spec_version": "2.1", "id": stix_id, "created": now, "modified": now,
                       "name": f"lag probe {i}", "pattern": f"[ipv4-addr:value = '198.51.100.{i % 250}']",
                       "pattern_type": "stix", "valid_from": now, "object_marking_refs": [TLP2_GREEN]}
                answer = http.post(url, content=orjson.dumps({"objects": [obj]}))
                posted = time.perf_counter()
                if answer.status_code != 202 or answer.json().get("success_count") != 1:
                    run.problems.append(f"lag probe {i}: A answered {answer.status_code} {answer.text[:200]}")
                    return
                while not store.version_facts(stix_id):
                    if time.perf_counter() - posted > LAG_TIMEOUT_S:
                        run.problems.append(f"lag probe {i}: not at B after {LAG_TIMEOUT_S:g} s")
                        return
                    time.sleep(0.01)
                run.lags_s.append(time.perf_counter() - posted)
    finally:
        store.close()
        stop_server(proc)


# Where a pull's time goes: (label, file suffix, function), cumulative seconds from the profile.
PULL_PARTS = (
    ("fetch a page (request, server, JSON parse)", "accord/sync/client.py", "get_objects"),
    ("  of which httpx send (to the response head)", "httpx/_client.py", "send"),
    ("  of which reading the body", "httpx/_models.py", "iter_bytes"),
    ("validate and prepare a page", "accord/services/ingest.py", "prepare_document"),
    ("write a page", "accord/services/ingest.py", "write_prepared"),
    ("audit a page", "accord/storage/sql.py", "audit"),
)


def profile_sync(b: Node, port_a: int, shared: Shared, n: int, top: int) -> None:
    """A second initial sync into a fresh B under cProfile: where the pull's time goes."""
    import pstats  # only this path needs it

    setup_b(b, port_a, shared)
    prof = OUT / f"sync-{n}.prof"
    subprocess.run(["env", f"ACCORD_DATA_DIR={b.data_dir}", sys.executable, "-m", "cProfile", "-o", str(prof),
                    b.accord[-1], "--db", b.url, "sync", "run", "--peer", "node-a"], check=True, capture_output=True,
                   cwd=ROOT)
    stats = pstats.Stats(str(prof))
    entries = stats.stats  # type: ignore[attr-defined]  # {(file, line, function): (cc, nc, tt, ct, callers)}
    total = max(ct for _, _, _, ct, _ in entries.values())
    print(f"\nprofile of the pull of {n:,} objects ({total:.1f} s under cProfile):")
    for label, suffix, function in PULL_PARTS:
        ct = sum(v[3] for (file, _, fn), v in entries.items() if fn == function and file.endswith(suffix))
        print(f"  {label:<45} {ct:8.1f} s  {100 * ct / total:5.1f}%")
    print(f"\ntop {top} by own time:")
    stats.sort_stats("tottime").print_stats(top)
    print(f"profile data in {prof.relative_to(ROOT)} (python -m pstats)")


def run_size(accord: list[str], n: int, args: argparse.Namespace, rng: random.Random) -> SizeRun:
    run = SizeRun(n, load=[os.getloadavg()[0]])
    bundle = ensure_data(n, args.seed)
    a = Node("a", OUT / f"sync-a-{n}.db", OUT / "sync-a-data", accord)
    b = Node("b", OUT / f"sync-b-{n}.db", OUT / "sync-b-data", accord)
    shared = setup_a(a, bundle, run)
    run.load.append(os.getloadavg()[0])
    port_a = free_port()
    proc_a = a.serve(port_a)
    try:
        print("  bare paging of A's collection as node-b ...", flush=True)
        bare_paging(port_a, shared, run)
        run.load.append(os.getloadavg()[0])
        setup_b(b, port_a, shared)
        print(f"  B: accord sync run (initial pull of {run.shared_versions:,} versions) ...", flush=True)
        run.sync_run = measure(b.command("sync", "run", "--peer", "node-a"), OUT / f"sync-b-run-{n}.log")
        run.load.append(os.getloadavg()[0])
        run.held_by_b = held(b.url)
        if run.sync_run.rc != 0:
            run.problems.append(f"sync run exited {run.sync_run.rc}: {run.sync_run.stdout[-300:]}")
        if run.held_by_b != run.shared_versions:
            run.problems.append(f"B holds {run.held_by_b:,} versions, A shares {run.shared_versions:,}")
        if args.lag_samples:
            print(f"  lag: {args.lag_samples} single objects at A, B's scheduler every 1 s ...", flush=True)
            measure_lag(b, port_a, shared, args.lag_samples, rng, run)
            run.load.append(os.getloadavg()[0])
        if args.profile:
            profile_sync(b, port_a, shared, n, args.top)
    finally:
        stop_server(proc_a)
        for node in (a, b):
            remove_db(node.db)
    return run


# --- report ----------------------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


HEADER = ("N", "shared", "A import s", "import obj/s", "paging s", "paging obj/s", "page p50/p95 ms", "sync s",
          "sync obj/s", "sync/import", "sync/paging", "sync CPU s", "sync RSS MiB", "sync anon MiB", "lag p50/p95 s",
          "load")


def table(runs: list[SizeRun]) -> list[tuple[str, ...]]:
    rows = []
    for r in runs:
        imp, syn = r.import_run, r.sync_run
        lag = f"{statistics.median(r.lags_s):.2f} / {pct(r.lags_s, 0.95):.2f} (n={len(r.lags_s)})" if r.lags_s else "-"
        pages = f"{statistics.median(r.page_ms):.1f} / {pct(r.page_ms, 0.95):.1f}" if r.page_ms else "-"
        rows.append((
            f"{r.n:,}", f"{r.shared_versions:,}",
            f"{imp.wall:.1f}" if imp else "-", f"{r.n / imp.wall:,.0f}" if imp else "-",
            f"{r.paging_s:.1f}", f"{r.shared_versions / r.paging_s:,.0f}" if r.paging_s else "-", pages,
            f"{syn.wall:.1f}" if syn else "-", f"{r.sync_rate:,.0f}" if syn else "-",
            f"{syn.wall / imp.wall:.2f}" if syn and imp else "-",
            f"{syn.wall / r.paging_s:.2f}" if syn and r.paging_s else "-",
            f"{syn.cpu:.1f}" if syn else "-", f"{syn.rss_kb / 1024:.0f}" if syn else "-",
            f"{syn.anon_kb / 1024:.0f}" if syn else "-",
            lag, f"{max(r.load):.1f}"))
    return rows


def verdicts(runs: list[SizeRun]) -> list[tuple[str, bool, str]]:
    out: list[tuple[str, bool, str]] = []
    for r in runs:
        if r.n >= SYNC_BUDGET_AT and r.sync_run:
            out.append(("sync", r.sync_run.wall <= MAX_SYNC_S and not r.problems,
                        f"initial sync of {r.n:,} objects ({r.held_by_b:,} versions shared) in "
                        f"{r.sync_run.wall:.1f} s (<= {MAX_SYNC_S:g} s)"))
        if r.lags_s:
            p95 = pct(r.lags_s, 0.95)
            out.append((f"lag {r.n:,}", p95 <= MAX_LAG_P95_S,
                        f"p50 {statistics.median(r.lags_s):.2f} s, p95 {p95:.2f} s over {len(r.lags_s)} objects "
                        f"with {r.held_by_b:,} held (p95 <= {MAX_LAG_P95_S:g} s)"))
        out += [(f"run {r.n:,}", False, p) for p in r.problems]
    if not any(name == "sync" for name, _, _ in out):
        out.append(("sync", True, f"not measured: the budget is stated at {SYNC_BUDGET_AT:,} objects"))
    return out


def record(runs: list[SizeRun], checks: list[tuple[str, bool, str]], args: argparse.Namespace,
           context: dict[str, str]) -> None:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"## Sync (bench/sync.py), {now}, commit {context['commit']}", "",
             f"- Machine: {context['machine']}"]
    source = context["source"]
    if context["source_after"] != source:
        source += f" at the start, {context['source_after']} at the end (accord/ changed during the run)"
    lines += [f"- accord/ source digest: {source}",
              f"- Data: bench/datagen.py seed {args.seed}; node A: SQLite, `accord serve` with 1 worker, AMBER "
              f"agreement with the partner; node B: SQLite, `accord sync run` (pages of {PAGE}); both on loopback",
              f"- Lag: {args.lag_samples} single GREEN indicators POSTed at A, B's scheduler with a 1 s interval, "
              "B's database polled every 10 ms",
              f"- Load average (1 min) at each phase: {context['load']}", ""]
    lines += md_rows(HEADER, table(runs))
    lines.append("")
    lines += [f"- {name}: {'PASS' if ok else 'FAIL'}, {detail}" for name, ok, detail in checks]
    if any(max(r.load) > CONTENDED for r in runs):
        lines.append(f"- Contended: 1-minute load average above {CONTENDED:g} during the run (column 'load'); "
                     "wall-clock figures are pessimistic, CPU seconds less so")
    lines.append("")
    # Others append too: read the end just before appending (to keep a blank line between entries), never rewrite.
    ends_blank = RESULTS.read_text().endswith("\n\n") if RESULTS.exists() else True
    with open(RESULTS, "a") as f:
        f.write(("" if ends_blank else "\n") + "\n".join(lines) + "\n")
    print(f"recorded in {RESULTS.relative_to(ROOT)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Measure Accord's federation sync between two local nodes.")
    parser.add_argument("--sizes", type=parse_sizes, default=DEFAULT_SIZES, metavar="N,N,...",
                        help="objects at node A (default 100000,1000000)")
    parser.add_argument("--lag-samples", type=int, default=20, help="incremental objects timed per size (default 20)")
    parser.add_argument("--seed", type=int, default=1, help="datagen seed (default 1), also seeds the lag pauses")
    parser.add_argument("--accord", metavar="PATH", help="accord executable (default: beside this Python)")
    parser.add_argument("--profile", action="store_true",
                        help="after each size, profile a second initial sync into a fresh B with cProfile")
    parser.add_argument("--top", type=int, default=30, help="functions per profile listing (default 30)")
    parser.add_argument("--record", action="store_true", help="append the results to bench/RESULTS.md")
    args = parser.parse_args(argv)

    OUT.mkdir(exist_ok=True)
    context = {"machine": machine(), "commit": git_commit(), "source": source_digest()}
    accord = accord_bin(args.accord)
    rng = random.Random(args.seed)
    runs = []
    for n in sorted(set(args.sizes)):
        print(f"{n:,} objects:", flush=True)
        runs.append(run_size(accord, n, args, rng))
    context["source_after"] = source_digest()
    context["load"] = "; ".join(f"{r.n:,}: " + " / ".join(f"{x:.1f}" for x in r.load) for r in runs)
    checks = verdicts(runs)
    print()
    print_rows(HEADER, table(runs))
    print(f"\nload average (1 min) at each phase: {context['load']}\n")
    for name, ok, detail in checks:
        print(f"  {name:<12}  {'PASS' if ok else 'FAIL'}  {detail}")
    if context["source_after"] != context["source"]:
        print("WARNING: accord/ changed during the run; the figures mix two versions of the code")
    if args.record:
        record(runs, checks, args, context)
    return 0 if all(ok for _, ok, _ in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
