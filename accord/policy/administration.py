"""Who may administer what: agreements, collections and grants, organisations, users and
tokens, peers, the audit log and the node's figures (the REST administration API asks here).

The sharing gate (gate.py) decides which *intelligence* a caller sees; this module decides which
*administrative records* a caller sees or changes. Its answers follow the roles (roles.py):

* node-admin: the node's operator, over HTTP: every record;
* org-admin: their own organisation's users, tokens and audit entries;
* everyone: the agreements their organisation is party to, the organisations those name, their
  own tokens, and counts of what the gate lets them see.

A caller who may not know a record exists must get the answer "there is none", so the functions
that filter return the records a caller may know, and the route answers 404 for the rest.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from accord.policy.gate import Predicate, collection_access, visibility
from accord.policy.roles import Role
from accord.policy.viewer import Viewer
from accord.storage.base import Agreement, Organisation, Store, User
from accord.storage.ordering import placeholders

# Names people type for users, agreements and collection aliases: users sign in with theirs over
# HTTP Basic, where ':' would split the pair. Every interface (REST, web) checks names with this.
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}$")
NAME_RULE = "letters, digits and . _ @ + - (at most 100, starting with a letter or digit)"


def may_administer_node(viewer: Viewer) -> bool:
    """Agreements, collections, grants, peers, the audit chain and node-wide figures."""
    return viewer.is_node_admin


# -- agreements and organisations ---------------------------------------------------------------
def may_see_agreement(viewer: Viewer, agreement: Agreement) -> bool:
    return viewer.is_node_admin or (viewer.org_pk is not None and viewer.org_pk in agreement.parties)


def visible_agreements(viewer: Viewer, agreements: Iterable[Agreement]) -> list[Agreement]:
    return [a for a in agreements if may_see_agreement(viewer, a)]


def visible_orgs(viewer: Viewer, orgs: Iterable[Organisation], agreements: Iterable[Agreement]) -> list[Organisation]:
    """A member sees its own organisation and those its agreements name; the rest of the node's
    membership is the operator's business (it says who cooperates with whom)."""
    if viewer.is_node_admin:
        return list(orgs)
    known = {viewer.org_pk} | {pk for a in visible_agreements(viewer, agreements) for pk in a.parties}
    return [o for o in orgs if o.pk in known]


# -- users and tokens -------------------------------------------------------------------------------
def may_list_users(viewer: Viewer) -> bool:
    return viewer.is_node_admin or (viewer.role is Role.ORG_ADMIN and viewer.org_pk is not None)


def may_manage_users(viewer: Viewer, org_pk: int) -> bool:
    """Whether the viewer administers the users (and their tokens) of organisation ``org_pk``."""
    return viewer.is_node_admin or (viewer.role is Role.ORG_ADMIN and viewer.org_pk == org_pk)


def visible_users(viewer: Viewer, users: Iterable[User]) -> list[User]:
    return [u for u in users if may_manage_users(viewer, u.org_pk)]


def user_creation_refusal(viewer: Viewer, org_pk: int | None, role: Role) -> str | None:
    """Why the viewer may not add a user with ``role`` to organisation ``org_pk`` (None: one that
    does not exist, refused like another organisation), or None.
    An org-admin cannot make a node-admin: that would hand out more than it holds."""
    if viewer.is_node_admin:
        return None
    if org_pk is None or not may_manage_users(viewer, org_pk):
        return "only a node-admin, or an org-admin of that organisation, may add its users"
    if role is Role.NODE_ADMIN:
        return "only a node-admin may create a node-admin"
    return None


def may_manage_account(viewer: Viewer, user: User) -> bool:
    """Whether the viewer administers ``user``'s account (sets its password, lists and revokes its
    tokens): a node-admin anyone's; an org-admin those of its organisation's users below org-admin,
    never another org-admin's or a node-admin's (that would hand it more than it holds)."""
    if viewer.is_node_admin or user.username == viewer.username:
        return True  # (one's own password is changed on the account page, with the current one)
    return (viewer.role is Role.ORG_ADMIN and viewer.org_pk == user.org_pk
            and not Role.parse(user.role).at_least(Role.ORG_ADMIN))


