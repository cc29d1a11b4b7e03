"""STIX 2.1 patterns: syntax check with a fast path, and the observables a pattern names.

``stix2-patterns`` is the reference for what a valid pattern is, but its ANTLR parser costs
hundreds of microseconds per pattern, far over the ingest budget. Almost every real pattern is
a few ``[type:path op literal]`` comparisons, so a recogniser built from anchored regexes accepts
those in a few microseconds and hands everything else to the reference. The recogniser only
ever says "valid" or "don't know": whatever it is unsure of (comments, unusual spacing, EXISTS,
hash values the reference would check) is deferred, never rejected. tests/stix/test_patterns.py
holds it equal to the reference on every real pattern we have and on generated ones.

Reference behaviours the fast path mirrors (learnt from its grammar and validator):
- tokens follow ANTLR's longest match: keywords and ``true``/``false`` are reserved, an
  identifier swallows a touching keyword (``trueAND``), so we require spaces around words;
- property names have no unquoted hyphen; object types may;
- after parsing, every comparison on a path containing ``hashes`` has its literal checked
  against a per-algorithm regex (``HASH_RULES`` below restates those we accept without it);
- a qualifier type may not repeat directly on one ``[...]`` observation;
- it crashes (so never confirms) on negative indexes, on ``hashes[0]``-style selectors and on
  deep nesting or very long chains: the fast path defers those too (see the caps below).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from accord.stix.observables import Pair, address_pair, hash_algorithm, normalise

_W = r"[ \t\r\n]"  # ANTLR's WS set is wider; other spaces are rare and simply deferred
_STR = r"'(?:[^'\\]|\\['\\])*+'"
_TS = (
    r"t'[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
    r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:(?:[0-5][0-9]|60)(?:\.[0-9]+)?Z'"
)
_B64 = "[A-Za-z0-9+/]"
_BIN = rf"b'(?:{_B64}{{4}})*(?:{_B64}{{4}}|{_B64}{{3}}=|{_B64}{{2}}==)'"
_HEXLIT = r"h'(?:[0-9A-Fa-f]{2})*+'"
# Float before int: of two readings of "1.5" only the longer is what the lexer produces.
_NUM = r"[+-]?(?:[0-9]*\.[0-9]+|0|[1-9][0-9]*)"
_POSNUM = r"\+?(?:[0-9]*\.[0-9]+|0|[1-9][0-9]*)"
_KEYWORDS = (
    "AND|OR|NOT|FOLLOWEDBY|LIKE|MATCHES|ISSUPERSET|ISSUBSET|EXISTS|LAST|IN|START|STOP"
    "|SECONDS|true|false|WITHIN|REPEATS|TIMES"
)
# A literal must end where the lexer's token ends: the next character cannot extend it.
_ORDERABLE = rf"(?:{_STR}|{_TS}|{_HEXLIT}|{_BIN}|{_NUM})(?=[ \t\r\n,)\]])"
_PRIM = rf"(?:{_STR}|{_TS}|{_HEXLIT}|{_BIN}|{_NUM}|true|false)(?=[ \t\r\n,)\]])"
_PROP = rf"(?!(?:{_KEYWORDS})(?![A-Za-z0-9_]))[A-Za-z_][A-Za-z0-9_]*+"
# The grammar allows [-1] but the reference's inspector crashes on it: never confirmed, so deferred.
_INDEX = r"\[(?:\+?(?:0|[1-9][0-9]*+)|\*)\]"

_TYPE = rf"(?!(?:{_KEYWORDS})(?![A-Za-z0-9_-]))[A-Za-z_][A-Za-z0-9_-]*+"

# One comparison, with any "(" before it and ")" after it inside the brackets.
_COMPARISON = re.compile(
    rf"(?P<open>(?:\({_W}*+)*+)"
    rf"(?P<type>{_TYPE}):"
    rf"(?P<path>(?:{_PROP}|{_STR})(?:\.(?:{_PROP}|{_STR})|{_INDEX})*+)"
    rf"(?P<not>{_W}++NOT)?"
    # (?(eq)...): equality takes any literal, order comparisons (< > <= >=) not true/false.
    rf"(?:{_W}*+(?P<op>(?P<eq>==?|!=|<>)|<=?|>=?){_W}*+(?P<lit>(?(eq){_PRIM}|{_ORDERABLE}))"
    rf"|{_W}++(?P<setop>IN){_W}*+(?P<set>\({_W}*+(?:{_PRIM}(?:{_W}*+,{_W}*+{_PRIM})*+)?{_W}*+\))"
    rf"|{_W}++(?P<strop>LIKE|MATCHES|ISSUBSET|ISSUPERSET){_W}*+(?P<str>{_STR}))"
    rf"(?P<close>(?:{_W}*+\))*+)"
)
_WITHIN = rf"{_W}++WITHIN{_W}++{_POSNUM}{_W}++SECONDS"
_REPEATS = rf"{_W}++REPEATS{_W}++\+?(?:0|[1-9][0-9]*+){_W}++TIMES"
_STARTSTOP = rf"{_W}++START{_W}++{_TS}{_W}++STOP{_W}++{_TS}"
# Every order of at most one qualifier of each kind: the reference refuses a repeated kind.
_QUALIFIERS = (
    rf"(?:(?:{_WITHIN})(?:(?:{_REPEATS})(?:{_STARTSTOP})?|(?:{_STARTSTOP})(?:{_REPEATS})?)?"
    rf"|(?:{_REPEATS})(?:(?:{_WITHIN})(?:{_STARTSTOP})?|(?:{_STARTSTOP})(?:{_WITHIN})?)?"
    rf"|(?:{_STARTSTOP})(?:(?:{_WITHIN})(?:{_REPEATS})?|(?:{_REPEATS})(?:{_WITHIN})?)?)?"
)
_OPEN_OBSERVATION = rf"(?P<oopen>(?:\({_W}*+)*+)\[{_W}*+"
_START = re.compile(rf"{_W}*+{_OPEN_OBSERVATION}")
# What may follow a comparison: another one in the same brackets, or the end of the brackets,
# its qualifiers and closing parentheses, then the next observation or the end of the pattern.
_AFTER = re.compile(
    rf"{_W}++(?P<cop>AND|OR){_W}++"
    rf"|{_W}*+\]{_QUALIFIERS}(?P<oclose>(?:{_W}*+\){_QUALIFIERS})*+)"
    rf"(?:{_W}++(?P<oop>AND|OR|FOLLOWEDBY){_W}++{_OPEN_OBSERVATION}|{_W}*+\Z)"
)
# Nine real patterns in ten are one equality on a plain path: ``[ipv4-addr:value = '1.2.3.4']``.
# _fast_comparisons takes that shape apart with string methods (a regex costs ~10 ns a character
# here, and literals are long) and matches only the part before " = " against _HEAD, remembering
# the verdict: real feeds use a handful of distinct heads. _HEAD is built from the same type,
# property and string fragments as _COMPARISON, narrowed (no parentheses, indexes or escapes),
# and the literal must be free of quotes and backslashes, so what this accepts the general loop
# accepts too, with the same single comparison; tests/stix/test_patterns.py checks that.
_PLAIN_COMPONENT = rf"(?:{_PROP}|'[^'\\]*+')"
_HEAD = re.compile(rf"(?P<type>{_TYPE}):(?P<path>{_PLAIN_COMPONENT}(?:\.{_PLAIN_COMPONENT})*+)")
_COMPONENT = re.compile(r"\.?(?:([A-Za-z_][A-Za-z0-9_]*)|'((?:[^'\\]|\\['\\])*)')|\[([^\]]*)\]")
_LITERAL = re.compile(rf"{_STR}|[^,()\s]+")
_UNESCAPE = re.compile(r"\\(['\\])")

# Hash selectors the reference checks (upper-cased, '-' and quotes removed) and the values it
# takes for them. A selector it checks that is missing here (MD6, whose rule is irregular) defers.
HASH_RULES: dict[str, re.Pattern[str]] = {
    name: re.compile(rule)
    for names, rule in (
        (("MD5",), r"[a-fA-F0-9]{32}"),
        (("SHA1", "RIPEMD160"), r"[a-fA-F0-9]{40}"),
        (("SHA224", "SHA3224"), r"[a-fA-F0-9]{56}"),
        (("SHA256", "SHA3256"), r"[a-fA-F0-9]{64}"),
        (("SHA384", "SHA3384"), r"[a-fA-F0-9]{96}"),
        (("SHA512", "SHA3512", "WHIRLPOOL"), r"[a-fA-F0-9]{128}"),
        (("SSDEEP",), r"[a-zA-Z0-9/+:.]{1,128}"),
    )
    for name in names
}
HASH_DEFERRED = frozenset({"MD6"})

# The reference's parser and tree walker recurse: past ~240 nested parentheses or ~980 chained
# comparisons it raises RecursionError (less when called deep in a stack). Staying far below
# keeps "the fast path accepts" within "the reference could have confirmed it".
_MAX_COMPARISONS = 200
_MAX_DEPTH = 32
_MAX_REASON = 200  # characters of the reference's message kept in a problem

# (type, path text, operator with any "NOT ", literal or set text) of one comparison.
Comparison = tuple[str, str, str, str]
# A path as components: key names, int indexes, None for [*].
Path = tuple[str | int | None, ...]


# Ingest asks twice about each indicator's pattern, once to validate it and once to index its
# observables; remembering the last answer halves the cost. A tuple swap is atomic, so threads
# at worst recompute. Callers must not mutate the returned list.
_last_fast: tuple[str | None, list[Comparison] | None] = (None, None)


def fast_comparisons(pattern: str) -> list[Comparison] | None:
    """The comparisons of a pattern the fast path is certain is valid, or None to defer."""
    global _last_fast
    last_pattern, last_result = _last_fast
    if last_pattern is pattern:
        return last_result
    result = _fast_comparisons(pattern)
    _last_fast = (pattern, result)
    return result


def _fast_comparisons(pattern: str) -> list[Comparison] | None:
    # "[" head " = '" literal "']": a valid head holds no " = '" (identifiers have no spaces and
    # quoted names no quotes), so the first one found is the separator.
    if pattern.startswith("[") and pattern.endswith("']"):
        at = pattern.find(" = '")
        if at > 0 and len(pattern) >= at + 6:
            literal = pattern[at + 3 : -1]
            # It starts and ends with a quote (checked above), and holds no other.
            if literal.count("'") == 2 and "\\" not in literal:
                head = _single_head(pattern[1:at])
                if head is not None:
                    stype, path = head
                    # The same hash check as the loop below; failing it, the loop would defer too.
                    if "hashes" in path and not _hash_checks_pass(path, literal):
                        return None
                    return [(stype, path, "=", literal)]
    return _general_comparisons(pattern)


_heads: dict[str, tuple[str, str] | None] = {}
_UNSEEN: tuple[str, str] = ("", "")  # a sentinel no real head maps to (its type would be empty)


def _single_head(head: str) -> tuple[str, str] | None:
    """(type, path) when ``head`` is a plain ``type:path``, else None; remembered."""
    known = _heads.get(head, _UNSEEN)
    if known is not _UNSEEN:
        return known
    m = _HEAD.fullmatch(head)
    found = None if m is None else (m["type"], m["path"])
    if len(_heads) >= _PATH_CACHE_LIMIT:
        _heads.clear()
    _heads[head] = found
    return found


def _general_comparisons(pattern: str) -> list[Comparison] | None:
    m = _START.match(pattern)
    if m is None:
        return None
    depth = m.group("oopen").count("(")  # observation-level parentheses still open
    if depth > _MAX_DEPTH:
        return None
    pos = m.end()
    found: list[Comparison] = []
    nesting = 0  # comparison-level parentheses inside the current brackets
    while True:
        c = _COMPARISON.match(pattern, pos)
        if c is None:
            return None
        opened, stype, path, negated, op, _, lit, setop, set_text, strop, string, closed = c.groups()
        if opened:
            nesting += opened.count("(")
            if depth + nesting > _MAX_DEPTH:
                return None
        if closed:
            nesting -= closed.count(")")
            if nesting < 0:
                return None
        op = op or setop or strop
        value = lit or set_text or string
        if "hashes" in path and not _hash_checks_pass(path, value):
            return None
        found.append((stype, path, f"NOT {op}" if negated else op, value))
        if len(found) > _MAX_COMPARISONS:
            return None
        a = _AFTER.match(pattern, c.end())
        if a is None:
            return None
        pos = a.end()
        if a.group("cop") is not None:
            continue
        if nesting:
            return None
        depth -= a.group("oclose").count(")")
        if depth < 0:
            return None
        if a.group("oop") is None:
            return found if depth == 0 else None
        depth += a.group("oopen").count("(")
        if depth > _MAX_DEPTH:
            return None


# Real patterns use a handful of distinct paths, so their split forms (and what hinges on them:
# the hash rule, the index type) are remembered; each cache is emptied when full, which bounds
# what hostile input can pin.
_PATH_CACHE_LIMIT = 4096
_split_paths: dict[str, Path] = {}


def split_path(path: str) -> Path:
    """Components of an object path's text after the colon, e.g. ``hashes.'SHA-256'``."""
    parts = _split_paths.get(path)
    if parts is None:
        if len(_split_paths) >= _PATH_CACHE_LIMIT:
            _split_paths.clear()
        parts = _split_paths[path] = _split_path(path)
    return parts


