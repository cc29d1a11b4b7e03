"""The page decorator: every UI route is signed-in, role-checked, CSRF-checked and error-mapped here.

A handler receives a :class:`Page` (the request, the context, the signed-in viewer and the posted
form) and returns a Response, usually ``page.render(template, **values)``. Handlers run in a
thread (the store is synchronous). Errors become pages with the right status, never a stack
trace; "not found" and "not yours" are the same 404 page, as everywhere in Accord.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from accord.errors import AlreadyExistsError, ConfigError, InputError, InvalidObjectError, NotFoundError, RequestError
from accord.policy.roles import Role
from accord.policy.sessions import COOKIE, SignedIn, csrf_ok, session_of
from accord.policy.viewer import Viewer
from accord.services.overlap import askable_peers
from accord.services.release import ReleaseError
from accord.web.context import WebContext

log = logging.getLogger("accord.web")
MAX_FORM_FIELDS = 5000  # an import review posts one checkbox per extracted object
MAX_FORM_BYTES = 8 * 1024 * 1024
MAX_PASTED_TEXT = 2 * 1024 * 1024  # a textarea of values (lookup, overlap check)

# Messages a redirect may ask the next page to show, by key: never text taken from the URL.
NOTICES = {
    "published": "Published: partners covered by an agreement can now receive it.",
    "retracted": "Retracted: partners will be told to withdraw it.",
    "imported": "Imported.",
    "sighting-recorded": "Sighting recorded.",
    "sighting-draft": "Sighting recorded as a draft: a publisher releases it before anyone else sees it.",
    "saved": "Saved.",
    "signed-out": "You are signed out.",
    "expired": "Your session ended; please sign in again.",
    "agreement-added": "Agreement added.",
    "agreement-suspend": "Agreement suspended: nothing flows under it until it is resumed.",
    "agreement-resume": "Agreement resumed.",
    "agreement-end": "Agreement ended: nothing flows under it any more.",
    "collection-added": "Collection added.",
    "grant-set": "Grant saved.",
    "grant-removed": "Grant removed.",
    "user-added": "User added: they can sign in with the initial password.",
    "password-set": "Password set; the user's web sessions were ended.",
    "user-disabled": "User disabled: its API tokens and password no longer work, and its web sessions were ended.",
    "user-enabled": "User enabled: its unexpired tokens and its password work again.",
    "password-changed": "Your password was changed and your sessions ended: sign in with the new password.",
    "token-revoked": "Token revoked.",
    "rule-added": "Alert rule added: it counts what is added from now on.",
    "rule-removed": "Alert rule removed, with its alerts.",
    "alert-acknowledged": "Alert acknowledged.",
}


class PageError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


@dataclass
class Page:
    request: Request
    ctx: WebContext
    signed_in: SignedIn
    form: FormData | None

    @property
    def viewer(self) -> Any:
        return self.signed_in.viewer

    def field(self, name: str, default: str = "") -> str:
        value = self.form.get(name) if self.form is not None else None
        return value.strip() if isinstance(value, str) else default

    def fields(self, name: str) -> list[str]:
        if self.form is None:
            return []
        return [v for v in self.form.getlist(name) if isinstance(v, str)]

    def pasted_values(self, name: str, max_values: int) -> tuple[str, list[str]]:
        """A textarea of values, one a line: the text as typed, and its distinct non-blank lines."""
        text = self.field(name)
        if len(text) > MAX_PASTED_TEXT:
            raise RequestError(name, f"at most {MAX_PASTED_TEXT // 1024 // 1024} MiB of values at once")
        values = list(dict.fromkeys(v.strip() for v in text.splitlines() if v.strip()))
        if len(values) > max_values:
            raise RequestError(name, f"at most {max_values} values at once; {len(values)} were given")
        return text, values

    def render(self, template: str, status: int = 200, **values: Any) -> Response:
        notice = NOTICES.get(self.request.query_params.get("notice", ""))
        html = self.ctx.templates.get_template(template).render(
            viewer=self.viewer, csrf=self.signed_in.csrf, node_name=self.ctx.node_name, notice=notice,
            path=self.request.url.path, Role=Role, may_ask_overlap=may_ask_overlap(self.ctx, self.viewer), **values)
        return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})


def may_ask_overlap(ctx: WebContext, viewer: Viewer | None) -> bool:
    """Whether the menu offers the overlap page: only to those it would let ask (a reader costs no query)."""
    return viewer is not None and viewer.role.at_least(Role.ANALYST) \
        and bool(askable_peers(ctx.store, viewer, ctx.clock()))


def redirect(path: str, notice: str | None = None) -> Response:
    """A 303 to a path of this site (never elsewhere), optionally with a notice key."""
    if not path.startswith("/") or path.startswith("//"):
        path = "/"
    if notice:
        path += ("&" if "?" in path else "?") + "notice=" + notice
    return RedirectResponse(path, status_code=303)


def error_page(ctx: WebContext, status: int, message: str, signed_in: SignedIn | None = None) -> Response:
    html = ctx.templates.get_template("error.html").render(
        status=status, message=message, viewer=signed_in.viewer if signed_in else None,
        csrf=signed_in.csrf if signed_in else "", node_name=ctx.node_name, notice=None, path="", Role=Role,
        may_ask_overlap=may_ask_overlap(ctx, signed_in.viewer if signed_in else None))
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})


def _same_origin(request: Request) -> bool:
    """A form post must come from this site's own pages (a second line behind the CSRF token).

    The host is compared, not the scheme: behind a TLS-terminating proxy the browser's Origin
    says https while the request reaching the server is plain HTTP (the proxy must pass the Host
    header on, docs/operations.md). Another site differs in its host, whatever its scheme."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    _, sep, host = origin.partition("://")
    return bool(sep) and host == request.headers.get("host", "")


