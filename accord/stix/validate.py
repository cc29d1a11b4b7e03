"""Validate one STIX 2.1 object: :func:`validate_object` returns every problem it finds.

The rules are data in :mod:`accord.stix.schema` and :mod:`accord.stix.schema_sco`; this module
compiles them once, at import, into one checker closure per property, so validating an object
is a loop over its properties with a dictionary lookup and a call each. A checker returns None
when the value is fine (the usual case allocates nothing) or ``(path, reason)`` pairs, paths
relative to the value (``[0].phase_name``), which the caller prefixes with its own name.

Unknown object types are custom objects (section 11.2) and unknown properties are custom
properties (section 11.1): both are accepted and kept verbatim, but the common properties they
share with STIX objects, their names and any ``*_ref``/``*_refs`` values are still checked,
because policy and storage rely on those.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from accord.errors import Problem
from accord.stix.ids import is_valid_type_name, split_id
from accord.stix.schema import (
    MARKING_COMMON,
    META_SPECS,
    SCO_COMMON,
    SDO_COMMON,
    SDO_SPECS,
    SRO_SPECS,
    Hook,
    Prop,
    Shape,
    TypeSpec,
    is_timestamp,
    ordered,
)
from accord.stix.schema_sco import SCO_SPECS
from accord.stix.vocab import (
    BUNDLE_TYPE,
    EXTENSION_TYPES,
    HASH_ALGORITHMS,
    HASH_HEX_LENGTHS,
    RESERVED_PROPERTIES,
    SCO_TYPES,
    SDO_TYPES,
    SRO_TYPES,
    STIX_TYPES,
)

Findings = Sequence[tuple[str, str]]
Checker = Callable[[Any], Findings | None]

MISSING: Final = "required property is missing"
_ABSENT: Final = object()


def _fail(reason: str) -> Findings:
    return (("", reason),)


# Failures that carry no detail are shared constants, not rebuilt per call.
_NOT_STRING = _fail("must be a string")
_NOT_BOOLEAN = _fail("must be true or false")
_NOT_INTEGER = _fail("must be an integer")
_NOT_NUMBER = _fail("must be a number")
_NOT_TIMESTAMP = _fail("must be a UTC timestamp like 2016-05-12T08:17:27.000Z")
_NOT_MILLISECONDS = _fail("must be precise to the millisecond at least (3 fraction digits)")
_NOT_IDENTIFIER = _fail("must be an identifier like indicator--<UUID>")
_NOT_LIST = _fail("must be a list")
_EMPTY_LIST = _fail("must not be an empty list")
_NOT_OBJECT = _fail("must be a JSON object")
_EMPTY_OBJECT = _fail("must not be empty")
_NOT_HEX = _fail("must be hex digits, an even number of them")
_MISSING = _fail(MISSING)
_BAD_DICTIONARY_KEY = _fail("dictionary keys are 1-250 characters of a-z, A-Z, 0-9, - and _")
_BAD_HASH_NAME = _fail("hash names are 3-250 characters of a-z, A-Z, 0-9, - and _")

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# Section 3.1 limits property names to 3-250 characters of a-z, 0-9 and _. MISP's STIX 2.1
# exporter (misp-stix) writes custom names such as x_misp_ISO3 and x_misp_cfr-type-of-incident,
# so upper case and hyphens are tolerated; the length and the ASCII word alphabet, which keep
# names safe in selectors and JSON paths, are enforced.
_PROPERTY_NAME = re.compile(r"[A-Za-z0-9_-]{3,250}")
_DICTIONARY_KEY = re.compile(r"[a-zA-Z0-9_-]{1,250}")  # section 2.7
_HASH_NAME = re.compile(r"[a-zA-Z0-9_-]{3,250}")
_HEX = re.compile(r"(?:[0-9a-fA-F]{2})*")
_LIST_INDEX = re.compile(r"\[(\d+)\]")

# Types a reference may never point at, even where custom types are welcome.
_NOT_CUSTOM: Final = STIX_TYPES | {BUNDLE_TYPE}

# --- identifiers -------------------------------------------------------------------------


def _parse_id_type(value: str) -> str | None:
    """The type part of a well-formed identifier, or None; same verdict as ids.split_id.

    split_id's regex backtracks over the whole id (about 1 us); ids of a known type are
    decided here with one partition and an anchored UUID match.
    """
    stype, _, rest = value.partition("--")
    if stype in STIX_TYPES and _UUID.fullmatch(rest):
        return stype
    parts = split_id(value)
    # split_id anchors with ``$``, which lets a trailing newline through.
    if parts is None or value.endswith("\n"):
        return None
    return parts[0]


# References repeat (marking definitions, identities, relationship endpoints), so the verdict
# for a well-formed id is remembered; the cache is emptied when full to bound its memory.
_ID_TYPE_CACHE: dict[str, str] = {}
_ID_CACHE_LIMIT: Final = 50_000


def _ref_type(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    stype = _ID_TYPE_CACHE.get(value)
    if stype is None:
        stype = _parse_id_type(value)
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
            return None if _ref_type(value) is not None else _NOT_IDENTIFIER

        return check_any
    wanted = _describe(targets)

    def check(value: Any) -> Findings | None:
        stype = _ref_type(value)
        if stype is None:
            return _NOT_IDENTIFIER
        if stype in targets or (custom and stype not in _NOT_CUSTOM):
            return None
        return _fail(f"must reference {wanted}, not {stype}")

    return check


# --- scalar checkers ---------------------------------------------------------------------


def _check_string(value: Any) -> Findings | None:
    return None if isinstance(value, str) else _NOT_STRING


def _check_boolean(value: Any) -> Findings | None:
    return None if value is True or value is False else _NOT_BOOLEAN


def _check_timestamp(value: Any) -> Findings | None:
    return None if is_timestamp(value) else _NOT_TIMESTAMP


def _check_timestamp_ms(value: Any) -> Findings | None:
    if not is_timestamp(value):
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
    out_of_range = _fail(f"must be {bounds}")

    def check(value: Any) -> Findings | None:
        # type() rather than isinstance(): JSON true is not the integer 1.
        if type(value) not in kinds:
            return wrong_kind
        return None if low <= value <= high else out_of_range

    return check


def _enum_checker(values: frozenset[str]) -> Checker:
    reason = _fail("must be one of " + ", ".join(sorted(values)))

    def check(value: Any) -> Findings | None:
        return None if isinstance(value, str) and value in values else reason

    return check


# --- containers --------------------------------------------------------------------------


def _prefixed(found: list[tuple[str, str]] | None, prefix: str, bad: Findings) -> list[tuple[str, str]]:
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
                found = _prefixed(found, f"[{i}]", bad)
        return found

    return check


def _relative(path: str) -> str:
    return "." + path if path else ""


def _shape_checker(shape: Shape) -> Checker:
    checkers = {name: _compile(prop) for name, prop in shape.props.items()}
    required, rules, not_empty = shape.required, shape.rules, shape.not_empty
    names = frozenset(shape.props)

    def check(value: Any) -> Findings | None:
        if not isinstance(value, dict):
            return _NOT_OBJECT
        found: list[tuple[str, str]] | None = None
        for name, item in value.items():
            item_check = checkers.get(name)
            if item_check is not None:
                bad = item_check(item)
                if bad is not None:
                    found = _prefixed(found, "." + name, bad)
        for name in required:
            if name not in value:
                found = _prefixed(found, "." + name, _MISSING)
        if not_empty and names.isdisjoint(value):
            found = _prefixed(found, "", _fail("must hold at least one of its defined properties"))
        if rules is not None:
            bad = rules(value)
            if bad:
                found = _prefixed(found, "", [(_relative(p), r) for p, r in bad])
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
            found = _prefixed(found, f".{key}", _BAD_DICTIONARY_KEY)
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
            found = _prefixed(found, f".{name}", _BAD_HASH_NAME)
        if not isinstance(digest, str):
            found = _prefixed(found, f".{name}", _NOT_STRING)
            continue
        length = HASH_HEX_LENGTHS.get(name)
        if length is not None and (len(digest) != length or not _HEX.fullmatch(digest)):
            found = _prefixed(found, f".{name}", _fail(f"a {name} digest is {length} hex digits"))
    return found


def _is_extension_type(value: object) -> bool:
    return isinstance(value, str) and value in EXTENSION_TYPES


_BAD_EXTENSION_TYPE = _fail("must be one of " + ", ".join(sorted(EXTENSION_TYPES)))
_BAD_EXTENSION_NAME = _fail("must be an extension-definition id or a predefined extension name")


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
                    found = _prefixed(found, where, bad)
            elif name.startswith("extension-definition--"):
                if _ref_type(name) != "extension-definition":
                    found = _prefixed(found, where, _fail("not a well-formed extension-definition id"))
                elif not isinstance(extension, dict):
                    found = _prefixed(found, where, _NOT_OBJECT)
                elif not _is_extension_type(extension.get("extension_type")):
                    found = _prefixed(found, where + ".extension_type", _BAD_EXTENSION_TYPE)
            elif name.endswith("-ext") and is_valid_type_name(name):
                # A 2.0-style custom extension (section 11.3, deprecated): kept as it is.
                if not isinstance(extension, dict):
                    found = _prefixed(found, where, _NOT_OBJECT)
            else:
                found = _prefixed(found, where, _BAD_EXTENSION_NAME)
        return found

    return check


def _compile(prop: Prop, extensions: Mapping[str, Shape] | None = None) -> Checker:
    match prop.kind:
        case "string":
            return _check_string
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
            assert prop.item is not None
            return _check_strings if prop.item.kind == "string" else _list_checker(_compile(prop.item))
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
            return _check_string
        case "extensions":
            return _extensions_checker({n: _shape_checker(s) for n, s in (extensions or {}).items()})


# --- object types ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Compiled:
    checkers: dict[str, Checker]
    required: frozenset[str]  # beside type and id, which are checked on their own
    required_order: tuple[str, ...]  # the same, in the order problems are reported
    spec_version_required: bool
    reserved_forbidden: bool
    rules: tuple[Hook, ...]


def _modified_after_created(obj: Mapping[str, Any]) -> list[tuple[str, str]] | None:
    return ordered(obj, "created", "modified")


def _build(
    spec: TypeSpec | None, common: Mapping[str, Prop], required: tuple[str, ...], *, stix: bool
) -> _Compiled:
    props = {**common, **(spec.props if spec else {})}
    extensions = spec.extensions if spec else {}
    own_required = spec.required if spec else ()
    # spec_version is checked on its own (its absence and its value need their own reasons).
    order = tuple(name for name in dict.fromkeys((*required, *own_required)) if name != "spec_version")
    rules: list[Hook] = []
    if "created" in props:
        rules.append(_modified_after_created)
    if spec is not None and spec.rules is not None:
        rules.append(spec.rules)
    return _Compiled(
        checkers={name: _compile(prop, extensions) for name, prop in props.items()},
        required=frozenset(order),
        required_order=order,
        spec_version_required="spec_version" in required,
        reserved_forbidden=stix,
        rules=tuple(rules),
    )


def _catalogue() -> dict[str, _Compiled]:
    core = ("spec_version", "created", "modified")  # sections 3.2 and 7.1, 7.3
    compiled: dict[str, _Compiled] = {}
    for spec in (*SDO_SPECS, *SRO_SPECS, *META_SPECS):
        if spec.type == "marking-definition":
            compiled[spec.type] = _build(spec, MARKING_COMMON, ("spec_version", "created"), stix=True)
        else:
            compiled[spec.type] = _build(spec, SDO_COMMON, core, stix=True)
    for spec in SCO_SPECS:
        compiled[spec.type] = _build(spec, SCO_COMMON, (), stix=True)
    return compiled


_BY_TYPE: Final = _catalogue()
# Custom objects may look like domain objects or like observables: either's common properties
# are checked when present, none is required.
_CUSTOM: Final = _build(None, {**SDO_COMMON, **SCO_COMMON}, (), stix=False)
_ENVELOPE: Final = frozenset({"type", "id", "spec_version"})

# Custom property names already found well-formed: there are few distinct ones, many uses.
_GOOD_NAMES: set[str] = set()
_NAME_CACHE_LIMIT: Final = 10_000


def _custom_property(name: object, value: Any, reserved_forbidden: bool) -> Findings | None:
    """Checks on a property the type does not define: it is kept, so its name must be sound."""
    if not isinstance(name, str):
        return _fail("property names must be strings")
    if reserved_forbidden and name in RESERVED_PROPERTIES:
        return _fail("this property name is reserved by STIX 2.1 and must not be used")
    if name not in _GOOD_NAMES:
        if not _PROPERTY_NAME.fullmatch(name):
            return _fail("property names must be 3-250 characters of a-z, 0-9 and _ (A-Z and - tolerated)")
        if len(_GOOD_NAMES) >= _NAME_CACHE_LIMIT:
            _GOOD_NAMES.clear()
        _GOOD_NAMES.add(name)
    # Section 3.1: the _ref/_refs suffixes mean identifiers, for custom properties too.
    if name.endswith("_ref"):
        # Tolerated: ATT&CK ICS 18.1 writes x_mitre_data_source_ref "" for "no source"; an
        # empty custom reference points nowhere, so it cannot mislead policy or storage.
        return None if value == "" or _ref_type(value) is not None else _NOT_IDENTIFIER
    if name.endswith("_refs"):
        return _ANY_REFS(value)
    return None


_ANY_REFS: Final = _list_checker(_identifier_checker(frozenset(), False))
_SELECTS_NOTHING: Final = _fail("selects nothing in this object")


def _selects(obj: Mapping[str, Any], selector: str) -> bool:
    """Whether a granular-marking selector (section 7.2.3.1) names content of ``obj``."""
    node: Any = obj
    for step in selector.split("."):
        index = _LIST_INDEX.fullmatch(step)
        if index is not None and isinstance(node, list) and int(index[1]) < len(node):
            node = node[int(index[1])]
        elif isinstance(node, dict) and step in node:
            node = node[step]
        else:
            return False
    return True


def _unresolved_selectors(obj: Mapping[str, Any]) -> list[tuple[str, str]] | None:
    found: list[tuple[str, str]] | None = None
    markings = obj.get("granular_markings")
    for i, marking in enumerate(markings if isinstance(markings, list) else ()):
        selectors = marking.get("selectors") if isinstance(marking, dict) else None
        for j, selector in enumerate(selectors if isinstance(selectors, list) else ()):
            if isinstance(selector, str) and not _selects(obj, selector):
                found = _prefixed(found, f"granular_markings[{i}].selectors[{j}]", _SELECTS_NOTHING)
    return found


def _type_problem(stype: object) -> str | None:
    if stype is _ABSENT:
        return MISSING
    # The newline test: ids.TYPE_RE anchors with ``$``, which accepts "indicator\n".
    if not isinstance(stype, str) or not is_valid_type_name(stype) or stype.endswith("\n"):
        return "must be 3-250 characters of a-z, 0-9 and hyphen, without '--'"
    if stype == BUNDLE_TYPE:
        return "a bundle is an envelope for objects, not an object"
    return None


def validate_object(obj: Any, *, index: int | None = None) -> list[Problem]:
    """Every way ``obj`` breaks STIX 2.1, as Problems; an empty list means it is valid.

    ``index`` is the object's position in its input stream, copied into each Problem.
    """
    if not isinstance(obj, dict):
        return [Problem(None, None, "a STIX object must be a JSON object", index)]
    raw_id = obj.get("id", _ABSENT)
    object_id = raw_id if isinstance(raw_id, str) else None
    found: list[tuple[str, str]] | None = None

    stype = obj.get("type", _ABSENT)
    compiled = _BY_TYPE.get(stype) if isinstance(stype, str) else None
    type_ok = compiled is not None
    if compiled is None:
        compiled = _CUSTOM
        why = _type_problem(stype)
        if why is not None:
            found = [("type", why)]
        else:
            type_ok = True

    if raw_id is _ABSENT:
        found = _prefixed(found, "id", _MISSING)
    else:
        id_type = _parse_id_type(raw_id) if isinstance(raw_id, str) else None
        if id_type is None:
            found = _prefixed(found, "id", _NOT_IDENTIFIER)
        elif type_ok and id_type != stype:
            found = _prefixed(found, "id", _fail(f"must start with {stype}-- (its type), not {id_type}--"))

    spec_version = obj.get("spec_version", _ABSENT)
    if spec_version is _ABSENT:
        if compiled.spec_version_required:
            found = _prefixed(found, "spec_version", _MISSING)
    elif spec_version != "2.1":
        # STIX 2.0 content is upgraded before it gets here (accord.stix.upgrade).
        found = _prefixed(found, "spec_version", _fail(f"must be 2.1, not {spec_version!r}"))

    checkers = compiled.checkers
    for name, value in obj.items():
        check = checkers.get(name)
        if check is not None:
            bad = check(value)
        elif name in _ENVELOPE:
            continue
        else:
            bad = _custom_property(name, value, compiled.reserved_forbidden)
        if bad is not None:
            found = _prefixed(found, str(name), bad)

    if not (obj.keys() >= compiled.required):
        for name in compiled.required_order:
            if name not in obj:
                found = _prefixed(found, name, _MISSING)

    for rule in compiled.rules:
        bad = rule(obj)
        if bad:
            found = _prefixed(found, "", bad)
    if "granular_markings" in obj:
        bad = _unresolved_selectors(obj)
        if bad:
            found = _prefixed(found, "", bad)

    if found is None:
        return []
    return [Problem(object_id, path or None, reason, index) for path, reason in found]
