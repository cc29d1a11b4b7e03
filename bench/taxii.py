"""TAXII benchmark: Accord's TAXII 2.1 server against medallion, same workload, one run.

    python bench/taxii.py                          # Accord to 20k and 100k; medallion within 120 s
    python bench/taxii.py --sizes 20000,100000 --record
    python bench/taxii.py --medallion-budget 60 --samples 50

Both servers run on 127.0.0.1 as children of this script and are stopped by pid at the end:

- accord: ``accord serve`` on a fresh SQLite database, with one organisation, one publisher, one
  token and a read+write grant on the ``default`` collection, made with the CLI before the server
  starts (not timed). Requests use HTTP Basic (username + token).
- medallion: ``python -m medallion.scripts.run CONFIG`` with its memory backend and a generated
  config and data file (one API root, one collection, one basic-auth user), in bench/out/.
  medallion is installed for the benchmark only (``pip install medallion`` into the venv); it is
  not a dependency of Accord.

Workload, identical for both: the objects of bench/datagen.py's bundle (the largest size asked
for; smaller sizes are its prefix) are POSTed in order, in envelopes of ``--envelope`` (500)
objects, one request at a time, Content-Type ``application/taxii+json;version=2.1``. medallion
goes first, for at most ``--medallion-budget`` seconds of POSTing; the size M it reached (a
multiple of the envelope) becomes an extra checkpoint for Accord, so the read latencies are
compared at the same stored size. At each checkpoint the POSTing pauses and these reads are timed
(``--samples`` each; a read kind stops early once it has used ``--read-budget`` seconds):

- page: GET objects/?limit=100, then following the ``next`` chain (each page one sample);
- id:   GET objects/?match[id]=ID for ids drawn (seeded) from the objects already posted;
- type: GET objects/?match[type]=T&limit=100, T cycling over common types;
- manifest: GET manifest/?limit=100.

Server memory: peak (VmHWM) and current (VmRSS) resident set of the server process from
/proc/PID/status, and of the current figure the anonymous part (RssAnon: the processes' own
heaps). The rest is file pages the server touched through its readers' memory map of the
database: the operating system's page cache, shared and reclaimable, which grows with the store.
``--record`` appends a dated entry to bench/RESULTS.md. See bench/README.md.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import http.client
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest import (  # bench/ is not a package
    OUT,
    RESULTS,
    ROOT,
    accord_bin,
    ensure_data,
    git_commit,
    machine,
    parse_sizes,
    remove_db,
    source_digest,
)

TAXII = "application/taxii+json;version=2.1"
DEFAULT_SIZES = (20_000, 100_000)
READ_TYPES = ("indicator", "relationship", "ipv4-addr", "sighting", "domain-name", "report")
# Budgets (../shared/DESIGN.md "Budgets", issue 3 "Benchmark").
MIN_INGEST = 20_000  # objects/s over TAXII POST, sustained
MIN_MEDALLION_RATIO = 10.0  # accord / medallion objects/s at the same size
MAX_PAGE_P50_MS = 5.0  # at 1M stored objects
# Cheapest first for medallion, whose scans can outlast the request timeout: after a timeout the
# abandoned request still runs in the server, so the kinds after it are not measured.
# "partner": the same page chain read by a user of another organisation under an AMBER agreement,
# so every page goes through the sharing rules and records what it received in the audit log.
# medallion has no sharing rules; its "partner" figure is its plain page again.
READ_KINDS = ("id", "manifest", "page", "type", "partner")


# --- HTTP --------------------------------------------------------------------------------------------


class Client:
    """One keep-alive connection to a server on loopback, with Basic auth."""

    def __init__(self, port: int, user: str, password: str, timeout: float) -> None:
        self.port = port
        self.timeout = timeout
        self.auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes, float]:
        """(status, body, seconds) of one request; the time covers sending and reading it all."""
        headers = {"Accept": TAXII, "Authorization": self.auth}
        if body is not None:
            headers["Content-Type"] = TAXII
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            try:
                started = time.perf_counter()
                self.conn.request(method, path, body=body, headers=headers)
                resp = self.conn.getresponse()
                data = resp.read()
                elapsed = time.perf_counter() - started
                if resp.getheader("Connection", "").lower() == "close" or resp.version == 10:
                    self.close()
                return resp.status, data, elapsed
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()  # the server closed an idle keep-alive connection: once more, afresh
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def clone(self) -> Client:
        """Another connection with the same credentials (one per posting thread)."""
        twin = Client(self.port, "", "", self.timeout)
        twin.auth = self.auth
        return twin

    def get_json(self, path: str) -> tuple[dict, float]:
        status, data, elapsed = self.request("GET", path)
        if status != 200:
            raise RuntimeError(f"GET {path} -> {status}: {data[:300]!r}")
        return json.loads(data), elapsed

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(port: int, proc: subprocess.Popen, deadline_s: float = 60.0) -> None:
    stop = time.monotonic() + deadline_s
    while time.monotonic() < stop:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server not listening on {port} after {deadline_s:.0f} s")


def stop_server(proc: subprocess.Popen) -> None:
    """SIGTERM by pid, then SIGKILL by pid if it has not gone within 15 s."""
    if proc.poll() is not None:
        return
    os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(5)


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(c) for c in (task / "children").read_text().split()]
    except OSError:
        pass
    return found


def memory_mb(pid: int) -> tuple[float, float, float]:
    """(peak, current, current anonymous) resident set in MiB of ``pid`` and its child processes
    (the workers of ``accord serve --workers N``), summed, from /proc."""
    peak = now = anon = 0.0
    for p in (pid, *_children(pid)):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                key, _, value = line.partition(":")
                if key == "VmHWM":
                    peak += int(value.split()[0]) / 1024
                elif key == "VmRSS":
                    now += int(value.split()[0]) / 1024
                elif key == "RssAnon":
                    anon += int(value.split()[0]) / 1024
        except OSError:
            if p == pid:
                return float("nan"), float("nan"), float("nan")
    return peak, now, anon


# --- data --------------------------------------------------------------------------------------------


def envelopes(bundle: Path, size: int, limit: int) -> list[tuple[bytes, list[str]]]:
    """The first ``limit`` objects of the datagen bundle as envelopes (body, ids) of ``size``."""
    out: list[tuple[bytes, list[str]]] = []
    bodies: list[bytes] = []
    ids: list[str] = []
    taken = 0
    with open(bundle, "rb") as f:
        f.readline()  # bundle header; one object per line follows (datagen layout)
        for line in f:
            if line.startswith(b"]") or taken >= limit:
                break
            body = line.rstrip(b"\r\n")
            if body.endswith(b","):
                body = body[:-1]
            bodies.append(body)
            ids.append(json.loads(body)["id"])
            taken += 1
            if len(bodies) == size:
                out.append((b'{"objects":[' + b",".join(bodies) + b"]}", ids))
                bodies, ids = [], []
    if bodies:
        out.append((b'{"objects":[' + b",".join(bodies) + b"]}", ids))
    return out


# --- one server's run ----------------------------------------------------------------------------------


@dataclass
class Reads:
    samples: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in READ_KINDS})
    errors: list[str] = field(default_factory=list)
    timed_out: set[str] = field(default_factory=set)
    skipped: set[str] = field(default_factory=set)
    timeout: float = 0.0

    def stat(self, kind: str, q: float) -> float | None:
        xs = sorted(self.samples[kind])
        if not xs:
            return None
        if q == 0.5:
            return statistics.median(xs) * 1000
        return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))] * 1000


@dataclass
class Checkpoint:
    n: int  # objects posted (and stored) so far
    post_s: float  # cumulative seconds spent in POSTs up to n
    reads: Reads
    rss_peak: float
    rss_now: float
    rss_anon: float


@dataclass
class ServerRun:
    name: str
    checkpoints: list[Checkpoint] = field(default_factory=list)
    cumulative: list[tuple[int, float]] = field(default_factory=list)  # (objects, POST seconds) per envelope
    refused: int = 0
    stopped_by_budget: bool = False
    problems: list[str] = field(default_factory=list)

    def rate_to(self, n: int) -> float | None:
        for count, secs in self.cumulative:
            if count == n:
                return n / secs
        return None

    def rate_between(self, a: int, b: int) -> float | None:
        t = dict(self.cumulative)
        if b in t and (a == 0 or a in t):
            return (b - a) / (t[b] - t.get(a, 0.0))
        return None


def time_reads(client: Client, base: str, posted_ids: list[str], samples: int, budget: float,
               seed: int, partner: Client | None = None) -> Reads:
    reads = Reads(timeout=client.timeout)
    rng = random.Random(seed)

    def timed(kind: str, queries) -> None:
        reader = partner if kind == "partner" and partner is not None else client
        spent = 0.0
        if reads.timed_out:
            reads.skipped.add(kind)
            return
        for path in queries:
            if len(reads.samples[kind]) >= samples or spent >= budget:
                return
            try:
                status, data, elapsed = reader.request("GET", path)
            except (TimeoutError, OSError) as e:
                reads.errors.append(f"{kind}: {type(e).__name__} after {client.timeout:.0f} s; later kinds "
                                    "not measured (the server is still busy with it)")
                reads.timed_out.add(kind)
                reader.close()
                return
            spent += elapsed
            if status != 200:
                reads.errors.append(f"{kind}: {status} {data[:200]!r}")
                return
            reads.samples[kind].append(elapsed)
            if kind in page_next:
                page_next[kind] = json.loads(data).get("next")

    # page: the first page, then the next chain; a new chain from the start if one ends.
    page_next: dict[str, str | None] = {"page": None, "partner": None}

    def pages(kind: str):
        while True:
            q = {"limit": "100"}
            if page_next[kind]:
                q["next"] = page_next[kind]
            yield f"{base}objects/?{urlencode(q)}"

    queries = {
        "page": pages("page"),
        "partner": pages("partner"),
        "id": (f"{base}objects/?{urlencode({'match[id]': rng.choice(posted_ids)})}" for _ in range(samples)),
        "type": (f"{base}objects/?{urlencode({'match[type]': READ_TYPES[i % len(READ_TYPES)], 'limit': '100'})}"
                 for i in range(samples)),
        "manifest": (f"{base}manifest/?limit=100" for _ in range(samples)),
    }
    for kind in READ_KINDS:
        timed(kind, queries[kind])
    return reads


def drive(name: str, pid: int, client: Client, base: str, envs: list[tuple[bytes, list[str]]],
          checkpoints: set[int], budget: float | None, samples: int, read_budget: float,
          seed: int, partner: Client | None = None, clients: int = 1) -> ServerRun:
    """POST envelopes in order, pausing at each checkpoint size to time the reads. With
    ``clients`` > 1 the envelopes between two checkpoints are posted by that many threads at once
    (each with its own connection) and the segment's wall time is what counts."""
    run = ServerRun(name)
    posted = 0
    post_s = 0.0
    posted_ids: list[str] = []
    last = max(checkpoints)
    print(f"{name}: posting up to {last:,} objects" + (f" (budget {budget:.0f} s)" if budget else "")
          + (f" from {clients} clients" if clients > 1 else ""), flush=True)
    segment: list[tuple[bytes, list[str]]] = []
    for body, ids in envs:
        if budget is not None and post_s >= budget:
            run.stopped_by_budget = True
            break
        segment.append((body, ids))
        upcoming = posted + sum(len(i) for _, i in segment)
        if clients > 1 and upcoming not in checkpoints and upcoming < last:
            continue
        elapsed, failure = _post_segment(client, base, segment, clients, run)
        if failure:
            run.problems.append(f"POST at {posted:,}: {failure}")
            break
        post_s += elapsed
        posted = upcoming
        posted_ids += [i for _, seg_ids in segment for i in seg_ids]
        segment = []
        run.cumulative.append((posted, post_s))
        if clients == 1 and posted % 10_000 == 0:
            print(f"  {name}: {posted:>9,} objects, {post_s:7.1f} s, {posted / post_s:,.0f} obj/s", flush=True)
        if posted in checkpoints:
            run.checkpoints.append(checkpoint(name, pid, client, base, posted, post_s, posted_ids, samples,
                                              read_budget, seed, partner))
        if posted >= last:
            break
    if (run.stopped_by_budget or run.problems) and posted and (
            not run.checkpoints or run.checkpoints[-1].n != posted):
            run.checkpoints.append(checkpoint(name, pid, client, base, posted, post_s, posted_ids, samples,
                                              read_budget, seed, partner))
    return run


