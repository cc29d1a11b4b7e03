"""Data markings: the standard TLP marking definitions and an object's effective TLP.

STIX 2.1 section 7.2.1.4 fixes four TLP 1.0 marking definitions by id; the OASIS TLP 2.0
extension fixes five more. Accord recognises both sets by id, treats TLP 1.0 levels as their
TLP 2.0 equivalents (WHITE is CLEAR) and fails closed: an object whose markings name no TLP
level Accord knows gets ``None`` from :func:`object_tlp` and the caller applies the
collection default; a marking ref Accord cannot resolve makes the level ``UNKNOWN``, which the
policy layer treats as stricter than RED.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

CLEAR: Final = "clear"
GREEN: Final = "green"
AMBER: Final = "amber"
AMBER_STRICT: Final = "amber+strict"
RED: Final = "red"
UNKNOWN: Final = "unknown"

# Strictness order; higher shares less. UNKNOWN sorts above RED so that it never widens access.
TLP_RANK: Final[dict[str, int]] = {CLEAR: 0, GREEN: 1, AMBER: 2, AMBER_STRICT: 3, RED: 4, UNKNOWN: 5}
TLP_LEVELS: Final = (CLEAR, GREEN, AMBER, AMBER_STRICT, RED)

TLP1_WHITE = "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"
TLP1_GREEN = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"
TLP1_AMBER = "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"
TLP1_RED = "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed"

TLP2_CLEAR = "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"
TLP2_GREEN = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"
TLP2_AMBER = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"
TLP2_AMBER_STRICT = "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003"
TLP2_RED = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"

TLP2_EXTENSION = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"

# id -> (TLP 2.0 level, TLP version, the level's word as the definition spells it)
STANDARD_TLP: Final[dict[str, tuple[str, int, str]]] = {
    TLP1_WHITE: (CLEAR, 1, "white"),
    TLP1_GREEN: (GREEN, 1, "green"),
    TLP1_AMBER: (AMBER, 1, "amber"),
    TLP1_RED: (RED, 1, "red"),
    TLP2_CLEAR: (CLEAR, 2, "clear"),
    TLP2_GREEN: (GREEN, 2, "green"),
    TLP2_AMBER: (AMBER, 2, "amber"),
    TLP2_AMBER_STRICT: (AMBER_STRICT, 2, "amber+strict"),
    TLP2_RED: (RED, 2, "red"),
}

# The marking definition Accord writes for each level when it has to mark something itself.
TLP2_ID_FOR_LEVEL: Final[dict[str, str]] = {
    level: mid for mid, (level, version, _) in STANDARD_TLP.items() if version == 2
}


def standard_definition_problem(obj: Mapping[str, Any]) -> str | None:
    """Why a marking-definition that reuses a standard TLP id is a forgery, or None if it matches.

    Only the fields that carry meaning are compared (type, level, name); a different
    ``created`` timestamp is tolerated because real producers re-serialise these objects.
    """
    oid = obj.get("id")
    entry = STANDARD_TLP.get(oid) if isinstance(oid, str) else None
    if entry is None:
        return None
    _, version, word = entry
    if obj.get("type") != "marking-definition":
        return "a standard TLP marking id used for another object type"
    if version == 1:
        if obj.get("definition_type") != "tlp":
            return f"standard TLP:{word.upper()} definition must have definition_type 'tlp'"
        definition = obj.get("definition")
        if not isinstance(definition, Mapping) or definition.get("tlp") != word:
            return f"standard TLP 1.0 definition {obj.get('id')} must define tlp '{word}'"
        name = obj.get("name")
        if name is not None and name != f"TLP:{word.upper()}":
            return f"standard TLP 1.0 definition must be named 'TLP:{word.upper()}', not {name!r}"
        return None
    name = obj.get("name")
    if name != f"TLP:{word.upper()}":
        return f"standard TLP 2.0 definition must be named 'TLP:{word.upper()}', not {name!r}"
    if "definition_type" in obj or "definition" in obj:
        return "standard TLP 2.0 definitions carry their level in an extension, not 'definition'"
    ext = obj.get("extensions", {})
    if not isinstance(ext, Mapping):
        return "extensions must be an object"
    tlp_ext = ext.get(TLP2_EXTENSION)
    if tlp_ext is not None and (not isinstance(tlp_ext, Mapping) or tlp_ext.get("tlp_2_0") != word):
        return f"standard TLP 2.0 definition must carry tlp_2_0 '{word}' in its extension"
    return None


def strictest(levels: Iterable[str]) -> str | None:
    """The most restrictive of several levels (conflicting markings: the strictest wins)."""
    best: str | None = None
    for level in levels:
        if best is None or TLP_RANK[level] > TLP_RANK[best]:
            best = level
    return best


def definition_level(obj: Mapping[str, Any]) -> str | None:
    """What a (non-standard) marking definition says about TLP.

    Returns a level for a ``tlp`` definition, ``""`` for a definition that is not about TLP
    (a statement, a copyright notice) and None when it cannot be read, which callers treat
    as UNKNOWN.
    """
    oid = obj.get("id")
    std = STANDARD_TLP.get(oid) if isinstance(oid, str) else None
    if std is not None:
        return std[0]
    dtype = obj.get("definition_type")
    definition = obj.get("definition")
    if dtype == "tlp" and isinstance(definition, Mapping):
        word = str(definition.get("tlp", "")).lower()
        return {"white": CLEAR}.get(word, word) if word in ("white", *TLP_LEVELS) else None
    if dtype == "statement":
        return ""
    exts = obj.get("extensions")
    if isinstance(exts, Mapping) and isinstance(exts.get(TLP2_EXTENSION), Mapping):
        word = str(exts[TLP2_EXTENSION].get("tlp_2_0", "")).lower()
        return word if word in TLP_LEVELS else None
    return None


def tlp_of_refs(refs: Iterable[str], known: Mapping[str, str] | None = None) -> str | None:
    """Effective TLP of a list of marking refs; None when no ref says anything about TLP.

    ``known`` maps the ids of non-standard marking definitions the caller has seen to what
    :func:`definition_level` made of them. A ref that is neither standard nor known is
    UNKNOWN: Accord cannot tell what it restricts, so it restricts everything.
    """
    if type(refs) is list and len(refs) == 1:
        # Most marked objects carry one standard TLP ref and nothing else: one lookup decides.
        std = STANDARD_TLP.get(refs[0])
        if std is not None:
            return std[0]
    levels: list[str] = []
    for ref in refs:
        std = STANDARD_TLP.get(ref)
        if std is not None:
            levels.append(std[0])
            continue
        level = (known or {}).get(ref)
        if level == "":
            continue
        levels.append(level or UNKNOWN)
    return strictest(levels)


def object_marking_refs(obj: Mapping[str, Any]) -> list[str]:
    """The object-level marking refs: they decide the version's TLP. Granular markings mark parts
    of an object and are applied per reader when it is read (accord/policy/redact.py)."""
    return [r for r in obj.get("object_marking_refs") or () if isinstance(r, str)]


def object_tlp(obj: Mapping[str, Any], known: Mapping[str, str] | None = None) -> str | None:
    """The effective TLP of an object from its object-level markings; None if none says anything
    about TLP (the caller then applies the collection default)."""
    refs = object_marking_refs(obj)
    return tlp_of_refs(refs, known) if refs else None