def _split_path(path: str) -> Path:
    parts: list[str | int | None] = []
    for key, quoted, index in _COMPONENT.findall(path):
        if key:
            parts.append(key)
        elif index:
            parts.append(None if index == "*" else int(index))
        else:
            parts.append(_UNESCAPE.sub(r"\1", quoted))
    return tuple(parts)


def _hash_checks_pass(path: str, value: str) -> bool:
    """Whether the reference's hash-value check surely passes for this comparison."""
    rule = _hash_rules.get(path)
    if rule is None:
        if len(_hash_rules) >= _PATH_CACHE_LIMIT:
            _hash_rules.clear()
        rule = _hash_rules[path] = _hash_rule(path)
    if rule is True or rule is False:
        return rule
    if isinstance(rule, int):
        # A fixed number of hex digits, checked with string methods: strip leaves nothing
        # exactly when every character is a hex digit (the rule's [a-fA-F0-9]).
        return value[0] == "'" and len(value) == rule + 2 and not value[1:-1].strip(_HEX_DIGITS)
    return value[0] == "'" and rule.fullmatch(value, 1, len(value) - 1) is not None


_HEX_DIGITS = "0123456789abcdefABCDEF"
_HEX_RULE = re.compile(r"\[a-fA-F0-9\]\{(\d+)\}")  # the form of the fixed-length HASH_RULES

