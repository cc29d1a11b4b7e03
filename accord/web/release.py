"""Writing and releasing: import with review, the approval queue, publish and retract.

The review step sends the extracted objects back to the browser as a STIX bundle in a hidden
field; the commit step validates them again (services/review.py), so a tampered form can do no
more than a TAXII POST by the same user could.
"""

from __future__ import annotations

import hashlib
import hmac
import io
from typing import Any
from urllib.parse import quote

import orjson
from starlette.responses import Response
from starlette.routing import Route

from accord.errors import InputError, RequestError
from accord.policy.gate import collection_access, visibility
from accord.policy.roles import Role
from accord.services import release, review
from accord.services.formats import Source, registry
from accord.services.search import Searcher
from accord.stix.markings import TLP_LEVELS
from accord.stix.stream import Limits
from accord.storage.base import Collection
from accord.web.pages import Page, PageError, page, redirect

MAX_PASTE = 4 * 1024 * 1024
APPROVALS_SHOWN = 500  # drafts listed at once, oldest first: the queue is worked from its head


def _writable(p: Page) -> list[Collection]:
    return [c for c in p.ctx.store.collections() if collection_access(p.ctx.store, p.viewer, c).can_write]


def _form(p: Page, **values: Any) -> Response:
    formats = sorted(name for name in registry().importers)
    return p.render("import.html", collections=_writable(p), formats=formats, tlp_levels=TLP_LEVELS,
                    may_publish=p.viewer.role.at_least(Role.PUBLISHER) and not p.ctx.four_eyes, **values)


@page(Role.ANALYST)
def import_form(p: Page) -> Response:
    return _form(p)


@page(Role.ANALYST)
def import_preview(p: Page) -> Response:
    upload = p.form.get("file") if p.form is not None else None
    content = b""
    if upload is not None and not isinstance(upload, str) and upload.filename:
        content = upload.file.read(MAX_PASTE + 1)
    pasted = not content
    if pasted:
        content = p.field("text").encode("utf-8")
    if len(content) > MAX_PASTE:
        raise PageError(413, f"At most {MAX_PASTE // (1024 * 1024)} MiB here; import larger files with the CLI.")
    fmt = p.field("format", "auto") or "auto"
    if fmt == "auto" and pasted and content.strip() and not _recognised(content):
        fmt = "text"  # a pasted paragraph no structured format claims is a report: extract from the prose
    extraction = review.extract(content, fmt, Limits(p.ctx.max_nesting_depth, p.ctx.max_object_bytes))
    collection = _collection(p)
    bundle = orjson.dumps({"type": "bundle", "id": "bundle--00000000-0000-4000-8000-000000000000",
                           "objects": extraction.objects}).decode()
    return p.render("import_review.html", extraction=extraction, bundle=bundle, collection=collection,
                    sealed=_seal(p, extraction.review_required, bundle), tlp=p.field("tlp", "amber"),
                    tlp_levels=TLP_LEVELS,
                    may_publish=p.viewer.role.at_least(Role.PUBLISHER) and not p.ctx.four_eyes
                    and not extraction.review_required)


def _seal(p: Page, review_required: bool, bundle: str) -> str:
    """A MAC over the review form's bundle, bound to the session, that says whether the objects
    may be published from the form: only for formats that do not require a person's review."""
    message = b"import-review\x00" + p.signed_in.digest + (b"\x01" if review_required else b"\x00") + \
        hashlib.sha256(bundle.encode("utf-8")).digest()
    return hmac.new(p.ctx.secret, message, hashlib.sha256).hexdigest()


def _recognised(content: bytes) -> bool:
    try:
        registry().detect(Source.from_stream("pasted text", io.BytesIO(content)))
    except InputError:
        return False
    return True


def _collection(p: Page) -> Collection:
    ref = p.field("collection")
    for c in _writable(p):
        if ref in (c.id, c.alias):
            return c
    raise RequestError("collection", "choose a collection you may write to")


@page(Role.ANALYST)
def import_commit(p: Page) -> Response:
    try:
        bundle = orjson.loads(p.field("bundle") or "{}")
    except orjson.JSONDecodeError:
        raise RequestError("bundle", "the review form was damaged; start the import again") from None
    objects = bundle.get("objects") if isinstance(bundle, dict) else None
    if not isinstance(objects, list):
        raise RequestError("bundle", "the review form was damaged; start the import again")
    keep = set(p.fields("keep"))
    kept = [o for o in objects if isinstance(o, dict) and o.get("id") in keep]
    tlp = p.field("tlp") or None
    # What was extracted from prose is stored as a draft whatever button was pressed; a review
    # form whose seal does not match (edited, or from another session) is treated the same way.
    reviewed_only = not hmac.compare_digest(p.field("sealed"), _seal(p, False, p.field("bundle")))
    report, provenance = review.commit(p.ctx.store, p.viewer, _collection(p), kept, tlp=tlp,
                                       draft=p.field("action") != "publish" or reviewed_only,
                                       four_eyes=p.ctx.four_eyes)
    return p.render("import_done.html", report=report, state=provenance.state.value, kept=kept)


@page(Role.PUBLISHER)
def approvals(p: Page) -> Response:
    store = p.ctx.store
    vis = visibility(store, p.viewer, p.ctx.clock())
    queue = store.drafts(p.viewer.org_pk, limit=APPROVALS_SHOWN) if p.viewer.org_pk is not None else []
    drafts = Searcher(store, vis).hits_of([d.pk for d in queue])
    authors = {d.pk: d.author for d in queue}
    return p.render("approvals.html", drafts=drafts, four_eyes=p.ctx.four_eyes, authors=authors,
                    more=len(queue) >= APPROVALS_SHOWN)


@page(Role.PUBLISHER)
def approve_many(p: Page) -> Response:
    chosen = p.fields("publish")
    if not chosen:
        raise RequestError("publish", "tick at least one draft to publish")
    for key in chosen:
        stix_id, _, version = key.partition(" ")
        release.publish(p.ctx.store, p.viewer, stix_id, version=version or None, four_eyes=p.ctx.four_eyes)
    return redirect("/approvals", "published")


@page(Role.PUBLISHER)
def publish(p: Page) -> Response:
    stix_id = p.request.path_params["stix_id"]
    release.publish(p.ctx.store, p.viewer, stix_id, version=p.field("version") or None, four_eyes=p.ctx.four_eyes)
    return redirect("/objects/" + quote(stix_id, safe=""), "published")


@page(Role.PUBLISHER)
def retract(p: Page) -> Response:
    stix_id = p.request.path_params["stix_id"]
    release.retract(p.ctx.store, p.viewer, stix_id, version=p.field("version") or None)
    return redirect("/objects/" + quote(stix_id, safe=""), "retracted")


ROUTES = [
    Route("/import", import_form, methods=["GET"]),
    Route("/import/preview", import_preview, methods=["POST"]),
    Route("/import/commit", import_commit, methods=["POST"]),
    Route("/approvals", approvals, methods=["GET"]),
    Route("/approvals", approve_many, methods=["POST"]),
    Route("/objects/{stix_id}/publish", publish, methods=["POST"]),
    Route("/objects/{stix_id}/retract", retract, methods=["POST"]),
]
