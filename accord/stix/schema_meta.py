"""What each STIX 2.1 meta object (section 7) may hold: language content, marking and extension definitions.

Written in the vocabulary of :mod:`accord.stix.schema`. Meta objects are not part of the graph
the domain objects form; marking definitions carry only part of the common properties
(``MARKING_COMMON`` there) and are where TLP lives, so their hook also refuses a TLP level
under any id but the standard one (:mod:`accord.stix.markings`), which policy relies on.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from accord.stix.markings import STANDARD_TLP, TLP2_EXTENSION, standard_definition_problem
from accord.stix.schema import (
    DICTIONARY,
    IDENTIFIER,
    OBJECT,
    OPEN_VOCAB,
    STRING,
    STRINGS,
    TIMESTAMP,
    TIMESTAMP_MS,
    Found,
    Prop,
    TypeSpec,
    add_finding,
    enum,
)
from accord.stix.vocab import EXTENSION_TYPES, TLP1_LEVELS

# --- hooks: rules that relate several properties ------------------------------------------


# Section 7.2.1.4 (and the OASIS TLP 2.0 extension): TLP levels are carried only by the standard
# definitions, so a TLP level under any other id is a forgery policy must not trust.
_NOT_STANDARD_TLP = "a TLP marking definition must use the standard id of its level"


def _marking_definition_rules(obj: Mapping[str, Any]) -> Found | None:
    found: Found | None = None
    own_id = obj.get("id")
    # A non-string id cannot be looked up (markings would raise); the id check reports it.
    standard = isinstance(own_id, str) and own_id in STANDARD_TLP
    forged = standard_definition_problem(obj) if standard else None
    if forged is not None:
        found = add_finding(found, "", forged)
    dtype, definition = obj.get("definition_type"), obj.get("definition")
    if "extensions" not in obj:
        # Without an extension (as TLP 2.0 uses) the marking says what it is in these two.
        for name in ("definition_type", "definition"):
            if name not in obj:
                found = add_finding(found, name, "required when extensions is absent")
    elif (dtype is None) != (definition is None):
        missing = "definition" if definition is None else "definition_type"
        found = add_finding(found, missing, "definition_type and definition go together")
    if isinstance(definition, dict):
        if dtype == "statement" and not isinstance(definition.get("statement"), str):
            found = add_finding(found, "definition.statement", "a statement marking needs a statement string")
        elif dtype == "tlp":
            level = definition.get("tlp")
            if not (isinstance(level, str) and level in TLP1_LEVELS):
                found = add_finding(found, "definition.tlp", "must be one of white, green, amber, red")
            elif not standard:
                found = add_finding(found, "id", _NOT_STANDARD_TLP)
    extensions = obj.get("extensions")
    if isinstance(extensions, dict) and TLP2_EXTENSION in extensions and not standard:
        found = add_finding(found, "id", _NOT_STANDARD_TLP)
    marking_refs = obj.get("object_marking_refs")
    if isinstance(marking_refs, list) and own_id in marking_refs:
        found = add_finding(found, "object_marking_refs", "a marking definition must not mark itself")
    return found


def _extension_definition_rules(obj: Mapping[str, Any]) -> Found | None:
    types = obj.get("extension_types")
    toplevel = isinstance(types, list) and "toplevel-property-extension" in types
    if "extension_properties" in obj and not toplevel:
        return [("extension_properties", "only for a toplevel-property-extension")]
    return None


# RFC 5646 language tags, loosely: primary subtag then any subtags.
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,8}(?:-[A-Za-z0-9]{1,8})*")


def _language_content_rules(obj: Mapping[str, Any]) -> Found | None:
    found: Found | None = None
    contents = obj.get("contents")
    if isinstance(contents, dict):
        for lang, translated in contents.items():
            if not _LANGUAGE_TAG.fullmatch(lang):
                found = add_finding(found, f"contents.{lang}", "key must be an RFC 5646 language tag")
            if not isinstance(translated, dict) or not translated:
                found = add_finding(found, f"contents.{lang}", "must be a non-empty object of translations")
    return found


# --- meta objects (section 7) ---------------------------------------------------------------

META_SPECS: tuple[TypeSpec, ...] = (
    # 7.1 Language Content
    TypeSpec(
        "language-content",
        {"object_ref": IDENTIFIER, "object_modified": TIMESTAMP, "contents": DICTIONARY},
        ("object_ref", "contents"),
        _language_content_rules,
    ),
    # 7.2 Data Markings: marking definitions are not versioned, so only created is required;
    # a modified some producers add anyway is checked like any timestamp.
    TypeSpec(
        "marking-definition",
        {"name": STRING, "definition_type": OPEN_VOCAB, "definition": OBJECT, "modified": TIMESTAMP_MS},
        rules=_marking_definition_rules,
    ),
    # 7.3 Extension Definition
    TypeSpec(
        "extension-definition",
        {
            "name": STRING, "description": STRING, "schema": STRING, "version": STRING,
            "extension_types": Prop("list", item=enum(EXTENSION_TYPES)), "extension_properties": STRINGS,
        },
        ("created_by_ref", "name", "schema", "version", "extension_types"),
        _extension_definition_rules,
    ),
)
