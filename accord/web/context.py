"""What every page handler needs, built once by app.py."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson
from jinja2 import Environment, FileSystemLoader, select_autoescape

from accord.policy.credentials import Throttle
from accord.services.decay import DecayModel
from accord.services.search import display_name
from accord.stix.timestamps import format_micros, key_to_timestamp
from accord.stix.versions import CONTENT_VERSION_PREFIX
from accord.storage.base import Store

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
WEB_SECRET = "web-csrf"  # noqa: S105 -- the NAME of the node secret CSRF tokens derive from, not a secret


def template_environment() -> Environment:
    # Autoescape every template: shared STIX content is attacker-controlled, and a page must show
    # a name containing <script> as text. Nothing in templates is marked safe.
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["micros_time"] = lambda m: "" if m is None else format_micros(int(m))[:19].replace("T", " ") + " UTC"
    env.filters["version_text"] = _version_text
    env.filters["json"] = _json
    env.filters["display_name"] = display_name
    env.globals["query"] = _query
    return env


def _version_text(key: str) -> str:
    return "content " + key[1:13] if key.startswith(CONTENT_VERSION_PREFIX) else key_to_timestamp(key)


def _json(value: Any) -> str:
    """A property value as compact text (autoescaped by the template like any other string)."""
    if isinstance(value, str):
        return value
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()


def _query(params: list[tuple[str, str]], add: tuple[str, str] | None = None,
           remove: tuple[str, str] | None = None) -> str:
    """A query string from ``params`` with one pair added or removed (facet links)."""
    pairs = [kv for kv in params if kv != remove]
    if add is not None and add not in pairs:
        pairs.append(add)
    return "?" + urlencode(pairs)


@dataclass(frozen=True)
class WebContext:
    store: Store
    throttle: Throttle
    clock: Callable[[], int]
    secret: bytes
    templates: Environment
    four_eyes: bool
    idle_micros: int
    lifetime_micros: int
    node_name: str
    max_content_length: int
    max_nesting_depth: int
    max_object_bytes: int
    cookie_secure: str = "auto"  # 'true', 'false' or 'auto' (Secure when the request is HTTPS)
    correlation_cap: int = 100  # settings.py
    decay: DecayModel = field(default_factory=DecayModel)  # settings.py: decay_lifetimes
    sighting_min_count: int = 1  # settings.py
    key_file: str = ""  # seals alert webhooks' secrets (services/secrets.py)
    alert_webhook_private_targets: bool = False  # settings.py

    def secure_cookies(self, scheme: str) -> bool:
        return self.cookie_secure == "true" or (self.cookie_secure == "auto" and scheme == "https")
