"""Sharing preview: "as partner X", exactly what another organisation would receive, from the gate.

The preview compiles the partner organisation's own visibility (policy.gate.org_visibility, the
same call sync push and ``export --for-org`` use) and shows the caller's organisation's objects
it admits, redacted as the partner would get them. Nothing is disclosed or receipted: nobody
received anything. A user sees the preview of their own organisation's data only; what a partner
gets from third parties is not theirs to know. For one object, it shows each organisation's
answer for the current version, including drafts "once published".
"""

from __future__ import annotations

from dataclasses import replace

from starlette.responses import Response
from starlette.routing import Route

from accord.errors import NotFoundError, RequestError
from accord.policy.gate import org_visibility, visibility
from accord.services.search import Searcher, SearchRequest
from accord.storage.base import State
from accord.web.pages import Page, page


def _partners(p: Page) -> list[str]:
    return [o.name for o in p.ctx.store.orgs() if o.pk != p.viewer.org_pk]


@page()
def preview(p: Page) -> Response:
    store, now = p.ctx.store, p.ctx.clock()
    partners = _partners(p)
    stix_id = p.request.query_params.get("object")
    if stix_id:
        return _object_preview(p, stix_id, partners)
    partner = p.request.query_params.get("org")
    if not partner:
        return p.render("preview.html", partners=partners, partner=None, result=None)
    if partner not in partners:
        raise RequestError("org", f"no other organisation {partner!r}")
    org = store.get_org(partner)
    vis = org_visibility(store, org.pk, now)
    owners = () if p.viewer.is_node_admin else (p.viewer.org_name,)
    params = p.request.query_params
    req = SearchRequest(text=params.get("q") or None, owners=owners, limit=100, cursor=params.get("cursor") or None)
    result = Searcher(store, vis).search(req, disclose_rows=False)
    return p.render("preview.html", partners=partners, partner=partner, result=result, q=params.get("q", ""))


def _object_preview(p: Page, stix_id: str, partners: list[str]) -> Response:
    store, now = p.ctx.store, p.ctx.clock()
    mine = visibility(store, p.viewer, now)
    rows = store.object_versions(stix_id, mine.predicate())
    own = [r for r in rows if r.owner_org == p.viewer.org_pk or p.viewer.is_node_admin]
    if not own:
        raise NotFoundError(f"no object {stix_id}")
    row = own[-1]
    facts = next(f for f in store.version_facts(stix_id) if f.pk == row.pk)
    answers = []
    for name in partners:
        org = store.get_org(name)
        vis = org_visibility(store, org.pk, now)
        published = replace(facts, state=State.PUBLISHED.value) if facts.state == State.DRAFT.value else facts
        allowance = vis.allowance_for(published, row.collection_pk)
        answers.append((name, org.kind, allowance.why if allowance is not None else None))
    return p.render("preview_object.html", stix_id=stix_id, row=row, answers=answers,
                    tlp=mine.level(row.facts(), row.collection_pk), draft=facts.state == State.DRAFT.value)


ROUTES = [Route("/preview", preview, methods=["GET"])]
