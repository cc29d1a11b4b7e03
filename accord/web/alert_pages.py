"""Alert rules and acknowledging alerts in the web UI (docs/early-warning.md, "Alerts"; docs/ui.md).

The rules page lists the rules the viewer may list, as `GET /api/v1/alert-rules` does, and lets
those who may manage them add one for their own organisation or remove one; who may see a rule's
details, add, give a webhook or remove is services/alert_rules.py's to ask of
policy/administration.py, as for REST. A new rule's webhook secret is shown once, in the answer
to the POST that made it (never in a URL, a redirect or a log). A rule the form cannot make (a
bad value, a taken name, a refused webhook) comes back as the form, filled in as sent, with the
field named, and nothing stored. The dashboard's "Acknowledge" buttons post here too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from accord.errors import AlreadyExistsError, NotFoundError, RequestError
from accord.policy import administration as admin
from accord.policy.gate import visibility
from accord.services.alert_rules import (
    KINDS,
    MAX_VALUES,
    SIGHTING_TYPES,
    RuleRequest,
    add_rule_as,
    partner_choices,
    remove_rule_as,
    shown_rules,
)
from accord.services.alert_views import acknowledge
from accord.services.secrets import SecretBox
from accord.web.admin import text
from accord.web.pages import Page, page, redirect

RULES_PAGE = "/alerts/rules"
SHOWN_VALUES = 100  # of a watchlist, on the page (REST and the CLI list them all)


EMPTY_FORM: dict[str, Any] = {"name": "", "kind": "watchlist", "values": "", "partner": "", "sighting_types": [],
                              "webhook": ""}


def _rules_page(p: Page, status: int = 200, error: RequestError | None = None, **sent: Any) -> Response:
    """The page, with the form empty or (after a refusal) as it was sent. Every field is given:
    Jinja would read a missing ``form["values"]`` as the dict's own ``values`` method."""
    store, viewer = p.ctx.store, p.viewer
    form = {**EMPTY_FORM, **sent}
    rules = shown_rules(store, viewer)
    own = viewer.org_pk
    may_add = own is not None and admin.may_manage_alert_rules(viewer, own)
    return p.render("alert_rules.html", status, rules=rules, may_add=may_add,
                    removable={r.pk for r in rules if admin.may_manage_alert_rules(viewer, r.org_pk)},
                    details={r.pk for r in rules if admin.may_read_alert_rule_details(viewer, r.org_pk)},
                    may_webhook=may_add and own is not None and admin.may_set_alert_webhook(viewer, own),
                    partners=partner_choices(store, own) if may_add and own is not None else [],
                    kinds=KINDS, sighting_types=SIGHTING_TYPES, shown_values=SHOWN_VALUES, error=error,
                    form=form)


@page()
def rules(p: Page) -> Response:
    return _rules_page(p)


@page()
def add_rule(p: Page) -> Response:
    kind, types = p.field("kind"), p.fields("sighting_types")
    form = {"name": p.field("name"), "kind": kind, "values": p.field("values"), "partner": p.field("partner"),
            "sighting_types": types, "webhook": p.field("webhook")}  # as sent, for the form shown again
    try:
        _, values = p.pasted_values("values", MAX_VALUES)
        req = RuleRequest(p.viewer.org_name or "", text(p, "name", mandatory=True) or "", kind, text(p, "partner"),
                          tuple(values), tuple(types), text(p, "webhook"))
        rule, secret = add_rule_as(p.ctx.store, SecretBox(Path(p.ctx.key_file)), p.viewer, req,
                                   allow_private=p.ctx.alert_webhook_private_targets)
    except RequestError as exc:
        return _rules_page(p, 400, exc, **form)
    except AlreadyExistsError:
        return _rules_page(p, 400, RequestError("name", f"your organisation has a rule named {form['name']!r} "
                                                        "already; choose another name"), **form)
    if secret is None:
        return redirect(RULES_PAGE, "rule-added")
    # Rendered, not redirected: the secret exists only in this answer (Cache-Control: no-store).
    return p.render("alert_rule_created.html", rule=rule, secret=secret)


@page()
def remove_rule(p: Page) -> Response:
    text_id = p.request.path_params["rule_id"]
    if not (text_id.isascii() and text_id.isdigit()) or int(text_id) >= 2 ** 31:
        raise NotFoundError("no such alert rule")
    remove_rule_as(p.ctx.store, p.viewer, int(text_id))
    return redirect(RULES_PAGE, "rule-removed")


@page()
def acknowledge_alert(p: Page) -> Response:
    vis = visibility(p.ctx.store, p.viewer, p.ctx.clock())
    acknowledge(p.ctx.store, vis, p.request.path_params["alert_id"], channel="web")
    return redirect("/?alerts=open" if p.field("back") == "open" else "/", "alert-acknowledged")


ROUTES = [
    Route(RULES_PAGE, rules, methods=["GET"]),
    Route(RULES_PAGE, add_rule, methods=["POST"]),
    Route(RULES_PAGE + "/{rule_id}/remove", remove_rule, methods=["POST"]),
    Route("/alerts/{alert_id}/acknowledge", acknowledge_alert, methods=["POST"]),
]
