"""Value lookup's budgets: single lookup p50 <= 1 ms and 10,000 values <= 200 ms at 10M observables.

Fills a store with N observables directly (one SCO per observable: ipv4-addr, domain-name, url
and file with a SHA-256, GREEN, owned by the node's organisation), through the store's own
batched write path (``Transaction.write`` with prepared versions: no JSON parsing or STIX
validation, which bench/ingest.py measures; the rows, index entries and memberships are exactly
what an import writes). Then, as a partner reader under a GREEN agreement (so the gate's
predicate is in every statement) and as the node operator, it times:

* the baseline: a primary-key fetch of one object version's body (the cheapest read there is);
* a single lookup (services/lookup.Lookup.run of one value: half stored values, half absent;
  IPv4 addresses also probe 24 containing networks, domains their parents);
* a bulk lookup of 10,000 values (half stored, half absent, mixed kinds).

Warninglists are left out of the timings (their check is per value, in memory, and is reported
once on its own). A store is filled once per size and kept in --data-dir for later runs, and read
into the operating system's cache before it is timed (see prewarm).

    python bench/lookup.py --sizes 1000000,10000000 [--samples 200] [--record]
    python bench/lookup.py --sizes 1000000 --db-url 'postgresql://postgres@127.0.0.1:5432/accord_bench_lookup{n}'
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import psycopg

from accord.policy.gate import visibility
from accord.policy.viewer import Viewer
from accord.services.collector import bulk_gc
from accord.services.lookup import Lookup
from accord.stix.observables import observables_of
from accord.stix.versions import body_hash
from accord.storage import open_store
from accord.storage.base import PreparedVersion, Provenance, Store
from accord.storage.postgres import is_postgres_url

ROOT = Path(__file__).resolve().parents[1]
SINGLE_BUDGET_MS = 1.0
BULK_BUDGET_MS = 200.0
BATCH = 20_000
GREEN = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"
KINDS = ("ipv4-addr", "domain-name", "url", "file")


def value_of(kind: str, n: int) -> str:
    """The n-th value of a kind: deterministic, so the run can name stored and absent ones."""
    if kind == "ipv4-addr":
        return f"{(n >> 24) % 223 + 1}.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"
    if kind == "domain-name":
        return f"h{n:x}.{('cdn', 'mail', 'login', 'update')[n % 4]}.example{n % 997}.com"
    if kind == "url":
        return f"http://u{n % 50021}.example.net/p/{n:x}"
    return hashlib.sha256(n.to_bytes(8, "big")).hexdigest()


def sco(kind: str, n: int) -> dict[str, object]:
    obj: dict[str, object] = {"type": kind, "spec_version": "2.1", "id": f"{kind}--{_uuid(kind, n)}",
                              "object_marking_refs": [GREEN]}
    if kind == "file":
        obj["hashes"] = {"SHA-256": value_of(kind, n)}
    else:
        obj["value"] = value_of(kind, n)
    return obj


def _uuid(kind: str, n: int) -> str:
    h = hashlib.md5(f"{kind}{n}".encode(), usedforsecurity=False).hexdigest()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-8{h[17:20]}-{h[20:32]}"


def fill(store: Store, n: int) -> float:
    """Write n SCOs (n / 4 of each kind); returns the seconds it took."""
    start = time.perf_counter()
    collection = store.get_collection("default")
    provenance = Provenance(store.get_org("node").pk, owner_name="node")
    per_kind = n // len(KINDS)
    done = 0
    for first in range(0, per_kind, BATCH // len(KINDS)):
        batch: list[PreparedVersion] = []
        for i in range(first, min(per_kind, first + BATCH // len(KINDS))):
            for kind in KINDS:
                obj = sco(kind, i)
                body = orjson.dumps(obj)
                batch.append(PreparedVersion(len(batch), str(obj["id"]), "#" + body_hash(body).hex()[:32], kind,
                                             "2.1", False, "green", body_hash(body), body, observables_of(obj)))
        with store.transaction() as tx:
            tx.write(collection, batch, provenance)
        done += len(batch)
        if done % 1_000_000 < len(batch):
            print(f"  filled {done:,} in {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    return time.perf_counter() - start


def vacuum(url: str) -> None:
    """VACUUM (ANALYZE) the tables a lookup reads, as autovacuum does on a server after a bulk
    load (the test machine's server runs with autovacuum off). Without it, every index-only
    probe of the observable index also reads the table, since no page is marked all-visible."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) object_versions, collection_objects, observables")


