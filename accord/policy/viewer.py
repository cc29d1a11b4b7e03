"""The party a read or write is done for: a user of an organisation with a role, or the operator."""

from __future__ import annotations

from dataclasses import dataclass

from accord.policy.roles import Role
from accord.storage.base import OPERATOR, User


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is asking. ``org_pk`` is None only for the node operator (the CLI without --as),
    who has local database access and so sees everything anyway."""

    username: str
    org_pk: int | None
    org_name: str | None
    role: Role

    @classmethod
    def of(cls, user: User) -> Viewer:
        return cls(user.username, user.org_pk, user.org_name, Role.parse(user.role))

    @classmethod
    def operator(cls) -> Viewer:
        return cls(OPERATOR, None, None, Role.NODE_ADMIN)

    @property
    def is_node_admin(self) -> bool:
        return self.role is Role.NODE_ADMIN
