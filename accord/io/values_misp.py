"""MISP attribute types and cell spellings as Accord's kinds of bare values.

MISP names what an attribute holds with a type (MISP core format, draft-dulaunoy-misp-core-format
section 2.3, and the ``describeTypes.json`` that PyMISP ships); Accord names it with a kind of
accord/io/indicators.py. This module maps the types that carry a value a defender can match on
(addresses, names, hashes, URLs, e-mail addresses) to kinds, splits the composite types
(``domain|ip``, ``ip-dst|port``, ``filename|sha256``), undoes the usual defanging
(``evil[.]example``, ``hxxp://``) and reads the date spellings of MISP's CSV exports. Types MISP
knows that name no such value (``text``, ``yara``, ``link``...) are reported as unmapped, types
it does not know at all as unknown.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from accord.io.indicators import KINDS, Kind, canonical

# MISP type -> Accord kind; "ip" is decided per value (IPv4 or IPv6).
SIMPLE_TYPES: dict[str, str] = {
    "ip-src": "ip", "ip-dst": "ip", "domain": "domain", "hostname": "domain", "url": "url",
    "email": "email", "email-src": "email", "email-dst": "email", "email-reply-to": "email",
    "md5": "md5", "sha1": "sha1", "sha256": "sha256", "sha512": "sha512",
    "filename": "filename", "mutex": "mutex", "mac-address": "mac",
}
# Composite types: the kinds of the halves, None for a half that is context, not a value to match
# (a port narrows an address but a blocklist or a pattern on the address is what defenders use).
COMPOSITE_TYPES: dict[str, tuple[str | None, str | None]] = {
    "domain|ip": ("domain", "ip"),
    "ip-dst|port": ("ip", None), "ip-src|port": ("ip", None), "hostname|port": ("domain", None),
    "filename|md5": (None, "md5"), "filename|sha1": (None, "sha1"),
    "filename|sha256": (None, "sha256"), "filename|sha512": (None, "sha512"),
}
# The second half's role when it is context: it goes into the indicator's name or description.
_CONTEXT = {"port": "port", "filename": "file name"}
_NETWORK = frozenset({"ip", "ipv4", "ipv6", "domain", "url", "email"})

_DEFANGED: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\[\.\]|\(\.\)|\{\.\}|\[dot\]|\(dot\)", re.IGNORECASE), "."),
    (re.compile(r"\[@\]|\(@\)|\[at\]|\(at\)", re.IGNORECASE), "@"),
    (re.compile(r"\[://\]"), "://"),
    (re.compile(r"\[:\]"), ":"),
    (re.compile(r"^hxxp(?=s?:)", re.IGNORECASE), "http"),
    (re.compile(r"^fxp(?=s?:)", re.IGNORECASE), "ftp"),
]


@dataclass(frozen=True)
class Part:
    """One value to match, read out of a (possibly composite) attribute."""

    kind: Kind
    value: str  # canonical, as the observable index spells it
    context: str | None = None  # "port 443", "file name a.exe": for the indicator's description


class ValueProblem(ValueError):
    """A cell whose value does not fit its type; the message says why."""


def refang(value: str) -> str:
    """``value`` with the common defanging undone (``[.]``, ``(dot)``, ``[@]``, ``hxxp``...)."""
    for pattern, repl in _DEFANGED:
        value = pattern.sub(repl, value)
    return value


def _kind_for(name: str, value: str) -> Kind:
    if name == "ip":
        return KINDS["ipv6"] if ":" in value else KINDS["ipv4"]
    return KINDS[name]


def canonical_value(name: str, raw: str) -> Part:
    """The canonical value of ``raw`` read as kind ``name`` (or ``ip``), refanged if it has to be."""
    raw = raw.strip()
    # Defanging only ever hides network values; file names and mutexes are taken as written.
    candidates = [refang(raw), raw] if name in _NETWORK else [raw, raw]
    if name == "url":
        # MISP's url attributes often leave out the scheme ("evil.example/x"): web URLs, if what
        # comes before the first "/" is a host.
        host = candidates[0].split("/", 1)[0]
        if "//" not in candidates[0] and "." in host and (canonical(KINDS["domain"], host)
                                                          or canonical(KINDS["ipv4"], host)):
            candidates.append("http://" + candidates[0])
    for candidate in candidates:
        kind = _kind_for(name, candidate)
        value = canonical(kind, candidate)
        if value is not None:
            return Part(kind, value)
    what = "IP address" if name == "ip" else kind.name + (" hash" if kind.hash_algorithm else "")
    raise ValueProblem(f"{raw[:80]!r} is not a valid {what}")


def is_mappable(type_name: str) -> bool:
    """Whether ``type_name`` (a MISP type or an Accord kind) names values this module reads."""
    return type_name in SIMPLE_TYPES or type_name in COMPOSITE_TYPES or type_name in KINDS or type_name == "ip"


def parts(type_name: str, raw: str) -> list[Part]:
    """The values to match in a cell of type ``type_name`` (a MISP type or an Accord kind name).

    Raises ValueProblem when the cell does not hold what its type says; callers check
    ``is_mappable`` first.
    """
    if type_name in COMPOSITE_TYPES:
        first, sep, second = raw.partition("|")
        if not sep or not first.strip() or not second.strip():
            raise ValueProblem(f"{raw[:80]!r} is not two values joined by '|' as type {type_name!r} needs")
        kinds = COMPOSITE_TYPES[type_name]
        out = [canonical_value(k, half) for k, half in zip(kinds, (first, second), strict=True) if k is not None]
        context_half = first if kinds[0] is None else second if kinds[1] is None else None
        if context_half is None:
            return out
        label = _CONTEXT["filename" if kinds[0] is None else "port"]
        return [Part(p.kind, p.value, f"{label} {context_half.strip()}") for p in out]
    return [canonical_value(SIMPLE_TYPES.get(type_name, type_name), raw)]


@functools.cache
def misp_types() -> frozenset[str]:
    """Every attribute type MISP defines, from PyMISP's describeTypes.json (read without importing
    PyMISP, whose import is slow)."""
    spec = importlib.util.find_spec("pymisp")
    if spec is None or not spec.submodule_search_locations:
        return frozenset(SIMPLE_TYPES) | frozenset(COMPOSITE_TYPES)
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "describeTypes.json"
    types: list[str] = json.loads(path.read_text(encoding="utf-8"))["result"]["types"]
    return frozenset(types)


_EPOCH = re.compile(r"[0-9]{9,11}")
_DAY = re.compile(r"([0-9]{4})-?([0-9]{2})-?([0-9]{2})")


def stix_time(text: str) -> str | None:
    """A STIX timestamp (UTC, millisecond precision) from the date spellings of MISP exports:
    ``20151016`` (short CSV export), ``1418217066`` (epoch seconds, full export), ``2015-10-16``
    and ISO 8601 with an offset; None when ``text`` is none of these."""
    text = text.strip()
    try:
        if _EPOCH.fullmatch(text):
            moment = datetime.fromtimestamp(int(text), UTC)
        elif m := _DAY.fullmatch(text):
            moment = datetime(int(m[1]), int(m[2]), int(m[3]), tzinfo=UTC)
        else:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError, OSError):
        return None
    if not 1970 <= moment.year <= 9999:
        return None
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"
