"""Discovery, API roots, collections and status: the TAXII resources that are not objects."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from accord.policy.gate import CollectionAccess, collection_access, collections_predicate
from accord.policy.viewer import Viewer
from accord.storage.base import Collection
from accord.taxii.context import TaxiiContext, begin
from accord.taxii.errors import NOT_FOUND
from accord.taxii.media import STIX_MEDIA_TYPE, TAXII_MEDIA_TYPE, TaxiiResponse


def require_api_root(ctx: TaxiiContext, name: str) -> None:
    if name not in {root.name for root in ctx.store.api_roots()}:
        raise NOT_FOUND


def visible_collection(ctx: TaxiiContext, viewer: Viewer, api_root: str,
                       collection_id: str) -> tuple[Collection, CollectionAccess]:
    """A collection the caller may know exists, with its rights on it; 404 (the same for absent
    and hidden) otherwise."""
    require_api_root(ctx, api_root)
    if "\x00" in collection_id:  # no id has one, and PostgreSQL refuses NUL in text parameters
        raise NOT_FOUND
    collection = ctx.store.visible_collection(api_root, collection_id, collections_predicate(viewer))
    if collection is None:
        raise NOT_FOUND
    return collection, collection_access(ctx.store, viewer, collection)


def _collection_resource(collection: Collection, access: CollectionAccess) -> dict[str, Any]:
    resource: dict[str, Any] = {"id": collection.id, "title": collection.title}
    if collection.description:
        resource["description"] = collection.description
    if collection.alias:
        resource["alias"] = collection.alias
    resource.update(can_read=access.can_read, can_write=access.can_write, media_types=[STIX_MEDIA_TYPE])
    return resource


def discovery(request: Request) -> Response:
    """Server Discovery, TAXII 2.1 section 4.1: the API roots this caller can use."""
    ctx, _ = begin(request)
    base = str(request.base_url)
    roots = [f"{base}{root.name}/" for root in ctx.store.api_roots()]
    resource: dict[str, Any] = {"title": "Accord", "description": "Accord threat-intelligence exchange node",
                                "api_roots": roots}
    if roots:
        resource["default"] = roots[0]
    return TaxiiResponse(resource)


def api_root(request: Request) -> Response:
    """Get API Root Information, TAXII 2.1 section 4.2."""
    ctx, _ = begin(request)
    name = request.path_params["api_root"]
    for root in ctx.store.api_roots():
        if root.name == name:
            resource: dict[str, Any] = {"title": root.title, "versions": [TAXII_MEDIA_TYPE],
                                        "max_content_length": ctx.max_content_length}
            if root.description:
                resource["description"] = root.description
            return TaxiiResponse(resource)
    raise NOT_FOUND


def collections(request: Request) -> Response:
    """Get Collections, TAXII 2.1 section 5.1: those the caller can read or write."""
    ctx, viewer = begin(request)
    name = request.path_params["api_root"]
    require_api_root(ctx, name)
    found = ctx.store.visible_collections(name, collections_predicate(viewer))
    return TaxiiResponse({"collections": [
        _collection_resource(c, collection_access(ctx.store, viewer, c)) for c in found]})


def collection(request: Request) -> Response:
    """Get a Collection, TAXII 2.1 section 5.2; can_read/can_write are the caller's."""
    ctx, viewer = begin(request)
    found, access = visible_collection(ctx, viewer, request.path_params["api_root"],
                                       request.path_params["collection_id"])
    return TaxiiResponse(_collection_resource(found, access))


def status(request: Request) -> Response:
    """Get Status, TAXII 2.1 section 4.3: only the caller who made the request may read it."""
    ctx, viewer = begin(request)
    name = request.path_params["api_root"]
    require_api_root(ctx, name)
    status_id = request.path_params["status_id"]
    if "\x00" in status_id:  # as for collection ids: never a real one, and PostgreSQL refuses NUL
        raise NOT_FOUND
    body = ctx.store.get_status(status_id, name, viewer.username)
    if body is None:
        raise NOT_FOUND
    return TaxiiResponse(body)