# Per path text: True (no value check applies), False (defer), the number of hex digits the
# value must be, or the regex it must match.
_hash_rules: dict[str, re.Pattern[str] | int | bool] = {}


def _hash_rule(path: str) -> re.Pattern[str] | int | bool:
    if "\\" in path:  # escaped selector names: rare, leave the exact reading to the reference
        return False
    parts = split_path(path)
    if "hashes" not in parts:
        return True
    selector = parts[-1]
    if selector is None:
        return True
    if isinstance(selector, int):  # the reference fails on this shape; let it say so
        return False
    algorithm = selector.upper().replace("-", "").replace("'", "")
    rule = HASH_RULES.get(algorithm)
    if rule is None:
        return algorithm not in HASH_DEFERRED
    hex_rule = _HEX_RULE.fullmatch(rule.pattern)
    return rule if hex_rule is None else int(hex_rule[1])


def _reference_problem(pattern: str) -> str | None:
    from stix2patterns.validator import run_validator

    try:
        errors = run_validator(pattern, stix_version="2.1")
    except RecursionError:
        return "pattern is nested too deeply or too long to check"
    except Exception as exc:  # it crashes on a few shapes (e.g. hashes[0]); unconfirmed means refused
        return f"pattern cannot be checked ({type(exc).__name__})"
    if not errors:
        return None
    reason: str = errors[0].removeprefix("FAIL: ")
    # ANTLR quotes the offending input, which can be most of a long pattern.
    return reason if len(reason) <= _MAX_REASON else reason[: _MAX_REASON - 1] + "…"


