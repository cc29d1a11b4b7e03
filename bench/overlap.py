"""The overlap check (services/overlap.py): 10,000 keyed hashes against a store of N observables,
against the plain lookup of the same 10,000 values in the same run.

The stores are bench/lookup.py's (one SCO per observable: ipv4-addr, domain-name, url, file
SHA-256; GREEN, owned by the node's organisation; kept in --data-dir between runs). As a partner
reader under a GREEN agreement (the gate's predicate in every statement) it times:

* the baseline: ``Lookup.run`` of 10,000 values, half stored, half absent (bench/lookup.py's
  "bulk lookup", which also reports parents, networks, sightings and writes receipts);
* the answering node's first question under a key: building its hash table (every distinct
  indexed value hashed) and answering;
* a question once the table is built: 10,000 hashes of the same values (half stored), and of
  10,000 absent values;
* a question after 1,000 new versions were written (the table catches up from their bodies);
* the asking side: normalising and hashing 10,000 values (``plan_hashes``).

Each value is hashed as the index holds it (a file's SHA-256 as ``file:hashes.SHA-256``): one
hash per value, so 10,000 hashes are 10,000 values. ``accord overlap`` sends a bare hex digest as
every key it may stand for (six for a SHA-256), which is the asker's cost, not the answerer's.

    python bench/overlap.py --sizes 100000,1000000 [--samples 10] [--record]
    python bench/overlap.py --sizes 1000000 --db-url 'postgresql://postgres@127.0.0.1:5432/accord_bench_lookup{n}'
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import random
import sqlite3
import sys
import time
import tracemalloc
from pathlib import Path

import orjson

# bench/lookup.py fills and names the stores; run as a script, bench/ is on the path.
from lookup import KINDS, fill, prepare_partner, sco, timed, value_of  # type: ignore[import-not-found]

from accord.policy.gate import visibility
from accord.services.lookup import Lookup
from accord.services.overlap import AgreementKey, answer, fingerprint, new_agreement_key, plan_hashes
from accord.services.overlap_index import Hasher, HashTable, HashTables
from accord.services.secrets import SecretBox
from accord.stix.observables import observables_of
from accord.stix.versions import body_hash
from accord.storage import open_store
from accord.storage.base import PreparedVersion, Provenance, Store

ROOT = Path(__file__).resolve().parents[1]
HASH_TYPE = {"file": "file:hashes.SHA-256"}
NEW_VERSIONS = 1_000


def _index_type(kind: str) -> str:
    return HASH_TYPE.get(kind, kind)


def _key(store: Store, box: SecretBox) -> AgreementKey:
    agreement = store.get_agreement("bench-green")
    record = store.agreement_overlap_keys().get(agreement.pk)
    if record is None:
        new_agreement_key(store, box, agreement.name, rotate=False, actor="bench")
        record = store.agreement_overlap_keys()[agreement.pk]
    key = bytes.fromhex(box.unseal(record.sealed_key))
    return AgreementKey(agreement, key, fingerprint(key))


def measure(url: str, n: int, samples: int, box: SecretBox) -> tuple[list[tuple[str, float, float]], list[str]]:
    store = open_store(url)
    store.initialise()
    if store.stats().observables < n:
        print(f"filling {url} with {n:,} observables ...", file=sys.stderr, flush=True)
        print(f"  {fill(store, n):.0f} s", file=sys.stderr, flush=True)
        store.close()
        store = open_store(url)
    partner = prepare_partner(store)
    asked = _key(store, box)
    hasher = Hasher(asked.key)
    vis = visibility(store, partner, time.time_ns() // 1000)
    rng = random.Random(11)
    per_kind = n // len(KINDS)

    def pairs(stored: bool) -> list[tuple[str, str]]:
        out = []
        for i in range(10_000):
            kind = KINDS[rng.randrange(len(KINDS))]
            m = rng.randrange(per_kind) if stored and i % 2 == 0 else per_kind + rng.randrange(10**9)
            out.append((_index_type(kind), value_of(kind, m)))
        return out

    rows: list[tuple[str, float, float]] = []
    notes: list[str] = []
    lookup = Lookup(store, vis)
    rows.append(("baseline: lookup of 10,000 values, half stored", *timed(
        lambda: lookup.run([v for _, v in pairs(True)]), samples)))

    tables = HashTables()
    cold = []
    for _ in range(3):  # a fresh table each time: the first question under a key
        tables = HashTables()
        question = [hasher.hexdigest(t, v) for t, v in pairs(True)]
        t0 = time.perf_counter()
        got = answer(store, vis, asked, tables, question)
        cold.append((time.perf_counter() - t0) * 1000)
        assert len(got) >= 4_000, f"only {len(got)} of ~5,000 stored values matched"
    cold.sort()
    rows.append(("first question under a key: build the hash table, answer 10,000", cold[1], cold[-1]))
    table = tables.table(asked.fingerprint, asked.key)
    # Memory: the packed table, and the peak Python allocations of one more build (traced, so slower).
    tracemalloc.start()
    HashTable(asked.key).build(store)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    notes.append(f"Hash table: {len(table):,} distinct values, {len(table) * 8 / 1e6:.1f} MB packed; a build "
                 f"allocates at most {peak / 1e6:.1f} MB at once (tracemalloc).")
    # The questions are hashed before the clock starts: the asker's cost is the last row.
    for label, stored in (("half stored", True), ("none stored", False)):
        questions = iter([[hasher.hexdigest(t, v) for t, v in pairs(stored)] for _ in range(samples + 2)])
        rows.append((f"question, table built: 10,000 hashes, {label}", *timed(
            lambda qs=questions: answer(store, vis, asked, tables, next(qs)), samples)))

    # Catching up: NEW_VERSIONS new SCOs (values no other run writes), then one question.
    start = 2 * 10**9 + rng.randrange(10**9)
    batch = []
    for i in range(NEW_VERSIONS):
        obj = sco(KINDS[i % len(KINDS)], start + i)
        body = orjson.dumps(obj)
        batch.append(PreparedVersion(i, str(obj["id"]), "#" + body_hash(body).hex()[:32], str(obj["type"]), "2.1",
                                     False, "green", body_hash(body), body, observables_of(obj)))
    with store.transaction() as tx:
        tx.write(store.get_collection("default"), batch, Provenance(store.get_org("node").pk, owner_name="node"))
    fresh = [hasher.hexdigest(_index_type(KINDS[i % len(KINDS)]), value_of(KINDS[i % len(KINDS)], start + i))
             for i in range(NEW_VERSIONS)]
    question = fresh + [hasher.hexdigest(t, v) for t, v in pairs(False)][:10_000 - NEW_VERSIONS]
    t0 = time.perf_counter()
    caught = answer(store, vis, asked, tables, question)
    rows.append((f"question after {NEW_VERSIONS:,} new versions (catch up, then answer 10,000)",
                 (time.perf_counter() - t0) * 1000, float("nan")))
    assert len(caught) == NEW_VERSIONS, f"{len(caught)} of {NEW_VERSIONS} new values found"

    values = [v for _, v in pairs(True)]
    rows.append(("asking side: normalise and hash 10,000 values", *timed(lambda: plan_hashes(asked.key, values),
                                                                        samples)))
    store.close()
    return rows, notes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000", help="observables stored, comma-separated")
    parser.add_argument("--samples", type=int, default=10, help="timed questions per row")
    parser.add_argument("--data-dir", default=str(ROOT / "bench" / "out" / "lookup"),
                        help="where the SQLite stores are kept (lookup-{n}.db, shared with bench/lookup.py)")
    parser.add_argument("--db-url", help="a database URL instead of SQLite; {n} is replaced by the size")
    parser.add_argument("--record", action="store_true", help="append the table to bench/RESULTS.md")
    args = parser.parse_args()
    Path(args.data_dir).mkdir(parents=True, exist_ok=True)
    box = SecretBox(Path(args.data_dir) / "node.key")
    out = [f"## {dt.date.today().isoformat()} overlap check (bench/overlap.py)", "",
           f"- Machine: {platform.machine()}, {len(os.sched_getaffinity(0))} CPUs; Python "
           f"{platform.python_version()}; SQLite {sqlite3.sqlite_version}; {platform.platform()}",
           "- Stores of bench/lookup.py (one SCO per observable, GREEN); in-process, no HTTP; as a partner "
           "reader (the gate's predicate in every statement); p50 and p95 in ms; x baseline is the p50 "
           "over the lookup of the same 10,000 values in the same run."]
    for n in (int(s) for s in args.sizes.split(",") if s):
        if args.db_url:
            url, backend = args.db_url.replace("{n}", str(n)), "PostgreSQL"
        else:
            url, backend = f"sqlite:///{Path(args.data_dir) / f'lookup-{n}.db'}", "SQLite"
        rows, notes = measure(url, n, args.samples, box)
        base = rows[0][1]
        out += ["", f"{n:,} observables, {backend}:", "", "| measurement | p50 ms | p95 ms | x baseline |",
                "|---|---:|---:|---:|"]
        out += [f"| {label} | {p50:.1f} | {'-' if p95 != p95 else f'{p95:.1f}'} | {p50 / base:.2f} |"
                for label, p50, p95 in rows]
        out += ["", *notes]
    text = "\n".join(out) + "\n"
    print(text)
    if args.record:
        with (ROOT / "bench" / "RESULTS.md").open("a") as f:
            f.write("\n" + text)


if __name__ == "__main__":
    main()
