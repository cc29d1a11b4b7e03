"""REST administration under /api/v1/: agreements, collections and grants, organisations, users
and tokens, peers, the audit log and counts. The CLI's ``agreement``, ``collection``, ``org``,
``user``, ``token``, ``peer``, ``sync status``, ``audit`` and ``stats`` over HTTP.

Who may do what is decided by accord/policy/administration.py; this module parses, asks there,
acts through the store (whose writes append to the audit log with the caller as actor) and
renders. Errors have the REST API's one shape (routes.py): 400 names the property and why, 403
says which role is needed, 404 is the same for "absent" and "not yours", 409 a name that is taken.
Lists that grow (users, tokens, audit entries) are paged: ``limit`` and ``cursor``, and ``next``
in the body when there is more.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from accord.api.routes import MAX_BODY, NOT_FOUND, ApiContext, ApiError, endpoint, guarded, json_response
from accord.errors import AlreadyExistsError, ConfigError, NotFoundError
from accord.policy import administration as admin
from accord.policy.gate import collection_access, collections_predicate
from accord.policy.roles import Role
from accord.policy.tokens import new_token
from accord.policy.tokens import state as token_state
from accord.policy.viewer import Viewer
from accord.services.audit_check import check_audit_log
from accord.stix.markings import TLP_LEVELS
from accord.stix.timestamps import format_micros, parse_to_micros
from accord.storage.base import Agreement, AuditEvent, AuditRecord, Collection, Peer, Store, Token, User

DEFAULT_PAGE = 100
MAX_PAGE = 1000
_NAME = admin.NAME  # names people type (policy/administration.py)
_STIX_TYPE = re.compile(r"^[a-z0-9][a-z0-9-]{1,248}[a-z0-9]$")
_MAX_TEXT = 1000
_DAY = 86_400_000_000


# -- input ------------------------------------------------------------------------------------------
def _bad(detail: str) -> ApiError:
    return ApiError(400, "Bad request", detail)


def _forbidden(detail: str) -> ApiError:
    return ApiError(403, "Forbidden", detail)


def _conflict(detail: str) -> ApiError:
    return ApiError(409, "Conflict", detail)


def _only(body: dict[str, Any], allowed: Sequence[str]) -> None:
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise _bad(f"'{unknown[0]}' is not a property of this request (expected: {', '.join(allowed)})")


def _text(body: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise _bad(f"'{name}' is required")
        return None
    if not isinstance(value, str) or not value.strip():
        raise _bad(f"'{name}' must be a non-empty string")
    if len(value) > _MAX_TEXT or "\x00" in value:
        raise _bad(f"'{name}' must be at most {_MAX_TEXT} characters, without NUL")
    return value


def _required(body: dict[str, Any], name: str) -> str:
    value = _text(body, name, required=True)
    assert value is not None  # _text raised otherwise
    return value


def _texts(body: dict[str, Any], name: str) -> list[str]:
    value = body.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v and "\x00" not in v for v in value):
        raise _bad(f"'{name}' must be a list of non-empty strings")
    return list(dict.fromkeys(value))


def _flag(body: dict[str, Any], name: str, default: bool) -> bool:
    value = body.get(name, default)
    if not isinstance(value, bool):
        raise _bad(f"'{name}' must be true or false")
    return value


def _tlp(value: str, name: str) -> str:
    if value not in TLP_LEVELS:
        raise _bad(f"'{name}': unknown TLP level {value!r} (use one of {', '.join(TLP_LEVELS)})")
    return value


def _time_in(body: dict[str, Any], name: str) -> int | None:
    value = _text(body, name)
    if value is None:
        return None
    micros = parse_to_micros(value)
    if micros is None:
        raise _bad(f"'{name}': {value!r} is not an RFC 3339 UTC timestamp such as 2026-01-01T00:00:00Z")
    return micros


def _time(micros: int | None) -> str | None:
    return None if micros is None else format_micros(micros)


def _org(store: Store, name: str, prop: str) -> int:
    try:
        return store.get_org(name).pk
    except NotFoundError:
        raise _bad(f"'{prop}': unknown organisation {name!r}") from None


def _path(request: Request, name: str) -> str:
    """A path parameter; one with NUL names nothing (and PostgreSQL refuses NUL in parameters)."""
    value: str = request.path_params[name]
    if "\x00" in value:
        raise NOT_FOUND
    return value


def _limit(request: Request) -> int:
    text = request.query_params.get("limit", str(DEFAULT_PAGE))
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_PAGE:
        raise _bad(f"'limit' must be an integer from 1 to {MAX_PAGE}")
    return int(text)


def _int_cursor(request: Request, *names: str) -> int | None:
    for name in names:
        text = request.query_params.get(name)
        if text is not None:
            if not (text.isascii() and text.isdigit()) or int(text) >= 2 ** 63:
                raise _bad(f"'{name}' must be a non-negative integer (the 'next' of the previous page)")
            return int(text)
    return None


def _page(rows: list[Any], limit: int, key: Callable[[Any], object]) -> tuple[list[Any], dict[str, Any]]:
    """The first ``limit`` rows and, when more follow, the cursor that continues after them."""
    if len(rows) > limit:
        rows = rows[:limit]
        return rows, {"next": str(key(rows[-1]))}
    return rows, {}


# -- agreements -------------------------------------------------------------------------------------
def _agreement(store: Store, a: Agreement, now: int) -> dict[str, Any]:
    names = {c.pk: c.id for c in store.collections()}
    return {"name": a.name, "state": a.state_at(now), "parties": list(a.party_names), "max_tlp": a.max_tlp,
            "onward": a.onward, "valid_from": _time(a.valid_from), "valid_until": _time(a.valid_until),
            "ended": _time(a.ended), "created": _time(a.created),
            "collections": [names[pk] for pk in a.collections if pk in names], "types": list(a.types)}


def _visible_agreement(ctx: ApiContext, viewer: Viewer, name: str) -> Agreement:
    try:
        found = ctx.store.get_agreement(name)
    except NotFoundError:
        raise NOT_FOUND from None
    if not admin.may_see_agreement(viewer, found):
        raise NOT_FOUND
    return found


def list_agreements(ctx: ApiContext, viewer: Viewer, request: Request, body: dict[str, Any]) -> Any:
    now = ctx.clock()
    return {"agreements": [_agreement(ctx.store, a, now)
                           for a in admin.visible_agreements(viewer, ctx.store.agreements())]}


def get_agreement(ctx: ApiContext, viewer: Viewer, request: Request, body: dict[str, Any]) -> Any:
    return _agreement(ctx.store, _visible_agreement(ctx, viewer, _path(request, "name")), ctx.clock())


def _node_admin(viewer: Viewer, what: str) -> None:
    if not admin.may_administer_node(viewer):
        raise _forbidden(f"only a node-admin may {what}")


def add_agreement(ctx: ApiContext, viewer: Viewer, request: Request, body: dict[str, Any]) -> Any:
    _node_admin(viewer, "add agreements")
    _only(body, ("name", "parties", "max_tlp", "onward", "valid_from", "valid_until", "collections", "types"))
    name = _required(body, "name")
    if not _NAME.match(name):
        raise _bad("'name' must be letters, digits and . _ @ + - (at most 100, starting with a letter or digit)")
    parties = _texts(body, "parties")
    if len(parties) < 2:
        raise _bad("'parties' must name at least two different organisations")
    for party in parties:
        _org(ctx.store, party, "parties")
    max_tlp = _tlp(_text(body, "max_tlp") or "green", "max_tlp")
    start, end = _time_in(body, "valid_from"), _time_in(body, "valid_until")
    if start is not None and end is not None and end <= start:
        raise _bad("'valid_until' must be later than 'valid_from'")
    collections = _texts(body, "collections")
    for ref in collections:
        try:
            ctx.store.get_collection(ref)
        except NotFoundError:
            raise _bad(f"'collections': unknown collection {ref!r}") from None
    types = _texts(body, "types")
    for stix_type in types:
        if not _STIX_TYPE.match(stix_type):
            raise _bad(f"'types': {stix_type!r} is not a STIX object type")
    try:
        added = ctx.store.add_agreement(name, parties=parties, max_tlp=max_tlp, onward=_flag(body, "onward", False),
                                        valid_from=start, valid_until=end, collections=collections, types=types,
                                        actor=viewer.username)
    except AlreadyExistsError:
        raise _conflict(f"'name': an agreement {name!r} exists already") from None
    return _agreement(ctx.store, added, ctx.clock())


def _change_agreement(action: str) -> Callable[[ApiContext, Viewer, Request, dict[str, Any]], Any]:
    def change(ctx: ApiContext, viewer: Viewer, request: Request, body: dict[str, Any]) -> Any:
        name = _visible_agreement(ctx, viewer, _path(request, "name")).name
        _node_admin(viewer, f"{action} agreements")
        try:
            changed = ctx.store.change_agreement(name, action=action, actor=viewer.username)
        except ConfigError as exc:
            raise _conflict(str(exc)) from None
        return _agreement(ctx.store, changed, ctx.clock())

    change.__doc__ = f"POST /api/v1/agreements/{{name}}/{action}"
    return change


# -- collections and grants ---------------------------------------------------------------------------
def _collection(c: Collection, viewer: Viewer, store: Store) -> dict[str, Any]:
    access = collection_access(store, viewer, c)
    return {"id": c.id, "alias": c.alias, "title": c.title, "description": c.description, "api_root": c.api_root,
            "default_tlp": c.default_tlp, "created": _time(c.created), "can_read": access.can_read,
            "can_write": access.can_write}


def list_collections(ctx: ApiContext, viewer: Viewer, request: Request, body: dict[str, Any]) -> Any:
    where = collections_predicate(viewer)
    found = [c for root in ctx.store.api_roots() for c in ctx.store.visible_collections(root.name, where)]
    return {"collections": [_collection(c, viewer, ctx.store) for c in found]}


def add_collection(ctx: ApiContext, viewer: Viewer, request: Request, body: dict[str, Any]) -> Any:
    _node_admin(viewer, "add collections")
    _only(body, ("title", "description", "alias", "default_tlp"))
    title, alias = _required(body, "title"), _text(body, "alias")
    if alias is not None and not _NAME.match(alias):
        raise _bad("'alias' must be letters, digits and . _ @ + - (at most 100, starting with a letter or digit)")
    default_tlp = _tlp(_text(body, "default_tlp") or "amber", "default_tlp")
    try:
        added = ctx.store.add_collection(title, description=_text(body, "description"), default_tlp=default_tlp,
                                         alias=alias)
    except AlreadyExistsError:
        raise _conflict(f"'alias': a collection with alias {alias!r} exists already") from None
    # The store does not audit collections (the CLI's operator has the database); over HTTP we do.
    ctx.store.audit_append(AuditEvent(viewer.username, "collection.add", org=viewer.org_name, subject=added.id,
                                      detail={"title": title, "alias": alias, "default_tlp": default_tlp}))
    return _collection(added, viewer, ctx.store)


def _known_collection(ctx: ApiContext, viewer: Viewer, request: Request) -> Collection:
    """The collection if the caller may know it exists (404 otherwise), for a node-admin (403 otherwise)."""
    ref = _path(request, "collection_id")
    try:
        found = ctx.store.get_collection(ref)
    except NotFoundError:
        raise NOT_FOUND from None
    access = collection_access(ctx.store, viewer, found)
    if not (access.can_read or access.can_write):
        raise NOT_FOUND
    _node_admin(viewer, "see or change a collection's grants")
    return found


def list_grants(ctx: ApiContext, viewer: Viewer, request: Request, body: dict[str, Any]) -> Any:
    found = _known_collection(ctx, viewer, request)
    return {"collection": found.id, "grants": [{"org": g.org_name, "can_read": g.can_read, "can_write": g.can_write}
                                               for g in ctx.store.grants(found)]}


def _put_grant(ctx: ApiContext, viewer: Viewer, request: Request, body: dict[str, Any]) -> Any:
    found = _known_collection(ctx, viewer, request)
    org = _path(request, "org")
    _only(body, ("can_read", "can_write"))
    can_read, can_write = _flag(body, "can_read", False), _flag(body, "can_write", False)
    if not (can_read or can_write):
        raise _bad("'can_read' or 'can_write' must be true (DELETE the grant to take both away)")
    _org(ctx.store, org, "org")
    grant = ctx.store.set_grant(found, org, can_read=can_read, can_write=can_write, actor=viewer.username)
    return {"collection": found.id, "org": grant.org_name, "can_read": grant.can_read, "can_write": grant.can_write}


def _delete_grant(ctx: ApiContext, viewer: Viewer, request: Request, body: dict[str, Any]) -> Any:
    found = _known_collection(ctx, viewer, request)
    org = _path(request, "org")
    _org(ctx.store, org, "org")
    ctx.store.remove_grant(found, org, actor=viewer.username)
    return {"collection": found.id, "org": org, "can_read": False, "can_write": False}


@guarded
async def put_grant(request: Request, ctx: ApiContext, viewer: Viewer) -> Response:
    """PUT /api/v1/collections/{collection_id}/grants/{org}: ``{"can_read": bool, "can_write": bool}``."""
    body = await _json_body(request)
    return json_response(await run_in_threadpool(_put_grant, ctx, viewer, request, body))


@guarded
async def delete_grant(request: Request, ctx: ApiContext, viewer: Viewer) -> Response:
    """DELETE /api/v1/collections/{collection_id}/grants/{org}."""
    return json_response(await run_in_threadpool(_delete_grant, ctx, viewer, request, {}))


async def _json_body(request: Request) -> dict[str, Any]:
    """A PUT's JSON object body (routes.endpoint reads POST bodies only)."""
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise ApiError(413, "Content too large", f"at most {MAX_BODY} bytes")
    try:
        parsed = orjson.loads(raw) if raw.strip() else {}
    except orjson.JSONDecodeError as exc:
        raise _bad(f"the body is not JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise _bad("the body must be a JSON object")
    return parsed


# -- organisations, users, tokens ---------------------------------------------------------------------
def list_orgs(ctx: ApiContext, viewer: Viewer, request: Request, body: dict[str, Any]) -> Any:
    found = admin.visible_orgs(viewer, ctx.store.orgs(), ctx.store.agreements())
    return {"orgs": [{"name": o.name, "kind": o.kind, "created": _time(o.created)} for o in found]}


def _user(u: User) -> dict[str, Any]:
    return {"username": u.username, "org": u.org_name, "role": u.role, "disabled": u.disabled,
            "created": _time(u.created)}


def list_users(ctx: ApiContext, viewer: Viewer, request: Request, body: dict[str, Any]) -> Any:
    if not admin.may_list_users(viewer):
        raise _forbidden("only a node-admin or an org-admin may list users")
    limit, after = _limit(request), request.query_params.get("cursor", "")
    users = [u for u in admin.visible_users(viewer, ctx.store.users()) if u.username > after]
    page, more = _page(users, limit, lambda u: u.username)  # the store lists users by username
    return {"users": [_user(u) for u in page], **more}


def add_user(ctx: ApiContext, viewer: Viewer, request: Request, body: dict[str, Any]) -> Any:
    _only(body, ("username", "org", "role"))
    username, org, role_text = _required(body, "username"), _required(body, "org"), _required(body, "role")
    if not _NAME.match(username):
        raise _bad("'username' must be letters, digits and . _ @ + - (at most 100, starting with a letter or digit)")
    try:
        role = Role.parse(role_text)
    except ConfigError as exc:
        raise _bad(f"'role': {exc}") from None
    try:
        org_pk: int | None = ctx.store.get_org(org).pk
    except NotFoundError:
        org_pk = None
    if org_pk is None and admin.may_administer_node(viewer):
        raise _bad(f"'org': unknown organisation {org!r}")
    # Anyone else is refused alike for an organisation that does not exist and one that is not
    # theirs: which organisations a node has is the operator's business (administration.visible_orgs).
    refusal = admin.user_creation_refusal(viewer, org_pk, role)
    if refusal is not None:
        raise _forbidden(refusal)
    try:
        added = ctx.store.add_user(username, org=org, role=role.value, actor=viewer.username)
    except AlreadyExistsError:
        raise _conflict(f"'username': {username!r} is taken") from None
    return _user(added)


def _token(t: Token, now: int) -> dict[str, Any]:
    return {"id": t.pk, "username": t.username, "label": t.label, "state": token_state(t, now),
            "created": _time(t.created), "expires": _time(t.expires), "revoked": _time(t.revoked)}


def _set_disabled(disabled: bool) -> Callable[[ApiContext, Viewer, Request, dict[str, Any]], Any]:
    def change(ctx: ApiContext, viewer: Viewer, request: Request, body: dict[str, Any]) -> Any:
        """Disable or enable a user: 404 alike for no such user and one the caller does not
        administer; 403 for its own account or an account above what an org-admin holds."""
        _only(body, ())
        try:
            user = ctx.store.get_user(_path(request, "username"))
        except NotFoundError:
            raise NOT_FOUND from None
        if user.username != viewer.username and not admin.may_manage_users(viewer, user.org_pk):
            raise NOT_FOUND
        refusal = admin.access_change_refusal(viewer, user, enable=not disabled)
        if refusal is not None:
            raise _forbidden(refusal)
        return _user(ctx.store.set_user_disabled(user.username, disabled, actor=viewer.username,
                                                 by_node_admin=viewer.is_node_admin))
    return change


def _token_owner(ctx: ApiContext, viewer: Viewer, username: str) -> User:
    """The user whose tokens the caller manages; 404 alike for no such user and someone else's."""
    try:
        user = ctx.store.get_user(username)
    except NotFoundError:
        raise NOT_FOUND from None
    if not admin.may_manage_tokens(viewer, user):
        raise NOT_FOUND
    return user


def list_tokens(ctx: ApiContext, viewer: Viewer, request: Request, body: dict[str, Any]) -> Any:
    user = _token_owner(ctx, viewer, _path(request, "username"))
    limit, after = _limit(request), _int_cursor(request, "cursor") or 0
    tokens = [t for t in ctx.store.tokens(user.username) if t.pk > after]
    page, more = _page(tokens, limit, lambda t: t.pk)  # the store lists tokens by id
    now = ctx.clock()
    return {"tokens": [_token(t, now) for t in page], **more}


def create_token(ctx: ApiContext, viewer: Viewer, request: Request, body: dict[str, Any]) -> Any:
    user = _token_owner(ctx, viewer, _path(request, "username"))
    if not admin.may_create_token(viewer, user):
        raise _forbidden("only the user, or a node-admin, may create a token for this account")
    _only(body, ("label", "expires_in_days"))
    days = body.get("expires_in_days")
    if days is not None and (not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= 3650):
        raise _bad("'expires_in_days' must be an integer from 1 to 3650")
    secret, digest = new_token()
    now = ctx.clock()
    created = ctx.store.add_token(user.username, digest, label=_text(body, "label"),
                                  expires=now + days * _DAY if days else None, actor=viewer.username)
    return {**_token(created, now), "token": secret}


def revoke_token(ctx: ApiContext, viewer: Viewer, request: Request, body: dict[str, Any]) -> Any:
    text = _path(request, "token_id")
    if not (text.isascii() and text.isdigit()) or int(text) >= 2 ** 63:
        raise NOT_FOUND
    found = next((t for t in ctx.store.tokens() if t.pk == int(text)), None)
    if found is None or not admin.may_manage_tokens(viewer, ctx.store.get_user(found.username)):
        raise NOT_FOUND
    revoked = found if found.revoked is not None else ctx.store.revoke_token(found.pk, actor=viewer.username)
    return _token(revoked, ctx.clock())


# -- peers --------------------------------------------------------------------------------------------
def _peer(p: Peer, store: Store) -> dict[str, Any]:
    names = {c.pk: c.id for c in store.collections()}
    links = [{"direction": link.direction, "remote_collection": link.remote_collection,
              "local_collection": names.get(link.local_collection_pk), "cursor": link.cursor,
              "objects": link.objects, "last_attempt": _time(link.last_attempt),
              "last_success": _time(link.last_success), "last_error": link.last_error,
              "status": "never run" if link.last_attempt is None else "failing" if link.last_error else "ok"}
             for link in p.links]
    # Never the sealed token: it is the partner's credential for this node, sealed for sync only.
    return {"name": p.name, "url": p.url, "username": p.username, "org": p.org_name, "interval_s": p.interval_s,
            "paused": p.paused, "accept_max_tlp": p.accept_max_tlp, "accept_types": list(p.accept_types),
            "created": _time(p.created), "links": links}


def list_peers(ctx: ApiContext, viewer: Viewer, request: Request, body: dict[str, Any]) -> Any:
    _node_admin(viewer, "see partner nodes")
    return {"peers": [_peer(p, ctx.store) for p in ctx.store.peers()]}


def get_peer(ctx: ApiContext, viewer: Viewer, request: Request, body: dict[str, Any]) -> Any:
    _node_admin(viewer, "see partner nodes")
    try:
        return _peer(ctx.store.get_peer(_path(request, "name")), ctx.store)
    except NotFoundError:
        raise NOT_FOUND from None


# -- the audit log ------------------------------------------------------------------------------------
def _entry(r: AuditRecord, items: list[tuple[str, str, str | None, str | None]] | None) -> dict[str, Any]:
    entry = {"seq": r.seq, "at": format_micros(r.at), "actor": r.actor, "org": r.org, "action": r.action,
             "agreement": r.agreement, "subject": r.subject, "detail": orjson.loads(r.detail), "hash": r.hash.hex()}
    if items is not None:
        entry["items"] = [{"id": sid, "version": ver, "recipient": rcpt, "owner": owner}
                          for sid, ver, rcpt, owner in items]
    return entry


def list_audit(ctx: ApiContext, viewer: Viewer, request: Request, body: dict[str, Any]) -> Any:
    scope = admin.audit_scope(viewer)
    if scope is None:
        raise _forbidden("only a node-admin or an org-admin may read the audit log")
    query = {name: request.query_params.get(name) for name in ("org", "object", "agreement", "action")}
    for name, value in query.items():
        if value is not None and (not value or "\x00" in value or len(value) > _MAX_TEXT):
            raise _bad(f"'{name}' must be a non-empty string")
    if scope.org is not None:
        if query["org"] not in (None, scope.org):
            raise _forbidden("an org-admin reads only their own organisation's audit entries")
        query["org"] = scope.org
    limit, after = _limit(request), _int_cursor(request, "cursor", "after")
    records = ctx.store.audit_records(org=query["org"], stix_id=query["object"], agreement=query["agreement"],
                                      action=query["action"], limit=limit + 1, after=after)
    page, more = _page(records, limit, lambda r: r.seq)
    stix_id = query["object"]
    items = ctx.store.audit_items([r.seq for r in page]) if stix_id else {}
    return {"entries": [_entry(r, [i for i in items.get(r.seq, []) if i[0] == stix_id] if stix_id else None)
                        for r in page], **more}


def verify_audit(ctx: ApiContext, viewer: Viewer, request: Request, body: dict[str, Any]) -> Any:
    """The same walk as ``accord audit verify``: the hash chain, then each entry's item rows."""
    _node_admin(viewer, "verify the audit log")
    head = request.query_params.get("expect_head")
    try:
        expected = bytes.fromhex(head) if head is not None else None
    except ValueError:
        raise _bad("'expect_head' must be a hexadecimal hash (the newest entry's, as recorded earlier)") from None
    checked = check_audit_log(ctx.store, expect_head=expected)
    broken = checked.broken
    return {"intact": broken is None, "entries": checked.entries,
            "head": checked.head.hex() if checked.head is not None else None,
            "broken": None if broken is None else {"seq": broken.seq, "reason": broken.reason}}


# -- counts -------------------------------------------------------------------------------------------
def stats(ctx: ApiContext, viewer: Viewer, request: Request, body: dict[str, Any]) -> Any:
    counts = ctx.store.visible_counts(admin.counted_predicate(ctx.store, viewer, ctx.clock()))
    answer: dict[str, Any] = {"visible": {"versions": counts.versions, "objects": counts.objects,
                                          "by_type": counts.by_type, "by_tlp": counts.by_tlp}}
    if admin.may_see_node_totals(viewer):
        node = ctx.store.stats()
        answer["node"] = {"versions": node.total_versions, "by_type": node.by_type, "by_tlp": node.by_tlp,
                          "by_collection": node.by_collection, "observables": node.observables}
    return answer


def _created(inner: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    """An endpoint that answers 201 Created where routes.endpoint answers 200."""

    async def run(request: Request) -> Response:
        response = await inner(request)
        if response.status_code == 200:
            response.status_code = 201
        return response

    return run


ROUTES = [
    Route("/api/v1/agreements", endpoint(list_agreements), methods=["GET"]),
    Route("/api/v1/agreements", _created(endpoint(add_agreement)), methods=["POST"]),
    Route("/api/v1/agreements/{name}", endpoint(get_agreement), methods=["GET"]),
    *[Route(f"/api/v1/agreements/{{name}}/{action}", endpoint(_change_agreement(action)), methods=["POST"])
      for action in ("suspend", "resume", "end")],
    Route("/api/v1/collections", endpoint(list_collections), methods=["GET"]),
    Route("/api/v1/collections", _created(endpoint(add_collection)), methods=["POST"]),
    Route("/api/v1/collections/{collection_id}/grants", endpoint(list_grants), methods=["GET"]),
    Route("/api/v1/collections/{collection_id}/grants/{org}", put_grant, methods=["PUT"]),
    Route("/api/v1/collections/{collection_id}/grants/{org}", delete_grant, methods=["DELETE"]),
    Route("/api/v1/orgs", endpoint(list_orgs), methods=["GET"]),
    Route("/api/v1/users", endpoint(list_users), methods=["GET"]),
    Route("/api/v1/users", _created(endpoint(add_user)), methods=["POST"]),
    Route("/api/v1/users/{username}/disable", endpoint(_set_disabled(True)), methods=["POST"]),
    Route("/api/v1/users/{username}/enable", endpoint(_set_disabled(False)), methods=["POST"]),
    Route("/api/v1/users/{username}/tokens", endpoint(list_tokens), methods=["GET"]),
    Route("/api/v1/users/{username}/tokens", _created(endpoint(create_token)), methods=["POST"]),
    Route("/api/v1/tokens/{token_id}/revoke", endpoint(revoke_token), methods=["POST"]),
    Route("/api/v1/peers", endpoint(list_peers), methods=["GET"]),
    Route("/api/v1/peers/{name}", endpoint(get_peer), methods=["GET"]),
    Route("/api/v1/audit", endpoint(list_audit), methods=["GET"]),
    Route("/api/v1/audit/verify", endpoint(verify_audit), methods=["GET"]),
    Route("/api/v1/stats", endpoint(stats), methods=["GET"]),
]
