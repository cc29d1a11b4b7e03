"""REST alerts under /api/v1/ (docs/early-warning.md, "Alerts"; docs/api.md):

    GET    /api/v1/alert-rules             the caller's organisation's rules (node-admin: every one)
    POST   /api/v1/alert-rules             add a rule (its org-admin; node-admin: any organisation's)
    DELETE /api/v1/alert-rules/{rule_id}   remove one
    GET    /api/v1/alerts                  the caller's organisation's alerts, newest first
    POST   /api/v1/alerts/{alert_id}/acknowledge   acknowledge one (analyst or above)

Who may manage rules is policy/administration.py's (services/alert_rules.py asks it); what a
rule fires on and what an alert shows go through the gate (services/alerts.py, alert_views.py).
A rule's webhook secret is in the answer to its POST and nowhere else, ever. Alerts are
intelligence, not administration: a node-admin sees its own organisation's, like any member.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from accord.api.admin import _created, _limit, _only, _required, _text
from accord.api.routes import NOT_FOUND, ApiContext, ApiError, endpoint
from accord.errors import AlreadyExistsError
from accord.policy import administration as admin
from accord.policy.gate import visibility
from accord.policy.viewer import Viewer
from accord.services.alert_rules import RuleRequest, add_rule_as, remove_rule_as, rule_json, shown_rules
from accord.services.alert_views import AlertView, acknowledge, alert_json, alert_page
from accord.services.cursors import Cursors
from accord.services.secrets import SecretBox

CURSOR_SECRET = "alert-cursor"  # noqa: S105 -- the NAME of the node secret alert cursors are sealed with
_RULE_PROPERTIES = ("org", "name", "kind", "partner", "values", "sighting_types", "webhook")


def _strings(body: dict[str, Any], name: str) -> tuple[str, ...]:
    value = body.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and "\x00" not in v for v in value):
        raise ApiError(400, "Bad request", f"'{name}' must be a list of strings")
    return tuple(value)


def list_rules(ctx: ApiContext, viewer: Viewer, request: Request, body: dict[str, Any]) -> Any:
    return {"rules": [rule_json(r) for r in shown_rules(ctx.store, viewer)]}


def add(ctx: ApiContext, viewer: Viewer, request: Request, body: dict[str, Any]) -> Any:
    _only(body, _RULE_PROPERTIES)
    request_ = RuleRequest(_text(body, "org") or viewer.org_name or "", _required(body, "name"),
                           _required(body, "kind"), _text(body, "partner"), _strings(body, "values"),
                           _strings(body, "sighting_types"), _text(body, "webhook"))
    try:
        rule, secret = add_rule_as(ctx.store, SecretBox(Path(ctx.key_file)), viewer, request_,
                                   allow_private=ctx.alert_webhook_private_targets)
    except AlreadyExistsError as exc:
        raise ApiError(409, "Conflict", str(exc)) from None
    return {**rule_json(rule), **({"secret": secret} if secret is not None else {})}


def remove(ctx: ApiContext, viewer: Viewer, request: Request, body: dict[str, Any]) -> Any:
    text = request.path_params["rule_id"]
    if not (text.isascii() and text.isdigit()) or int(text) >= 2 ** 31:
        raise NOT_FOUND
    return rule_json(remove_rule_as(ctx.store, viewer, int(text)))


def _acknowledged(request: Request) -> bool | None:
    text = request.query_params.get("acknowledged")
    if text is None:
        return None
    if text not in ("true", "false"):
        raise ApiError(400, "Bad request", "'acknowledged' must be true or false")
    return text == "true"


def _shown_alert(viewer: Viewer, view: AlertView) -> dict[str, Any]:
    shown = alert_json(view)
    if shown["delivery"] is not None and not admin.may_read_alert_rule_details(viewer, view.alert.org_pk):
        # A delivery error may name an address an internal name resolves to: org-admins' business.
        shown["delivery"]["last_error"] = None
    return shown


def list_alerts(ctx: ApiContext, viewer: Viewer, request: Request, body: dict[str, Any]) -> Any:
    # Alerts are numbered node-wide: the position a page ends at is sealed (services/cursors.py),
    # or the gaps between one organisation's numbers would count every other organisation's alerts.
    cursors = Cursors(ctx.store.node_secret(CURSOR_SECRET), viewer.username, purpose=CURSOR_SECRET)
    limit, acknowledged = _limit(request), _acknowledged(request)
    before = cursors.open(request.query_params.get("cursor"))
    if viewer.org_pk is None:
        return {"alerts": []}
    vis = visibility(ctx.store, viewer, ctx.clock())
    page = alert_page(ctx.store, vis, viewer.org_pk, limit=limit, before=before, acknowledged=acknowledged,
                      channel="rest")
    return {"alerts": [_shown_alert(viewer, v) for v in page.alerts],
            **({} if page.next is None else {"next": cursors.seal(page.next)})}


def acknowledge_alert(ctx: ApiContext, viewer: Viewer, request: Request, body: dict[str, Any]) -> Any:
    vis = visibility(ctx.store, viewer, ctx.clock())
    return _shown_alert(viewer, acknowledge(ctx.store, vis, request.path_params["alert_id"], channel="rest"))


ROUTES = [
    Route("/api/v1/alert-rules", endpoint(list_rules), methods=["GET"]),
    Route("/api/v1/alert-rules", _created(endpoint(add)), methods=["POST"]),
    Route("/api/v1/alert-rules/{rule_id}", endpoint(remove), methods=["DELETE"]),
    Route("/api/v1/alerts", endpoint(list_alerts), methods=["GET"]),
    Route("/api/v1/alerts/{alert_id}/acknowledge", endpoint(acknowledge_alert), methods=["POST"]),
]
