"""Sign-in and sign-out (policy/sessions.py decides; this renders and sets cookies).

The session cookie is HttpOnly (no script can read it), SameSite=Strict (no other site's page
can make the browser send it) and Secure whenever the request came over HTTPS.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from accord.errors import AuthenticationError
from accord.policy.credentials import Throttled
from accord.policy.roles import Role
from accord.policy.sessions import (
    COOKIE,
    PRE_SESSION_COOKIE,
    new_secret_value,
    pre_session_csrf,
    pre_session_ok,
    session_of,
    sign_in,
    sign_out,
)
from accord.web.context import WebContext
from accord.web.pages import NOTICES, Page, page, redirect

MAX_FIELD = 1024


def _safe_next(value: str | None) -> str:
    """Where to go after signing in: a path on this site only (no open redirect)."""
    # Browsers drop tabs and newlines from URLs ("/\t/evil.example" becomes "//evil.example")
    # and read a backslash as a slash: only plain printable ASCII paths are kept.
    if (not value or not value.startswith("/") or value.startswith("//") or "\\" in value
            or not all(" " < c < "\x7f" for c in value)):
        return "/"
    return value


def _login_page(request: Request, ctx: WebContext, status: int = 200, error: str | None = None,
                username: str = "") -> Response:
    pre = request.cookies.get(PRE_SESSION_COOKIE)
    if not pre or len(pre) > 64:
        pre = new_secret_value()
    html = ctx.templates.get_template("login.html").render(
        csrf=pre_session_csrf(ctx.secret, pre), error=error, username=username,
        next=_safe_next(request.query_params.get("next")), node_name=ctx.node_name,
        notice=NOTICES.get(request.query_params.get("notice", "")), viewer=None, Role=Role, path="/login")
    response = HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})
    response.set_cookie(PRE_SESSION_COOKIE, pre, max_age=3600, httponly=True, samesite="strict",
                        secure=ctx.secure_cookies(request.url.scheme), path="/login")
    return response


async def login(request: Request) -> Response:
    ctx: WebContext = request.app.state.web
    if request.method == "GET":
        current = await run_in_threadpool(session_of, ctx.store, ctx.secret, request.cookies.get(COOKIE),
                                          now=ctx.clock(), idle_micros=ctx.idle_micros)
        if current is not None:
            return redirect(_safe_next(request.query_params.get("next")))
        return _login_page(request, ctx)
    form = await request.form(max_fields=10, max_files=0)
    username, password, csrf = (form.get(k) for k in ("username", "password", "csrf"))
    pre = request.cookies.get(PRE_SESSION_COOKIE)
    if not (isinstance(csrf, str) and pre and pre_session_ok(ctx.secret, pre, csrf)):
        return _login_page(request, ctx, 403, "The sign-in form expired; please try again.")
    if not (isinstance(username, str) and isinstance(password, str)) or not username or not password \
            or len(username) > MAX_FIELD:
        return _login_page(request, ctx, 400, "Enter your username and password.")
    address = request.client.host if request.client else "unknown"
    try:
        cookie, viewer = await run_in_threadpool(
            sign_in, ctx.store, ctx.throttle, address, username, password, now=ctx.clock(),
            lifetime_micros=ctx.lifetime_micros)
    except Throttled as exc:
        response = _login_page(request, ctx, 429, f"Too many failed sign-ins; try again in {exc.retry_after} s.",
                               username)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except AuthenticationError:
        return _login_page(request, ctx, 401, "Wrong username or password.", username)
    request.state.username = viewer.username
    response = redirect(_safe_next(request.query_params.get("next")))
    response.set_cookie(COOKIE, cookie, max_age=ctx.lifetime_micros // 1_000_000, httponly=True,
                        samesite="strict", secure=ctx.secure_cookies(request.url.scheme), path="/")
    response.delete_cookie(PRE_SESSION_COOKIE, path="/login")
    return response


@page()
def logout(p: Page) -> Response:
    sign_out(p.ctx.store, p.signed_in)
    response = redirect("/login", "signed-out")
    response.delete_cookie(COOKIE, path="/")
    return response


ROUTES = [
    Route("/login", login, methods=["GET", "POST"]),
    Route("/logout", logout, methods=["POST"]),
]
