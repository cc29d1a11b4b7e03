"""The TAXII 2.1 URL table (TAXII 2.1 sections 4 and 5). Paths end in '/' as the spec writes
them; the status path also answers without it, because taxii2-client builds it that way."""

from __future__ import annotations

from starlette.routing import Route

from accord.taxii import objects, openapi, resources

_COLLECTION = "/{api_root}/collections/{collection_id}"

ROUTES = [
    Route("/taxii2/", resources.discovery, methods=["GET"]),
    Route(openapi.OPENAPI_PATH, openapi.openapi_json, methods=["GET"]),  # not TAXII 2.1: an Accord addition
    Route("/{api_root}/", resources.api_root, methods=["GET"]),
    Route("/{api_root}/collections/", resources.collections, methods=["GET"]),
    Route(f"{_COLLECTION}/", resources.collection, methods=["GET"]),
    Route(f"{_COLLECTION}/objects/", objects.get_objects, methods=["GET"]),
    Route(f"{_COLLECTION}/objects/", objects.add_objects, methods=["POST"]),
    Route(f"{_COLLECTION}/objects/{{object_id}}/", objects.get_object, methods=["GET"]),
    Route(f"{_COLLECTION}/objects/{{object_id}}/", objects.delete_object, methods=["DELETE"]),
    Route(f"{_COLLECTION}/objects/{{object_id}}/versions/", objects.get_object_versions, methods=["GET"]),
    Route(f"{_COLLECTION}/manifest/", objects.get_manifest, methods=["GET"]),
    Route("/{api_root}/status/{status_id}/", resources.status, methods=["GET"]),
    Route("/{api_root}/status/{status_id}", resources.status, methods=["GET"]),
]
