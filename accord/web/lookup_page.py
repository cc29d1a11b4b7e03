"""The lookup page: paste values, see which visible objects mention them (services/lookup.py decides)."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import Route

from accord.errors import RequestError
from accord.policy.gate import visibility
from accord.services.decay import Scoring
from accord.services.lookup import MAX_VALUES, lookup
from accord.services.warninglists import benign
from accord.web.pages import Page, page

MAX_TEXT = 2 * 1024 * 1024


@page()
def lookup_page(p: Page) -> Response:
    text = p.field("values") if p.form is not None else ""
    if len(text) > MAX_TEXT:
        raise RequestError("values", f"at most {MAX_TEXT // 1024 // 1024} MiB of values at once")
    values = list(dict.fromkeys(v.strip() for v in text.splitlines() if v.strip()))
    if len(values) > MAX_VALUES:
        raise RequestError("values", f"at most {MAX_VALUES} values at once; {len(values)} were given")
    now = p.ctx.clock()
    results = lookup(p.ctx.store, visibility(p.ctx.store, p.viewer, now), values, benign=benign,
                     scoring=Scoring(p.ctx.decay, p.ctx.sighting_min_count, now)) if values else None
    return p.render("lookup.html", text=text, results=results)


ROUTES = [Route("/lookup", lookup_page, methods=["GET", "POST"])]