def prewarm(url: str) -> None:
    """Read the store into the operating system's cache before timing it. Some machines reclaim
    cache nobody touched for a few minutes (the kernel's DAMON reclaim on the test machines): a
    10M store filled, or measured, a while ago is then read from disk, and the timings say more
    about the disk than about lookup (884 ms against 356 ms warm, PostgreSQL at 10M)."""
    start = time.perf_counter()
    if is_postgres_url(url):
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
                for relation in ("observables", "observables_pkey", "object_versions", "object_versions_pkey",
                                 "collection_objects", "ix_collection_objects_version"):
                    conn.execute("SELECT pg_prewarm(%s, 'read')", (relation,))
        except psycopg.Error as exc:  # no contrib package, or not allowed: measure as it is
            print(f"  not prewarmed: {exc}", file=sys.stderr, flush=True)
            return
    else:
        with open(url.removeprefix("sqlite:///"), "rb") as f:
            while f.read(1 << 24):
                pass
    print(f"  prewarmed in {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)


def timed(fn: Callable[[], object], samples: int) -> tuple[float, float]:
    """p50 and p95 in milliseconds of ``samples`` calls (after two warm-up calls)."""
    fn(), fn()
    times = []
    for _ in range(samples):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1]


def _bulk(lookup: Lookup, values: list[str]) -> None:
    """A bulk lookup as POST /api/v1/lookup makes it: the collector held back until the answer
    is let go (dropped here; the API serialises it first), so the collection that follows walks
    what is left, not the answer."""
    with bulk_gc():
        lookup.run(values)


def prepare_partner(store: Store) -> Viewer:
    names = {o.name for o in store.orgs()}
    if "bench-partner" not in names:
        store.add_org("bench-partner", kind="partner")
        store.add_user("bench-reader", org="bench-partner", role="reader")
        store.add_agreement("bench-green", parties=["node", "bench-partner"], max_tlp="green", onward=False,
                            valid_from=None, valid_until=None, actor="bench")
    return Viewer.of(store.get_user("bench-reader"))


