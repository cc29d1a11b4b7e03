"""The one gate: every decision about who may see or write what is made here, and nowhere else.

Each rule exists once and is offered in two forms that cannot drift apart: a single-object
answer (``collection_access``) and a SQL predicate (``Predicate``) that storage queries append
to their WHERE clause, so listings, counts and pages are filtered inside the database. A route
never writes its own check; it asks the gate.

Today's rules (the TAXII issue): a node admin reads and writes every collection; anyone else
reads a collection their organisation has a read grant on, and writes one it has a write grant
on if their role is analyst or above. The sharing issue adds agreements, TLP and release state
to the object predicate, in this module.
"""

from __future__ import annotations

from dataclasses import dataclass

from accord.policy.roles import Role
from accord.policy.viewer import Viewer
from accord.storage.base import Collection, Store


@dataclass(frozen=True, slots=True)
class Predicate:
    """A SQL boolean expression with ``?`` placeholders and its parameters.

    Column references use the aliases storage queries agree on: ``c`` for collections,
    ``m`` for collection_objects, ``v`` for object_versions.
    """

    sql: str
    params: tuple[object, ...] = ()


ALLOW_ALL = Predicate("1 = 1")
DENY_ALL = Predicate("1 = 0")


@dataclass(frozen=True, slots=True)
class CollectionAccess:
    can_read: bool
    can_write: bool


def collection_access(store: Store, viewer: Viewer, collection: Collection) -> CollectionAccess:
    if viewer.is_node_admin:
        return CollectionAccess(True, True)
    if viewer.org_pk is None:
        return CollectionAccess(False, False)
    for grant in store.grants(collection):
        if grant.org_pk == viewer.org_pk:
            return CollectionAccess(grant.can_read, grant.can_write and viewer.role.at_least(Role.ANALYST))
    return CollectionAccess(False, False)


def collections_predicate(viewer: Viewer) -> Predicate:
    """Collections the viewer may know exist: those it can read or write (alias ``c``)."""
    if viewer.is_node_admin:
        return ALLOW_ALL
    if viewer.org_pk is None:
        return DENY_ALL
    # The same rule as collection_access: a write grant counts only for analysts and above.
    usable = "(g.can_read OR g.can_write)" if viewer.role.at_least(Role.ANALYST) else "g.can_read"
    return Predicate("c.pk IN (SELECT g.collection_pk FROM collection_grants g "
                     f"WHERE g.org_pk = ? AND {usable})", (viewer.org_pk,))


def objects_predicate(store: Store, viewer: Viewer, collection: Collection) -> Predicate:
    """Object versions of ``collection`` the viewer may read (aliases ``m`` and ``v``)."""
    return ALLOW_ALL if collection_access(store, viewer, collection).can_read else DENY_ALL
