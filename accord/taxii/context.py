"""What every TAXII handler needs, passed in once by app.py, and the preamble every request runs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.requests import Request

from accord.errors import AuthenticationError
from accord.policy.credentials import Throttle, Throttled, authenticate_request
from accord.policy.viewer import Viewer
from accord.storage.base import Store
from accord.storage.group import GroupCommit
from accord.taxii.errors import TaxiiError, unauthorized
from accord.taxii.media import TAXII_MEDIA_TYPE, accepts_taxii
from accord.taxii.paging import Cursors

# The name (not the value) of the node secret that signs `next` cursors.
CURSOR_SECRET = "taxii-cursor-key"  # noqa: S105


@dataclass(frozen=True)
class TaxiiContext:
    store: Store
    max_content_length: int
    max_object_bytes: int
    max_nesting_depth: int
    cursors: Cursors
    throttle: Throttle
    clock: Callable[[], int]
    four_eyes: bool = False  # every write is a draft; the publisher who releases it is not its author
    # Add Objects requests that arrive together are committed together (storage/group.py).
    writes: GroupCommit = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "writes", GroupCommit(self.store))


def context_of(request: Request) -> TaxiiContext:
    ctx: TaxiiContext = request.app.state.taxii
    return ctx


def begin(request: Request) -> tuple[TaxiiContext, Viewer]:
    """Authenticate the caller (401/429) and check that it accepts TAXII 2.1 (406)."""
    ctx = context_of(request)
    address = request.client.host if request.client else "unknown"
    try:
        viewer = authenticate_request(ctx.store, ctx.throttle, address, request.headers.get("authorization"),
                                      now=ctx.clock())
    except Throttled as exc:
        raise TaxiiError(429, "Too many requests", "Too many failed authentications from this address; "
                         "try again later.", headers={"Retry-After": str(exc.retry_after)}) from None
    except AuthenticationError:
        raise unauthorized() from None
    request.state.username = viewer.username  # for the request's log line (accord/telemetry.py)
    if not accepts_taxii(request.headers.get("accept")):
        raise TaxiiError(406, "Not acceptable", f"This server answers only with {TAXII_MEDIA_TYPE}.")
    return ctx, viewer
