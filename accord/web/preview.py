"""Sharing preview pages: "as partner X" and "who will receive this object?".

services/preview.py decides both, for the REST API too: the partner organisation's own
visibility from the gate, restricted to what the asker may know; nothing is receipted.
"""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import Route

from accord.services.preview import preview_listing, preview_object, previewable_orgs
from accord.web.pages import Page, page

PAGE = 100


@page()
def preview(p: Page) -> Response:
    store, now, params = p.ctx.store, p.ctx.clock(), p.request.query_params
    stix_id = params.get("object")
    if stix_id:
        found = preview_object(store, p.viewer, stix_id, now=now)
        return p.render("preview_object.html", preview=found)
    partners = [o.name for o in previewable_orgs(store, p.viewer)]
    partner = params.get("org")
    if not partner:
        return p.render("preview.html", partners=partners, partner=None, result=None)
    _, _, result = preview_listing(store, p.viewer, partner, text=(params.get("q") or "").strip() or None,
                                   cursor=params.get("cursor") or None, limit=PAGE, now=now)
    return p.render("preview.html", partners=partners, partner=partner, result=result, q=params.get("q", ""))


ROUTES = [Route("/preview", preview, methods=["GET"])]
