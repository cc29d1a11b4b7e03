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
(accord/io/values_live.py), so memory stays flat however large the store.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import BinaryIO, ClassVar

from accord.errors import ConfigError
from accord.io.indicators import KINDS
from accord.io.values_columns import parse_flag
from accord.io.values_live import LiveValues, parse_kinds
from accord.services.formats import Exporter, ExportOptions, ExportSummary, FormatRegistry
from accord.stix.timestamps import parse_to_micros

STYLES: dict[str, tuple[str, ...]] = {
    "plain": tuple(KINDS),
    "hosts": ("domain",),
    "rpz": ("domain", "ipv4", "ipv6"),
}


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
        kinds = parse_kinds(params.get("kind"), STYLES[style])
        # One list asked for (ip is one: a firewall's address list) is bare; several are grouped.
        requested = params.get("kind", "all")
        several = len(kinds) > 1 and (requested == "all" or "," in requested)
        comments = parse_flag("comments", params["comments"]) if "comments" in params else several
        include_benign = parse_flag("include_benign", params.get("include_benign", "false"))
        summary = ExportSummary()
        with LiveValues(kinds, include_benign) as live:
            live.collect(bodies, summary)
            if style == "rpz":
                _write_rpz(out, live, options.node)
                return summary
            current = ""
            for kind, value, _, _ in live.rows():
                if comments and kind != current:
                    out.write(f"{chr(10) if current else ''}# {kind}\n".encode())
                    current = kind
                out.write(f"0.0.0.0 {value}\n".encode() if style == "hosts" else value.encode() + b"\n")
        return summary


def _write_rpz(out: BinaryIO, live: LiveValues, node: str) -> None:
    # The serial must grow when the content does: the newest indicator version (seconds since the
    # epoch) does, and stays the same for the same content.
    newest = live.newest()
    micros = parse_to_micros(newest) if newest else None
    serial = max(1, (micros or 0) // 1_000_000) % 2**32
    out.write(f"; DNS response policy zone exported by Accord node {node}\n"
              f"$TTL 300\n@ IN SOA localhost. hostmaster.localhost. {serial} 3600 600 86400 300\n"
              "@ IN NS localhost.\n".encode())
    for kind, value, _, _ in live.rows():
        if kind == "domain":
            out.write(f"{value} CNAME .\n*.{value} CNAME .\n".encode())
        else:
            out.write(f"{rpz_ip_owner(value)} CNAME .\n".encode())


def register(registry: FormatRegistry) -> None:
    registry.add_exporter(BlocklistExporter())