def measure(url: str, n: int, samples: int) -> list[tuple[str, float, float]]:
    store = open_store(url)
    store.initialise()
    held = store.stats().observables
    if held < n:
        print(f"filling {url} with {n:,} observables ...", file=sys.stderr, flush=True)
        print(f"  {fill(store, n):.0f} s", file=sys.stderr, flush=True)
        store.close()
        if is_postgres_url(url):
            vacuum(url)
        store = open_store(url)  # fresh connections (and, for PostgreSQL, statistics) after the fill
    prewarm(url)
    held = store.stats().observables
    rng = random.Random(7)
    per_kind = n // len(KINDS)

    def a_value(stored: bool) -> str:
        kind = rng.choice(KINDS)
        return value_of(kind, rng.randrange(per_kind) if stored else per_kind + rng.randrange(10**9))

    partner = visibility(store, prepare_partner(store), time.time_ns() // 1000)
    operator = visibility(store, Viewer.operator(), time.time_ns() // 1000)
    max_pk = n
    rows: list[tuple[str, float, float]] = []

    def pk_fetch() -> None:
        with store._read() as conn:  # type: ignore[attr-defined]
            conn.execute(store._sql("SELECT body FROM object_versions WHERE pk = ?"),  # type: ignore[attr-defined]
                         (rng.randrange(1, max_pk),)).fetchone()

    rows.append(("baseline: primary-key fetch of one version", *timed(pk_fetch, samples)))
    for who, vis in (("partner", partner), ("operator", operator)):
        lookup = Lookup(store, vis)
        for stored in (True, False):
            label = f"single lookup, {'stored' if stored else 'absent'} value ({who})"
            rows.append((label, *timed(lambda lk=lookup, s=stored: lk.run([a_value(s)]), samples)))
    bulk_samples = max(3, samples // 40)
    # Half stored is the budget's case (5,000 hits to disclose, receipt and describe); 1 in 100 is
    # closer to a day's batch of indicators checked against a store, shown for comparison.
    for share, label in ((2, "half stored"), (100, "1 in 100 stored")):
        for who, vis in (("partner", partner), ("operator", operator)):
            lookup = Lookup(store, vis)
            # Made before the clock starts (making 10,000 values takes ~15 ms); fresh ones each run.
            batches = iter([[a_value(i % share == 0) for i in range(10_000)] for _ in range(bulk_samples + 2)])
            rows.append((f"bulk lookup of 10,000 values, {label} ({who})",
                         *timed(lambda lk=lookup, b=batches: _bulk(lk, next(b)), bulk_samples)))
    hits = Lookup(store, partner).run([a_value(True) for _ in range(100)])
    assert all(r.hits for r in hits), "a stored value was not found"
    store.close()
    print(f"{held:,} observables held", file=sys.stderr)
    return rows


def warninglist_cost() -> tuple[float, float]:
    from accord.services.warninglists import benign

    start = time.perf_counter()
    benign("8.8.8.8")
    load = time.perf_counter() - start
    values = [value_of(KINDS[i % 4], i) for i in range(10_000)]
    start = time.perf_counter()
    for v in values:
        benign(v)
    return load, (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000000,10000000", help="observables stored, comma-separated")
    parser.add_argument("--samples", type=int, default=200, help="timed single lookups per row")
    parser.add_argument("--data-dir", default=str(ROOT / "bench" / "out" / "lookup"),
                        help="where the SQLite stores are kept (lookup-{n}.db)")
    parser.add_argument("--db-url", help="a database URL instead of SQLite; {n} is replaced by the size")
    parser.add_argument("--warninglists", action="store_true", help="also time the warninglist check of 10,000")
    parser.add_argument("--record", action="store_true", help="append the table to bench/RESULTS.md")
    args = parser.parse_args()
    out = [f"## {dt.date.today().isoformat()} value lookup (bench/lookup.py)", ""]
    out.append("Stores filled with one SCO per observable (ipv4-addr, domain-name, url, file SHA-256; GREEN) "
               "through Transaction.write; times are in-process (services/lookup.Lookup.run, no HTTP), "
               "warninglists off; `partner` runs the gate's predicate, `operator` sees everything.")
    failed = False
    for n in (int(s) for s in args.sizes.split(",") if s):
        if args.db_url:
            url, backend = args.db_url.replace("{n}", str(n)), "PostgreSQL"
        else:
            Path(args.data_dir).mkdir(parents=True, exist_ok=True)
            url, backend = f"sqlite:///{Path(args.data_dir) / f'lookup-{n}.db'}", "SQLite"
        rows = measure(url, n, args.samples)
        base = rows[0][1]
        out += ["", f"{n:,} observables, {backend}:", "", "| measurement | p50 ms | p95 ms | x baseline |",
                "|---|---:|---:|---:|"]
        out += [f"| {label} | {p50:.3f} | {p95:.3f} | {p50 / base:.1f} |" for label, p50, p95 in rows]
        singles = [p50 for label, p50, _ in rows if label.startswith("single")]
        bulks = [p50 for label, p50, _ in rows if label.startswith("bulk") and "half" in label]
        verdict = (f"single p50 max {max(singles):.3f} ms (budget {SINGLE_BUDGET_MS} ms): "
                   f"{'ok' if max(singles) <= SINGLE_BUDGET_MS else 'OVER'}; bulk p50 max {max(bulks):.1f} ms "
                   f"(budget {BULK_BUDGET_MS:.0f} ms): {'ok' if max(bulks) <= BULK_BUDGET_MS else 'OVER'}")
        failed |= max(singles) > SINGLE_BUDGET_MS or max(bulks) > BULK_BUDGET_MS
        out += ["", verdict]
    if args.warninglists:
        load, ms = warninglist_cost()
        out += ["", f"Warninglists: loading {load:.1f} s once per process; checking 10,000 values {ms:.0f} ms."]
    text = "\n".join(out) + "\n"
    print(text)
    if args.record:
        with (ROOT / "bench" / "RESULTS.md").open("a") as f:
            f.write("\n" + text)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
