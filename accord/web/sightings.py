"""The object page's "We saw this" form: report a sighting (services/sightings.py).

The form posts kind, count, first and last seen, TLP, anonymity and a note; the service checks
that the reader may see the object and write where it lies, and stores the sighting with the
reader's release rules. Errors come back as the page's 400 or 403 with the field named.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.responses import Response
from starlette.routing import Route

from accord.policy.roles import Role
from accord.services import sightings
from accord.web.pages import Page, page, redirect

_FIELDS = ("kind", "count", "first_seen", "last_seen", "tlp", "description")


@page(Role.ANALYST)
def report(p: Page) -> Response:
    stix_id = p.request.path_params["stix_id"]
    params: dict[str, object] = {name: p.field(name) for name in _FIELDS}
    params["anonymous"] = p.field("anonymous") == "on"
    found = sightings.report_from(params, stix_id)
    recorded = sightings.record_sighting(p.ctx.store, p.viewer, found, now_micros=p.ctx.clock(),
                                         four_eyes=p.ctx.four_eyes)
    return redirect("/objects/" + quote(stix_id, safe=""),
                    "sighting-draft" if recorded.state == "draft" else "sighting-recorded")


ROUTES = [Route("/objects/{stix_id}/sightings", report, methods=["POST"])]
