"""Administration pages: agreements, collections, users and tokens, the audit log."""

from __future__ import annotations

from starlette.routing import Route

ROUTES: list[Route] = []
