"""The sharing preview: what another organisation would receive, decided by the gate itself.

One implementation for the REST API (``GET /api/v1/preview``) and the web UI (Sharing preview,
"Who will receive this?"). The partner organisation's visibility is compiled with
``policy.gate.org_visibility``, the call sync push and ``export --for-org`` make, so the preview
cannot disagree with what an exchange would send. Nothing is disclosed: nobody received anything,
so no receipt is written.

What the asker may learn is limited like everywhere else: a member previews only organisations
it may know (its own agreements' parties, policy.administration.visible_orgs), sees only its own
organisation's data in the listing (a node admin too: the preview is not a way around the gate),
and an agreement its organisation is not party to is never named.
"""

from __future__ import annotations

from dataclasses import dataclass

from accord.errors import NotFoundError
from accord.policy import administration as admin
from accord.policy.gate import Allowance, org_visibility, visibility
from accord.policy.viewer import Viewer
from accord.services.search import Searcher, SearchRequest, SearchResult
from accord.storage.base import ListedVersion, Organisation, State, Store

MAX_ID = 300


@dataclass(frozen=True)
class Answer:
    """Whether one organisation would receive the object's current version, and by which rule."""

    org: str
    kind: str
    receives: bool
    rule: str | None  # owner, clear, agreement, red recipient, onward
    agreement: str | None  # named only when the asker's organisation is party to it


@dataclass(frozen=True)
class ObjectPreview:
    stix_id: str
    row: ListedVersion
    tlp: str
    state: str
    answers: list[Answer]

    @property
    def draft(self) -> bool:
        return self.state == State.DRAFT.value


def previewable_orgs(store: Store, viewer: Viewer) -> list[Organisation]:
    """The organisations the viewer may preview: those it may know, other than its own."""
    return [o for o in admin.visible_orgs(viewer, store.orgs(), store.agreements()) if o.pk != viewer.org_pk]


def rule_of(allowance: Allowance) -> str:
    if allowance.why in ("owner", "clear"):
        return allowance.why
    if allowance.received_only:
        return "onward"
    return "red recipient" if allowance.recipient is not None else "agreement"


def preview_listing(store: Store, viewer: Viewer, org_name: str, *, text: str | None, cursor: str | None,
                    limit: int, now: int) -> tuple[Organisation, Searcher, SearchResult]:
    """A page of what ``org_name`` would receive; NotFoundError for an organisation the viewer
    may not preview, exactly as for one that does not exist."""
    org = next((o for o in previewable_orgs(store, viewer) if o.name == org_name), None)
    if org is None:
        raise NotFoundError(f"no organisation {org_name!r}")
    # The asker's own organisation's data, for a node admin too: the preview must not become a way
    # to read what another organisation shares with a third (docs/sharing-model.md).
    owners = (viewer.org_name or "",)
    searcher = Searcher(store, org_visibility(store, org.pk, now), names_for=viewer)
    result = searcher.search(SearchRequest(text=text, owners=owners, limit=limit, cursor=cursor), disclose_rows=False)
    return org, searcher, result


def preview_object(store: Store, viewer: Viewer, stix_id: str, *, now: int) -> ObjectPreview:
    """Every previewable organisation's answer for the viewer's organisation's copy of an object;
    a draft is judged as if it were published."""
    if len(stix_id) > MAX_ID or "\x00" in stix_id:
        raise NotFoundError(f"no object {stix_id!r}")
    mine = visibility(store, viewer, now)
    own = [r for r in store.object_versions(stix_id, mine.predicate()) if r.owner_org == viewer.org_pk]
    if not own:
        raise NotFoundError(f"no object {stix_id!r}")
    row = own[-1]
    facts = next(f for f in store.version_facts(stix_id) if f.pk == row.pk)
    judged = facts._replace(state=State.PUBLISHED.value) if facts.state == State.DRAFT.value else facts
    named = {a.name for a in admin.visible_agreements(viewer, store.agreements())}
    answers = []
    for org in previewable_orgs(store, viewer):
        allowance = org_visibility(store, org.pk, now).allowance_for(judged, row.collection_pk)
        answers.append(Answer(org.name, org.kind, allowance is not None,
                              rule_of(allowance) if allowance is not None else None,
                              allowance.agreement if allowance is not None and allowance.agreement in named
                              else None))
    return ObjectPreview(stix_id, row, mine.level(row, row.collection_pk), facts.state, answers)
