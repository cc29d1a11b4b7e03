"""Suricata rules for the network values of live indicators (Suricata 7 rule language).

For each distinct value (accord/io/values_live.py: newest versions, not revoked or expired,
values that indicate alone, warninglisted ones left out unless asked):

- domain: three rules, on the DNS query (``dns.query``), the TLS SNI (``tls.sni``) and the HTTP
  Host (``http.host``), each matching the name and its subdomains (``dotprefix`` + ``endswith``);
- url (http and https): one rule on the HTTP Host and the raw request URI, both exact; for https
  it fires only where Suricata sees decrypted traffic;
- ipv4 / ipv6 (addresses and CIDR ranges): one rule on IP traffic between ``$HOME_NET`` and it,
  either direction.

Content is escaped for the rule parser: ``"`` ``;`` ``\\`` ``|`` and bytes outside printable
ASCII are written as ``|hex|``; ``msg`` text has ``"`` ``;`` ``\\`` backslash-escaped. Each rule
gets a sid in the node's range (``sid_base`` .. ``sid_base + sid_range - 1``; give every node
its own): the sid is a hash of the rule's kind, value and protocol within the range, so the same
rule keeps its sid across exports; two rules hashing to one sid are resolved by taking the next
free one, in an order that does not depend on the export's order. ``rev`` is the newest
``modified`` (seconds since the epoch) of the indicators stating the value, so it grows when they
change. ``msg`` names the node; ``metadata`` the first indicator that stated the value.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import Iterable, Mapping
from typing import BinaryIO, ClassVar
from urllib.parse import urlsplit

from accord.errors import ConfigError
from accord.io.values_columns import parse_flag
from accord.io.values_live import LiveValues, parse_kinds
from accord.services.formats import Exporter, ExportOptions, ExportSummary, FormatRegistry
from accord.stix.timestamps import parse_to_micros

NETWORK_KINDS = ("domain", "url", "ipv4", "ipv6")
# Sids 1,000,000-1,999,999 are the range conventionally left to local rules.
DEFAULT_SID_BASE = 1_000_000
DEFAULT_SID_RANGE = 1_000_000
MAX_SID = 2**32 - 1
_CONTENT_SPECIAL = frozenset(b'";\\|')
_PLAIN_CONTENT = re.compile(r'[ !#-:<-\[\]-{}~]*')  # printable ASCII but " ; \\ |
_NOT_PRINTABLE = re.compile(r"[^ -~]")
_NOT_METADATA = re.compile(r"[^A-Za-z0-9_.:-]")


def content(value: str) -> str:
    """``value`` as the inside of a ``content:"..."`` option: special and non-printable bytes as hex."""
    if _PLAIN_CONTENT.fullmatch(value):
        return value
    out: list[str] = []
    in_hex = False
    for byte in value.encode("utf-8"):
        special = byte < 0x20 or byte > 0x7E or byte in _CONTENT_SPECIAL
        if special != in_hex:
            out.append("|")
            in_hex = special
        elif special:
            out.append(" ")
        out.append(f"{byte:02X}" if special else chr(byte))
    if in_hex:
        out.append("|")
    return "".join(out)


def msg_text(text: str) -> str:
    """Text safe inside ``msg:"..."``: printable ASCII, with ``\\`` ``"`` ``;`` escaped."""
    safe = _NOT_PRINTABLE.sub("?", text)
    return safe.replace("\\", "\\\\").replace('"', '\\"').replace(";", "\\;")


def _metadata_word(text: str) -> str:
    # metadata values end at a comma or semicolon and may not hold spaces.
    return _NOT_METADATA.sub("_", text) or "_"


def rule_bodies(kind: str, value: str) -> list[tuple[str, str, str]]:
    """(protocol, header, options before msg/metadata/sid) for one value; [] if none applies."""
    if kind == "domain":
        name = content("." + value)
        return [
            ("dns", "dns $HOME_NET any -> any any", f'dns.query; dotprefix; content:"{name}"; nocase; endswith;'),
            ("tls", "tls $HOME_NET any -> any any",
             f'flow:established,to_server; tls.sni; dotprefix; content:"{name}"; nocase; endswith;'),
            # Suricata lower-cases http.host; the domain is lower case already.
            ("http", "http $HOME_NET any -> any any",
             f'flow:established,to_server; http.host; dotprefix; content:"{name}"; endswith;'),
        ]
    if kind in ("ipv4", "ipv6"):
        return [("ip", f"ip $HOME_NET any <> [{value}] any", "")]
    parts = urlsplit(value)
    host = parts.hostname
    if kind != "url" or parts.scheme not in ("http", "https") or not host:
        return []
    # The request target as sent: the URL after its authority, without the fragment.
    after_authority = value.split("//", 1)[1]
    cut = min((i for i in (after_authority.find(c) for c in "/?") if i != -1), default=len(after_authority))
    target = after_authority[cut:].split("#", 1)[0] or "/"
    if target.startswith("?"):
        target = "/" + target
    return [("http", "http $HOME_NET any -> any any",
             f'flow:established,to_server; http.host; content:"{content(host)}"; startswith; endswith; '
             f'http.uri.raw; content:"{content(target)}"; startswith; endswith;')]


