"""Observable values for the lookup index: which (index type, value) pairs an object carries.

The index answers "where have we seen this IP / domain / hash?", so every value goes through
``normalise`` on the way in and on the way to a query, and two spellings of one observable
meet on one row. Index types are the SCO type for observables with one identifying value and
``type:property`` where an SCO has several (files, certificates):

    ipv4-addr  ipv6-addr  domain-name  url  email-addr  mac-addr  autonomous-system  mutex
    windows-registry-key  user-account  file:name  x509-certificate:serial_number
    {file,artifact,x509-certificate}:hashes.<ALGORITHM>   (ALGORITHM as ``hash_algorithm`` names it)

``observables_of`` runs on every ingested object, so objects that carry nothing pay one dict
lookup, and the common values (dotted-quad IPv4, ASCII domains, hex hashes) avoid ``ipaddress``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from typing import Any

Pair = tuple[str, str]

# Spellings seen in the wild (sha256, SHA_256, 'SHA-256') meet on the STIX 2.1 vocabulary name,
# keyed by the name upper-cased with separators removed.
_HASH_NAMES = {
    "MD5": "MD5",
    "SHA1": "SHA-1",
    "SHA224": "SHA-224",
    "SHA256": "SHA-256",
    "SHA384": "SHA-384",
    "SHA512": "SHA-512",
    "SHA3224": "SHA3-224",
    "SHA3256": "SHA3-256",
    "SHA3384": "SHA3-384",
    "SHA3512": "SHA3-512",
    "RIPEMD160": "RIPEMD-160",
    "WHIRLPOOL": "WHIRLPOOL",
    "SSDEEP": "SSDEEP",
    "TLSH": "TLSH",
}
# Hex digest lengths of the fixed-size algorithms: a value of another length is not that hash.
_HEX_LENGTHS = {
    "MD5": 32,
    "SHA-1": 40,
    "SHA-224": 56,
    "SHA-256": 64,
    "SHA-384": 96,
    "SHA-512": 128,
    "SHA3-224": 56,
    "SHA3-256": 64,
    "SHA3-384": 96,
    "SHA3-512": 128,
    "RIPEMD-160": 40,
    "WHIRLPOOL": 128,
}
_HEX = re.compile(r"[0-9a-fA-F]+")
_TLSH = re.compile(r"(?:[tT]1)?[0-9a-fA-F]{70}(?:[0-9a-fA-F]{2})?")
_DIGEST_LENGTHS = frozenset(_HEX_LENGTHS.values()) | {70, 72, 74}  # TLSH: 70 or 72 digits, maybe after "T1"
_HASH_OWNERS = ("file", "artifact", "x509-certificate")

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
# A plain dotted quad is already canonical; only other spellings need ipaddress (~10x slower).
_IPV4_PLAIN = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")
_LABEL = r"[a-z0-9_-]{1,63}"
# Underscores and edge hyphens break RFC 952 but appear in real malicious names (_dmarc, -x.tk);
# an all-digit last label would make "1.2.3.4" a domain, so the TLD must hold a non-digit.
_DOMAIN = re.compile(rf"(?:{_LABEL}\.)*[a-z0-9_-]*[a-z_-][a-z0-9_-]*")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
_MAC = re.compile(
    r"([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})"
    r"(?:[:-]([0-9a-f]{2})[:-]([0-9a-f]{2}))?"
)
_MAC_BARE = re.compile(r"[0-9a-f]{12}")
_ASN = re.compile(r"(?:AS)?([0-9]{1,10})", re.IGNORECASE)


def hash_algorithm(name: str) -> str:
    """The vocabulary name of a hash algorithm (``sha256`` -> ``SHA-256``); unknown names upper-cased."""
    key = name.upper().replace("-", "").replace("_", "").replace(" ", "")
    return _HASH_NAMES.get(key, name.upper())


def _ipv4(value: str) -> str | None:
    if _IPV4_PLAIN.fullmatch(value):
        return value
    return _ip(value, 4)


def _ip(value: str, version: int) -> str | None:
    value = value.strip()
    try:
        if "/" not in value:
            addr = ipaddress.ip_address(value)
            return addr.compressed if addr.version == version else None
        net = ipaddress.ip_network(value, strict=False)
    except ValueError:
        return None
    if net.version != version:
        return None
    # A single-host network is the address itself; the index must not hold both spellings.
    if net.prefixlen == net.max_prefixlen:
        return net.network_address.compressed
    return net.compressed


def _ipv6(value: str) -> str | None:
    return _ip(value, 6)


def _domain(value: str) -> str | None:
    value = value.strip().rstrip(".")
    if not value.isascii():
        try:
            # Punycode is the one spelling DNS (and most feeds) use; the stdlib codec also case-folds.
            value = value.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    value = value.lower()
    if len(value) > 253 or not _DOMAIN.fullmatch(value):
        return None
    return value


def _url(value: str) -> str | None:
    value = value.strip()
    scheme, sep, rest = value.partition(":")
    if not sep or not _SCHEME.fullmatch(scheme) or not rest:
        return None
    if not rest.startswith("//"):
        return f"{scheme.lower()}:{rest}"
    end = len(rest)
    for stop in "/?#":
        at = rest.find(stop, 2)
        if at != -1 and at < end:
            end = at
    authority, tail = rest[2:end], rest[end:]
    # Only the host is case-insensitive; user info, path and query keep their case.
    userinfo, at_sign, hostport = authority.rpartition("@")
    return f"{scheme.lower()}://{userinfo}{at_sign}{hostport.lower()}{tail}"


def _email(value: str) -> str | None:
    value = value.strip()
    local, at_sign, domain = value.rpartition("@")
    if not at_sign or not local or any(c.isspace() for c in local):
        return None
    if domain.startswith("[") and domain.endswith("]"):  # address literal, e.g. user@[192.0.2.1]
        host: str | None = domain.lower()
    else:
        host = _domain(domain)
    return None if host is None else f"{local.lower()}@{host}"


def _mac(value: str) -> str | None:
    value = value.strip().lower()
    m = _MAC.fullmatch(value)
    if m is not None:
        return ":".join(g for g in m.groups() if g is not None)
    bare = value.replace(".", "")  # Cisco style 0011.2233.4455
    if _MAC_BARE.fullmatch(bare) and (bare == value or len(value) == 14):
        return ":".join(bare[i : i + 2] for i in range(0, 12, 2))
    return None


def _asn(value: str) -> str | None:
    m = _ASN.fullmatch(value.strip())
    if m is None or int(m.group(1)) > 0xFFFFFFFF:
        return None
    return str(int(m.group(1)))


def _opaque(value: str) -> str | None:
    # Names, user ids and mutexes are case-sensitive and may carry meaningful spaces: keep as is.
    return value if value else None


def _registry_key(value: str) -> str | None:
    # Windows compares registry paths case-insensitively; so does the index.
    return value.lower() if value else None


def _serial(value: str) -> str | None:
    value = value.strip().lower()
    return value if value else None


def _hash(algorithm: str, value: str) -> str | None:
    value = value.strip()
    length = _HEX_LENGTHS.get(algorithm)
    if length is not None:
        return value.lower() if len(value) == length and _HEX.fullmatch(value) else None
    if algorithm == "SSDEEP":  # base64 alphabet: case matters
        return value if value and not any(c.isspace() for c in value) else None
    if algorithm == "TLSH":
        return value.lower() if _TLSH.fullmatch(value) else None
    if not value:
        return None
    return value.lower() if _HEX.fullmatch(value) else value


_NORMALISERS: dict[str, Callable[[str], str | None]] = {
    "ipv4-addr": _ipv4,
    "ipv6-addr": _ipv6,
    "domain-name": _domain,
    "url": _url,
    "email-addr": _email,
    "mac-addr": _mac,
    "autonomous-system": _asn,
    "mutex": _opaque,
    "windows-registry-key": _registry_key,
    "user-account": _opaque,
    "file:name": _opaque,
    "x509-certificate:serial_number": _serial,
}


def normalise(index_type: str, value: str) -> str | None:
    """The canonical spelling of ``value`` as an ``index_type``, or None if it is not one.

    Raises ValueError for an index type this module does not define (a caller's bug).
    """
    fn = _NORMALISERS.get(index_type)
    if fn is not None:
        return fn(value) if isinstance(value, str) else None
    owner, sep, algorithm = index_type.partition(":hashes.")
    if sep and owner in _HASH_OWNERS and algorithm:
        return _hash(algorithm, value) if isinstance(value, str) else None
    raise ValueError(f"unknown observable index type {index_type!r}")


def address_pair(value: str) -> Pair | None:
    """Classify a value whose SCO type is unknown (a pattern's ``dst_ref.value``) by its form."""
    if ":" in value:
        v6 = _ipv6(value)
        return None if v6 is None else ("ipv6-addr", v6)
    v4 = _ipv4(value)
    if v4 is not None:
        return ("ipv4-addr", v4)
    domain = _domain(value)
    return None if domain is None else ("domain-name", domain)


def _add(out: list[Pair], index_type: str, value: object) -> None:
    if isinstance(value, int) and not isinstance(value, bool) and index_type == "autonomous-system":
        value = str(value)
    if not isinstance(value, str):
        return
    norm = normalise(index_type, value)
    if norm is not None and (index_type, norm) not in out:
        out.append((index_type, norm))


# Index type per (owner, hash name as written): a feed spells its hash names one or two ways.
_hash_index_types: dict[tuple[str, str], str] = {}


def _add_hashes(out: list[Pair], owner: str, hashes: object) -> None:
    if isinstance(hashes, Mapping):
        for name, value in hashes.items():
            if isinstance(name, str):
                index_type = _hash_index_types.get((owner, name))
                if index_type is None:
                    if len(_hash_index_types) >= 1024:
                        _hash_index_types.clear()
                    index_type = _hash_index_types[owner, name] = f"{owner}:hashes.{hash_algorithm(name)}"
                _add(out, index_type, value)


def _value_of(index_type: str, prop: str) -> Callable[[Mapping[str, Any]], list[Pair]]:
    def extract(obj: Mapping[str, Any]) -> list[Pair]:
        out: list[Pair] = []
        _add(out, index_type, obj.get(prop))
        return out

    return extract


def _file(obj: Mapping[str, Any]) -> list[Pair]:
    out: list[Pair] = []
    _add_hashes(out, "file", obj.get("hashes"))
    _add(out, "file:name", obj.get("name"))
    return out


def _artifact(obj: Mapping[str, Any]) -> list[Pair]:
    out: list[Pair] = []
    _add_hashes(out, "artifact", obj.get("hashes"))
    return out


def _certificate(obj: Mapping[str, Any]) -> list[Pair]:
    out: list[Pair] = []
    _add_hashes(out, "x509-certificate", obj.get("hashes"))
    _add(out, "x509-certificate:serial_number", obj.get("serial_number"))
    return out


def _indicator(obj: Mapping[str, Any]) -> list[Pair]:
    pattern = obj.get("pattern")
    # STIX 2.0 indicators have no pattern_type; their patterns are STIX patterns.
    if not isinstance(pattern, str) or obj.get("pattern_type", "stix") != "stix":
        return []
    global _pattern_observables
    if _pattern_observables is None:
        # patterns.py imports this module for normalise; importing it here breaks the cycle. An
        # import statement costs about a microsecond even when cached, so it runs once.
        from accord.stix.patterns import pattern_observables

        _pattern_observables = pattern_observables
    return _pattern_observables(pattern)


_pattern_observables: Callable[[str], list[Pair]] | None = None


_EXTRACTORS: dict[str, Callable[[Mapping[str, Any]], list[Pair]]] = {
    "ipv4-addr": _value_of("ipv4-addr", "value"),
    "ipv6-addr": _value_of("ipv6-addr", "value"),
    "domain-name": _value_of("domain-name", "value"),
    "url": _value_of("url", "value"),
    "email-addr": _value_of("email-addr", "value"),
    "mac-addr": _value_of("mac-addr", "value"),
    "autonomous-system": _value_of("autonomous-system", "number"),
    "mutex": _value_of("mutex", "name"),
    "windows-registry-key": _value_of("windows-registry-key", "key"),
    "user-account": _value_of("user-account", "user_id"),
    "file": _file,
    "artifact": _artifact,
    "x509-certificate": _certificate,
    "indicator": _indicator,
}


def observables_of(obj: Mapping[str, Any]) -> list[Pair]:
    """The deduplicated (index type, value) pairs an SCO or a STIX-pattern indicator carries."""
    stix_type = obj.get("type")
    extract = _EXTRACTORS.get(stix_type) if isinstance(stix_type, str) else None
    return [] if extract is None else extract(obj)


# What a person may mean by a bare value: tried in this order by lookup_pairs. Opaque names
# (mutex, user account, file name) are left out: every word would match them.
_LOOKUP_TYPES = ("ipv4-addr", "ipv6-addr", "domain-name", "url", "email-addr", "mac-addr", "autonomous-system")


_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def _candidates(stripped: str) -> list[str]:
    """The lookup types whose normaliser may accept ``stripped``, in ``_LOOKUP_TYPES`` order.

    Each test is a necessary condition of its normaliser, so a type left out is one that would
    have refused the value anyway (tests/stix/test_observables.py checks this on random text);
    one pass over the value for every type, since a bulk lookup classifies 10,000 values."""
    first = stripped[:1]
    dot, colon = "." in stripped, ":" in stripped
    out = []
    if dot and first.isdigit():
        out.append("ipv4-addr")
    if colon and (first == ":" or first in _HEX_DIGITS) and "//" not in stripped:
        out.append("ipv6-addr")
    if dot or not stripped.isascii():
        out.append("domain-name")
    if colon:
        out.append("url")
    if "@" in stripped:
        out.append("email-addr")
    length = len(stripped)
    if length in (12, 14, 17, 23):
        out.append("mac-addr")
    if length <= 12 and first in "0123456789aA":
        out.append("autonomous-system")
    return out


def lookup_pairs(value: str) -> list[Pair]:
    """Every (index type, normalised value) a typed-in value could stand for: the keys under which
    the observable index holds it, whatever SCO or hash the producer recorded it as."""
    stripped = value.strip()
    # The commonest value of a bulk lookup, already in its one spelling: a dotted quad is never
    # a domain (its last label is all digits), a URL, an e-mail, a MAC or an AS number.
    if _IPV4_PLAIN.fullmatch(stripped):
        return [("ipv4-addr", stripped)]
    pairs: list[Pair] = []
    # Cheap guards that only skip what cannot parse (a failed ipaddress parse costs ~5 us and
    # bulk lookups try 10,000 values at once); each is a necessary condition of its normaliser.
    for index_type in _candidates(stripped):
        found = _NORMALISERS[index_type](value)
        # A bare word is a valid domain name (a TLD or an intranet host), but nobody means one.
        if found is not None and not (index_type == "domain-name" and "." not in found):
            pairs.append((index_type, found))
    if len(stripped) in _DIGEST_LENGTHS:
        tlsh = _TLSH.fullmatch(stripped) is not None
        if tlsh or _HEX.fullmatch(stripped):
            digest = stripped.lower()
            pairs.extend((index_type, digest) for index_type in _DIGEST_TYPES.get(len(stripped), ()))
            if tlsh:
                pairs.extend((index_type, digest) for index_type in _TLSH_TYPES)
    return list(dict.fromkeys(pairs)) if len(pairs) > 1 else pairs


# The index types a hex digest of each length may be filed under: every algorithm of that
# length, for each type of object that carries hashes (made once: a bulk lookup of digests
# would otherwise format these names for every value).
_DIGEST_TYPES = {
    length: tuple(f"{owner}:hashes.{algorithm}" for algorithm, size in _HEX_LENGTHS.items() if size == length
                  for owner in _HASH_OWNERS)
    for length in set(_HEX_LENGTHS.values())
}
_TLSH_TYPES = tuple(f"{owner}:hashes.TLSH" for owner in _HASH_OWNERS)
