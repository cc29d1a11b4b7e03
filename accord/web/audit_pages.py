"""The audit log page: newest entries first, filtered and paged by sequence number, with the hash
chain's verification at the top for a node-admin.

Which entries a viewer reads is policy/administration.audit_scope's answer (an org-admin: their
organisation's entries only), the same as GET /api/v1/audit; the verification is
services/audit_check.py's, the same walk as ``accord audit verify``.
"""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import Route

from accord.errors import RequestError
from accord.policy import administration as admin
from accord.policy.roles import Role
from accord.services.audit_check import check_audit_log
from accord.web.admin import MAX_TEXT
from accord.web.pages import Page, PageError, page

PAGE_SIZE = 50
FILTERS = ("action", "object", "agreement", "org")


def _cursor(p: Page) -> int | None:
    text = p.request.query_params.get("before", "")
    if not text:
        return None
    if not (text.isascii() and text.isdigit()) or int(text) >= 2 ** 63:
        raise RequestError("before", "must be a sequence number (the link to older entries gives one)")
    return int(text)


@page(Role.ORG_ADMIN)
def audit_log(p: Page) -> Response:
    scope = admin.audit_scope(p.viewer)
    if scope is None:
        raise PageError(403, "Only a node-admin or an org-admin may read the audit log.")
    params = p.request.query_params
    query: dict[str, str | None] = {}
    for name in FILTERS:
        value = params.get(name, "").strip()
        if len(value) > MAX_TEXT or "\x00" in value:
            raise RequestError(name, f"must be at most {MAX_TEXT} characters, without NUL")
        query[name] = value or None
    if scope.org is not None:
        if query["org"] not in (None, scope.org):
            raise PageError(403, "An org-admin reads only their own organisation's audit entries.")
        query["org"] = scope.org
    before = _cursor(p)
    store = p.ctx.store
    records = store.audit_records(org=query["org"], stix_id=query["object"], agreement=query["agreement"],
                                  action=query["action"], limit=PAGE_SIZE + 1, before=before, newest_first=True)
    older = records[PAGE_SIZE - 1].seq if len(records) > PAGE_SIZE else None
    records = records[:PAGE_SIZE]
    stix_id = query["object"]
    items = {seq: [i for i in found if i[0] == stix_id]
             for seq, found in store.audit_items([r.seq for r in records]).items()} if stix_id else {}
    # The whole chain is walked for a node-admin's first page only: paging on should not re-read it.
    checked = check_audit_log(store) if admin.may_administer_node(p.viewer) and before is None else None
    filters = [(name, value) for name, value in query.items()
               if value is not None and not (name == "org" and scope.org is not None)]
    return p.render("audit.html", records=records, items=items, older=older, before=before, checked=checked,
                    filters=filters, current=query, scoped_org=scope.org)


ROUTES = [
    Route("/audit", audit_log, methods=["GET"]),
]