def _preferred_sid(key: str, base: int, size: int) -> int:
    return base + int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % size


def _int_option(params: Mapping[str, str], name: str, default: int) -> int:
    text = params.get(name)
    if text is None:
        return default
    if not text.strip().isdigit():
        raise ConfigError(f"-O {name}: a whole number, not {text!r}")
    return int(text)


class SuricataExporter(Exporter):
    name = "suricata"
    summary = "Suricata rules for network indicators: DNS query, TLS SNI, HTTP host and URL, IP addresses"
    media_type = "text/plain; charset=utf-8"
    suffix = ".rules"
    options: ClassVar[Mapping[str, str]] = {
        "sid_base": f"first sid of this node's range (default {DEFAULT_SID_BASE})",
        "sid_range": f"how many sids the range holds (default {DEFAULT_SID_RANGE})",
        "kind": "which values, comma-separated: domain, url, ipv4, ipv6, ip (both); default all four",
        "action": "alert (default), or drop / reject for Suricata running inline (IPS)",
        "include_benign": "true: keep values on MISP warninglists (default false: left out and counted)",
    }

    def export(self, bodies: Iterable[bytes], out: BinaryIO, options: ExportOptions) -> ExportSummary:
        params = options.params
        base = _int_option(params, "sid_base", DEFAULT_SID_BASE)
        size = _int_option(params, "sid_range", DEFAULT_SID_RANGE)
        if base < 1 or size < 1 or base + size - 1 > MAX_SID:
            raise ConfigError(f"-O sid_base/sid_range: the range must lie within 1..{MAX_SID}")
        action = params.get("action", "alert")
        if action not in ("alert", "drop", "reject"):
            raise ConfigError("-O action: alert, drop or reject")
        kinds = parse_kinds(params.get("kind"), NETWORK_KINDS)
        summary = ExportSummary()
        with LiveValues(kinds, parse_flag("include_benign", params.get("include_benign", "false"))) as live:
            live.collect(bodies, summary)
            db = live.spool.connection
            db.execute("CREATE TABLE rules (key TEXT PRIMARY KEY, pref INTEGER, head TEXT, rev INTEGER, "
                       "position INTEGER)")
            node = msg_text(options.node)
            meta_node = _metadata_word(options.node)
            for position, (kind, value, indicator, vkey) in enumerate(live.rows()):
                found = rule_bodies(kind, value)
                if not found:
                    summary.skip(f"{kind} values with no rule (not an http/https URL)")
                micros = parse_to_micros(vkey) if vkey else None
                rev = max(1, (micros or 0) // 1_000_000) % MAX_SID
                for protocol, header, opts in found:
                    key = f"{kind}|{value}|{protocol}"
                    head = (f'{action} {header} (msg:"ACCORD {node} {protocol.upper()} {kind} {msg_text(value)}"; '
                            f"{opts}{' ' if opts else ''}"
                            f"metadata:accord_indicator {_metadata_word(indicator)}, accord_node {meta_node};")
                    db.execute("INSERT INTO rules VALUES (?, ?, ?, ?, ?)",
                               (key, _preferred_sid(key, base, size), head, rev, position))
            count = _assign_sids(db, base, size)
            out.write(f"# Suricata rules from Accord node {node}: {count} rules, sids {base}-{base + size - 1}\n"
                      .encode())
            query = "SELECT r.head, u.sid, r.rev FROM rules r JOIN used u ON u.key = r.key ORDER BY r.position, r.key"
            for head, sid, rev in db.execute(query):
                out.write(f"{head} sid:{sid}; rev:{rev};)\n".encode())
        return summary


def _assign_sids(db: sqlite3.Connection, base: int, size: int) -> int:
    """Give each rule its preferred sid, or the next free one after it (wrapping in the range),
    into table ``used``; rules are taken in (preferred sid, key) order, so the result does not
    depend on the order of the export. Returns the number of rules."""
    (count,) = db.execute("SELECT count(*) FROM rules").fetchone()
    if count > size:
        raise ConfigError(f"-O sid_range: {count} rules do not fit in {size} sids")
    db.execute("CREATE TABLE used (sid INTEGER PRIMARY KEY, key TEXT NOT NULL)")
    for key, pref in db.execute("SELECT key, pref FROM rules ORDER BY pref, key"):
        sid = pref
        while not db.execute("INSERT OR IGNORE INTO used VALUES (?, ?)", (sid, key)).rowcount:
            sid = base + (sid - base + 1) % size
    db.execute("CREATE INDEX used_key ON used (key)")
    return int(count)


def register(registry: FormatRegistry) -> None:
    registry.add_exporter(SuricataExporter())