def _post_one(client: Client, base: str, body: bytes, run: ServerRun) -> tuple[float, str | None]:
    try:
        status, data, elapsed = client.request("POST", f"{base}objects/", body)
    except (TimeoutError, OSError) as e:
        client.close()
        return 0.0, type(e).__name__
    if status not in (200, 202):
        return elapsed, f"{status}: {data[:300]!r}"
    run.refused += int(json.loads(data).get("failure_count", 0))
    return elapsed, None


def _post_segment(client: Client, base: str, segment: list[tuple[bytes, list[str]]], clients: int,
                  run: ServerRun) -> tuple[float, str | None]:
    """Seconds the segment took (sum of request times with one client, wall time with several)."""
    if clients == 1:
        total = 0.0
        for body, _ in segment:
            elapsed, failure = _post_one(client, base, body, run)
            total += elapsed
            if failure:
                return total, failure
        return total, None
    twins = [client.clone() for _ in range(clients)]
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        futures = [pool.submit(lambda k=k: [_post_one(twins[k], base, body, run)
                                            for body, _ in segment[k::clients]]) for k in range(clients)]
        outcomes = [o for f in futures for o in f.result()]
    for twin in twins:
        twin.close()
    failures = [f for _, f in outcomes if f]
    return time.perf_counter() - started, failures[0] if failures else None


