"""A TAXII 2.1 client for talking to partner nodes, careful about where it sends credentials.

Every outbound request of the node goes through :class:`PeerClient`, which holds the rules:

* only the configured peer's origin (scheme, host, port) is contacted: an API root or a ``next``
  link elsewhere is refused, not followed, so a peer cannot point our credentials at a third
  host (or at our own network);
* redirects are never followed (a 3xx is an error naming where it pointed);
* every request has a connect and a read timeout; responses are asked for and accepted only
  uncompressed (a few kilobytes of nested gzip would otherwise inflate to gigabytes before any
  cap could count them), and one larger than the cap is cut off and refused rather than held;
* a page with more objects than asked for is refused (parsing many tiny objects costs far more
  memory than their bytes);
* TLS certificates are always verified, against the system's store or a CA bundle the operator
  names (``sync_ca_bundle``); there is no switch to turn verification off.

TAXII 2.1 sections: discovery 4.1, API root 4.2, get objects 5.3, add objects 5.4, status 4.3.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import orjson

from accord.errors import SyncError

TAXII = "application/taxii+json;version=2.1"
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
# The first overlap question under a key makes the partner's node hash its whole index (about a
# minute at 10M values, bench/RESULTS.md); later ones take a second or less.
OVERLAP_TIMEOUT = httpx.Timeout(600.0, connect=10.0)
MAX_RESPONSE_BYTES = 32 * 1024 * 1024
STATUS_POLLS = 60  # an asynchronous add is polled at most this many times, a second apart


@dataclass(frozen=True)
class Page:
    objects: list[dict[str, Any]]
    more: bool
    next: str | None
    date_added_last: str | None
    date_added_first: str | None = None


def origin(url: str) -> tuple[str, str, int]:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:  # a port that is not a number, an unbalanced IPv6 bracket...
        raise SyncError(f"{url!r} is not a usable URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SyncError(f"{url!r} is not an http(s) URL")
    return parts.scheme, parts.hostname.lower(), port or (443 if parts.scheme == "https" else 80)


class PeerClient:
    def __init__(self, url: str, username: str, token: str, *, ca_bundle: str = "",
                 timeout: httpx.Timeout = DEFAULT_TIMEOUT, max_response_bytes: int = MAX_RESPONSE_BYTES,
                 transport: httpx.BaseTransport | None = None):
        self.url = url
        self._origin = origin(url)
        self._max = max_response_bytes
        self._http = httpx.Client(auth=(username, token), timeout=timeout, follow_redirects=False,
                                  verify=ca_bundle or True, transport=transport,
                                  headers={"Accept": TAXII, "User-Agent": "accord-sync",
                                           "Accept-Encoding": "identity"})
        self._api_root: str | None = None

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> PeerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(self, method: str, url: str, **kwargs: Any) -> Any:
        if origin(url) != self._origin:
            raise SyncError(f"refusing to contact {url}: it is not on the peer's origin {self.url}")
        try:
            with self._http.stream(method, url, **kwargs) as response:
                if response.is_redirect:
                    raise SyncError(f"{method} {url} answered {response.status_code} redirecting to "
                                    f"{response.headers.get('location')!r}; redirects are not followed")
                encoding = response.headers.get("content-encoding", "identity").strip().lower()
                if encoding not in ("", "identity"):
                    raise SyncError(f"{method} {url} answered with Content-Encoding {encoding!r}; only "
                                    "uncompressed responses are accepted")
                body = bytearray()
                for chunk in response.iter_raw():
                    body += chunk
                    if len(body) > self._max:
                        raise SyncError(f"{method} {url}: response larger than {self._max} bytes, refused")
                status, headers = response.status_code, response.headers
        except httpx.HTTPError as exc:
            raise SyncError(f"{method} {url}: {type(exc).__name__}: {exc}") from exc
        try:
            parsed = orjson.loads(body) if body else {}
        except orjson.JSONDecodeError:
            raise SyncError(f"{method} {url} answered {status} with a body that is not JSON",
                            peer_status=status if status >= 400 else None) from None
        if status >= 400:
            detail = parsed.get("title") or parsed.get("description") if isinstance(parsed, dict) else None
            rest = parsed.get("error") if isinstance(parsed, dict) else None
            if isinstance(rest, dict) and isinstance(rest.get("detail"), str):  # Accord's REST error shape
                detail = rest["detail"]
            raise SyncError(f"{method} {url} answered {status}" + (f": {detail}" if detail else ""),
                            peer_status=status)
        return parsed, headers

    def _rest(self, path: str) -> str:
        """Accord's REST API beside the peer's TAXII: the discovery URL with its final ``taxii2/``
        replaced by ``api/v1/`` (so a node behind a path prefix keeps its prefix)."""
        parts = urlsplit(self.url)
        prefix = parts.path.rstrip("/")
        prefix = prefix[: -len("/taxii2")] if prefix.endswith("/taxii2") else prefix
        return f"{parts.scheme}://{parts.netloc}{prefix}/api/v1/{path}"

    def get_retractions(self, after: int) -> dict[str, Any] | None:
        """The peer's retraction feed for us (an Accord extension, not TAXII); None when the peer
        does not have one (a foreign TAXII server: retractions cannot travel from it)."""
        try:
            feed, _ = self._request("GET", self._rest("sync/retractions"), params={"after": str(after)})
        except SyncError as exc:
            if exc.peer_status in (404, 405):
                return None
            raise
        if not isinstance(feed, dict) or not isinstance(feed.get("retractions"), list):
            raise SyncError(f"{self._rest('sync/retractions')}: not a retraction feed")
        return feed

    def retract(self, stix_id: str, version: str) -> bool:
        """Retract our copy of a version on the peer's node (REST); False when it has none."""
        try:
            self._request("POST", self._rest(f"objects/{stix_id}/retract"), json={"version": version})
        except SyncError as exc:
            if exc.peer_status == 404:
                return False
            raise
        return True

    def overlap(self, hashes: list[str], *, agreement: str | None, key: str) -> dict[str, Any]:
        """Ask the peer's node which of these keyed hashes are of values it holds too (Accord's
        overlap check, REST; docs/early-warning.md). ``key``: the fingerprint of the key hashed with."""
        url = self._rest("overlap")
        body: dict[str, Any] = {"hashes": hashes, "key": key}
        if agreement:
            body["agreement"] = agreement
        answer, _ = self._request("POST", url, json=body, timeout=OVERLAP_TIMEOUT)
        matches = answer.get("matches") if isinstance(answer, dict) else None
        if not isinstance(matches, list) or not all(isinstance(h, str) for h in matches):
            raise SyncError(f"POST {url} answered something other than an overlap answer")
        return dict(answer)

    def api_root(self) -> str:
        """The peer's API root URL: discovery's ``default``, else its first API root (TAXII 2.1 4.1)."""
        if self._api_root is None:
            discovery, _ = self._request("GET", self.url)
            roots = discovery.get("api_roots") if isinstance(discovery, dict) else None
            chosen = discovery.get("default") if isinstance(discovery, dict) else None
            if not chosen and isinstance(roots, list) and roots:
                chosen = roots[0]
            if not isinstance(chosen, str):
                raise SyncError(f"{self.url}: discovery names no API root")
            root = urljoin(self.url, chosen)
            self._api_root = root if root.endswith("/") else root + "/"
        return self._api_root

    def get_objects(self, collection_id: str, *, added_after: str | None, next_token: str | None,
                    limit: int) -> Page:
        """One page of every version in a remote collection, oldest ``date_added`` first (5.3)."""
        params: dict[str, str] = {"match[version]": "all", "limit": str(limit)}
        if added_after:
            params["added_after"] = added_after
        if next_token:
            params["next"] = next_token
        url = f"{self.api_root()}collections/{collection_id}/objects/"
        envelope, headers = self._request("GET", url, params=params)
        if not isinstance(envelope, dict):
            raise SyncError(f"GET {url} answered something other than a TAXII envelope")
        objects = envelope.get("objects") or []
        if not isinstance(objects, list):
            raise SyncError(f"GET {url}: 'objects' is not a list")
        if len(objects) > limit:
            raise SyncError(f"GET {url}: {len(objects)} objects in a page where at most {limit} were asked for")
        nxt = envelope.get("next")
        return Page(objects, bool(envelope.get("more")), nxt if isinstance(nxt, str) else None,
                    headers.get("X-TAXII-Date-Added-Last"), headers.get("X-TAXII-Date-Added-First"))

    def add_objects(self, collection_id: str, objects: list[bytes]) -> dict[str, Any]:
        """POST one envelope (5.4); waits for an asynchronous status to complete (4.3)."""
        url = f"{self.api_root()}collections/{collection_id}/objects/"
        body = b'{"objects":[' + b",".join(objects) + b"]}"
        status, _ = self._request("POST", url, content=body, headers={"Content-Type": TAXII})
        for _ in range(STATUS_POLLS):
            if not isinstance(status, dict) or status.get("status") == "complete" or not status.get("id"):
                break
            time.sleep(1)
            status, _ = self._request("GET", f"{self.api_root()}status/{status['id']}/")
        if not isinstance(status, dict):
            raise SyncError(f"POST {url} answered something other than a status resource")
        return status
