"""Lookup: which visible objects mention these values (issue 9, early warning).

For each value a person or a tool pastes (an IP address or network, a domain, a URL, a hash, an
e-mail address) the answer lists the objects the caller may see that mention it, with their
owner, origin, effective TLP and state, the sightings of them the caller may see, and the MISP
warninglists the value is on. Around the exact value:

* a domain also finds its parent domains (a.b.example.com: b.example.com and example.com),
  reported as ``parent`` hits;
* an address finds the indexed networks it lies in (``within``), and a network given as the
  value finds the indexed addresses and smaller networks inside it (``contains``).

Nothing here decides visibility: every row comes out of ``Store.observable_versions`` with the
caller's one predicate in its WHERE clause (one statement per chunk of index keys, however many
values), is checked once more on the body as the caller receives it (the index is built from
the whole object, so a value under a granular marking the caller may not see must not match),
and goes through :func:`services.disclose.disclose` (receipts, channel ``lookup``). A value only
hidden objects mention gets the same answer as a value nobody mentions: no count, no flag,
nothing that depends on a row the caller may not see. docs/early-warning.md says what a lookup
does and does not reveal.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson

from accord.errors import RequestError
from accord.policy.gate import Visibility
from accord.policy.redact import GRANULAR
from accord.services.collector import bulk_gc
from accord.services.decay import Scoring, score
from accord.services.disclose import Received, disclose
from accord.services.search import display_name
from accord.services.sightings import SightingSummary, sightings_of, summarise, threshold
from accord.stix.observables import lookup_pairs, observables_of
from accord.stix.references import REF_INDEX, references_of
from accord.stix.vocab import SCO_TYPES
from accord.storage.base import ListedVersion, ObservableQuery, RowFilter, Store

MAX_VALUES = 10_000  # values in one lookup
MAX_VALUE_LENGTH = 2_048  # longer than any address, domain, hash or sensible URL
CHUNK_KEYS = 5_000  # index keys per statement (under both engines' bound-parameter limits)
CONTAINED_CAP = 1_000  # versions one network may list as "contains" hits
# From how many values a lookup is a bulk one: it first reads the index's summaries
# (Store.index_types and network_prefixes) to leave out keys nothing is indexed under, and
# runs with the cyclic collector held back (services/collector.py). Under it the keys are few:
# probing them all is cheaper than two more statements (a round trip each on PostgreSQL).
BULK_FROM = 16
# Prefix lengths of the indexed networks an address is looked up in: every network from a /8
# (IPv4) or /16 (IPv6) down to one address short of a host. Wider ones are not indicators.
_WITHIN = {"ipv4-addr": tuple(range(8, 32)), "ipv6-addr": tuple(range(16, 128))}
_NOT_A_VALUE = "not an IP address or network, domain, URL, e-mail address or hash"
_NOT_TEXT = "not Unicode text (a lone surrogate: bytes that were not UTF-8)"

EXACT, PARENT, WITHIN, CONTAINS = "exact", "parent", "within", "contains"


@dataclass(slots=True)  # not frozen: a bulk lookup makes 5,000 of these, and frozen fields cost a call each
class LookupHit:
    """One visible object that mentions the value (or its parent domain, network, address)."""

    matched: str  # the indexed value that matched
    index_type: str
    relation: str  # exact, parent, within, contains
    stix_id: str
    type: str
    name: str
    owner: str
    origin: str | None
    tlp: str
    state: str
    version: str
    sightings: SightingSummary | None = None
    score: int | None = None  # an indicator's decay score for the caller (services/decay.py)


@dataclass(slots=True)
class ValueResult:
    value: str
    kinds: list[str]  # the index types the value was looked up as
    hits: list[LookupHit] = field(default_factory=list)
    warninglists: list[str] = field(default_factory=list)
    problem: str | None = None  # why the value could not be looked up
    truncated: bool = False  # a network holds more than CONTAINED_CAP visible hits


_Want = tuple[int, str]  # (which value, relation): a tuple, since a bulk lookup makes ~100,000


class _Plan(NamedTuple):
    results: list[ValueResult]
    keys: dict[tuple[str, str], list[_Want]]  # index key -> the values (and relations) wanting it
    ranges: list[tuple[int, str, tuple[tuple[str, str, str], ...]]]  # (value, network, index ranges)


def _is_text(value: str) -> bool:
    """Whether ``value`` is text the index could hold: no lone surrogate (what Python makes of a
    command-line argument that was not UTF-8), which neither database can be sent."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parent_domains(domain: str) -> list[str]:
    """b.example.com and example.com for a.b.example.com: never a bare top-level label."""
    labels = domain.split(".")
    return [".".join(labels[i:]) for i in range(1, len(labels) - 1)]


