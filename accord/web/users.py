"""Users, their passwords and API tokens, and every user's own account page.

policy/administration.py says whose users and tokens a viewer manages (the REST API asks the
same functions). A user the viewer does not manage is the same 404 as a user that does not exist.
A new API token is shown once, in the answer to the POST that made it (never in a URL, a
redirect or a log): only its digest is stored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from starlette.responses import Response
from starlette.routing import Route

from accord.errors import AlreadyExistsError, AuthenticationError, ConfigError, NotFoundError, RequestError
from accord.policy import administration as admin
from accord.policy.passwords import check_strength, set_password, verify_password
from accord.policy.roles import Role
from accord.policy.sessions import COOKIE
from accord.policy.tokens import new_token
from accord.policy.tokens import state as token_state
from accord.policy.viewer import Viewer
from accord.storage.base import User
from accord.web.admin import MAX_TEXT, name_field, required, text
from accord.web.pages import Page, PageError, page, redirect

DAY = 86_400_000_000
MAX_TOKEN_DAYS = 3650


def _password(p: Page, name: str) -> str:
    """A new password from a form field (not stripped: spaces may be part of it)."""
    value = p.form.get(name) if p.form is not None else None
    password = value if isinstance(value, str) else ""
    try:
        check_strength(password)
    except ConfigError as exc:
        raise RequestError(name, str(exc)) from None
    return password


def _managed_user(p: Page, username: str) -> User:
    """A user whose account the viewer administers; 404 alike for no such user and someone else's."""
    return _user_if(p, username, admin.may_manage_account)


def _token_owner(p: Page, username: str) -> User:
    """A user whose tokens the viewer manages (their own, or as an administrator); 404 otherwise."""
    return _user_if(p, username, admin.may_manage_tokens)


def _user_if(p: Page, username: str, allowed: Callable[[Viewer, User], bool]) -> User:
    if "\x00" in username or len(username) > MAX_TEXT:
        raise NotFoundError("no such user")
    user = p.ctx.store.get_user(username)
    if not allowed(p.viewer, user):
        raise NotFoundError("no such user")
    return user


def _creatable_roles(p: Page, org_pk: int) -> list[Role]:
    return [r for r in Role if admin.user_creation_refusal(p.viewer, org_pk, r) is None]


def _user_page(username: str) -> str:
    return "/admin/users/" + quote(username, safe="")


# -- users --------------------------------------------------------------------------------------------
@page(Role.ORG_ADMIN)
def users(p: Page) -> Response:
    if not admin.may_list_users(p.viewer):
        raise PageError(403, "Only a node-admin or an org-admin may manage users.")
    store = p.ctx.store
    shown = admin.visible_users(p.viewer, store.users())
    orgs = [o for o in store.orgs() if admin.may_manage_users(p.viewer, o.pk)]
    own_org = p.viewer.org_pk if p.viewer.org_pk is not None else (orgs[0].pk if orgs else 0)
    return p.render("users.html", users=shown, orgs=orgs, roles=_creatable_roles(p, own_org))


@page(Role.ORG_ADMIN)
def add_user(p: Page) -> Response:
    store = p.ctx.store
    username = name_field(p, "username")
    org_name = required(p, "org")
    try:
        role = Role.parse(p.field("role"))
    except ConfigError as exc:
        raise RequestError("role", str(exc)) from None
    try:
        org_pk: int | None = store.get_org(org_name).pk
    except NotFoundError:
        org_pk = None
    if org_pk is None and admin.may_administer_node(p.viewer):
        raise RequestError("org", f"unknown organisation {org_name[:100]!r}")
    # Anyone else is refused alike for an organisation that does not exist and one that is not
    # theirs (as the REST API): which organisations a node has is the operator's business.
    refusal = admin.user_creation_refusal(p.viewer, org_pk, role)
    if refusal is not None:
        raise PageError(403, refusal[0].upper() + refusal[1:] + ".")
    password = _password(p, "password")  # checked before the user exists: no user without a password
    try:
        store.add_user(username, org=org_name, role=role.value, actor=p.viewer.username)
    except AlreadyExistsError:
        raise PageError(409, f"The username {username!r} is taken.") from None
    set_password(store, username, password, actor=p.viewer.username)
    return redirect(_user_page(username), "user-added")


@page(Role.ORG_ADMIN)
def user_page(p: Page) -> Response:
    user = _managed_user(p, p.request.path_params["username"])
    return _tokens_page(p, "user.html", user, may_create_token=admin.may_create_token(p.viewer, user),
                        may_enable=admin.may_enable_user(p.viewer, user))


def _tokens_page(p: Page, template: str, user: User, **values: Any) -> Response:
    now = p.ctx.clock()
    tokens = sorted(p.ctx.store.tokens(user.username), key=lambda t: t.pk, reverse=True)
    return p.render(template, user=user, tokens=tokens, states={t.pk: token_state(t, now) for t in tokens},
                    max_days=MAX_TOKEN_DAYS, **values)


