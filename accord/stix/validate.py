"""Validate one STIX 2.1 object: :func:`validate_object` returns every problem it finds.

The rules are data in :mod:`accord.stix.schema` and the spec modules beside it
(:mod:`~accord.stix.schema_sdo`, :mod:`~accord.stix.schema_sco`, :mod:`~accord.stix.schema_meta`);
:mod:`accord.stix.checkers` compiles each property into a checker closure. This module gathers
them once, at import, into one record per object type, so validating an object is a loop over its
properties with a dictionary lookup and a call each, and checks what no single property can: the
envelope (``type``, ``id``, ``spec_version``), the required properties, the hooks that relate
several properties and the granular-marking selectors.

Unknown object types are custom objects (section 11.2) and unknown properties are custom
properties (section 11.1): both are accepted and kept verbatim, but the common properties they
share with STIX objects, their names and any ``*_ref``/``*_refs`` values are still checked,
because policy and storage rely on those.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Final

from accord.errors import Problem
from accord.stix.checkers import (
    ANY_REFS,
    MISSING,
    MISSING_REQUIRED,
    NOT_IDENTIFIER,
    Checker,
    Findings,
    check_string,
    compile_prop,
    fail,
    prefixed,
    ref_type,
)
from accord.stix.ids import is_valid_type_name
from accord.stix.schema import MARKING_COMMON, SCO_COMMON, SDO_COMMON, Hook, Prop, TypeSpec, ordered
from accord.stix.schema_meta import META_SPECS
from accord.stix.schema_sco import SCO_SPECS
from accord.stix.schema_sdo import SDO_SPECS, SRO_SPECS
from accord.stix.vocab import BUNDLE_TYPE, RESERVED_PROPERTIES

_ABSENT: Final = object()

# Section 3.1 limits property names to 3-250 characters of a-z, 0-9 and _. MISP's STIX 2.1
# exporter (misp-stix) writes custom names such as x_misp_ISO3 and x_misp_cfr-type-of-incident,
# so upper case and hyphens are tolerated; the length and the ASCII word alphabet, which keep
# names safe in selectors and JSON paths, are enforced.
_PROPERTY_NAME = re.compile(r"[A-Za-z0-9_-]{3,250}")
_LIST_INDEX = re.compile(r"\[([0-9]+)\]")

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
        checkers={name: compile_prop(prop, extensions) for name, prop in props.items()},
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


def _custom_name_problem(name: object, reserved_forbidden: bool) -> Findings | None:
    """What is wrong with the name of a property the type does not define: it is kept, so its
    name must be sound."""
    if not isinstance(name, str):
        return fail("property names must be strings")
    if reserved_forbidden and name in RESERVED_PROPERTIES:
        return fail("this property name is reserved by STIX 2.1 and must not be used")
    if name not in _GOOD_NAMES:
        if not _PROPERTY_NAME.fullmatch(name):
            return fail("property names must be 3-250 characters of a-z, 0-9 and _ (A-Z and - tolerated)")
        if len(_GOOD_NAMES) >= _NAME_CACHE_LIMIT:
            _GOOD_NAMES.clear()
        _GOOD_NAMES.add(name)
    return None


def _custom_ref(value: Any) -> Findings | None:
    # Tolerated: ATT&CK ICS 18.1 writes x_mitre_data_source_ref "" for "no source"; an
    # empty custom reference points nowhere, so it cannot mislead policy or storage.
    return None if value == "" or ref_type(value) is not None else NOT_IDENTIFIER


def _custom_value_checker(name: str) -> Checker | None:
    """The check on the value of a custom property called ``name``, if any.

    Section 3.1: the _ref/_refs suffixes mean identifiers, for custom properties too.
    """
    if name.endswith("_ref"):
        return _custom_ref
    if name.endswith("_refs"):
        return ANY_REFS
    return None


def _custom_property(name: object, value: Any, reserved_forbidden: bool) -> Findings | None:
    """Checks on a property the type does not define."""
    bad = _custom_name_problem(name, reserved_forbidden)
    if bad is not None:
        return bad
    assert isinstance(name, str)
    check = _custom_value_checker(name)
    return None if check is None else check(value)


_SELECTS_NOTHING: Final = fail("selects nothing in this object")


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
                found = prefixed(found, f"granular_markings[{i}].selectors[{j}]", _SELECTS_NOTHING)
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


# --- the fast path: one plan per (type, property names) -----------------------------------
#
# Objects of one type from one producer carry the same properties in the same order, so what
# the general walk below decides from the names alone (which checker each property gets, custom
# names, required properties, which hooks run) is decided once per distinct key tuple and kept
# as a plan. Checking a valid object is then: one lookup, the id, one C-level test of all its
# string properties, a call per other property and the hooks. The plan only ever says "valid":
# on the first doubt it gives up and the general walk runs from the start, so every problem is
# still reported by one piece of code, in one order (tests/stix/test_validate.py holds the two
# paths to the same verdict on every fixture and on generated objects).


@dataclass(frozen=True, slots=True)
class _Plan:
    spec_version: bool  # present, so it must be "2.1"
    strings: Callable[[Mapping[str, Any]], tuple[Any, ...]] | None  # two or more string properties
    checks: tuple[tuple[str, Checker], ...]  # every other property the walk would check
    rules: tuple[Hook, ...]
    granular: bool  # granular-marking selectors to resolve


# A plan for a key tuple the walk would refuse on names alone (a bad custom name, a required
# property missing): no fast path for those objects.
_NO_PLAN: Final = _Plan(False, None, (), (), False)
_PLANS: dict[tuple[Any, ...], _Plan] = {}
# Distinct key tuples are few in real feeds; a bound keeps hostile input from pinning memory.
_PLAN_CACHE_LIMIT: Final = 4096


def _make_plan(stype: str, names: tuple[Any, ...]) -> _Plan:
    compiled = _BY_TYPE.get(stype)
    if compiled is None:
        if _type_problem(stype) is not None:
            return _NO_PLAN
        compiled = _CUSTOM
    present = set(names)
    if "id" not in present or not present >= compiled.required:
        return _NO_PLAN
    if compiled.spec_version_required and "spec_version" not in present:
        return _NO_PLAN
    strings: list[str] = []
    checks: list[tuple[str, Checker]] = []
    for name in names:
        check = compiled.checkers.get(name)
        if check is check_string:
            strings.append(name)
        elif check is not None:
            checks.append((name, check))
        elif name in _ENVELOPE:
            continue
        elif _custom_name_problem(name, compiled.reserved_forbidden) is not None:
            return _NO_PLAN
        else:
            custom = _custom_value_checker(name)
            if custom is not None:
                checks.append((name, custom))
    if len(strings) == 1:
        checks.append((strings.pop(), check_string))
    return _Plan(
        spec_version="spec_version" in present,
        strings=itemgetter(*strings) if strings else None,
        checks=tuple(checks),
        rules=compiled.rules,
        granular="granular_markings" in present,
    )


def _surely_valid(obj: dict[Any, Any]) -> bool:
    """True only if the general walk would find nothing wrong with ``obj``."""
    stype = obj.get("type")
    if type(stype) is not str:
        return False
    key = (stype, *obj)
    plan = _PLANS.get(key)
    if plan is None:
        if len(_PLANS) >= _PLAN_CACHE_LIMIT:
            _PLANS.clear()
        plan = _PLANS[key] = _make_plan(stype, key[1:])
    if plan is _NO_PLAN or ref_type(obj["id"]) != stype:
        return False
    if plan.spec_version and obj["spec_version"] != "2.1":
        return False
    if plan.strings is not None:
        try:
            # join accepts nothing but strings: one C call tests them all.
            "".join(plan.strings(obj))
        except TypeError:
            return False
    for name, check in plan.checks:
        if check(obj[name]) is not None:
            return False
    for rule in plan.rules:
        if rule(obj):
            return False
    return not (plan.granular and _unresolved_selectors(obj))


def validate_object(obj: Any, *, index: int | None = None) -> list[Problem]:
    """Every way ``obj`` breaks STIX 2.1, as Problems; an empty list means it is valid.

    ``index`` is the object's position in its input stream, copied into each Problem.
    """
    if not isinstance(obj, dict):
        return [Problem(None, None, "a STIX object must be a JSON object", index)]
    if _surely_valid(obj):
        return []
    return _walk(obj, index)


def _walk(obj: dict[Any, Any], index: int | None) -> list[Problem]:
    """The general validation: every property, every problem, in a fixed order."""
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
        found = prefixed(found, "id", MISSING_REQUIRED)
    else:
        # ref_type also remembers the id: what a bundle references, it mostly also defines.
        id_type = ref_type(raw_id)
        if id_type is None:
            found = prefixed(found, "id", NOT_IDENTIFIER)
        elif type_ok and id_type != stype:
            found = prefixed(found, "id", fail(f"must start with {stype}-- (its type), not {id_type}--"))

    spec_version = obj.get("spec_version", _ABSENT)
    if spec_version is _ABSENT:
        if compiled.spec_version_required:
            found = prefixed(found, "spec_version", MISSING_REQUIRED)
    elif spec_version != "2.1":
        # STIX 2.0 content is upgraded before it gets here (accord.stix.upgrade).
        found = prefixed(found, "spec_version", fail(f"must be 2.1, not {spec_version!r}"))

    checkers = compiled.checkers
    for name, value in obj.items():
        check = checkers.get(name)
        if check is check_string:  # the commonest kind, decided without a call
            if isinstance(value, str):
                continue
            bad = check(value)
        elif check is not None:
            bad = check(value)
        elif name in _ENVELOPE:
            continue
        else:
            bad = _custom_property(name, value, compiled.reserved_forbidden)
        if bad is not None:
            found = prefixed(found, str(name), bad)

    if not (obj.keys() >= compiled.required):
        for name in compiled.required_order:
            if name not in obj:
                found = prefixed(found, name, MISSING_REQUIRED)

    for rule in compiled.rules:
        bad = rule(obj)
        if bad:
            found = prefixed(found, "", bad)
    if "granular_markings" in obj:
        bad = _unresolved_selectors(obj)
        if bad:
            found = prefixed(found, "", bad)

    if found is None:
        return []
    return [Problem(object_id, path or None, reason, index) for path, reason in found]