def checkpoint(name: str, pid: int, client: Client, base: str, n: int, post_s: float, ids: list[str],
               samples: int, read_budget: float, seed: int, partner: Client | None = None) -> Checkpoint:
    started = time.perf_counter()
    reads = time_reads(client, base, ids, samples, read_budget, seed, partner)
    peak, now, anon = memory_mb(pid)
    cp = Checkpoint(n, post_s, reads, peak, now, anon)
    summary = ", ".join(f"{k} p50 {fmt_ms(reads.stat(k, 0.5))}" for k in READ_KINDS)
    print(f"  {name} at {n:,}: {summary} ms; RSS peak {peak:.0f} MiB, anonymous now {anon:.0f} MiB "
          f"(reads took {time.perf_counter() - started:.1f} s)"
          + (f"; errors: {'; '.join(reads.errors)}" if reads.errors else ""), flush=True)
    return cp


# --- servers ---------------------------------------------------------------------------------------------


def start_accord(accord: list[str], port: int, db_url: str | None = None,
                 workers: int = 1) -> tuple[subprocess.Popen, str, str, Path, tuple[str, str]]:
    db = OUT / "taxii-accord.db"
    remove_db(db)
    url = db_url or f"sqlite:///{db}"

    def cli(*args: str) -> str:
        done = subprocess.run([*accord, "--db", url, *args], capture_output=True, text=True, cwd=ROOT)
        if done.returncode != 0:
            sys.exit(f"accord {' '.join(args)} failed: {(done.stderr or done.stdout).strip()[-1000:]}")
        return done.stdout

    cli("init")
    cli("org", "add", "bench")
    cli("user", "add", "bencher", "--org", "bench", "--role", "publisher")
    cli("collection", "grant", "default", "bench", "--read", "--write")
    token = cli("token", "create", "bencher").strip().splitlines()[-1].strip()
    cli("org", "add", "partner")
    cli("user", "add", "partner-reader", "--org", "partner", "--role", "reader")
    cli("collection", "grant", "default", "partner", "--read")
    cli("agreement", "add", "bench-mou", "--party", "bench", "--party", "partner", "--max-tlp", "amber")
    partner_token = cli("token", "create", "partner-reader").strip().splitlines()[-1].strip()
    log = open(OUT / "taxii-accord-serve.log", "wb")  # noqa: SIM115 - lives as long as the server
    proc = subprocess.Popen([*accord, "--db", url, "serve", "--host", "127.0.0.1", "--port", str(port),
                             "--workers", str(workers)], stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
                            start_new_session=True)
    return proc, "bencher", token, db, ("partner-reader", partner_token)


