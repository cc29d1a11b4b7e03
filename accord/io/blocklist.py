"""Blocklists: the values of live indicators, one per line, for firewalls, proxies and DNS filters.

Three styles:

- ``plain``: one value per line (an address or CIDR, a domain, a URL, a hash...), the form
  firewall address lists (ipset, pf tables, pfSense/OPNsense URL tables), proxy deny lists and
  EDR hash lists ingest. With several kinds in one file each group starts with a ``# kind`` line.
- ``hosts``: ``0.0.0.0 domain`` lines for hosts-file blockers (Pi-hole, dnsmasq ``addn-hosts``).
- ``rpz``: a DNS Response Policy Zone (draft-vixie-dnsop-dns-rpz): every domain and its
  subdomains answer NXDOMAIN (``CNAME .``), and answers holding a listed address are rewritten
  likewise (``rpz-ip`` triggers). Load it in BIND, Unbound, Knot Resolver or PowerDNS Recursor.

Only indicators count (an observable alone was not stated for detection), each at its newest
version, and only while live: revoked ones and those whose ``valid_until`` has passed are left
out, and so are values of patterns whose values do not indicate alone (observations joined by
AND, qualifiers). Values on MISP warninglists are left out unless ``include_benign=true``.
Values are de-duplicated and sorted. Objects are spooled to a temporary SQLite file
(accord/io/values_select.py), so memory stays flat however large the store.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterable, Mapping
from typing import BinaryIO, ClassVar

import orjson

from accord.errors import ConfigError
from accord.io.indicators import KINDS
from accord.io.values_columns import parse_flag
from accord.io.values_select import LatestSpool, kind_values, skip_reason, version_key
from accord.services.formats import Exporter, ExportOptions, ExportSummary, FormatRegistry
from accord.stix.timestamps import parse_to_micros

STYLES: dict[str, tuple[str, ...]] = {
    "plain": tuple(KINDS),
    "hosts": ("domain",),
    "rpz": ("domain", "ipv4", "ipv6"),
}
BENIGN_VALUES = "values left out: on a MISP warninglist"


def _kinds(text: str | None, style: str) -> list[str]:
    allowed = STYLES[style]
    if not text or text == "all":
        return list(allowed)
    out: list[str] = []
    for name in (n.strip().lower() for n in text.split(",")):
        names = ["ipv4", "ipv6"] if name == "ip" else [name]
        for one in names:
            if one not in allowed:
                raise ConfigError(f"-O kind: {name!r} is not one of {', '.join(allowed)}"
                                  + ("" if style == "plain" else f" (style {style})") + ", ip or all")
            if one not in out:
                out.append(one)
    return out


def rpz_ip_owner(value: str) -> str:
    """The ``rpz-ip`` owner name of an address or network: prefix length, then the address
    reversed (IPv4 octets; IPv6 groups with the longest zero run written ``zz``)."""
    net = ipaddress.ip_network(value, strict=False)
    if net.version == 4:
        labels = str(net.network_address).split(".")
    else:
        labels = [format(int(g, 16), "x") for g in net.network_address.exploded.split(":")]
        best_start, best_len, start = -1, 1, None
        for i, group in enumerate([*labels, "end"]):
            if group == "0" and start is None:
                start = i
            elif group != "0" and start is not None:
                if i - start > best_len:
                    best_start, best_len = start, i - start
                start = None
        if best_start >= 0:
            labels[best_start:best_start + best_len] = ["zz"]
    return ".".join([str(net.prefixlen), *reversed(labels)]) + ".rpz-ip"


class BlocklistExporter(Exporter):
    name = "blocklist"
    summary = "values of live indicators, one per line (plain lists, hosts files, DNS RPZ zones)"
    media_type = "text/plain; charset=utf-8"
    suffix = ".txt"
    options: ClassVar[Mapping[str, str]] = {
        "kind": "which values, comma-separated: domain, ipv4, ipv6, ip (both), url, email, md5, sha1, sha256, "
                "sha512, filename, mutex, mac, or all (default: all the style takes)",
        "style": "plain (default): one value per line; hosts: '0.0.0.0 domain'; rpz: a DNS response policy zone",
        "comments": "true/false: '# kind' lines before each group in plain style (default: true when several "
                    "kinds or all are asked for)",
        "include_benign": "true: keep values on MISP warninglists (default false: left out and counted)",
    }

    def export(self, bodies: Iterable[bytes], out: BinaryIO, options: ExportOptions) -> ExportSummary:
        params = options.params
        style = params.get("style", "plain")
        if style not in STYLES:
            raise ConfigError(f"-O style: one of {', '.join(STYLES)}")
        kinds = _kinds(params.get("kind"), style)
        # One list asked for (ip is one: a firewall's address list) is bare; several are grouped.
        requested = params.get("kind", "all")
        several = len(kinds) > 1 and (requested == "all" or "," in requested)
        comments = parse_flag("comments", params["comments"]) if "comments" in params else several
        include_benign = parse_flag("include_benign", params.get("include_benign", "false"))
        summary = ExportSummary()
        with LatestSpool() as spool:
            for body in bodies:
                summary.objects_in += 1
                obj = orjson.loads(body)
                if obj.get("type") == "indicator":
                    spool.add(obj, body)
                else:
                    summary.skip(kind_values(obj, disjunctive_only=True, observables=False)[1] or "not an indicator")
            newest = _collect(spool, kinds, include_benign, summary)
            db = spool.connection
            rows = db.execute("SELECT rank, value FROM vals WHERE NOT benign ORDER BY rank, value")
            if style == "rpz":
                _write_rpz(out, rows, kinds, newest, options.node)
                return summary
            current = -1
            for rank, value in rows:
                if comments and rank != current:
                    out.write(f"{'' if current < 0 else chr(10)}# {kinds[rank]}\n".encode())
                    current = rank
                out.write(f"0.0.0.0 {value}\n".encode() if style == "hosts" else value.encode() + b"\n")
        return summary


def _collect(spool: LatestSpool, kinds: list[str], include_benign: bool, summary: ExportSummary) -> str:
    """Fill the spool's ``vals`` table with the live values; returns the newest version key."""
    from accord.io.warninglists import benign

    db = spool.connection
    db.execute("CREATE TABLE vals (rank INTEGER, value TEXT, benign INTEGER, PRIMARY KEY (rank, value)) "
               "WITHOUT ROWID")
    superseded = summary.objects_in - sum(summary.skipped.values()) - spool.count()
    if superseded:
        summary.skip("older versions of exported indicators", superseded)
    now = int(time.time() * 1_000_000)
    newest = ""
    for body in spool.bodies():
        obj = orjson.loads(body)
        reason = skip_reason(obj, now)
        values, why = kind_values(obj, disjunctive_only=True)
        chosen = [(kind, value) for kind, value in values if kind.name in kinds]
        if reason or not chosen:
            summary.skip(reason or why or "no value of the kinds asked")
            continue
        kept = False
        for kind, value in chosen:
            rank = kinds.index(kind.name)
            row = db.execute("SELECT benign FROM vals WHERE rank = ? AND value = ?", (rank, value)).fetchone()
            if row is None:
                listed = not include_benign and bool(benign(value))
                db.execute("INSERT INTO vals VALUES (?, ?, ?)", (rank, value, listed))
                if listed:
                    summary.skip(BENIGN_VALUES)
            else:
                listed = bool(row[0])
            kept = kept or not listed
        if kept:
            summary.written += 1
            newest = max(newest, version_key(obj))
        else:
            summary.skip("indicators whose values are all on MISP warninglists")
    return newest


def _write_rpz(out: BinaryIO, rows: Iterable[tuple[int, str]], kinds: list[str], newest: str, node: str) -> None:
    # The serial must grow when the content does: the newest indicator version (seconds since the
    # epoch) does, and stays the same for the same content.
    micros = parse_to_micros(newest) if newest else None
    serial = max(1, (micros or 0) // 1_000_000) % 2**32
    out.write(f"; DNS response policy zone exported by Accord node {node}\n"
              f"$TTL 300\n@ IN SOA localhost. hostmaster.localhost. {serial} 3600 600 86400 300\n"
              "@ IN NS localhost.\n".encode())
    for rank, value in rows:
        if kinds[rank] == "domain":
            out.write(f"{value} CNAME .\n*.{value} CNAME .\n".encode())
        else:
            out.write(f"{rpz_ip_owner(value)} CNAME .\n".encode())


def register(registry: FormatRegistry) -> None:
    registry.add_exporter(BlocklistExporter())