def _networks_around(value: str, lengths: Sequence[int] | None = None) -> list[str]:
    """The indexed networks that could hold ``value`` (an address or a network) as a subnet.

    ``lengths``: the prefix lengths, ascending, the index holds networks of for this type
    (``Store.network_prefixes``); a network of any other length is not in the index, so it is
    not worth a key. None: every length.

    Integer arithmetic rather than ``ipaddress`` supernets: a bulk lookup of IPv4 addresses
    makes 24 of these per value, and ``supernet`` costs ~7 us each."""
    if lengths is not None and not lengths:
        return []
    address, _, length = value.partition("/")
    if ":" not in address:
        a, b, c, d = (int(part) for part in address.split("."))
        addr, bits = (a << 24) | (b << 16) | (c << 8) | d, 32
    else:
        addr, bits = int(ipaddress.IPv6Address(address)), 128
    prefix = int(length) if length else bits
    out = []
    for p in _WITHIN["ipv4-addr" if bits == 32 else "ipv6-addr"] if lengths is None else lengths:
        if p >= prefix:
            break
        base = addr & ~((1 << (bits - p)) - 1)
        text = (f"{base >> 24}.{(base >> 16) & 255}.{(base >> 8) & 255}.{base & 255}" if bits == 32
                else ipaddress.IPv6Address(base).compressed)
        out.append(f"{text}/{p}")
    return out


