"""Reading pages: the dashboard, search with facets, and the object page.

Each page asks policy.gate for the viewer's visibility and the services for what it may see;
nothing here filters on its own.
"""

from __future__ import annotations

import math
from typing import Any

import orjson
from starlette.responses import Response
from starlette.routing import Route

from accord.errors import NotFoundError
from accord.policy import administration as admin
from accord.policy.gate import visibility
from accord.policy.roles import Role
from accord.services.alert_views import visible_alerts
from accord.services.decay import explain
from accord.services.objects import object_view
from accord.services.search import Searcher, SearchRequest, request_from_params
from accord.stix.markings import TLP_LEVELS
from accord.stix.vocab import SDO_TYPES
from accord.web.pages import Page, page

FACET_NAMES = {"type": "type", "tlp": "tlp", "owner": "owner", "collection": "collection", "state": "state"}


@page()
def dashboard(p: Page) -> Response:
    store, viewer = p.ctx.store, p.viewer
    vis = visibility(store, viewer, p.ctx.clock())
    # "Recently": the newest window of the store; an owner of most of it gets an answer at once.
    shared = Searcher(store, vis).search(SearchRequest(others_only=True, limit=15, windows=1), facets=False)
    drafts = store.drafts(viewer.org_pk, limit=50) if viewer.org_pk is not None else []
    mine = {d.pk for d in drafts if p.ctx.four_eyes and d.author == viewer.username}
    awaiting = [h for h in Searcher(store, vis).hits_of([d.pk for d in drafts]) if h.row.pk not in mine]
    # Which partner nodes this node syncs with is the operator's business (as GET /api/v1/peers).
    peers = store.peers() if admin.may_administer_node(viewer) else []
    # The organisation's alerts, each only while it may still see what fired it (services/alert_views.py).
    only_open = p.request.query_params.get("alerts") == "open"
    alerts = visible_alerts(store, vis, viewer.org_pk, limit=10, acknowledged=False if only_open else None,
                            channel="web") if viewer.org_pk is not None else []
    return p.render("dashboard.html", shared=shared.hits, awaiting=awaiting,
                    may_publish=viewer.role.at_least(Role.PUBLISHER), peers=peers, now=p.ctx.clock(), alerts=alerts,
                    only_open=only_open, may_acknowledge=admin.may_acknowledge_alerts(viewer),
                    delivery_errors=viewer.org_pk is not None
                    and admin.may_read_alert_rule_details(viewer, viewer.org_pk))


@page()
def search(p: Page) -> Response:
    params = p.request.query_params
    req = request_from_params(params.get, params.getlist)
    vis = visibility(p.ctx.store, p.viewer, p.ctx.clock())
    result = Searcher(p.ctx.store, vis).search(req)
    # Links that add or remove one facet value keep every other parameter (and drop the cursor).
    base = [(k, v) for k, v in params.multi_items() if k != "cursor"]
    return p.render("search.html", req=req, result=result, params=base, facet_names=FACET_NAMES,
                    q=params.get("q", ""), tlp_levels=TLP_LEVELS,
                    types=sorted({t for t, _ in result.facets.get("type", [])}))


def _graph(view: Any) -> dict[str, Any]:
    """Positions for a radial SVG: the object in the middle, its neighbours on a circle."""
    edges = view.edges[:24]
    width, height, radius = 720, 440, 170
    nodes = []
    for i, edge in enumerate(edges):
        angle = 2 * math.pi * i / max(1, len(edges)) - math.pi / 2
        x, y = width / 2 + radius * 1.55 * math.cos(angle), height / 2 + radius * math.sin(angle)
        name = edge.other.name if edge.other is not None else "(not visible to you)"
        nodes.append({"x": round(x, 1), "y": round(y, 1), "edge": edge, "name": name[:40],
                      "type": edge.other.row.type if edge.other is not None else edge.other_id.split("--")[0],
                      "lx": round((x + width / 2) / 2, 1), "ly": round((y + height / 2) / 2, 1)})
    return {"width": width, "height": height, "cx": width / 2, "cy": height / 2, "nodes": nodes,
            "more": max(0, len(view.edges) - len(edges))}


@page()
def object_page(p: Page) -> Response:
    stix_id = p.request.path_params["stix_id"]
    if "\x00" in stix_id or len(stix_id) > 300:
        raise NotFoundError("no such object")
    now = p.ctx.clock()
    vis = visibility(p.ctx.store, p.viewer, now)
    view = object_view(p.ctx.store, vis, stix_id, correlation_cap=p.ctx.correlation_cap,
                       sighting_min_count=p.ctx.sighting_min_count)
    current = view.current
    # Decay (services/decay.py): from the body shown and the sightings this reader may be told of.
    score = explain(current.obj, view.sightings.shown if view.sightings else (), now, p.ctx.decay)
    own = current.row.owner_org == p.viewer.org_pk
    return p.render("object.html", view=view, current=current, graph=_graph(view),
                    correlation_cap=p.ctx.correlation_cap, score=score, tlp_levels=TLP_LEVELS,
                    may_sight=p.viewer.role.at_least(Role.ANALYST) and current.row.type in SDO_TYPES,
                    pretty=orjson.dumps(current.obj, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode(),
                    may_publish=own and p.viewer.role.at_least(Role.PUBLISHER) and current.row.state == "draft"
                    and not (p.ctx.four_eyes and current.author == p.viewer.username),
                    may_retract=own and p.viewer.role.at_least(Role.PUBLISHER) and current.row.state == "published")


ROUTES = [
    Route("/", dashboard, methods=["GET"]),
    Route("/search", search, methods=["GET"]),
    Route("/objects/{stix_id}", object_page, methods=["GET"]),
]