def access_change_refusal(viewer: Viewer, user: User, *, enable: bool) -> str | None:
    """Why the viewer may not disable (or, ``enable``, enable again) ``user``, or None. Whoever
    administers the account may (:func:`may_manage_account`), but never one's own (a last
    node-admin could lock everyone out of the web UI and the API), and a user a node-admin (or the
    node operator) disabled stays disabled until a node-admin enables it (an org-admin must not
    undo a node-admin's response to a compromised account)."""
    if user.username == viewer.username:
        return "no one may disable or enable their own account"
    if not may_manage_account(viewer, user):
        return "an org-admin may disable or enable only the accounts of its organisation below org-admin"
    if enable and user.disabled_by_node_admin and not viewer.is_node_admin:
        return "a node-admin disabled this user: only a node-admin may enable it"
    return None


def may_enable_user(viewer: Viewer, user: User) -> bool:
    return access_change_refusal(viewer, user, enable=True) is None


def may_manage_tokens(viewer: Viewer, user: User) -> bool:
    """Listing and revoking tokens: every user their own, and whoever administers the account."""
    return user.username == viewer.username or may_manage_account(viewer, user)


def may_create_token(viewer: Viewer, user: User) -> bool:
    """A new token is a new way in as ``user``, shown only to whoever makes it: only the user or a
    node-admin may make one. (An org-admin minting a publisher's token could release its own drafts
    as that publisher, four eyes or not; resetting the password at least ends the user's sessions
    and shows in the audit log.)"""
    return user.username == viewer.username or viewer.is_node_admin


# -- alert rules ------------------------------------------------------------------------------------
def may_manage_alert_rules(viewer: Viewer, org_pk: int) -> bool:
    """Adding and removing an organisation's alert rules: its org-admin, or a node-admin for any.
    A rule with a webhook is a standing channel that sends what the organisation may see to an
    address of the creator's choosing: the same trust as deciding who may sign in for it, so not
    a publisher's (who releases the organisation's own data) or an analyst's. Every member may
    list its organisation's rules (never their secrets) and read its alerts (docs/early-warning.md)."""
    return viewer.is_node_admin or (viewer.role is Role.ORG_ADMIN and viewer.org_pk == org_pk)


def may_set_alert_webhook(viewer: Viewer, org_pk: int) -> bool:
    """Giving an organisation's rule a webhook: only its own org-admin (or a node-admin of that
    organisation). A node-admin of another organisation may add its rules, but not point them at
    an address: the webhook would receive what the organisation may see, with the receipts
    naming the organisation, not who set the address."""
    return viewer.org_pk == org_pk and viewer.role.at_least(Role.ORG_ADMIN)


def may_acknowledge_alerts(viewer: Viewer) -> bool:
    """Acknowledging an alert of one's own organisation ("seen, being handled"): an analyst or
    above. It changes what every member's dashboard shows as still open, which is triage work, an
    analyst's; a reader only reads (docs/early-warning.md, "Acknowledging")."""
    return viewer.role.at_least(Role.ANALYST)


def may_read_alert_rule_details(viewer: Viewer, org_pk: int) -> bool:
    """A rule's watchlist values and webhook address: its organisation's org-admin's business (a
    webhook URL may carry a token); other members and other organisations' node-admins see the
    rule's name, kind and delivery counts only."""
    return viewer.org_pk == org_pk and viewer.role.at_least(Role.ORG_ADMIN)


# -- the audit log ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AuditScope:
    """Which audit entries a viewer may read: all, or only those about one organisation."""

    org: str | None


def audit_scope(viewer: Viewer) -> AuditScope | None:
    """None: no access. Entries about other organisations (their receipts, their users) are not
    an org-admin's to read, so an org-admin's scope is their organisation's entries only."""
    if viewer.is_node_admin:
        return AuditScope(None)
    if viewer.role is Role.ORG_ADMIN and viewer.org_name is not None:
        return AuditScope(viewer.org_name)
    return None


# -- figures --------------------------------------------------------------------------------------
def may_see_node_totals(viewer: Viewer) -> bool:
    """Node-wide counts tell how much each organisation holds: the operator's figures only."""
    return viewer.is_node_admin


def counted_predicate(store: Store, viewer: Viewer, now: int) -> Predicate:
    """The versions a viewer's counts include (aliases ``m``, ``v``): what the gate lets them see,
    in collections they may read, exactly the versions a TAXII or export read would hand them.
    A count computed from anything wider would tell a partner about objects it may not see."""
    readable = sorted(c.pk for c in store.collections() if collection_access(store, viewer, c).can_read)
    if not readable:
        return Predicate("1 = 0")
    gate = visibility(store, viewer, now).predicate()
    return Predicate(f"({gate.sql} AND m.collection_pk IN ({placeholders(len(readable))}))",
                     (*gate.params, *readable))
