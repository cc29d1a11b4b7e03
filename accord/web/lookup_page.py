"""The lookup page: paste values, see which visible objects mention them (services/lookup.py decides)."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import Route

from accord.policy.gate import visibility
from accord.services.decay import Scoring
from accord.services.lookup import MAX_VALUES, lookup
from accord.services.warninglists import benign
from accord.web.pages import Page, page


@page()
def lookup_page(p: Page) -> Response:
    text, values = p.pasted_values("values", MAX_VALUES)
    now = p.ctx.clock()
    results = lookup(p.ctx.store, visibility(p.ctx.store, p.viewer, now), values, benign=benign,
                     scoring=Scoring(p.ctx.decay, p.ctx.sighting_min_count, now)) if values else None
    return p.render("lookup.html", text=text, results=results)


ROUTES = [Route("/lookup", lookup_page, methods=["GET", "POST"])]