MEDALLION_USER, MEDALLION_PASSWORD = "bench", "bench-password"
MEDALLION_COLLECTION = "91a7b528-80eb-42ed-a74d-c6fbd5a26116"


def start_medallion(port: int, max_content_length: int) -> subprocess.Popen:
    """medallion with its memory backend; config and (empty) data file written to bench/out/."""
    data = {
        "/discovery": {"title": "bench", "description": "bench", "default": f"http://127.0.0.1:{port}/api1/",
                       "api_roots": [f"http://127.0.0.1:{port}/api1/"]},
        "api1": {
            "information": {"title": "bench", "description": "bench", "versions": [TAXII],
                            "max_content_length": max_content_length},
            "status": [],
            "collections": [{"id": MEDALLION_COLLECTION, "title": "bench", "description": "bench",
                             "can_read": True, "can_write": True,
                             "media_types": ["application/stix+json;version=2.1"],
                             "objects": [], "manifest": []}],
        },
    }
    data_path = OUT / "taxii-medallion-data.json"
    data_path.write_text(json.dumps(data))
    config = {
        "backend": {"module": "medallion.backends.memory_backend", "module_class": "MemoryBackend",
                    "filename": str(data_path)},
        "users": {MEDALLION_USER: MEDALLION_PASSWORD},
        "taxii": {"max_page_size": 100},
    }
    config_path = OUT / "taxii-medallion-config.json"
    config_path.write_text(json.dumps(config))
    log = open(OUT / "taxii-medallion.log", "wb")  # noqa: SIM115 - lives as long as the server
    return subprocess.Popen([sys.executable, "-m", "medallion.scripts.run", "--host", "127.0.0.1", "--port",
                             str(port), str(config_path)], stdout=log, stderr=subprocess.STDOUT, cwd=OUT)