def _reference_comparisons(pattern: str) -> tuple[tuple[str, Path, str, str], ...]:
    if pattern_problem(pattern) is not None:
        return ()
    from stix2patterns.inspector import INDEX_STAR
    from stix2patterns.v21.pattern import Pattern

    try:
        data: Any = Pattern(pattern).inspect()
    except Exception:  # valid for the validator but not the inspector: nothing to index
        return ()
    out: list[tuple[str, Path, str, str]] = []
    for stype, comparisons in data.comparisons.items():
        for parts, op, value in comparisons:
            path = tuple(None if p is INDEX_STAR else p for p in parts)
            out.append((stype, path, op, value))
    return tuple(out)


# Feeds repeat patterns, and a deferred one costs the reference's full parse each time. Only
# short patterns are kept, so the cache cannot pin megabytes of hostile input.
_CACHED_LENGTH = 2048
_cached_problem = lru_cache(maxsize=1024)(_reference_problem)
_cached_comparisons = lru_cache(maxsize=1024)(_reference_comparisons)


def pattern_problem(pattern: str) -> str | None:
    """None when ``pattern`` is a valid STIX 2.1 pattern, else a short reason."""
    if not isinstance(pattern, str):
        return "pattern is not a string"
    if fast_comparisons(pattern) is not None:  # it accepts nothing blank
        return None
    if not pattern.strip():
        return "pattern is empty"
    return (_cached_problem if len(pattern) <= _CACHED_LENGTH else _reference_problem)(pattern)


def reference_comparisons(pattern: str) -> tuple[tuple[str, Path, str, str], ...]:
    """The comparisons of a pattern as the reference's inspector reads them; () if invalid."""
    return (_cached_comparisons if len(pattern) <= _CACHED_LENGTH else _reference_comparisons)(pattern)


