"""Upgrade STIX 2.0 objects to STIX 2.1 on import.

Accord stores STIX 2.1 only, but real feeds (MITRE's ``cti`` repository, many vendor report
bundles, MISP's 2.0 exporter) still publish STIX 2.0. Ingest asks :func:`needs_upgrade` for
every object and passes the ones that need it through :func:`upgrade_object` before
validation, so the validator, the store and every reader only ever see 2.1.

The upgrade is a rename-and-annotate, never a reinterpretation:

* ``spec_version: "2.1"`` is added (2.1 section 3.2 requires it on SDOs, SROs and marking
  definitions; its absence is what marks an SDO as 2.0).
* The 2.0 ``labels`` of indicator, malware, report, threat-actor and tool move to the property
  2.1 gave that meaning (``indicator_types`` ... ``tool_types``, sections 4.7, 4.11, 4.16,
  4.17, 4.18). ``labels`` is not kept beside them: see ``_TYPES_FROM_LABELS``.
* indicator gets ``pattern_type: "stix"`` and ``pattern_version: "2.0"`` (section 4.7).
* malware gets ``is_family: true`` (section 4.11): the one value 2.0 does not state. It is an
  inference, listed in ``INFERRED`` and in docs/stix-2.0-upgrade.md.
* the four TLP 1.0 marking definitions get the ``name`` section 7.2.1.4 fixes for them.
* in ``external_references[].hashes`` the 2.0 key ``ssdeep`` becomes 2.1's ``SSDEEP``
  (sections 2.5.1, 10.7); granular-marking selectors that pointed at a moved ``labels``
  follow it (section 7.2.3).
* a 2.0 bundle loses ``spec_version`` (section 8 defines no such property on a bundle) and
  its objects are upgraded.

Everything else is copied as is: timestamps, ids, references, custom ``x_`` properties and
custom object types, and 2.0 ``observed-data.objects`` (section 4.14 keeps the container,
deprecated) with its embedded 2.0 observables.

Nothing 2.1 requires is made up when 2.0 cannot supply it: a top-level cyber-observable in a
2.0 bundle is not given an ``id``, an object that was already invalid 2.0 (an indicator without
``valid_from``) is not completed. Validation then reports those objects, which is the point.

Both functions are pure and cheap (one pass over the top-level keys, no deep copy): nested
values of the result are shared with the input, so callers must treat both as read-only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from accord.stix.markings import STANDARD_TLP
from accord.stix.vocab import SCO_TYPES

SPEC_VERSION: Final = "2.1"

# SCO_TYPES (STIX 2.1 section 6): in 2.1 an SCO may omit spec_version (section 3.2: the
# implied value is 2.1 for SCOs), so a missing spec_version on one of these does not make it
# 2.0. In 2.0 these never stood at top level; they lived inside observed-data, which is why
# only an enclosing "2.0" bundle makes one of them 2.0.

# In 2.0 ``labels`` was required on these five types and drew on a per-type vocabulary
# (indicator-label-ov, malware-label-ov, ...). 2.1 moved that meaning to a typed property with
# the matching *-type-ov vocabulary (sections 4.7, 4.11, 4.16, 4.17, 4.18) and left ``labels``
# as a free tag list common to all objects (section 3.2). The values are moved, not copied:
# keeping them in ``labels`` as well would turn vocabulary terms ("malicious-activity") into
# tags that label-scoped sharing agreements would match although no 2.1 producer would have
# tagged the object so, and would make the upgraded object differ from the same producer's own
# 2.1 edition. On every other type ``labels`` already meant what it means in 2.1 and stays.
_TYPES_FROM_LABELS: Final[dict[str, str]] = {
    "indicator": "indicator_types",
    "malware": "malware_types",
    "report": "report_types",
    "threat-actor": "threat_actor_types",
    "tool": "tool_types",
}

# Properties the upgrade adds whose value 2.0 does not state explicitly, with why the value is
# still the right one. Ingest may show this to an operator; the docs page lists the same.
INFERRED: Final[dict[tuple[str, str], str]] = {
    ("malware", "is_family"): (
        "true: a 2.0 malware object has only name, description, labels and kill chain phases, "
        "no sample-level properties, which is what 2.1 calls a family; MITRE's own 2.1 edition "
        "of ATT&CK sets is_family true on the same objects"
    ),
}

# STIX patterning was the only pattern language a 2.0 indicator could carry, so both values are
# stated by the 2.0 object, not guessed. pattern_version is written out because section 4.7
# makes the default follow the object's spec_version, which is now 2.1. The two grammars are
# nearly the same (2.1 adds EXISTS), so most 2.0 patterns also parse as 2.1, but the object
# paths in them name 2.0 observable properties: process:name, file:is_encrypted,
# windows-registry-key:modified and hashes.ssdeep have no 2.1 counterpart under that name.
# Saying "2.0" keeps the pattern's meaning exact; stix2 and stix2-validator both honour it.
_INDICATOR_PATTERN_TYPE: Final = "stix"
_INDICATOR_PATTERN_VERSION: Final = "2.0"

# The TLP 1.0 marking definitions have fixed content (2.1 section 7.2.1.4); the 2.1 form adds
# ``name`` ("TLP:AMBER"). Filling it in makes an upgraded copy equal to the canonical 2.1 object,
# so the same definition received from a 2.0 feed and a 2.1 peer is not a version conflict.
_TLP1_WORD: Final[dict[str, str]] = {
    mid: word for mid, (_, version, word) in STANDARD_TLP.items() if version == 1
}


def needs_upgrade(obj: Mapping[str, Any], bundle_spec_version: str | None) -> bool:
    """Whether ``obj`` is STIX 2.0 and should go through :func:`upgrade_object`.

    ``bundle_spec_version`` is the enclosing bundle's ``spec_version`` (None when there is no
    bundle or it has none). An object that states a spec_version is judged by it alone, so a
    2.1 object inside a mislabelled "2.0" bundle is left as it is. A bundle is 2.0 if it says
    so, and also needs the upgrade when any object in it does.
    """
    spec_version: object = obj.get("spec_version")
    stix_type: object = obj.get("type")
    if stix_type == "bundle":
        if spec_version == "2.0":
            return True
        objects = obj.get("objects")
        return isinstance(objects, list) and any(
            isinstance(o, Mapping) and needs_upgrade(o, None) for o in objects
        )
    if spec_version is not None:
        # 2.0 objects have no spec_version at all; "2.0" written out by a producer means the same.
        return spec_version == "2.0"
    if bundle_spec_version == "2.0":
        return True
    # Section 3.2: without spec_version, an SCO is implicitly 2.1 and anything else is 2.0.
    return not (isinstance(stix_type, str) and stix_type in SCO_TYPES)


def upgrade_object(obj: dict[str, Any]) -> dict[str, Any]:
    """Return a STIX 2.1 form of the 2.0 object ``obj`` (a new dict; ``obj`` is not changed).

    Key order is kept; ``spec_version`` goes right after ``type`` and ``id`` (after whichever
    of the two comes later), added properties go after the property they belong with.
    Unknown and custom types get ``spec_version`` and are otherwise copied. An object that
    already states a spec_version other than "2.0" is copied unchanged, so upgrading an
    upgrade's output is a no-op.
    """
    stix_type = obj.get("type")
    if stix_type == "bundle":
        return _upgrade_bundle(obj)
    spec_version = obj.get("spec_version")
    if spec_version is not None and spec_version != "2.0":
        return dict(obj)

    types_key: str | None = None
    anchor: str | None = None
    additions: tuple[tuple[str, Any], ...] = ()
    if isinstance(stix_type, str):
        types_key = _TYPES_FROM_LABELS.get(stix_type)
        if types_key is not None and ("labels" not in obj or types_key in obj):
            # Nothing to move, or the producer already wrote the 2.1 property: leave labels be.
            types_key = None
        if stix_type == "indicator":
            anchor, additions = "pattern", _indicator_additions(obj)
        elif stix_type == "malware" and "is_family" not in obj:
            anchor, additions = "name", (("is_family", True),)
        elif stix_type == "marking-definition":
            anchor, additions = "definition_type", _tlp_name_addition(obj)

    has_id = "id" in obj
    seen_type = seen_id = False
    header_done = False
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if key == "spec_version":
            continue  # a stated "2.0" is replaced at the header position below
        if key == "labels" and types_key is not None:
            out[types_key] = value
            continue
        out[key] = value
        if not header_done:
            if key == "type":
                seen_type = True
            elif key == "id":
                seen_id = True
            if seen_type and (seen_id or not has_id):
                out["spec_version"] = SPEC_VERSION
                header_done = True
        if key == anchor and additions:
            out.update(additions)
            additions = ()
    if not header_done:
        out["spec_version"] = SPEC_VERSION
    if additions:
        out.update(additions)
    if types_key is not None and "granular_markings" in out:
        out["granular_markings"] = _rename_selectors(out["granular_markings"], types_key)
    if "external_references" in out:
        out["external_references"] = _rename_hash_keys(out["external_references"])
    return out


def _indicator_additions(obj: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    # Some 2.0 producers already write pattern_type (Unit 42 does); keep theirs. A pattern type
    # other than "stix" was never 2.0, so no pattern_version is claimed for it.
    added: list[tuple[str, Any]] = []
    if "pattern_type" not in obj:
        added.append(("pattern_type", _INDICATOR_PATTERN_TYPE))
    if obj.get("pattern_type", _INDICATOR_PATTERN_TYPE) == "stix" and "pattern_version" not in obj:
        added.append(("pattern_version", _INDICATOR_PATTERN_VERSION))
    return tuple(added)


def _tlp_name_addition(obj: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    object_id = obj.get("id")
    word = _TLP1_WORD.get(object_id) if isinstance(object_id, str) else None
    if word is None or "name" in obj or obj.get("definition_type") != "tlp":
        return ()
    definition = obj.get("definition")
    if not isinstance(definition, Mapping) or definition.get("tlp") != word:
        # A standard id with the wrong level is a forgery for markings.py to report; naming it
        # after the id's level would make it look genuine.
        return ()
    return (("name", f"TLP:{word.upper()}"),)


def _rename_selectors(granular_markings: Any, types_key: str) -> Any:
    # Section 7.2.3: a selector names a property path in the object. Selectors that pointed at
    # the 2.0 labels must follow the values to their new property, or they would select nothing
    # (and the validator rejects a selector that does not resolve).
    if not isinstance(granular_markings, list):
        return granular_markings
    renamed: list[Any] = []
    for marking in granular_markings:
        selectors = marking.get("selectors") if isinstance(marking, Mapping) else None
        if isinstance(selectors, list) and any(_selects_labels(s) for s in selectors):
            marking = dict(marking)
            marking["selectors"] = [
                types_key + s[len("labels") :] if _selects_labels(s) else s for s in selectors
            ]
        renamed.append(marking)
    return renamed


def _rename_hash_keys(external_references: Any) -> Any:
    # 2.0's hash-algorithm-ov spelled the fuzzy hash "ssdeep"; 2.1's (section 10.7) spells it
    # "SSDEEP", and section 2.5.1 says external-reference hash keys MUST come from that
    # vocabulary. Same algorithm, same value: only the key is respelled. Names 2.1 dropped
    # (SHA-384, WHIRLPOOL, ...) have no 2.1 spelling; they are left for validation to report.
    if not isinstance(external_references, list) or not any(
        isinstance(ref, Mapping) and isinstance(ref.get("hashes"), Mapping) and "ssdeep" in ref["hashes"]
        for ref in external_references
    ):
        return external_references
    renamed: list[Any] = []
    for ref in external_references:
        hashes = ref.get("hashes") if isinstance(ref, Mapping) else None
        if isinstance(hashes, Mapping) and "ssdeep" in hashes and "SSDEEP" not in hashes:
            ref = dict(ref)
            ref["hashes"] = {("SSDEEP" if k == "ssdeep" else k): v for k, v in hashes.items()}
        renamed.append(ref)
    return renamed


def _selects_labels(selector: Any) -> bool:
    return isinstance(selector, str) and (selector == "labels" or selector.startswith("labels."))


def _upgrade_bundle(bundle: dict[str, Any]) -> dict[str, Any]:
    # Section 8: a 2.1 bundle has no spec_version (a reader that sees one takes the bundle for
    # 2.0), so it is dropped; the 2.0 it stated is what each object is judged against.
    bundle_spec_version = bundle.get("spec_version")
    out = {key: value for key, value in bundle.items() if key != "spec_version"}
    objects = out.get("objects")
    if isinstance(objects, list):
        hint = bundle_spec_version if isinstance(bundle_spec_version, str) else None
        out["objects"] = [
            upgrade_object(o) if isinstance(o, dict) and needs_upgrade(o, hint) else o for o in objects
        ]
    return out
