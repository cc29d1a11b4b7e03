"""Administration pages: sharing agreements, collections and their grants.

Who may see or change what is policy/administration.py's to say (the REST API asks the same
functions); this module parses forms, asks there, acts through the store (whose writes append to
the audit log with the signed-in user as actor) and renders. A record the viewer may not know
exists is the same 404 as one that does not exist.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote

from starlette.responses import Response
from starlette.routing import Route

from accord.errors import AlreadyExistsError, ConfigError, NotFoundError, RequestError
from accord.policy import administration as admin
from accord.policy.roles import Role
from accord.stix.ids import TYPE_RE
from accord.stix.markings import TLP_LEVELS
from accord.storage.base import Agreement, AuditEvent, Collection, Organisation
from accord.web.pages import Page, PageError, page, redirect

MAX_TEXT = 1000
AGREEMENT_ACTIONS = ("suspend", "resume", "end")


# -- form input -------------------------------------------------------------------------------------
def text(p: Page, name: str, *, mandatory: bool = False) -> str | None:
    """A form field's text (None when empty), bounded and without NUL."""
    value = p.field(name)
    if not value:
        if mandatory:
            raise RequestError(name, "is required")
        return None
    if len(value) > MAX_TEXT or "\x00" in value:
        raise RequestError(name, f"must be at most {MAX_TEXT} characters, without NUL")
    return value


def required(p: Page, name: str) -> str:
    value = text(p, name, mandatory=True)
    assert value is not None  # text() raised otherwise
    return value


def optional_name(p: Page, name: str) -> str | None:
    """A name people type (users, agreements, aliases), as policy/administration.py rules."""
    value = text(p, name)
    if value is not None and not admin.NAME.match(value):
        raise RequestError(name, f"must be {admin.NAME_RULE}")
    return value


def name_field(p: Page, name: str) -> str:
    value = optional_name(p, name)
    if value is None:
        raise RequestError(name, "is required")
    return value


def tlp_field(p: Page, name: str, default: str) -> str:
    value = p.field(name) or default
    if value not in TLP_LEVELS:
        raise RequestError(name, f"unknown TLP level (use one of {', '.join(TLP_LEVELS)})")
    return value


def _date(p: Page, name: str) -> int | None:
    """A date field (YYYY-MM-DD, as <input type=date> sends it) as midnight UTC in microseconds."""
    value = p.field(name)
    if not value:
        return None
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise RequestError(name, f"{value[:40]!r} is not a date such as 2026-01-31") from None
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp()) * 1_000_000


def _org(p: Page, name: str, field: str) -> Organisation:
    try:
        return p.ctx.store.get_org(name)
    except NotFoundError:
        raise RequestError(field, f"unknown organisation {name[:100]!r}") from None


def _require_node_admin(p: Page, what: str) -> None:
    if not admin.may_administer_node(p.viewer):
        raise PageError(403, f"Only a node-admin may {what}.")


# -- agreements -------------------------------------------------------------------------------------
def _collection_names(p: Page) -> dict[int, str]:
    return {c.pk: c.alias or c.title for c in p.ctx.store.collections()}


def _agreement_actions(a: Agreement) -> list[str]:
    """The changes the store accepts for an agreement in its current state."""
    if a.ended is not None:
        return []
    return ["resume" if a.suspended else "suspend", "end"]


def agreement_path(name: str) -> str:
    return "/agreements/" + quote(name, safe="/")


def _visible_agreement(p: Page, name: str) -> Agreement:
    if "\x00" in name or len(name) > MAX_TEXT:
        raise NotFoundError("no such agreement")
    found = p.ctx.store.get_agreement(name)  # NotFoundError: the decorator's 404
    if not admin.may_see_agreement(p.viewer, found):
        raise NotFoundError("no such agreement")
    return found


@page()
def agreements(p: Page) -> Response:
    store = p.ctx.store
    shown = sorted(admin.visible_agreements(p.viewer, store.agreements()), key=lambda a: a.name.casefold())
    may_change = admin.may_administer_node(p.viewer)
    return p.render("agreements.html", agreements=shown, now=p.ctx.clock(), collection_names=_collection_names(p),
                    may_change=may_change, actions={a.name: _agreement_actions(a) for a in shown},
                    orgs=store.orgs() if may_change else [],
                    collections=store.collections() if may_change else [], tlp_levels=TLP_LEVELS)


@page()
def agreement(p: Page) -> Response:
    found = _visible_agreement(p, p.request.path_params["name"])
    return p.render("agreement.html", a=found, now=p.ctx.clock(), collection_names=_collection_names(p),
                    may_change=admin.may_administer_node(p.viewer), actions=_agreement_actions(found))