def accord_collection(client: Client) -> str:
    body, _ = client.get_json("/default/collections/")
    for c in body.get("collections", []):
        if c.get("can_write"):
            return c["id"]
    raise RuntimeError(f"no writable collection for the bench user: {body}")


# --- report ------------------------------------------------------------------------------------------


def fmt_ms(v: float | None) -> str:
    return "-" if v is None else (f"{v:.1f}" if v < 100 else f"{v:,.0f}")


def fmt_read(reads: Reads, kind: str) -> str:
    if not reads.samples[kind]:
        if kind in reads.timed_out:
            return f"> {reads.timeout * 1000:,.0f} (timed out)"
        return "not measured" if kind in reads.skipped else "-"
    return (f"{fmt_ms(reads.stat(kind, 0.5))} / {fmt_ms(reads.stat(kind, 0.95))} "
            f"(n={len(reads.samples[kind])})")


def read_ratio(m: Reads, a: Reads, kind: str) -> str:
    """medallion p50 / accord p50; a lower bound when medallion's request timed out."""
    if not m.samples[kind] and kind in m.timed_out:
        base = a.stat(kind, 0.5)
        return f"> {m.timeout * 1000 / base:,.0f}x" if base else "-"
    return ratio(m.stat(kind, 0.5), a.stat(kind, 0.5))


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "-"
    return f"{a / b:,.1f}x" if a / b >= 1 else f"{a / b:.3f}x"


