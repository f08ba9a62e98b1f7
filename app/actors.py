"""Who may act in the human loop, and in what right.

Every item has an owner: a match's is the AM it is assigned to (ASSIGNED_TO), a
draft's, task's, escalation's and outbox message's is their ``am_id``. On it:

- the owner acts on their own book (role ``am``);
- a manager acts on the books of the AMs who report to them, through any number
  of levels (REPORTS_TO, report -> manager): a director acts on their managers'
  reports' books (role ``manager``);
- an admin (``TWOLOOP_ADMINS``: AccountManager ids or emails) acts on any book,
  including items nobody owns (role ``admin``).

The narrowest right that holds is the one recorded, always with the owner the
actor acted for (``on_behalf_of``). Anyone else is refused with ``NotAuthorized``
(exit 77): a person twoloop does not know before the item is even read, anyone
else before any conflict check, so a refusal never tells who decided an item.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from graph_model.errors import DecisionRejected, NotAuthorized
from graph_model.settings import load_settings
from graph_model.store import Filter, GraphStore

Role = Literal["am", "manager", "admin", "agent"]


@dataclass(frozen=True)
class Actor:
    """A person identified to act: ``id`` is their AM id when they are an
    AccountManager, else the admin as ``TWOLOOP_ADMINS`` names them."""

    id: str
    am_id: str | None
    admin: bool


@dataclass(frozen=True)
class Acting:
    """Who acts on an item, in what right, and for whom: what the audit records."""

    actor: str
    role: Role
    on_behalf_of: str | None
    # The actor's AccountManager node (DECIDED_BY points at it), if they are one.
    am_id: str | None = None

    def audit(self) -> dict[str, Any]:
        """The Decision's fields that name who acted."""
        return {"actor": self.actor, "role": self.role, "on_behalf_of": self.on_behalf_of}

    def describe(self) -> str:
        """``am-1``, ``am-3 as manager of am-1``, ``root as admin for am-1``."""
        if self.role == "am":
            return self.actor
        if self.role == "manager":
            return f"{self.actor} as manager of {self.on_behalf_of}"
        owner = f" for {self.on_behalf_of}" if self.on_behalf_of else ""
        return f"{self.actor} as {self.role}{owner}"


def agent(rule_id: str, owner: str) -> Acting:
    """The agent loop releasing a draft by a policy rule, for the owning AM."""
    return Acting(actor=f"agent:{rule_id}", role="agent", on_behalf_of=owner)


def identify(store: GraphStore, actor: str, *, action: str, item: str) -> Actor:
    """Who ``actor`` (an AM id or email, or an admin named in ``TWOLOOP_ADMINS``) is.
    Someone who is neither an AccountManager nor an admin is refused here, before
    anything about ``item`` is read."""
    given = actor.strip()
    admins = {a.lower() for a in load_settings().admins}
    am = _account_manager(store, given) if given else None
    if am is not None:
        listed = am["am_id"].lower() in admins or str(am["email"]).lower() in admins
        return Actor(id=am["am_id"], am_id=am["am_id"], admin=listed)
    if given and given.lower() in admins:
        return Actor(id=given, am_id=None, admin=True)
    raise NotAuthorized(
        given or repr(actor),
        action,
        item,
        f"{given or 'an empty name'} is neither an account manager nor an admin (TWOLOOP_ADMINS)",
        hint="act as yourself: your AccountManager id or email",
    )


def authorize(
    store: GraphStore, actor: Actor, *, action: str, item: str, owner: str | None
) -> Acting:
    """The right in which ``actor`` may ``action`` ``item`` owned by ``owner``
    (None: nobody owns it, only an admin may act), or ``NotAuthorized``."""
    if owner is not None and actor.am_id == owner:
        return Acting(actor.id, "am", owner, actor.am_id)
    if owner is not None and actor.am_id is not None and actor.am_id in managers(store, owner):
        return Acting(actor.id, "manager", owner, actor.am_id)
    if actor.admin:
        return Acting(actor.id, "admin", owner, actor.am_id)
    reason = (
        "it has no owner, and only an admin (TWOLOOP_ADMINS) may act on it"
        if owner is None
        else f"its owner is {owner} and {actor.id} is neither {owner}'s manager nor an admin"
    )
    raise NotAuthorized(actor.id, action, item, reason, owner=owner)


def act_on(
    store: GraphStore, actor: str | Actor, *, action: str, item: str, owner: str | None
) -> Acting:
    """``identify`` then ``authorize``, for callers that know the owner already."""
    if not isinstance(actor, Actor):
        actor = identify(store, actor, action=action, item=item)
    return authorize(store, actor, action=action, item=item, owner=owner)


def see_books(
    store: GraphStore,
    actor: str | Actor,
    of: Sequence[str] | None,
    *,
    hint: str = "choose whose queue to see",
) -> tuple[Actor, list[str]]:
    """Who ``actor`` is, and the AMs whose books they asked to see (``of``; default
    their own), each one checked: an admin without a book of their own must say
    whose; an unknown AM is ``NotFound``; a book they may not see ``NotAuthorized``."""
    if not isinstance(actor, Actor):
        item = f"the queue of {', '.join(of)}" if of else "a queue"
        actor = identify(store, actor, action="see", item=item)
    ams = list(of) if of else ([actor.am_id] if actor.am_id else [])
    if not ams:
        raise DecisionRejected(
            f"{actor.id} is an admin, not an account manager, and has no queue of their own",
            hint=hint,
        )
    for am in ams:
        store.get_node("AccountManager", am)
        authorize(store, actor, action="see", item=f"the queue of {am}", owner=am)
    return actor, ams


def managers(store: GraphStore, am_id: str) -> set[str]:
    """Everyone ``am_id`` reports to, directly or through their managers."""
    found: set[str] = set()
    level = [am_id]
    while level:
        edges = store.edges("REPORTS_TO", touching=level, side="source", label="AccountManager")
        above = edges.filter(edges["dst_label"] == "AccountManager")["dst"].to_list()
        level = [m for m in above if m not in found and m != am_id]
        found.update(level)
    return found


def match_owner(store: GraphStore, match_id: str) -> str | None:
    """The AM a match is assigned to (ASSIGNED_TO), if any."""
    edges = store.edges("ASSIGNED_TO", touching=[match_id], side="source", label="Match")
    return str(edges["dst"][0]) if edges.height else None


def _account_manager(store: GraphStore, given: str) -> dict[str, Any] | None:
    by_id = store.get_nodes("AccountManager", [given])
    if by_id.height:
        return by_id.row(0, named=True)
    if "@" not in given:
        return None
    spellings = sorted({given, given.lower()})
    by_email = store.nodes("AccountManager", [Filter("email", "in", spellings)])
    return by_email.row(0, named=True) if by_email.height == 1 else None
