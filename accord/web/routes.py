"""Every route of the web UI, in one list for app.py (the pages' modules each hold their own)."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from accord.web import admin as web_admin
from accord.web import alert_pages, audit_pages, auth, browse, lookup_page, preview, release, sightings, users
from accord.web import overlap_page as web_overlap
from accord.web.context import STATIC


async def favicon(_: object) -> Response:
    # Browsers ask for /favicon.ico by themselves; answer it here rather than let the TAXII
    # API-root route claim the path.
    return Response(status_code=204, headers={"Cache-Control": "max-age=86400"})


ROUTES = [
    *auth.ROUTES,
    *browse.ROUTES,
    *lookup_page.ROUTES,
    *web_overlap.ROUTES,
    *release.ROUTES,
    *sightings.ROUTES,
    *preview.ROUTES,
    *web_admin.ROUTES,
    *users.ROUTES,
    *alert_pages.ROUTES,
    *audit_pages.ROUTES,
    Route("/favicon.ico", favicon, methods=["GET"]),
    Mount("/static", StaticFiles(directory=STATIC), name="static"),
]
