"""Per-invocation state shared by commands: settings and the store, opened on first use."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from accord.errors import ConfigError, StorageError
from accord.policy.viewer import Viewer
from accord.services.audit_index import COMMAND_STEPS, catch_up
from accord.settings import Settings, load_settings
from accord.storage import open_store
from accord.storage.base import Store

log = logging.getLogger(__name__)


@dataclass
class NodeContext:
    database_url: str | None = None
    config_file: str | None = None
    _settings: Settings | None = field(default=None, init=False)
    _store: Store | None = field(default=None, init=False)
    _current: bool = field(default=False, init=False)  # the store's schema was checked: this code's

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings({"database_url": self.database_url}, config_file=self.config_file)
        return self._settings

    def store(self, *, check_schema: bool = True) -> Store:
        """The node's store; refuses a database that `accord init` has not prepared."""
        if self._store is None:
            self._store = open_store(self.settings.database_url)
        if check_schema and not self._current:
            self._store.check_schema()
            self._current = True
        return self._store

    def viewer(self, username: str | None) -> Viewer:
        """Who a command acts as: ``--as USERNAME``, or the node operator without it."""
        if username is None:
            return Viewer.operator()
        user = self.store().get_user(username)
        if user.disabled:
            raise ConfigError(f"user {username!r} is disabled")
        return Viewer.of(user)

    def close(self) -> None:
        if self._store is not None:
            try:
                # What this command's receipts (or anyone's) left unindexed by object, a bounded
                # number of steps (services/audit_index.py). Only by a command that wrote (it took
                # the write lock already; one that only read must never wait for it at exit, say
                # behind another process's long import) on a store whose schema was checked as
                # this code's; a failure costs later reads speed, never correctness: a warning.
                if self._current and self._store.wrote():
                    catch_up(self._store, steps=COMMAND_STEPS)
            except StorageError as exc:
                log.warning("the audit log's by-object index was not brought up to date: %s", exc)
            finally:
                self._store.close()
                self._store = None
                self._current = False
