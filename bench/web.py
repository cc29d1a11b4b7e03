"""The analyst UI's budget: every page under 200 ms of server time at 1M stored objects.

Runs a real `accord serve` over an existing store (fill one first: `bench/datagen.py 1000000 -o
F.json`, `accord init`, `accord import F.json`), signs in as the owner of the data and as a
partner reader, and times each main page through HTTP on loopback. The baseline, measured in the
same run against the same server, is a TAXII page of 100 objects for the same partner (the read
the TAXII budget covers); each page's p50 is printed as a ratio to it.

    python bench/web.py --data-dir bench/out/web1m [--samples 30] [--record]
    python bench/web.py --data-dir /tmp/x --db-url postgresql://postgres@127.0.0.1:5432/DB
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
BUDGET_MS = 200.0
PASSWORD = "bench-password-long-enough"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


DB_URL: str | None = None  # --db-url; None: the SQLite store in the data directory


def environment(data_dir: Path) -> dict[str, str]:
    env = {**os.environ, "ACCORD_DATA_DIR": str(data_dir)}
    if DB_URL:
        env["ACCORD_DATABASE_URL"] = DB_URL
    return env


def accord(data_dir: Path, *args: str, stdin: str | None = None, check: bool = True) -> str:
    env = environment(data_dir)
    done = subprocess.run([sys.executable, "-m", "accord.cli", *args], env=env, input=stdin, text=True,
                          capture_output=True, check=False)
    if check and done.returncode != 0:
        raise SystemExit(f"accord {' '.join(args)} failed: {done.stderr}")
    return done.stdout


def prepare(data_dir: Path) -> str:
    """Users and an agreement for the run (idempotent); returns the partner's API token."""
    accord(data_dir, "org", "add", "bench-partner", "--partner", check=False)
    accord(data_dir, "user", "add", "bench-owner", "--org", "node", "--role", "publisher", check=False)
    accord(data_dir, "user", "add", "bench-reader", "--org", "bench-partner", "--role", "reader", check=False)
    for user in ("bench-owner", "bench-reader"):
        accord(data_dir, "user", "password", user, "--password-stdin", stdin=PASSWORD + "\n")
    accord(data_dir, "agreement", "add", "bench-mou", "--party", "node", "--party", "bench-partner",
           "--max-tlp", "amber", check=False)
    accord(data_dir, "collection", "grant", "default", "bench-partner", "--read", check=False)
    out = accord(data_dir, "token", "create", "bench-reader")
    return next(word for word in out.split() if word.startswith("acc_"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sign_in(base: str, user: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=60)
    token = CSRF.search(client.get("/login").text)
    assert token is not None
    response = client.post("/login", data={"username": user, "password": PASSWORD, "csrf": token.group(1)})
    if response.status_code != 303:
        raise SystemExit(f"cannot sign in as {user}: {response.status_code}")
    return client


def timed(client: httpx.Client, path: str, samples: int, headers: dict[str, str] | None = None) -> list[float]:
    client.get(path, headers=headers)  # warm: plans, page cache
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        response = client.get(path, headers=headers)
        times.append((time.perf_counter() - start) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"GET {path}: {response.status_code}")
    return times


def pick(client: httpx.Client, path: str) -> str:
    found = re.search(r'href="/objects/([^"]+)"', client.get(path).text)
    if found is None:
        raise SystemExit(f"no object linked from {path}")
    return found.group(1)


def busiest(data_dir: Path) -> str:
    """The object most relationships, sightings and reports point at: the heaviest object page."""
    query = "SELECT value, count(*) FROM observables WHERE type = 'ref' GROUP BY value ORDER BY 2 DESC LIMIT 1"
    if DB_URL:
        import psycopg

        with psycopg.connect(DB_URL) as pg:
            row = pg.execute(query).fetchone()
    else:
        with sqlite3.connect(data_dir / "accord.db") as conn:
            row = conn.execute(query).fetchone()
    if row is None:
        raise SystemExit("the store has no references: import data with relationships first")
    print(f"most referenced object: {row[0]} ({row[1]} references)")
    return str(row[0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--db-url", help="a PostgreSQL store (postgresql://...) instead of the data directory's SQLite")
    parser.add_argument("--record", action="store_true", help="append the results to bench/RESULTS.md")
    args = parser.parse_args(argv)
    global DB_URL
    DB_URL = args.db_url
    token = prepare(args.data_dir)
    stats = accord(args.data_dir, "stats")
    port = free_port()
    env = {**environment(args.data_dir), "ACCORD_SYNC_SCHEDULER": "false", "ACCORD_AUTH_FAILURES_PER_MINUTE": "1000"}
    server = subprocess.Popen([sys.executable, "-m", "accord.cli", "serve", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        owner, partner = sign_in(base, "bench-owner"), sign_in(base, "bench-reader")
        taxii = httpx.Client(base_url=base, timeout=60)
        collection = taxii.get("/default/collections/", headers={"Authorization": f"Bearer {token}"}).json()
        cid = collection["collections"][0]["id"]
        auth = {"Authorization": f"Bearer {token}", "Accept": "application/taxii+json;version=2.1"}
        indicator = pick(owner, "/search?type=indicator")
        malware = busiest(args.data_dir)
        pages = [
            ("baseline: TAXII page of 100 (partner)", taxii, f"/default/collections/{cid}/objects/?limit=100", auth),
            ("dashboard (partner)", partner, "/", None),
            ("dashboard (owner)", owner, "/", None),
            ("search, no filter (partner)", partner, "/search", None),
            ("search, type=indicator&tlp=amber (owner)", owner, "/search?type=indicator&tlp=amber", None),
            ("search, free text 'campaign' (owner)", owner, "/search?q=campaign", None),
            ("search, value lookup (owner)", owner, "/search?q=10.0.0.1", None),
            ("object page, most referenced object (owner)", owner, f"/objects/{malware}", None),
            ("object page, most referenced object (partner)", partner, f"/objects/{malware}", None),
            ("object page, indicator (partner)", partner, f"/objects/{indicator}", None),
            ("approvals (owner)", owner, "/approvals", None),
            ("sharing preview as partner (owner)", owner, "/preview?org=bench-partner", None),
        ]
        rows = []
        baseline = None
        for name, client, path, headers in pages:
            times = timed(client, path, args.samples, headers)
            p50, p95 = statistics.median(times), statistics.quantiles(times, n=20)[18]
            baseline = baseline or p50
            rows.append((name, p50, p95, p50 / baseline))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    total = next((line for line in stats.splitlines() if "version" in line.lower()), stats.splitlines()[0])
    backend = "PostgreSQL" if DB_URL else "SQLite"
    print(f"store: {backend} {DB_URL or args.data_dir} ({total.strip()}); {args.samples} samples per page")
    print(f"{'page':48} {'p50 ms':>8} {'p95 ms':>8} {'x base':>7}  verdict (p50 <= {BUDGET_MS:.0f} ms)")
    failed = False
    for name, p50, p95, ratio in rows:
        ok = name.startswith("baseline") or p50 <= BUDGET_MS
        failed |= not ok
        verdict = "" if name.startswith("baseline") else "met" if ok else "MISSED"
        print(f"{name:48} {p50:8.1f} {p95:8.1f} {ratio:7.1f}  {verdict}")
    if args.record:
        lines = [f"\n## {dt.date.today().isoformat()} web UI pages (bench/web.py)\n",
                 f"Store: {total.strip()}; {args.samples} samples per page, client-side time over loopback "
                 f"(server time plus HTTP on loopback); 1 worker, {backend}.\n",
                 "| page | p50 ms | p95 ms | x TAXII page |", "|---|---:|---:|---:|"]
        lines += [f"| {n} | {a:.1f} | {b:.1f} | {r:.1f} |" for n, a, b, r in rows]
        with open(ROOT / "bench" / "RESULTS.md", "a", encoding="utf-8") as out:
            out.write("\n".join(lines) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
