"""Compile property specs into checker closures: the kinds of :mod:`accord.stix.schema`, made executable.

:func:`compile_prop` turns one :class:`~accord.stix.schema.Prop` into one closure, once, at import
(:mod:`accord.stix.validate` does it for every property of every type), so checking a value is a
call with nothing of the spec left to interpret. A checker returns None when the value is fine
(the usual case allocates nothing) or ``(path, reason)`` pairs, paths relative to the value
(``[0].phase_name``), which the caller prefixes with its own name.

Identifiers are decided here (with a cache, as references repeat) because both the
``identifier`` kind and the validator's checks on ``id`` and custom ``*_ref`` properties need them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from accord.stix.ids import is_valid_type_name
from accord.stix.schema import VALID_TIMESTAMPS, Prop, Shape, new_timestamp
from accord.stix.vocab import (
    BUNDLE_TYPE,
    EXTENSION_TYPES,
    HASH_ALGORITHMS,
    HASH_HEX_LENGTHS,
    SCO_TYPES,
    SDO_TYPES,
    SRO_TYPES,
    STIX_TYPES,
)

Findings = Sequence[tuple[str, str]]
Checker = Callable[[Any], Findings | None]

MISSING: Final = "required property is missing"


def fail(reason: str) -> Findings:
    return (("", reason),)


# Failures that carry no detail are shared constants, not rebuilt per call; the public ones
# are reported by the validator too.
_NOT_STRING = fail("must be a string")
_NOT_BOOLEAN = fail("must be true or false")
_NOT_INTEGER = fail("must be an integer")
_NOT_NUMBER = fail("must be a number")
_NOT_TIMESTAMP = fail("must be a UTC timestamp like 2016-05-12T08:17:27.000Z")
_NOT_MILLISECONDS = fail("must be precise to the millisecond at least (3 fraction digits)")
NOT_IDENTIFIER = fail("must be an identifier like indicator--<UUID>")
_NOT_LIST = fail("must be a list")
_EMPTY_LIST = fail("must not be an empty list")
_NOT_OBJECT = fail("must be a JSON object")
_EMPTY_OBJECT = fail("must not be empty")
_NOT_HEX = fail("must be hex digits, an even number of them")
MISSING_REQUIRED = fail(MISSING)
_BAD_DICTIONARY_KEY = fail("dictionary keys are 1-250 characters of a-z, A-Z, 0-9, - and _")
_BAD_HASH_NAME = fail("hash names are 3-250 characters of a-z, A-Z, 0-9, - and _")

_UUID_TEXT = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
# ids.split_id's rule in a form one match decides without backtracking: the type is runs of
# a-z0-9 joined by single hyphens (so no "--" and no hyphen at either end), then "--" and the
# UUID. The UUID has a fixed length, so the type is always value[:-38]; its 3-250 characters
# are checked on the length. fullmatch, so no trailing newline gets through.
_WELL_FORMED_ID = re.compile(rf"[a-z0-9]++(?:-[a-z0-9]++)*+--{_UUID_TEXT}")
_UUID_SUFFIX = 38  # "--" and the UUID
_SHORTEST_ID, _LONGEST_ID = 3 + _UUID_SUFFIX, 250 + _UUID_SUFFIX
_DICTIONARY_KEY = re.compile(r"[a-zA-Z0-9_-]{1,250}")  # section 2.7
_HASH_NAME = re.compile(r"[a-zA-Z0-9_-]{3,250}")
_HEX = re.compile(r"(?:[0-9a-fA-F]{2})*")

# Types a reference may never point at, even where custom types are welcome.
_NOT_CUSTOM: Final = STIX_TYPES | {BUNDLE_TYPE}

# --- identifiers -------------------------------------------------------------------------


def parse_id_type(value: str) -> str | None:
    """The type part of a well-formed identifier, or None; same verdict as ids.split_id.

    split_id's regex backtracks over the whole id (about 1 us); one possessive match does here.
    """
    if _SHORTEST_ID <= len(value) <= _LONGEST_ID and _WELL_FORMED_ID.fullmatch(value):
        return value[:-_UUID_SUFFIX]
    return None


# References repeat (marking definitions, identities, relationship endpoints, report contents),
# so the verdict for a well-formed id is remembered; the validator adds each object's own id,
# as what a bundle references it mostly also defines. The cache is emptied when full to bound
# its memory (the dict object stays the same, so bound ``get`` methods remain valid).
_ID_TYPE_CACHE: dict[str, str] = {}
_ID_CACHE_LIMIT: Final = 50_000
_cached_id_type = _ID_TYPE_CACHE.get


def ref_type(value: object) -> str | None:
    """The type of a well-formed identifier, or None (also for non-strings)."""
    if not isinstance(value, str):
        return None
    stype = _cached_id_type(value)
    if stype is None:
        stype = parse_id_type(value)
        if stype is not None:
            if len(_ID_TYPE_CACHE) >= _ID_CACHE_LIMIT:
                _ID_TYPE_CACHE.clear()
            _ID_TYPE_CACHE[value] = stype
    return stype


def _describe(targets: frozenset[str]) -> str:
    for group, words in (
        (SDO_TYPES | SCO_TYPES, "an SDO or SCO"),
        (SCO_TYPES | SRO_TYPES, "an SCO or SRO"),
        (SDO_TYPES, "an SDO"),
        (SCO_TYPES, "an SCO"),
    ):
        if targets == group:
            return words
    return " or ".join(sorted(targets))


def _identifier_checker(targets: frozenset[str], custom: bool) -> Checker:
    if not targets:

        def check_any(value: Any) -> Findings | None:
            return None if ref_type(value) is not None else NOT_IDENTIFIER

        return check_any
    wanted = _describe(targets)

    def check(value: Any) -> Findings | None:
        # The cache first, inline: most references were seen before (as ids or references).
        stype = _cached_id_type(value) if type(value) is str else None
        if stype is None:
            stype = ref_type(value)
            if stype is None:
                return NOT_IDENTIFIER
        if stype in targets or (custom and stype not in _NOT_CUSTOM):
            return None
        return fail(f"must reference {wanted}, not {stype}")

    return check


def _identifier_list_checker(targets: frozenset[str], custom: bool) -> Checker:
    """A list of identifiers: one loop over the items on the happy path, the general list
    checker (and its wording) for anything else. Reports list dozens of references."""
    slow = _list_checker(_identifier_checker(targets, custom))

    def check(value: Any) -> Findings | None:
        if not isinstance(value, list) or not value:
            return slow(value)
        for item in value:
            # The cache first: most references were seen before (as ids or references).
            stype = _cached_id_type(item) if isinstance(item, str) else None
            if stype is None:
                stype = ref_type(item)
                if stype is None:
                    return slow(value)
            if targets and stype not in targets and not (custom and stype not in _NOT_CUSTOM):
                return slow(value)
        return None

    return check


# --- scalar checkers ---------------------------------------------------------------------


def check_string(value: Any) -> Findings | None:
    """The checker of string properties; callers may test ``check is check_string`` to inline it."""
    return None if isinstance(value, str) else _NOT_STRING


def _check_boolean(value: Any) -> Findings | None:
    return None if value is True or value is False else _NOT_BOOLEAN


# Valid timestamps already seen (schema.is_timestamp fills it): a set lookup spares a call.
_seen_timestamp = VALID_TIMESTAMPS.__contains__


def _check_timestamp(value: Any) -> Findings | None:
    if isinstance(value, str) and (_seen_timestamp(value) or new_timestamp(value)):
        return None
    return _NOT_TIMESTAMP


def _check_timestamp_ms(value: Any) -> Findings | None:
    if not (isinstance(value, str) and (_seen_timestamp(value) or new_timestamp(value))):
        return _NOT_TIMESTAMP
    # A valid timestamp is 20 characters plus '.' and its fraction digits.
    return None if len(value) >= 24 else _NOT_MILLISECONDS


def _check_hex(value: Any) -> Findings | None:
    return None if isinstance(value, str) and _HEX.fullmatch(value) else _NOT_HEX


def _range_checker(minimum: float | None, maximum: float | None, *, integral: bool) -> Checker:
    kinds: tuple[type, ...] = (int,) if integral else (int, float)
    wrong_kind = _NOT_INTEGER if integral else _NOT_NUMBER
    low = float("-inf") if minimum is None else minimum
    high = float("inf") if maximum is None else maximum
    bounds = f"at least {minimum}" if maximum is None else f"between {minimum} and {maximum}"
    out_of_range = fail(f"must be {bounds}")

    def check(value: Any) -> Findings | None:
        # type() rather than isinstance(): JSON true is not the integer 1.
        if type(value) not in kinds:
            return wrong_kind
        return None if low <= value <= high else out_of_range

    return check


def _enum_checker(values: frozenset[str]) -> Checker:
    reason = fail("must be one of " + ", ".join(sorted(values)))

    def check(value: Any) -> Findings | None:
        return None if isinstance(value, str) and value in values else reason

    return check


# --- containers --------------------------------------------------------------------------


def prefixed(found: list[tuple[str, str]] | None, prefix: str, bad: Findings) -> list[tuple[str, str]]:
    if found is None:
        found = []
    found.extend((prefix + path, reason) for path, reason in bad)
    return found


def _check_strings(value: Any) -> Findings | None:
    if not isinstance(value, list):
        return _NOT_LIST
    if not value:
        return _EMPTY_LIST
    for item in value:
        if not isinstance(item, str):
            return [(f"[{i}]", "must be a string") for i, x in enumerate(value) if not isinstance(x, str)]
    return None


def _list_checker(item_check: Checker) -> Checker:
    def check(value: Any) -> Findings | None:
        if not isinstance(value, list):
            return _NOT_LIST
        if not value:
            return _EMPTY_LIST
        for item in value:
            if item_check(item) is not None:
                break
        else:
            return None
        found: list[tuple[str, str]] | None = None
        for i, item in enumerate(value):
            bad = item_check(item)
            if bad is not None:
                found = prefixed(found, f"[{i}]", bad)
        return found

    return check


def _relative(path: str) -> str:
    return "." + path if path else ""


def _shape_checker(shape: Shape) -> Checker:
    checkers = {name: compile_prop(prop) for name, prop in shape.props.items()}
    required, rules, not_empty = shape.required, shape.rules, shape.not_empty
    names = frozenset(shape.props)

    def check(value: Any) -> Findings | None:
        if not isinstance(value, dict):
            return _NOT_OBJECT
        found: list[tuple[str, str]] | None = None
        for name, item in value.items():
            item_check = checkers.get(name)
            if item_check is None or (item_check is check_string and isinstance(item, str)):
                continue  # not ours to check, or a string decided without a call
            bad = item_check(item)
            if bad is not None:
                found = prefixed(found, "." + name, bad)
        for name in required:
            if name not in value:
                found = prefixed(found, "." + name, MISSING_REQUIRED)
        if not_empty and names.isdisjoint(value):
            found = prefixed(found, "", fail("must hold at least one of its defined properties"))
        if rules is not None:
            bad = rules(value)
            if bad:
                found = prefixed(found, "", [(_relative(p), r) for p, r in bad])
        return found

    return check


def _check_dictionary(value: Any) -> Findings | None:
    if not isinstance(value, dict):
        return _NOT_OBJECT
    if not value:
        return _EMPTY_OBJECT
    found: list[tuple[str, str]] | None = None
    for key in value:
        if not (isinstance(key, str) and _DICTIONARY_KEY.fullmatch(key)):
            found = prefixed(found, f".{key}", _BAD_DICTIONARY_KEY)
    return found


def _check_hashes(value: Any) -> Findings | None:
    if not isinstance(value, dict):
        return _NOT_OBJECT
    if not value:
        return _EMPTY_OBJECT
    found: list[tuple[str, str]] | None = None
    for name, digest in value.items():
        if not isinstance(name, str):
            return _BAD_HASH_NAME  # only a dict built outside JSON can get here
        if name not in HASH_ALGORITHMS and not _HASH_NAME.fullmatch(name):
            found = prefixed(found, f".{name}", _BAD_HASH_NAME)
        if not isinstance(digest, str):
            found = prefixed(found, f".{name}", _NOT_STRING)
            continue
        length = HASH_HEX_LENGTHS.get(name)
        if length is not None and (len(digest) != length or not _HEX.fullmatch(digest)):
            found = prefixed(found, f".{name}", fail(f"a {name} digest is {length} hex digits"))
    return found


def _is_extension_type(value: object) -> bool:
    return isinstance(value, str) and value in EXTENSION_TYPES


_BAD_EXTENSION_TYPE = fail("must be one of " + ", ".join(sorted(EXTENSION_TYPES)))
_BAD_EXTENSION_NAME = fail("must be an extension-definition id or a predefined extension name")


def _extensions_checker(predefined: Mapping[str, Checker]) -> Checker:
    """Section 3.2 ``extensions``: keys are extension-definition ids or predefined names."""

    def check(value: Any) -> Findings | None:
        if not isinstance(value, dict):
            return _NOT_OBJECT
        if not value:
            return _EMPTY_OBJECT
        found: list[tuple[str, str]] | None = None
        for name, extension in value.items():
            if not isinstance(name, str):
                return _BAD_EXTENSION_NAME  # only a dict built outside JSON can get here
            where = f".{name}"
            known = predefined.get(name)
            if known is not None:
                bad = known(extension)
                if bad is not None:
                    found = prefixed(found, where, bad)
            elif name.startswith("extension-definition--"):
                if ref_type(name) != "extension-definition":
                    found = prefixed(found, where, fail("not a well-formed extension-definition id"))
                elif not isinstance(extension, dict):
                    found = prefixed(found, where, _NOT_OBJECT)
                elif not _is_extension_type(extension.get("extension_type")):
                    found = prefixed(found, where + ".extension_type", _BAD_EXTENSION_TYPE)
            elif name.endswith("-ext") and is_valid_type_name(name):
                # A 2.0-style custom extension (section 11.3, deprecated): kept as it is.
                if not isinstance(extension, dict):
                    found = prefixed(found, where, _NOT_OBJECT)
            else:
                found = prefixed(found, where, _BAD_EXTENSION_NAME)
        return found

    return check


def compile_prop(prop: Prop, extensions: Mapping[str, Shape] | None = None) -> Checker:
    """The checker for one property; ``extensions``: the predefined extensions of its type, by name."""
    match prop.kind:
        case "string":
            return check_string
        case "boolean":
            return _check_boolean
        case "integer" | "number":
            return _range_checker(prop.minimum, prop.maximum, integral=prop.kind == "integer")
        case "timestamp":
            return _check_timestamp
        case "timestamp_ms":
            return _check_timestamp_ms
        case "identifier":
            return _identifier_checker(prop.targets, prop.custom_targets)
        case "enum":
            return _enum_checker(prop.values)
        case "list":
            item = prop.item
            assert item is not None
            if item.kind == "string":
                return _check_strings
            if item.kind == "identifier":
                return _identifier_list_checker(item.targets, item.custom_targets)
            return _list_checker(compile_prop(item))
        case "object":
            assert prop.shape is not None
            return _shape_checker(prop.shape)
        case "hashes":
            return _check_hashes
        case "dictionary":
            return _check_dictionary
        case "hex":
            return _check_hex
        case "binary":
            # Section 2.1 says base64, but the OASIS SCO examples abbreviate payloads
            # ("VBORw0KGgo... ..."); Accord stores the text and never decodes it, so only
            # the JSON type is enforced.
            return check_string
        case "extensions":
            return _extensions_checker({n: _shape_checker(s) for n, s in (extensions or {}).items()})


# A custom ``*_refs`` property (section 3.1): identifiers of any type.
ANY_REFS: Final = _identifier_list_checker(frozenset(), False)
