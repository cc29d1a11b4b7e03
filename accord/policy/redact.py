"""Granular markings: the properties of a version a reader may not see are removed from what
that reader gets.

A granular marking (STIX 2.1 section 7.2.3) marks parts of an object, named by selectors such
as ``description`` or ``kill_chain_phases.[0].phase_name``. The object as a whole is judged by
its object-level markings; each granular TLP marking is judged by asking the gate whether the
reader could see the version if it carried that marking's level. If not, the selected property
(or list element) is removed, together with the granular marking entries that point into it.
A marking Accord cannot resolve removes what it marks (fail closed). Non-TLP markings
(statements) never remove anything.

The result can lack a property STIX requires (a removed ``pattern``, say): the reader gets what
the agreement gives it, not a guess. The version's id and ``modified`` stay, so the reader can
tell it is a redacted copy only by the missing property; docs/sharing-model.md says so.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

from accord.policy.gate import Visibility
from accord.stix.markings import UNKNOWN, tlp_of_refs
from accord.storage.base import VersionFacts

GRANULAR = b'"granular_markings"'
_INDEX = re.compile(r"\[([0-9]+)\]")


def _parse_selector(selector: str) -> list[str | int] | None:
    steps: list[str | int] = []
    for part in selector.split("."):
        found = _INDEX.fullmatch(part)
        if found:
            steps.append(int(found.group(1)))
        elif part:
            steps.append(part)
        else:
            return None
    return steps or None


def _remove(obj: Any, steps: list[str | int]) -> None:
    parent = obj
    for step in steps[:-1]:
        try:
            parent = parent[step]
        except (KeyError, IndexError, TypeError):
            return
    last = steps[-1]
    if isinstance(parent, dict) and isinstance(last, str):
        parent.pop(last, None)
    elif isinstance(parent, list) and isinstance(last, int) and 0 <= last < len(parent):
        parent[last] = None  # placeholder, so that later indices still point where they did


def _drop_placeholders(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_placeholders(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_drop_placeholders(v) for v in value if v is not None]
    return value


def redact(body: bytes, facts: VersionFacts, collection_pk: int, vis: Visibility,
           levels: Mapping[str, str]) -> bytes:
    """``body`` without the properties its granular markings hide from this viewer."""
    if GRANULAR not in body or vis.sees_everything or facts.owner_org == vis.viewer.org_pk:
        return body  # the owner gets its own object whole, whatever marks parts of it
    obj = orjson.loads(body)
    granular = obj.get("granular_markings")
    if not isinstance(granular, list):
        return body
    hidden: list[list[str | int]] = []
    kept: list[Any] = []
    for marking in granular:
        ref = marking.get("marking_ref") if isinstance(marking, dict) else None
        level = tlp_of_refs([ref], levels) if isinstance(ref, str) else UNKNOWN
        selectors = marking.get("selectors") if isinstance(marking, dict) else None
        if level is None or (level != UNKNOWN and vis.allowance_for(facts, collection_pk, level=level) is not None):
            kept.append(marking)
            continue
        for selector in selectors if isinstance(selectors, list) else ():
            steps = _parse_selector(selector) if isinstance(selector, str) else None
            if steps is not None and steps[0] not in ("id", "type", "spec_version", "granular_markings"):
                hidden.append(steps)
    if not hidden:
        return body
    for steps in hidden:
        _remove(obj, steps)
    obj = _drop_placeholders(obj)
    prefixes = {tuple(s) for s in hidden}
    survivors = []
    for marking in kept:
        selectors = [s for s in marking.get("selectors", []) if isinstance(s, str)
                     and not _under(_parse_selector(s), prefixes)]
        if selectors:
            survivors.append({**marking, "selectors": selectors})
    if survivors:
        obj["granular_markings"] = survivors
    else:
        obj.pop("granular_markings", None)
    return orjson.dumps(obj)


def _under(steps: list[str | int] | None, prefixes: set[tuple[str | int, ...]]) -> bool:
    if steps is None:
        return True
    # Removing a list element shifts the ones after it, so any selector into a list that lost an
    # element could now point elsewhere: drop those too rather than mislabel a property.
    for prefix in prefixes:
        if tuple(steps[: len(prefix)]) == prefix:
            return True
        if isinstance(prefix[-1], int) and tuple(steps[: len(prefix) - 1]) == prefix[:-1]:
            return True
    return False