def _index_type(stype: str, path: Path) -> str | None:
    """Which index a comparison's value belongs to; "" means "an address, classify it"."""
    first = path[0]
    if len(path) == 1:
        return _SIMPLE_PATHS.get((stype, first))
    if first == "hashes" and len(path) == 2 and isinstance(path[1], str) and stype in _HASH_OWNERS:
        return f"{stype}:hashes.{hash_algorithm(path[1])}"
    if path[-1] != "value" or len(path) > 3 or (len(path) == 3 and isinstance(path[1], str)):
        return None
    return _REF_PATHS.get((stype, first))


_SIMPLE_PATHS: dict[tuple[str, str | int | None], str] = {
    ("ipv4-addr", "value"): "ipv4-addr",
    ("ipv6-addr", "value"): "ipv6-addr",
    ("domain-name", "value"): "domain-name",
    ("url", "value"): "url",
    ("email-addr", "value"): "email-addr",
    ("mac-addr", "value"): "mac-addr",
    ("autonomous-system", "number"): "autonomous-system",
    ("mutex", "name"): "mutex",
    ("windows-registry-key", "key"): "windows-registry-key",
    ("user-account", "user_id"): "user-account",
    ("file", "name"): "file:name",
    ("x509-certificate", "serial_number"): "x509-certificate:serial_number",
}
_HASH_OWNERS = frozenset({"file", "artifact", "x509-certificate"})
# Reference properties whose target type a pattern cannot state: "" = classify the value by form.
_REF_PATHS: dict[tuple[str, str | int | None], str] = {
    ("network-traffic", "src_ref"): "",
    ("network-traffic", "dst_ref"): "",
    ("domain-name", "resolves_to_refs"): "",
    ("email-message", "from_ref"): "email-addr",
    ("email-message", "sender_ref"): "email-addr",
    ("email-message", "to_refs"): "email-addr",
    ("email-message", "cc_refs"): "email-addr",
    ("email-message", "bcc_refs"): "email-addr",
}


def _values(op: str, literal: str, numbers: bool) -> list[str]:
    """The string values an ``=`` or ``IN`` comparison names (and integers, if ``numbers``)."""
    if op in ("=", "=="):
        texts = [literal]
    elif op == "IN":
        texts = _LITERAL.findall(literal[1:-1])
    else:
        return []
    values = []
    for text in texts:
        if text[0] == "'":
            values.append(_UNESCAPE.sub(r"\1", text[1:-1]) if "\\" in text else text[1:-1])
        elif numbers and text.isascii() and text.isdigit():  # autonomous-system:number = 15169
            values.append(text)
    return values


def pattern_observables(pattern: str) -> list[Pair]:
    """(index type, normalised value) pairs of the pattern's ``=`` and ``IN`` comparisons.

    AND, OR and FOLLOWEDBY all count: the index serves lookup, not evaluation. An invalid
    pattern names nothing.
    """
    if not isinstance(pattern, str):
        return []
    fast = fast_comparisons(pattern)
    if fast is not None:
        out: list[Pair] = []
        for stype, path_text, op, literal in fast:
            # The index type hangs on (type, path text) alone: remember it rather than re-derive.
            key = (stype, path_text)
            index_type = _index_types.get(key, _UNKNOWN)
            if index_type is _UNKNOWN:
                if len(_index_types) >= _PATH_CACHE_LIMIT:
                    _index_types.clear()
                path = split_path(path_text)
                index_type = _index_types[key] = _index_type(stype, path) if path else None
            if index_type is not None:
                _add_pairs(out, index_type, op, literal)
        return out
    if not pattern.strip():
        return []
    return observables_from(reference_comparisons(pattern))


_UNKNOWN = "?"  # not an index type (those are SCO type names, "" or type:property)
_index_types: dict[tuple[str, str], str | None] = {}


def observables_from(comparisons: Iterable[tuple[str, Path, str, str]]) -> list[Pair]:
    """The index pairs of comparisons given as (type, path components, operator, literal text)."""
    out: list[Pair] = []
    for stype, path, op, literal in comparisons:
        if not path or (index_type := _index_type(stype, path)) is None:
            continue
        _add_pairs(out, index_type, op, literal)
    return out


def _add_pairs(out: list[Pair], index_type: str, op: str, literal: str) -> None:
    for value in _values(op, literal, index_type == "autonomous-system"):
        pair: Pair | None
        if index_type:
            norm = normalise(index_type, value)
            pair = None if norm is None else (index_type, norm)
        else:
            pair = address_pair(value)
        if pair is not None and pair not in out:
            out.append(pair)