Handler = Callable[[Page], Response]


def page(min_role: Role = Role.READER) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    """Turn ``handler`` into a route endpoint for signed-in users holding at least ``min_role``."""

    def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            ctx: WebContext = request.app.state.web
            signed_in = await run_in_threadpool(session_of, ctx.store, ctx.secret, request.cookies.get(COOKIE),
                                                now=ctx.clock(), idle_micros=ctx.idle_micros)
            if signed_in is None:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                had_session = COOKIE in request.cookies
                response = redirect("/login?next=" + quote(target, safe=""))
                if had_session:
                    response = redirect("/login?notice=expired&next=" + quote(target, safe=""))
                    response.delete_cookie(COOKIE, path="/")
                return response
            request.state.username = signed_in.viewer.username
            if not signed_in.viewer.role.at_least(min_role):
                return error_page(ctx, 403, "Your role does not allow this page.", signed_in)
            form = None
            if request.method == "POST":
                if not _same_origin(request):
                    return error_page(ctx, 403, "This form was not sent from this site.", signed_in)
                # Browsers always declare a form's length; without one the body would be unbounded.
                declared = request.headers.get("content-length", "")
                if not (declared.isascii() and declared.isdigit()):
                    return error_page(ctx, 411, "The form's length must be declared.", signed_in)
                if int(declared) > MAX_FORM_BYTES:
                    return error_page(ctx, 413, "The form is too large.", signed_in)
                # One field may hold a whole pasted report or the review's bundle (Starlette's
                # default of 1 MiB a field would cut them off).
                form = await request.form(max_fields=MAX_FORM_FIELDS, max_files=2, max_part_size=MAX_FORM_BYTES)
                csrf = form.get("csrf")
                if not csrf_ok(ctx.secret, signed_in.digest, csrf if isinstance(csrf, str) else None):
                    return error_page(ctx, 403, "The form has expired or did not come from this site; "
                                      "reload the page and try again.", signed_in)
            try:
                return await run_in_threadpool(handler, Page(request, ctx, signed_in, form))
            except PageError as exc:
                return error_page(ctx, exc.status, exc.message, signed_in)
            except NotFoundError:
                return error_page(ctx, 404, "There is no such page, or it is not visible to you.", signed_in)
            except ReleaseError as exc:
                return error_page(ctx, 403, str(exc), signed_in)
            except AlreadyExistsError as exc:
                return error_page(ctx, 409, str(exc), signed_in)
            except (RequestError, ConfigError, InputError, InvalidObjectError) as exc:
                return error_page(ctx, 400, str(exc), signed_in)
            except Exception:  # a bug: a plain 500 page, the details only in the log
                log.exception("web page failed")
                return error_page(ctx, 500, "Something went wrong on the server; it has been logged.", signed_in)

        return endpoint

    return wrap
