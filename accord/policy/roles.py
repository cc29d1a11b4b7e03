"""Roles a user holds on a node, and what each may do (DESIGN.md, sharing model).

Roles are ordered for the actions this module names: each role can do what the ones before it
can. Organisation membership and agreements decide *what* a role applies to; that is the
gate's business (policy/gate.py), not this module's.
"""

from __future__ import annotations

import enum

from accord.errors import ConfigError


class Role(enum.StrEnum):
    READER = "reader"  # reads what the gate shows the organisation
    ANALYST = "analyst"  # also writes; what an analyst writes is a draft until published
    PUBLISHER = "publisher"  # also releases drafts to partners
    ORG_ADMIN = "org-admin"  # also manages the organisation's users and tokens
    NODE_ADMIN = "node-admin"  # the node's operator: every organisation, collection and setting

    @classmethod
    def parse(cls, value: str) -> Role:
        try:
            return cls(value)
        except ValueError:
            names = ", ".join(r.value for r in cls)
            raise ConfigError(f"unknown role {value!r}: use one of {names}") from None

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def at_least(self, other: Role) -> bool:
        return self.rank >= other.rank