@page(Role.ORG_ADMIN)
def user_password(p: Page) -> Response:
    user = _managed_user(p, p.request.path_params["username"])
    if user.username == p.viewer.username:
        raise PageError(403, "Change your own password on your account page: it asks for the current one.")
    set_password(p.ctx.store, user.username, _password(p, "password"), actor=p.viewer.username)
    return redirect(_user_page(user.username), "password-set")


def _set_disabled(p: Page, disabled: bool) -> Response:
    user = _managed_user(p, p.request.path_params["username"])
    refusal = admin.access_change_refusal(p.viewer, user, enable=not disabled)
    if refusal is not None:
        raise PageError(403, refusal[0].upper() + refusal[1:] + ".")
    p.ctx.store.set_user_disabled(user.username, disabled, actor=p.viewer.username,
                                  by_node_admin=p.viewer.is_node_admin)
    return redirect(_user_page(user.username), "user-disabled" if disabled else "user-enabled")


@page(Role.ORG_ADMIN)
def disable_user(p: Page) -> Response:
    return _set_disabled(p, True)


@page(Role.ORG_ADMIN)
def enable_user(p: Page) -> Response:
    return _set_disabled(p, False)


# -- tokens -------------------------------------------------------------------------------------------
def _back(p: Page, user: User) -> str:
    return "/account" if p.field("from") == "account" else _user_page(user.username)


@page()
def create_token(p: Page) -> Response:
    user = _token_owner(p, p.request.path_params["username"])
    if not admin.may_create_token(p.viewer, user):
        raise PageError(403, "Only the user, or a node-admin, may create a token for this account.")
    days_text = p.field("expires_in_days")
    days = None
    if days_text:
        if not (days_text.isascii() and days_text.isdigit()) or not 1 <= int(days_text) <= MAX_TOKEN_DAYS:
            raise RequestError("expires_in_days", f"must be a whole number of days from 1 to {MAX_TOKEN_DAYS}")
        days = int(days_text)
    label = text(p, "label")
    secret, digest = new_token()
    now = p.ctx.clock()
    created = p.ctx.store.add_token(user.username, digest, label=label, expires=now + days * DAY if days else None,
                                    actor=p.viewer.username)
    # Rendered, not redirected: the secret exists only in this answer (Cache-Control: no-store).
    return p.render("token_created.html", user=user, token=created, secret=secret, back=_back(p, user))


@page()
def revoke_token(p: Page) -> Response:
    text_id = p.request.path_params["token_id"]
    if not (text_id.isascii() and text_id.isdigit()) or int(text_id) >= 2 ** 63:
        raise NotFoundError("no such token")
    found = next((t for t in p.ctx.store.tokens() if t.pk == int(text_id)), None)
    if found is None:
        raise NotFoundError("no such token")
    owner = p.ctx.store.get_user(found.username)
    if not admin.may_manage_tokens(p.viewer, owner):
        raise NotFoundError("no such token")
    if found.revoked is None:
        p.ctx.store.revoke_token(found.pk, actor=p.viewer.username)
    return redirect(_back(p, owner), "token-revoked")


# -- the signed-in user's own account -------------------------------------------------------------------
@page()
def account(p: Page) -> Response:
    return _tokens_page(p, "account.html", p.ctx.store.get_user(p.viewer.username))


@page()
def change_own_password(p: Page) -> Response:
    """The current password is required (a session left open is not enough), and failures count
    towards the same per-account throttle idea as sign-in, so this is no guessing oracle."""
    username = p.viewer.username
    key = "account-password:" + username.casefold()
    wait = p.ctx.throttle.retry_after(key)
    if wait is not None:
        raise PageError(429, f"Too many wrong current passwords; try again in {wait} s.")
    current = p.form.get("current_password") if p.form is not None else None
    try:
        verify_password(p.ctx.store, username, current if isinstance(current, str) else "")
    except AuthenticationError:
        p.ctx.throttle.failed(key)
        raise RequestError("current_password", "this is not your current password") from None
    new = _password(p, "new_password")
    if new != (p.form.get("confirm_password") if p.form is not None else None):
        raise RequestError("confirm_password", "the two new passwords differ")
    set_password(p.ctx.store, username, new, actor=username)  # ends every session of the user, this one too
    response = redirect("/login", "password-changed")
    response.delete_cookie(COOKIE, path="/")
    return response


ROUTES = [
    Route("/admin/users", users, methods=["GET"]),
    Route("/admin/users", add_user, methods=["POST"]),
    # Usernames made with the CLI may contain "/": the actions are matched first, the page last.
    Route("/admin/users/{username:path}/password", user_password, methods=["POST"]),
    Route("/admin/users/{username:path}/disable", disable_user, methods=["POST"]),
    Route("/admin/users/{username:path}/enable", enable_user, methods=["POST"]),
    Route("/admin/users/{username:path}/tokens", create_token, methods=["POST"]),
    Route("/admin/users/{username:path}", user_page, methods=["GET"]),
    Route("/admin/tokens/{token_id}/revoke", revoke_token, methods=["POST"]),
    Route("/account", account, methods=["GET"]),
    Route("/account/password", change_own_password, methods=["POST"]),
]