HEADER = ("server", "N", "POST obj/s (0..N)", "POST obj/s (segment)", *(f"{k} p50/p95 ms" for k in READ_KINDS),
          "RSS peak MiB", "RSS now MiB", "RSS anon MiB")


def table(runs: list[ServerRun]) -> list[tuple[str, ...]]:
    lines = []
    for run in runs:
        prev = 0
        for cp in run.checkpoints:
            seg = run.rate_between(prev, cp.n)
            lines.append((run.name, f"{cp.n:,}", f"{cp.n / cp.post_s:,.0f}",
                          f"{seg:,.0f} ({prev:,}..)" if seg else "-",
                          *(fmt_read(cp.reads, k) for k in READ_KINDS),
                          f"{cp.rss_peak:.0f}", f"{cp.rss_now:.0f}", f"{cp.rss_anon:.0f}"))
            prev = cp.n
    return lines


RATIO_HEADER = ("N", "POST obj/s accord/medallion", *(f"{k} p50 medallion/accord" for k in READ_KINDS))


def ratio_table(accord: ServerRun, medallion: ServerRun) -> list[tuple[str, ...]]:
    lines = []
    m_by_n = {cp.n: cp for cp in medallion.checkpoints}
    for a in accord.checkpoints:
        m = m_by_n.get(a.n)
        if m is None and medallion.rate_to(a.n) is None:
            continue  # medallion never got this far
        lines.append((f"{a.n:,}", ratio(accord.rate_to(a.n), medallion.rate_to(a.n)),
                      *(read_ratio(m.reads, a.reads, k) if m else "-" for k in READ_KINDS)))
    return lines


def verdicts(accord: ServerRun, medallion: ServerRun | None) -> list[tuple[str, bool, str]]:
    out = []
    final = accord.checkpoints[-1] if accord.checkpoints else None
    if final:
        rate = final.n / final.post_s
        out.append(("ingest", rate >= MIN_INGEST, f"accord {rate:,.0f} obj/s to {final.n:,} (>= {MIN_INGEST:,})"))
        p50 = final.reads.stat("page", 0.5)
        scope = "" if final.n >= 1_000_000 else f" (budget is at 1M; measured at {final.n:,})"
        out.append(("page", p50 is not None and p50 <= MAX_PAGE_P50_MS,
                    f"page of 100 p50 {fmt_ms(p50)} ms (<= {MAX_PAGE_P50_MS:g}){scope}"))
    if medallion and medallion.checkpoints:
        m = medallion.checkpoints[-1].n
        a, b = accord.rate_to(m), medallion.rate_to(m)
        if a and b:
            out.append(("vs-medallion", a / b >= MIN_MEDALLION_RATIO,
                        f"accord/medallion POST rate over the first {m:,} objects {a / b:.1f}x "
                        f"(>= {MIN_MEDALLION_RATIO:g}x)"))
    if accord.refused:
        out.append(("valid", False, f"accord refused {accord.refused} objects"))
    for run in (accord, medallion):
        if run and run.problems:
            out.append(("valid", False, f"{run.name}: " + "; ".join(run.problems)))
    return out


