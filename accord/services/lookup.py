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
from typing import Any

import orjson

from accord.errors import RequestError
from accord.policy.gate import Visibility
from accord.policy.redact import GRANULAR
from accord.services.decay import Scoring, score
from accord.services.disclose import Received, disclose
from accord.services.search import display_name
from accord.services.sightings import SightingSummary, sightings_of, summarise, threshold
from accord.stix.observables import lookup_pairs, observables_of
from accord.stix.references import REF_INDEX, references_of
from accord.storage.base import ListedVersion, ObservableQuery, RowFilter, Store

MAX_VALUES = 10_000  # values in one lookup
MAX_VALUE_LENGTH = 2_048  # longer than any address, domain, hash or sensible URL
CHUNK_KEYS = 5_000  # index keys per statement (under both engines' bound-parameter limits)
CONTAINED_CAP = 1_000  # versions one network may list as "contains" hits
# Prefix lengths of the indexed networks an address is looked up in: every network from a /8
# (IPv4) or /16 (IPv6) down to one address short of a host. Wider ones are not indicators.
_WITHIN = {4: range(8, 32), 6: range(16, 128)}
_LENGTH_TEXT = [str(p) for p in range(129)]
_NOT_A_VALUE = "not an IP address or network, domain, URL, e-mail address or hash"

EXACT, PARENT, WITHIN, CONTAINS = "exact", "parent", "within", "contains"


@dataclass(frozen=True)
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


@dataclass
class ValueResult:
    value: str
    kinds: list[str]  # the index types the value was looked up as
    hits: list[LookupHit] = field(default_factory=list)
    warninglists: list[str] = field(default_factory=list)
    problem: str | None = None  # why the value could not be looked up
    truncated: bool = False  # a network holds more than CONTAINED_CAP visible hits


_Want = tuple[int, str]  # (which value, relation): a tuple, since a bulk lookup makes ~100,000


def parent_domains(domain: str) -> list[str]:
    """b.example.com and example.com for a.b.example.com: never a bare top-level label."""
    labels = domain.split(".")
    return [".".join(labels[i:]) for i in range(1, len(labels) - 1)]


