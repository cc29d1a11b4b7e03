"""Release: what state a write starts in, and publishing and retracting versions.

Nothing leaves an organisation before a publisher releases it (DESIGN.md, sharing model):
an analyst's writes are drafts; a publisher's are published on write unless they ask for a
draft. With four eyes required (the ``four_eyes`` setting) every write is a draft and the
publisher who releases it must not be its author. Retraction hides a version from everyone
but its owner; it is what sync will propagate to partners.
"""

from __future__ import annotations

from collections.abc import Sequence

from accord.errors import ConfigError, NotFoundError
from accord.policy.roles import Role
from accord.policy.viewer import Viewer
from accord.stix.timestamps import timestamp_key
from accord.storage.base import Provenance, State, Store, VersionFacts


class ReleaseError(ConfigError):
    """A publish or retraction the caller may not make (wrong role, four eyes, wrong owner); also
    another write its role does not allow (reporting a sighting, acknowledging an alert)."""


def write_provenance(store: Store, viewer: Viewer, *, draft: bool = False, four_eyes: bool = False,
                     org: str | None = None, recipients: Sequence[str] = ()) -> Provenance:
    """Owner and initial state of what ``viewer`` writes. The node operator writes for ``org``
    (default: the node's own organisation); a user always writes for their own organisation."""
    if viewer.org_pk is None:
        owner = store.get_org(org or "node")
        publishes = True
    else:
        if org is not None and org != viewer.org_name:
            raise ReleaseError(f"user {viewer.username!r} writes for organisation {viewer.org_name!r} only, "
                               f"not {org!r}")
        owner = store.get_org(viewer.org_name or "")
        publishes = viewer.role.at_least(Role.PUBLISHER)
    state = State.PUBLISHED if publishes and not draft and not four_eyes else State.DRAFT
    recipient_pks = tuple(store.get_org(name).pk for name in dict.fromkeys(recipients))
    author = None if viewer.org_pk is None else viewer.username
    return Provenance(owner.pk, state, author, recipients=recipient_pks, owner_name=owner.name)


def _owned(store: Store, viewer: Viewer, stix_id: str, version: str | None, states: set[str]) -> list[VersionFacts]:
    facts = store.version_facts(stix_id, viewer.org_pk)
    if version is not None:
        # A version is named by its `modified` timestamp, in any precision STIX allows.
        key = timestamp_key(version) or version
        facts = [f for f in facts if f.version == key]
    if not facts:
        # The same words whether the object is absent or another organisation's.
        raise NotFoundError(f"no object {stix_id!r}" + (f" version {version!r}" if version else "")
                            + " owned by your organisation")
    return [f for f in facts if f.state in states]


def _require_publisher(viewer: Viewer) -> None:
    if viewer.org_pk is not None and not viewer.role.at_least(Role.PUBLISHER):
        raise ReleaseError(f"user {viewer.username!r} is {viewer.role.value}; releasing needs publisher or above")


def publish(store: Store, viewer: Viewer, stix_id: str, *, version: str | None = None,
            recipients: Sequence[str] = (), four_eyes: bool = False) -> list[VersionFacts]:
    """Publish the drafts of an object (one version, or all) that the viewer's organisation owns."""
    _require_publisher(viewer)
    drafts = _owned(store, viewer, stix_id, version, {State.DRAFT.value})
    if four_eyes:
        own = [f for f in drafts if f.author is not None and f.author == viewer.username]
        if own:
            raise ReleaseError(f"four eyes are required: {viewer.username!r} wrote {stix_id} version "
                               f"{own[0].version!r} and cannot also release it")
    recipient_pks = [store.get_org(name).pk for name in dict.fromkeys(recipients)]
    store.set_state(drafts, State.PUBLISHED, actor=viewer.username, recipients=recipient_pks,
                    detail={"recipients": list(dict.fromkeys(recipients))} if recipients else None)
    return drafts


def retract(store: Store, viewer: Viewer, stix_id: str, *, version: str | None = None) -> list[VersionFacts]:
    """Retract published versions of an object the viewer's organisation owns."""
    _require_publisher(viewer)
    published = _owned(store, viewer, stix_id, version, {State.PUBLISHED.value})
    store.set_state(published, State.RETRACTED, actor=viewer.username)
    return published
