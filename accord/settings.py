"""Every setting Accord reads, declared as data: name, environment variable, default, help.

Precedence, highest first: a command-line flag, the environment, the TOML file named by
``ACCORD_CONFIG`` (or ``--config``), the default. ``docs/operations.md`` lists every setting;
``tests/test_settings.py`` fails when one is missing there.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from accord.errors import ConfigError


def _default_data_dir() -> str:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return str(Path(base) / "accord")


def _boolean(text: str) -> bool:
    word = text.strip().lower()
    if word in ("1", "true", "yes", "on"):
        return True
    if word in ("0", "false", "no", "off"):
        return False
    raise ValueError("use true or false")


def _auto_boolean(text: str) -> str:
    word = text.strip().lower()
    return "auto" if word == "auto" else str(_boolean(word)).lower()


def _log_format(text: str) -> str:
    if text not in ("json", "text"):
        raise ValueError("must be json or text")
    return text


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise ValueError("must be a positive integer")
    return value


def _lifetimes(text: str) -> str:
    """TYPE=DAYS,... in a canonical spelling (services/decay.py checks the types against those it
    knows). Text, not pairs: `accord serve` hands settings to its workers as strings."""
    pairs = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        kind, sep, days = part.partition("=")
        if not sep or not kind.strip() or not days.strip().isdigit() or int(days) <= 0:
            raise ValueError(f"{part!r}: write TYPE=DAYS with a positive number of days, e.g. ipv4-addr=30")
        pairs.append(f"{kind.strip()}={int(days)}")
    return ",".join(pairs)


@dataclass(frozen=True)
class Setting:
    name: str
    env: str
    default: Callable[[Mapping[str, Any]], Any]
    help: str
    parse: Callable[[str], Any] = str


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "data_dir", "ACCORD_DATA_DIR", lambda _: _default_data_dir(),
        "Directory holding the embedded SQLite database and other node files "
        "(default: $XDG_DATA_HOME/accord, i.e. ~/.local/share/accord).",
    ),
    Setting(
        "database_url", "ACCORD_DATABASE_URL",
        lambda s: f"sqlite:///{Path(s['data_dir']) / 'accord.db'}",
        "Where the store lives: sqlite:///PATH (default: accord.db in the data directory).",
    ),
    Setting(
        "max_object_bytes", "ACCORD_MAX_OBJECT_BYTES", lambda _: 64 * 1024 * 1024,
        "Largest single STIX object accepted, in bytes; bounds memory on hostile input.", _positive_int,
    ),
    Setting(
        "max_nesting_depth", "ACCORD_MAX_NESTING_DEPTH", lambda _: 100,
        "Deepest JSON nesting accepted inside one object; deeper objects are refused.", _positive_int,
    ),
    Setting(
        "max_content_length", "ACCORD_MAX_CONTENT_LENGTH", lambda _: 100 * 1024 * 1024,
        "Largest TAXII request body accepted, in bytes (the API root's max_content_length); "
        "larger requests get 413.", _positive_int,
    ),
    Setting(
        "auth_failures_per_minute", "ACCORD_AUTH_FAILURES_PER_MINUTE", lambda _: 10,
        "Failed authentications allowed from one client address per minute; beyond it the "
        "address gets 429 until the minute has passed.", _positive_int,
    ),
    Setting(
        "four_eyes", "ACCORD_FOUR_EYES", lambda _: False,
        "Require four eyes for release: every write is a draft, and the publisher who publishes "
        "it must not be its author (true/false).", _boolean,
    ),
    Setting(
        "key_file", "ACCORD_KEY_FILE", lambda s: str(Path(s["data_dir"]) / "node.key"),
        "File holding the key that seals partner nodes' tokens and the overlap check's keys (created on "
        "first use, mode 0600); keep it out of database backups.",
    ),
    Setting(
        "sync_ca_bundle", "ACCORD_SYNC_CA_BUNDLE", lambda _: "",
        "A CA bundle (PEM file) to verify partner nodes' TLS certificates with, for a private CA; "
        "empty: the system's trust store. Verification is never off.",
    ),
    Setting(
        "sync_scheduler", "ACCORD_SYNC_SCHEDULER", lambda _: True,
        "Run the sync scheduler inside `accord serve` (each peer on its own interval); false "
        "leaves syncing to `accord sync run` (true/false).", _boolean,
    ),
    Setting(
        "node_name", "ACCORD_NODE_NAME", lambda _: "accord",
        "This node's name as others see it: exports name it as their source (the creating "
        "organisation of a MISP event, the message of a Suricata rule).",
    ),
    Setting(
        "session_idle_minutes", "ACCORD_SESSION_IDLE_MINUTES", lambda _: 30,
        "A web UI session ends after this many minutes without a request.", _positive_int,
    ),
    Setting(
        "session_hours", "ACCORD_SESSION_HOURS", lambda _: 12,
        "A web UI session ends this many hours after sign-in, however active.", _positive_int,
    ),
    Setting(
        "session_cookie_secure", "ACCORD_SESSION_COOKIE_SECURE", lambda _: "auto",
        "Mark the web session cookie Secure (sent over HTTPS only): true behind a TLS-terminating "
        "proxy, false never, auto when the request itself came over HTTPS.", _auto_boolean,
    ),
    Setting(
        "correlation_cap", "ACCORD_CORRELATION_CAP", lambda _: 100,
        "An object page lists, for each of the object's observables, the other visible objects "
        "sharing it (\"also seen in\"); a value more than this many visible objects share is marked "
        "over-correlating instead, with no list and no count.", _positive_int,
    ),
    Setting(
        "sighting_min_count", "ACCORD_SIGHTING_MIN_COUNT", lambda _: 1,
        "Other organisations' sightings of an object are shown to a reader, and move the decay score "
        "that reader sees, only once at least this many of them are visible to the reader; below it "
        "the reader learns nothing of them. Its own organisation's sightings always count.", _positive_int,
    ),
    Setting(
        "decay_lifetimes", "ACCORD_DECAY_LIFETIMES", lambda _: "",
        "Indicator lifetimes for the decay score, in days, by the type of value the pattern names, "
        "over the built-in table: TYPE=DAYS,... (e.g. ipv4-addr=14,file=730,default=120); "
        "docs/early-warning.md lists the types and defaults.", _lifetimes,
    ),
    Setting(
        "alert_runner", "ACCORD_ALERT_RUNNER", lambda _: True,
        "Evaluate alert rules and deliver their webhooks inside `accord serve` (one worker, "
        "alerts.lock in the data directory); false leaves it to `accord alert run` (true/false).", _boolean,
    ),
    Setting(
        "alert_interval", "ACCORD_ALERT_INTERVAL", lambda _: 10,
        "Seconds between two alert passes in `accord serve`.", _positive_int,
    ),
    Setting(
        "alert_webhook_private_targets", "ACCORD_ALERT_WEBHOOK_PRIVATE_TARGETS", lambda _: False,
        "Allow alert webhooks to loopback and private addresses (true/false; link-local ones never). Off, "
        "a webhook whose host resolves to any such address is refused: users choose webhook URLs.", _boolean,
    ),
    Setting(
        "log_format", "ACCORD_LOG_FORMAT", lambda _: "json",
        "Format of the server's log lines on stderr: json (one object per line, for log "
        "collectors) or text (for a person at a terminal).", _log_format,
    ),
)


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    max_object_bytes: int
    max_nesting_depth: int
    max_content_length: int
    auth_failures_per_minute: int
    log_format: str = "json"
    four_eyes: bool = False
    node_name: str = "accord"
    key_file: str = ""
    sync_ca_bundle: str = ""
    sync_scheduler: bool = True
    session_idle_minutes: int = 30
    session_hours: int = 12
    session_cookie_secure: str = "auto"
    correlation_cap: int = 100
    sighting_min_count: int = 1
    decay_lifetimes: str = ""
    alert_runner: bool = True
    alert_interval: int = 10
    alert_webhook_private_targets: bool = False


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    config_file: str | None = None,
) -> Settings:
    """Resolve every setting; raises ConfigError naming the setting that is unusable."""
    env = os.environ if env is None else env
    config_file = config_file or env.get("ACCORD_CONFIG")
    from_file: dict[str, Any] = {}
    if config_file:
        try:
            from_file = tomllib.loads(Path(config_file).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read config file {config_file}: {exc}") from exc
        unknown = set(from_file) - {s.name for s in SETTINGS}
        if unknown:
            raise ConfigError(f"{config_file}: unknown settings {sorted(unknown)}")
    resolved: dict[str, Any] = {}
    for s in SETTINGS:
        value: Any
        if overrides and overrides.get(s.name) is not None:
            value = overrides[s.name]
        elif s.env in env:
            value = env[s.env]
        elif s.name in from_file:
            value = from_file[s.name]
        else:
            resolved[s.name] = s.default(resolved)
            continue
        try:
            resolved[s.name] = s.parse(str(value))
        except ValueError as exc:
            raise ConfigError(f"setting {s.name} ({s.env}): {value!r} is not usable: {exc}") from exc
    resolved["data_dir"] = Path(resolved["data_dir"]).expanduser()
    return Settings(**resolved)