def _networks_around(value: str, lengths: frozenset[str] | None = None) -> list[str]:
    """The indexed networks that could hold ``value`` (an address or a network) as a subnet.

    ``lengths``: the prefix lengths (as text) the index holds networks of for this type
    (``Store.network_prefixes``); a network of any other length is not in the index, so it is
    not worth a key. None: every length.

    Integer arithmetic rather than ``ipaddress`` supernets: a bulk lookup of IPv4 addresses
    makes 24 of these per value, and ``supernet`` costs ~7 us each."""
    address, _, length = value.partition("/")
    if ":" not in address:
        a, b, c, d = (int(part) for part in address.split("."))
        addr, bits = (a << 24) | (b << 16) | (c << 8) | d, 32
    else:
        addr, bits = int(ipaddress.IPv6Address(address)), 128
    prefix = int(length) if length else bits
    out = []
    for p in _WITHIN[4 if bits == 32 else 6]:
        if p >= prefix:
            break
        if lengths is not None and _LENGTH_TEXT[p] not in lengths:
            continue
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
        self._orgs = {o.pk: o.name for o in store.orgs()}
        self._receiving = Received(store, vis)

    # -- what each value stands for ---------------------------------------------------------
    def _plan(self, values: Sequence[str]) -> tuple[list[ValueResult], dict[tuple[str, str], list[_Want]],
                                                    list[tuple[int, str, tuple[tuple[str, str, str], ...]]]]:
        results: list[ValueResult] = []
        keys: dict[tuple[str, str], list[_Want]] = {}
        ranges: list[tuple[int, str, tuple[tuple[str, str, str], ...]]] = []
        prefixes: dict[str, frozenset[str]] | None = None
        for i, raw in enumerate(values):
            value = raw.strip()
            pairs = lookup_pairs(value) if value and len(value) <= MAX_VALUE_LENGTH and "\x00" not in value else []
            result = ValueResult(value, sorted({t for t, _ in pairs}))
            results.append(result)
            if not pairs:
                result.problem = _NOT_A_VALUE if len(value) <= MAX_VALUE_LENGTH else (
                    f"longer than {MAX_VALUE_LENGTH} characters")
                continue
            for index_type, norm in pairs:
                keys.setdefault((index_type, norm), []).append((i, EXACT))
                if index_type == "domain-name":
                    for parent in parent_domains(norm):
                        keys.setdefault((index_type, parent), []).append((i, PARENT))
                elif index_type in ("ipv4-addr", "ipv6-addr"):
                    if prefixes is None:
                        prefixes = self._network_prefixes()
                    for network in _networks_around(norm, prefixes.get(index_type, frozenset())):
                        keys.setdefault((index_type, network), []).append((i, WITHIN))
                    if "/" in norm:
                        ranges.append((i, norm, tuple(_ranges_inside(index_type, norm))))
        return results, keys, ranges

    def _network_prefixes(self) -> dict[str, frozenset[str]]:
        """Which prefix lengths of networks the index holds, per type (storage/search.py): read
        once per lookup, used only to skip keys nothing is indexed under, never shown. A store
        without the summary gets every length probed."""
        summary: Callable[[], dict[str, frozenset[str]]] | None = getattr(self.store, "network_prefixes", None)
        if summary is None:
            every = frozenset(_LENGTH_TEXT)
            return {"ipv4-addr": every, "ipv6-addr": every}
        return summary()

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
        results, keys, ranges = self._plan(values)
        where = self.vis.predicate()
        # value index -> (matched key, relation) -> row: newest matching version per object
        found: dict[int, dict[tuple[str, str, str, str], tuple[ListedVersion, str]]] = {}

        def take(i: int, relation: str, index_type: str, value: str, row: ListedVersion) -> None:
            slot = found.setdefault(i, {})
            key = (row.stix_id, str(row.owner_org), index_type, value)
            if key not in slot and self._still_mentions(row, index_type, value):
                slot[key] = (row, relation)

        key_list = list(keys)
        for start in range(0, len(key_list), CHUNK_KEYS):
            chunk = tuple(key_list[start:start + CHUNK_KEYS])
            for index_type, value, row in self.store.observable_versions(ObservableQuery(keys=chunk), where):
                for i, relation in keys.get((index_type, value), ()):
                    take(i, relation, index_type, value, row)
        for i, network, network_ranges in ranges:
            if not network_ranges:
                continue
            net = ipaddress.ip_network(network)
            rows = self._contained(network_ranges, where)
            results[i].truncated = len(rows) > CONTAINED_CAP
            for index_type, value, row in rows[:CONTAINED_CAP]:
                try:
                    inside = ipaddress.ip_network(value, strict=False)
                except ValueError:
                    continue
                if inside != net and inside.version == net.version and inside.subnet_of(net):  # type: ignore[arg-type]
                    take(i, CONTAINS, index_type, value, row)
        rows_out = self._disclose(found)
        sightings = sightings_of(self.store, self.vis, {row.stix_id for hits in found.values()
                                                        for row, _ in hits.values() if row.pk in rows_out},
                                 channel="lookup", orgs=self._orgs)
        summaries = {stix_id: summarise(seen, self._min_count) for stix_id, seen in sightings.items()}
        nothing = summarise((), self._min_count)
        for i, hits in found.items():
            for (stix_id, _, index_type, value), (row, relation) in hits.items():
                obj = rows_out.get(row.pk)
                if obj is None:
                    continue
                results[i].hits.append(LookupHit(
                    value, index_type, relation, stix_id, row.type, display_name(obj),
                    self._orgs.get(row.owner_org, "?"),
                    None if row.origin_org is None else self._orgs.get(row.origin_org, "?"),
                    self.vis.level(row.facts(), row.collection_pk), row.state, row.version,
                    summaries.get(stix_id, nothing), self._score(obj, summaries.get(stix_id, nothing))))
        for result in results:
            result.hits.sort(key=lambda h: ((EXACT, PARENT, WITHIN, CONTAINS).index(h.relation), h.matched, h.stix_id))
            if self._benign is not None and result.problem is None:
                result.warninglists = self._benign(result.value)
        return results

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
        for start in range(0, len(keys), CHUNK_KEYS):
            chunk = tuple(keys[start:start + CHUNK_KEYS])
            for index_type, value, row in self.store.observable_versions(ObservableQuery(keys=chunk), where):
                if ((index_type, value) not in found
                        and self.vis.allowance_for(row.facts(recipients), row.collection_pk) is not None
                        and self._still_mentions(row, index_type, value)):
                    found.add((index_type, value))
        return found

    def _disclose(self, found: dict[int, dict[tuple[str, str, str, str], tuple[ListedVersion, str]]],
                  ) -> dict[int, dict[str, Any]]:
        """Each hit version once through disclose: version pk -> the body as the caller receives it."""
        unique: dict[int, ListedVersion] = {}
        for hits in found.values():
            for row, _ in hits.values():
                unique.setdefault(row.pk, row)
        out: dict[int, dict[str, Any]] = {}
        for d in disclose(self.store, self.vis, list(unique.values()), channel="lookup"):
            parsed: dict[str, Any] = orjson.loads(d.body or b"{}")
            out[d.row.pk] = parsed
        return out


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