@page()
def add_agreement(p: Page) -> Response:
    _require_node_admin(p, "add agreements")
    name = name_field(p, "name")
    parties = list(dict.fromkeys(v.strip() for v in p.fields("parties") if v.strip()))
    if len(parties) < 2:
        raise RequestError("parties", "choose at least two different organisations")
    for party in parties:
        _org(p, party, "parties")
    max_tlp = tlp_field(p, "max_tlp", "green")
    start, end = _date(p, "valid_from"), _date(p, "valid_until")
    if start is not None and end is not None and end <= start:
        raise RequestError("valid_until", "must be later than valid from")
    collections = list(dict.fromkeys(v for v in p.fields("collections") if v))
    for ref in collections:
        try:
            p.ctx.store.get_collection(ref)
        except NotFoundError:
            raise RequestError("collections", f"unknown collection {ref[:100]!r}") from None
    types = list(dict.fromkeys((text(p, "types") or "").replace(",", " ").split()))
    for stix_type in types:
        if not TYPE_RE.fullmatch(stix_type):
            raise RequestError("types", f"{stix_type[:100]!r} is not a STIX object type (such as indicator)")
    try:
        p.ctx.store.add_agreement(name, parties=parties, max_tlp=max_tlp, onward=p.field("onward") == "yes",
                                  valid_from=start, valid_until=end, collections=collections, types=types,
                                  actor=p.viewer.username)
    except AlreadyExistsError:
        raise PageError(409, f"An agreement named {name!r} exists already; choose another name.") from None
    return redirect(agreement_path(name), "agreement-added")


def _change_agreement(action: str) -> Route:
    @page()
    def change(p: Page) -> Response:
        name = _visible_agreement(p, p.request.path_params["name"]).name
        _require_node_admin(p, f"{action} agreements")
        try:
            p.ctx.store.change_agreement(name, action=action, actor=p.viewer.username)
        except ConfigError as exc:
            raise PageError(409, f"Cannot {action} it: {exc}.") from None
        back = "/agreements" if p.field("back") == "list" else agreement_path(name)
        return redirect(back, f"agreement-{action}")

    return Route(f"/agreements/{{name:path}}/{action}", change, methods=["POST"])


# -- collections and grants ---------------------------------------------------------------------------
@page(Role.NODE_ADMIN)
def collections(p: Page) -> Response:
    _require_node_admin(p, "administer collections")
    store = p.ctx.store
    grants: dict[int, list[object]] = {}
    for g in store.grants():
        grants.setdefault(g.collection_pk, []).append(g)
    return p.render("collections.html", collections=store.collections(), grants=grants, orgs=store.orgs(),
                    tlp_levels=TLP_LEVELS)


@page(Role.NODE_ADMIN)
def add_collection(p: Page) -> Response:
    _require_node_admin(p, "add collections")
    title = required(p, "title")
    description, alias = text(p, "description"), optional_name(p, "alias")
    default_tlp = tlp_field(p, "default_tlp", "amber")
    try:
        added = p.ctx.store.add_collection(title, description=description, default_tlp=default_tlp, alias=alias)
    except AlreadyExistsError:
        raise PageError(409, f"A collection with the alias {alias!r} exists already.") from None
    # The store does not audit collections (the CLI's operator has the database); over HTTP we do,
    # as the REST API does.
    p.ctx.store.audit_append(AuditEvent(p.viewer.username, "collection.add", org=p.viewer.org_name,
                                        subject=added.id,
                                        detail={"title": title, "alias": alias, "default_tlp": default_tlp}))
    return redirect("/admin/collections", "collection-added")


def _collection(p: Page) -> Collection:
    _require_node_admin(p, "change a collection's grants")
    ref = p.request.path_params["collection_id"]
    if "\x00" in ref or len(ref) > MAX_TEXT:
        raise NotFoundError("no such collection")
    return p.ctx.store.get_collection(ref)


@page(Role.NODE_ADMIN)
def set_grant(p: Page) -> Response:
    found = _collection(p)
    org = _org(p, required(p, "org"), "org").name
    can_read, can_write = p.field("can_read") == "yes", p.field("can_write") == "yes"
    if not (can_read or can_write):
        raise RequestError("access", "tick read, write or both (remove the grant to take both away)")
    p.ctx.store.set_grant(found, org, can_read=can_read, can_write=can_write, actor=p.viewer.username)
    return redirect("/admin/collections", "grant-set")


@page(Role.NODE_ADMIN)
def remove_grant(p: Page) -> Response:
    found = _collection(p)
    org = _org(p, required(p, "org"), "org").name
    p.ctx.store.remove_grant(found, org, actor=p.viewer.username)
    return redirect("/admin/collections", "grant-removed")


ROUTES = [
    Route("/agreements", agreements, methods=["GET"]),
    Route("/agreements", add_agreement, methods=["POST"]),
    # ":path": agreements added through the CLI may have a / in their name.
    Route("/agreements/{name:path}", agreement, methods=["GET"]),
    *[_change_agreement(action) for action in AGREEMENT_ACTIONS],
    Route("/admin/collections", collections, methods=["GET"]),
    Route("/admin/collections", add_collection, methods=["POST"]),
    Route("/admin/collections/{collection_id}/grant", set_grant, methods=["POST"]),
    Route("/admin/collections/{collection_id}/revoke", remove_grant, methods=["POST"]),
]