def print_rows(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    print("  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True)))
    for r in rows:
        print("  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)))


def md_rows(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines


def redact_url(url: str | None) -> str | None:
    """A database URL without its password, for the record."""
    if url is None or "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    creds, _, host = rest.rpartition("@")
    return f"{scheme}://{creds.split(':')[0]}@{host}"


def record(runs: list[ServerRun], ratios: list[tuple[str, ...]], checks: list[tuple[str, bool, str]],
           args: argparse.Namespace, context: dict[str, str]) -> None:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"## TAXII (bench/taxii.py), {now}, commit {context['commit']}", ""]
    lines.append(f"- Machine: {context['machine']}")
    source = context["source"]
    if context["source_after"] != source:
        source += f" at the start, {context['source_after']} at the end (accord/ changed during the run)"
    lines.append(f"- accord/ source digest: {source}; medallion {context['medallion']} (memory backend)")
    lines.append(f"- Data: bench/datagen.py seed {args.seed}, posted in order in envelopes of {args.envelope}, "
                 f"{args.clients or args.workers} client(s) posting at once over loopback HTTP/1.1 keep-alive; "
                 f"Accord with {args.workers} worker(s) on {redact_url(args.db_url) or 'a fresh SQLite file'}; "
                 f"medallion POSTing stopped after {args.medallion_budget:g} s")
    lines.append(f"- Reads: up to {args.samples} samples per kind at each size, at most "
                 f"{args.read_budget:g} s per kind; RSS from /proc/PID/status (VmHWM = peak, VmRSS = now, "
                 "RssAnon = anon: the heaps, without the database pages the readers mapped)")
    lines.append(f"- Load average (1 min) before/after: {context['load']}")
    lines.append("")
    lines += md_rows(HEADER, table(runs))
    lines.append("")
    if ratios:
        lines.append("Ratios at the same stored size (higher is better for Accord):")
        lines.append("")
        lines += md_rows(RATIO_HEADER, ratios)
        lines.append("")
    for name, ok, detail in checks:
        lines.append(f"- {name}: {'PASS' if ok else 'FAIL'}, {detail}")
    errors = [f"{r.name} at {cp.n:,}: {e}" for r in runs for cp in r.checkpoints for e in cp.reads.errors]
    for e in errors:
        lines.append(f"- read error: {e}")
    lines.append("")
    with open(RESULTS, "a") as f:
        f.write("\n".join(lines) + "\n")
    print(f"recorded in {RESULTS.relative_to(ROOT)}")


# --- main ------------------------------------------------------------------------------------------------


def medallion_version() -> str | None:
    done = subprocess.run([sys.executable, "-c", "import medallion; print(medallion.__version__)"],
                          capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Measure Accord's TAXII server against medallion.")
    parser.add_argument("--sizes", type=parse_sizes, default=DEFAULT_SIZES, metavar="N,N,...",
                        help="stored-object counts at which Accord's reads are timed (default 20000,100000)")
    parser.add_argument("--envelope", type=int, default=500, help="objects per POST (default 500)")
    parser.add_argument("--medallion-budget", type=float, default=120.0,
                        help="seconds of POSTing medallion gets (default 120); 0 skips medallion")
    parser.add_argument("--samples", type=int, default=200, help="requests per read kind per size (default 200)")
    parser.add_argument("--read-budget", type=float, default=60.0,
                        help="seconds per read kind per size before it stops early (default 60)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per Accord request (default 300)")
    parser.add_argument("--medallion-timeout", type=float, default=60.0,
                        help="seconds per medallion read request (default 60); slower reads are reported "
                             "as '> timeout' and the read kinds after them are skipped")
    parser.add_argument("--medallion-reads-at", type=int, default=2000, metavar="N",
                        help="also time medallion's reads at this small size, where they fit in the "
                             "timeout (default 2000; 0: only at the size it reaches)")
    parser.add_argument("--seed", type=int, default=1, help="datagen seed (default 1)")
    parser.add_argument("--accord", metavar="PATH", help="accord executable (default: beside this Python)")
    parser.add_argument("--db-url", metavar="URL",
                        help="Accord's database instead of a fresh SQLite file (e.g. an empty PostgreSQL database)")
    parser.add_argument("--workers", type=int, default=1, help="accord serve --workers (default 1)")
    parser.add_argument("--clients", type=int, default=0,
                        help="concurrent POSTing clients (default: as many as workers)")
    parser.add_argument("--record", action="store_true", help="append the results to bench/RESULTS.md")
    args = parser.parse_args(argv)
    sizes = sorted(set(args.sizes))
    if not sizes or any(n % args.envelope for n in (*sizes, args.medallion_reads_at)):
        sys.exit(f"--sizes must be non-empty multiples of --envelope ({args.envelope})")

    OUT.mkdir(exist_ok=True)
    context = {"machine": machine(), "commit": git_commit(), "source": source_digest()}
    accord = accord_bin(args.accord)
    med_version = medallion_version() if args.medallion_budget > 0 else None
    if args.medallion_budget > 0 and med_version is None:
        sys.exit("medallion is not installed in this Python: pip install medallion (benchmark only)")
    context["medallion"] = med_version or "not run"
    envs = envelopes(ensure_data(max(sizes), args.seed), args.envelope, max(sizes))
    load_before = os.getloadavg()[0]

    runs: list[ServerRun] = []
    medallion: ServerRun | None = None
    procs: list[subprocess.Popen] = []
    try:
        if args.medallion_budget > 0:
            port = free_port()
            biggest = max(len(body) for body, _ in envs)
            proc = start_medallion(port, max(10 * 2**20, 2 * biggest))
            procs.append(proc)
            wait_ready(port, proc)
            client = Client(port, MEDALLION_USER, MEDALLION_PASSWORD, args.medallion_timeout)
            # Reads only at a small size and at the size it reaches: each scan costs seconds to minutes.
            med_checkpoints = {max(sizes)} | ({args.medallion_reads_at} if args.medallion_reads_at else set())
            medallion = drive("medallion", proc.pid, client, f"/api1/collections/{MEDALLION_COLLECTION}/", envs,
                              med_checkpoints, args.medallion_budget, args.samples, args.read_budget, args.seed)
            client.close()
            stop_server(proc)

        port = free_port()
        proc, user, token, _, (partner_user, partner_token) = start_accord(accord, port, args.db_url, args.workers)
        procs.append(proc)
        wait_ready(port, proc)
        client = Client(port, user, token, args.timeout)
        partner = Client(port, partner_user, partner_token, args.timeout)
        cid = accord_collection(client)
        checkpoints = set(sizes)
        if medallion and medallion.checkpoints:
            checkpoints |= {cp.n for cp in medallion.checkpoints}
        run = drive("accord", proc.pid, client, f"/default/collections/{cid}/", envs, checkpoints, None,
                    args.samples, args.read_budget, args.seed, partner, args.clients or args.workers)
        client.close()
        partner.close()
        stop_server(proc)
        runs.append(run)
        if medallion:
            runs.append(medallion)
    finally:
        for proc in procs:
            stop_server(proc)
        remove_db(OUT / "taxii-accord.db")  # ~1.3 GB at 1M; also after an interrupted run

    context["source_after"] = source_digest()
    context["load"] = f"{load_before:.1f} / {os.getloadavg()[0]:.1f}"
    accord_run = runs[0]
    ratios = ratio_table(accord_run, medallion) if medallion else []
    checks = verdicts(accord_run, medallion)
    print()
    print_rows(HEADER, table(runs))
    if ratios:
        print("\nratios at the same stored size (higher is better for Accord):")
        print_rows(RATIO_HEADER, ratios)
    print()
    for name, ok, detail in checks:
        print(f"  {name:<12}  {'PASS' if ok else 'FAIL'}  {detail}")
    if context["source_after"] != context["source"]:
        print("WARNING: accord/ changed during the run; the figures mix two versions of the code")
    if args.record:
        record(runs, ratios, checks, args, context)
    return 0 if all(ok for _, ok, _ in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