def _ranges_inside(index_type: str, value: str) -> list[tuple[str, str, str]]:
    """Half-open text ranges of the index holding every address and network inside ``value``.

    IPv4 addresses are dotted quads, so a network aligned on octets is one text prefix
    ("10.1." for 10.1.0.0/16) and any other is the union of up to 128 of them. IPv6 values are
    compressed, so only the leading non-zero whole hextets make a prefix; the rest is decided
    by ipaddress on each row found."""
    net = ipaddress.ip_network(value, strict=False)
    if net.version == 4:
        octets = net.network_address.packed
        whole, spare = divmod(net.prefixlen, 8)
        head = [str(o) for o in octets[:whole]]
        if spare == 0:
            prefixes = [".".join(head) + "."] if head else [f"{n}." for n in range(256)]
        else:
            first = octets[whole]
            prefixes = [".".join([*head, str(n)]) + "." for n in range(first, first + (1 << (8 - spare)))]
        # "." sorts just before "/": [prefix + ".", prefix + "/") holds exactly the values starting with it.
        return [(index_type, p, p[:-1] + "/") for p in prefixes]
    hextets = net.exploded.split(":")[: net.prefixlen // 16]
    lead: list[str] = []
    for h in hextets:
        if int(h, 16) == 0:
            break
        lead.append(format(int(h, 16), "x"))
    if not lead:
        return []
    prefix = ":".join(lead) + ":"
    return [(index_type, prefix, prefix[:-1] + ";")]  # ";" follows ":"


class Lookup:
    """One caller's lookup over one store."""

    def __init__(self, store: Store, vis: Visibility, *, benign: Callable[[str], list[str]] | None = None,
                 sighting_min_count: int = 1, scoring: Scoring | None = None):
        """``benign``: the warninglist check (services/warninglists.py, injected so tests and
        the benchmark can leave the lists unloaded); None: no warninglist flags.
        ``sighting_min_count``: the threshold of services/sightings.py (``scoring``'s, when
        given). ``scoring``: give indicator hits their decay score for the caller, from the same
        sightings the hit shows; None: no scores."""
        self.store, self.vis, self._benign, self._scoring = store, vis, benign, scoring
        self._min_count = threshold(vis, scoring.min_count if scoring is not None else sighting_min_count)
        self._receiving = Received(store, vis)

    # -- what each value stands for ---------------------------------------------------------
    def _plan(self, values: Sequence[str], *, held: frozenset[str] | None = None,
              lengths: dict[str, tuple[int, ...]] | None = None) -> _Plan:
        """What each value stands for: its result (kinds, or the problem), the index keys to
        probe with the values and relations that want each, and the networks to look inside.

        ``held``, ``lengths``: the index's summaries (see :meth:`_summaries`), None: probe every
        key. Keys of types the index does not hold are never planned: a SHA-256 digest stands for six
        index types, of which a store typically holds one."""
        results: list[ValueResult] = []
        keys: dict[tuple[str, str], list[_Want]] = {}
        ranges: list[tuple[int, str, tuple[tuple[str, str, str], ...]]] = []
        for i, raw in enumerate(values):
            value = raw.strip()
            pairs = lookup_pairs(value) if (value and len(value) <= MAX_VALUE_LENGTH and "\x00" not in value
                                            and (value.isascii() or _is_text(value))) else []
            # Most values stand for one index type: no set to build and sort for them.
            result = ValueResult(value, [pairs[0][0]] if len(pairs) == 1 else sorted({t for t, _ in pairs}))
            results.append(result)
            if not pairs:
                result.problem = (f"longer than {MAX_VALUE_LENGTH} characters" if len(value) > MAX_VALUE_LENGTH
                                  else _NOT_A_VALUE if _is_text(value) else _NOT_TEXT)
                continue
            for index_type, norm in pairs:
                if held is not None and index_type not in held:
                    continue
                keys.setdefault((index_type, norm), []).append((i, EXACT))
                if index_type == "domain-name":
                    for parent in parent_domains(norm):
                        keys.setdefault((index_type, parent), []).append((i, PARENT))
                elif index_type in _WITHIN:
                    for network in _networks_around(norm, None if lengths is None else lengths[index_type]):
                        keys.setdefault((index_type, network), []).append((i, WITHIN))
                    if "/" in norm:
                        ranges.append((i, norm, tuple(_ranges_inside(index_type, norm))))
        return _Plan(results, keys, ranges)

    def _summaries(self) -> tuple[frozenset[str], dict[str, tuple[int, ...]]]:
        """The index types the index holds, and the prefix lengths of the networks it holds per
        address type, ascending (Store.index_types, network_prefixes): read once per bulk lookup,
        used only to skip keys nothing is indexed under, never shown."""
        networks = self.store.network_prefixes()
        return self.store.index_types(), {
            index_type: tuple(p for p in every if str(p) in networks.get(index_type, ()))
            for index_type, every in _WITHIN.items()}

    def _planned_and_found(self, values: Sequence[str], where: RowFilter,
                           ) -> tuple[_Plan, list[tuple[str, str, ListedVersion]]]:
        """The plan of ``values`` and the index rows under its keys.

        One thread does both, one after the other. Classifying in a thread of its own while this
        one queried the index was slower (288 against 240 ms for 10,000 values at 1M, alternating
        runs): SQLite gives up Python's global lock for every row it steps to, and the thread
        that wants it back waits for the classifying one to yield, which it does only every
        switch interval."""
        if len(values) < BULK_FROM:
            plan = self._plan(values)
        else:
            held, lengths = self._summaries()
            plan = self._plan(values, held=held, lengths=lengths)
        return plan, self._found(list(plan.keys), where)

    def _found(self, keys: list[tuple[str, str]], where: RowFilter) -> list[tuple[str, str, ListedVersion]]:
        out: list[tuple[str, str, ListedVersion]] = []
        for start in range(0, len(keys), CHUNK_KEYS):
            out += self.store.observable_versions(ObservableQuery(keys=tuple(keys[start:start + CHUNK_KEYS])), where)
        return out

    # -- the body as the caller receives it ------------------------------------------------
    def _received(self, row: ListedVersion) -> dict[str, Any] | None:
        """The parsed body when granular markings could have hidden part of it from the caller;
        None when the whole stored body is what the caller receives."""
        body = row.body or b"{}"
        if GRANULAR not in body or self.vis.sees_everything or row.owner_org == self.vis.viewer.org_pk:
            return None
        return self._receiving.parsed(row)

    def _still_mentions(self, row: ListedVersion, index_type: str, value: str) -> bool:
        received = self._received(row)
        if received is None:
            return True
        found = references_of(received) if index_type == REF_INDEX else observables_of(received)
        return (index_type, value) in found

    # -- the lookup -------------------------------------------------------------------------
    def run(self, values: Sequence[str]) -> list[ValueResult]:
        if len(values) > MAX_VALUES:
            raise RequestError("values", f"{len(values)} values: at most {MAX_VALUES} in one lookup")
        if len(values) < BULK_FROM:
            return self._run(values)
        # A bulk answer is ~100,000 containers that all survive (services/collector.py). A
        # caller that holds bulk_gc itself until it has let go of the answer (POST
        # /api/v1/lookup) spares the collector a walk over all of them when this one ends.
        with bulk_gc():
            return self._run(values)

    def _run(self, values: Sequence[str]) -> list[ValueResult]:
        where = self.vis.predicate()
        plan, rows_found = self._planned_and_found(values, where)
        results, keys, ranges = plan
        # value index -> (object, owner, matched key) -> (row, relation): the newest matching
        # version of each object, since rows come newest version first (per batch of keys, and
        # a key is in one batch).
        found: dict[int, dict[tuple[str, int, str, str], tuple[ListedVersion, str]]] = {}
        for index_type, value, row in rows_found:
            mentions: bool | None = None  # decided once per row, and only if a value wants it
            for i, relation in keys[index_type, value]:
                slot = found.setdefault(i, {})
                key = (row.stix_id, row.owner_org, index_type, value)
                if key in slot:
                    continue
                if mentions is None:
                    mentions = self._still_mentions(row, index_type, value)
                if mentions:
                    slot[key] = (row, relation)
        for i, network, network_ranges in ranges:
            if not network_ranges:
                continue
            net = ipaddress.ip_network(network)
            rows = self._contained(network_ranges, where)
            results[i].truncated = len(rows) > CONTAINED_CAP
            slot = found.setdefault(i, {})
            for index_type, value, row in rows[:CONTAINED_CAP]:
                try:
                    inside = ipaddress.ip_network(value, strict=False)
                except ValueError:
                    continue
                if inside != net and inside.version == net.version and inside.subnet_of(net):  # type: ignore[arg-type]
                    slot.setdefault((row.stix_id, row.owner_org, index_type, value), (row, CONTAINS))
        described = self._describe({row.pk: row for hits in found.values() for row, _ in hits.values()})
        for i, hits in found.items():
            out = results[i].hits
            for (stix_id, _, index_type, value), (row, relation) in hits.items():
                about = described.get(row.pk)
                if about is not None:
                    out.append(LookupHit(value, index_type, relation, stix_id, row.type, *about))
            if len(out) > 1:
                out.sort(key=_hit_order)
        if self._benign is not None:
            for result in results:
                if result.problem is None:
                    result.warninglists = self._benign(result.value)
        return results

    def _describe(self, rows: dict[int, ListedVersion]) -> dict[int, tuple[Any, ...]]:
        """Version pk -> the rest of a hit on it (name, owner, origin, TLP, state, version,
        sightings, score), for the versions that come through disclose: each version once, however
        many values it matched."""
        if not rows:
            return {}
        orgs = self.store.org_names(pk for row in rows.values() for pk in (row.owner_org, row.origin_org))
        # The receipts are committed before anything is described: a lookup whose receipt cannot
        # be written answers nothing. On this thread, not beside it: SQLite writes a receipt on
        # the connection the lookup read through, which keeps that connection's page cache
        # (SQLiteStore.audit_append), and a thread of its own took longer on both backends (it
        # contended for Python's global lock with the describing below).
        disclosed = disclose(self.store, self.vis, list(rows.values()), channel="lookup", orgs=orgs)
        bodies: dict[int, dict[str, Any]] = {d.row.pk: orjson.loads(d.body or b"{}") for d in disclosed}
        sightings = sightings_of(self.store, self.vis,
                                 {rows[pk].stix_id for pk in bodies if _sightable(rows[pk])}, channel="lookup")
        summaries = {stix_id: summarise(seen, self._min_count) for stix_id, seen in sightings.items()}
        nothing = summarise((), self._min_count)
        out: dict[int, tuple[Any, ...]] = {}
        for pk, obj in bodies.items():
            row = rows[pk]
            summary = summaries.get(row.stix_id, nothing)
            out[pk] = (display_name(obj), orgs.get(row.owner_org, "?"),
                       None if row.origin_org is None else orgs.get(row.origin_org, "?"),
                       self.vis.level(row, row.collection_pk), row.state, row.version, summary,
                       self._score(obj, summary))
        return out

    def _contained(self, network_ranges: tuple[tuple[str, str, str], ...], where: RowFilter,
                   ) -> list[tuple[str, str, ListedVersion]]:
        """Up to CONTAINED_CAP + 1 indexed values inside a network that the caller still sees in
        its copy. Rows whose value a granular marking hides from the caller are dropped before
        counting, so they can neither tip ``truncated`` nor use up the cap; the read grows until
        enough are kept or the index has no more (bounded: a network is at most 64 reads)."""
        limit = CONTAINED_CAP + 1
        while True:
            rows = self.store.observable_versions(ObservableQuery(ranges=network_ranges), where, limit=limit)
            kept = [(t, v, row) for t, v, row in rows if self._still_mentions(row, t, v)]
            if len(kept) > CONTAINED_CAP or len(rows) < limit or limit >= CONTAINED_CAP * 64:
                return kept
            limit *= 4

    def _score(self, obj: dict[str, Any], summary: SightingSummary) -> int | None:
        if self._scoring is None:
            return None
        return score(obj, summary.shown, self._scoring.now, self._scoring.model)

    def visible_keys(self, keys: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which of these exact index keys a version the caller may see holds, in the caller's copy:
        the exact match of :meth:`run` (same statements, same granular check) with each row
        checked once more by the gate's single-object form, as disclose does, and no hits,
        sightings or receipts (nothing is handed out). The overlap check (services/overlap.py)."""
        where = self.vis.predicate()
        # RED rows came through the SQL recipient check; the caller's organisation stands for it.
        recipients = (self.vis.viewer.org_pk,) if self.vis.viewer.org_pk is not None else ()
        found: set[tuple[str, str]] = set()
        for index_type, value, row in self._found(list(keys), where):
            if ((index_type, value) not in found
                    and self.vis.allowance_for(row.facts(recipients), row.collection_pk) is not None
                    and self._still_mentions(row, index_type, value)):
                found.add((index_type, value))
        return found


_RELATIONS = {EXACT: 0, PARENT: 1, WITHIN: 2, CONTAINS: 3}


def _hit_order(hit: LookupHit) -> tuple[int, str, str]:
    return _RELATIONS[hit.relation], hit.matched, hit.stix_id


def _sightable(row: ListedVersion) -> bool:
    """Whether a sighting may name the version's object: ``sighting_of_ref`` is an SDO or a custom
    object (stix/schema_sdo.py refuses anything else on every way in), never an SCO, so the
    thousands of SCO hits of a bulk lookup need no sightings statement."""
    return row.type not in SCO_TYPES


def result_json(result: ValueResult) -> dict[str, Any]:
    """One value's answer as JSON: what POST /api/v1/lookup and ``accord lookup --json`` print."""
    return {"value": result.value, "kinds": result.kinds, "problem": result.problem,
            "warninglists": result.warninglists, "truncated": result.truncated,
            "hits": [{"id": h.stix_id, "type": h.type, "name": h.name, "owner": h.owner, "origin": h.origin,
                      "tlp": h.tlp, "state": h.state, "matched": h.matched, "index_type": h.index_type,
                      "relation": h.relation,
                      "sightings": None if h.sightings is None else h.sightings.as_json(),
                      "score": h.score} for h in result.hits]}


def lookup(store: Store, vis: Visibility, values: Sequence[str], *,
           benign: Callable[[str], list[str]] | None = None, sighting_min_count: int = 1,
           scoring: Scoring | None = None) -> list[ValueResult]:
    """Look ``values`` up as ``vis``'s viewer (see the module docstring)."""
    return Lookup(store, vis, benign=benign, sighting_min_count=sighting_min_count, scoring=scoring).run(values)
