"""Moving work to another AM's queue: part of the human-loop API.

``reassign`` moves an open match, a pending draft, an open task or an open
escalation to another AM. A match and what its route made of it travel
together: reassigning a match also moves its pending drafts, open escalations and
open tasks, and reassigning one of those moves its match and the others, so
neither queue is left with half of one piece of work.

Who may: a manager of the current owner (REPORTS_TO, any depth) or an admin,
who must also be allowed on the new AM's book (their manager, the new AM
themselves, or an admin). An AM may not hand their own work to a peer; only to
someone they manage. The actor is checked (``app.actors``) before anything about
the item is said, and the target before any conflict.

One commit holds the move and a Decision (kind ``reassign``; actor, role, the old
owner as ``on_behalf_of``, the new one as ``reassigned_to``, the note as
``reason``) DECIDED_ON the item. It is guarded by compare-and-sets: every moved
item must still be open and with its old owner, and the decision's id names the
item, its old owner and how many times it was reassigned before, so two
reassignments made at once from the same state cannot both win. A lost race is
a ``DecisionConflict``; nothing is changed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import asdict, dataclass
from typing import Any

import polars as pl

from app.actors import Acting, Actor, authorize, identify, match_owner
from app.decisions import decided_by, last_decision
from app.queue import QUEUE_SCHEMA, books, queue_frame
from graph_model.errors import DecisionConflict, DecisionRejected, NotAuthorized, WriteConflict
from graph_model.store import Filter, GraphStore, NotFound, WriteBatch

# What can be reassigned, and the statuses in which it is still open.
OPEN: dict[str, tuple[str, ...]] = {
    "Match": ("proposed", "deferred"),
    "Draft": ("pending",),
    "Escalation": ("open",),
    "Task": ("open",),
}
# Items that carry their owner as ``am_id`` (a match's is its ASSIGNED_TO edge).
_OWNED_BY_FIELD = ("Draft", "Escalation", "Task")
# Items whose queue is also an ASSIGNED_TO edge.
_ASSIGNED = ("Match", "Escalation", "Task")


@dataclass(frozen=True)
class Reassignment:
    decision_id: str
    item: str
    kind: str
    from_am: str | None
    to_am: str
    moved: list[str]
    by: str
    role: str
    on_behalf_of: str | None
    at: dt.datetime
    note: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def reassign(
    store: GraphStore,
    item_id: str,
    to_am: str,
    *,
    actor: str | Actor,
    now: dt.datetime,
    note: str | None = None,
) -> Reassignment:
    """Move ``item_id`` (a match, draft, task or escalation) and the work that travels
    with it to ``to_am``'s queue, as ``actor``; see the module's rules."""
    now = now.astimezone(dt.UTC)
    if not isinstance(actor, Actor):
        actor = identify(store, actor, action="reassign", item=item_id)
    label, row = _find(store, item_id)
    owner = match_owner(store, item_id) if label == "Match" else row["am_id"]
    acting = authorize(store, actor, action="reassign", item=item_id, owner=owner)
    target = to_am.strip()
    store.get_node("AccountManager", target, hint="the AM to hand the item to (an am_id)")
    if acting.role == "am" and actor.am_id != target:
        # The owner themselves: only down their own reporting line.
        try:
            _on_target(store, actor, item_id, target)
        except NotAuthorized:
            raise NotAuthorized(
                actor.id,
                "reassign",
                item_id,
                f"{actor.id} owns it but does not manage {target}; their manager or an "
                "admin can move it",
                owner=owner,
            ) from None
    else:
        _on_target(store, actor, item_id, target)
    if target == owner:
        raise DecisionRejected(f"{item_id} is already in {target}'s queue; nothing was changed")
    if row["status"] not in OPEN[label]:
        raise DecisionConflict(
            f"{label.lower()} {item_id} is already {row['status']}"
            + last_decision(store, label, item_id)
            + "; only open work is reassigned; nothing was changed"
        )
    moved = _bundle(store, label, row, owner)
    earlier = _reassignments(store, label, item_id)
    decision_id = (
        "d-"
        + hashlib.sha1(f"{item_id}\x1freassign\x1f{owner}\x1f{earlier}".encode()).hexdigest()[:20]
    )
    note = note.strip() if note and note.strip() else None
    try:
        with store.batch() as write:
            # The same reassignment made twice from this state writes the same id.
            write.expect("Decision", decision_id, "reassigned_to", [target], absent_ok=True)
            for moved_label, moved_row in moved:
                _move(write, moved_label, moved_row, owner, target)
            write.upsert_nodes(
                "Decision",
                [
                    {
                        "decision_id": decision_id,
                        "kind": "reassign",
                        "decided_at": now,
                        **acting.audit(),
                        "reassigned_to": target,
                        "reason": note,
                    }
                ],
            )
            write.upsert_edges(
                "DECIDED_ON", [{"src": decision_id, "dst_label": label, "dst": item_id}]
            )
            decided_by(write, decision_id, acting)
    except WriteConflict:
        raise DecisionConflict(_lost(store, label, item_id, owner)) from None
    return Reassignment(
        decision_id=decision_id,
        item=item_id,
        kind=label.lower(),
        from_am=owner,
        to_am=target,
        moved=[_key(store, lbl, r) for lbl, r in moved],
        by=acting.actor,
        role=acting.role,
        on_behalf_of=acting.on_behalf_of,
        at=now,
        note=note,
    )


REASSIGNABLE = ("match", "draft", "escalation", "task")


def reassignable(store: GraphStore, actor: Actor, *, now: dt.datetime) -> pl.DataFrame:
    """The open items the actor may move: those in their reports' queues (every
    queue for an admin), as ``app.queue.queue_frame`` rows, best first.

    >>> reassignable(store, identify(store, "am-3", action="see", item="team"), now=now)
    """
    owners = [am for am in books(store, actor) if actor.admin or am != actor.am_id]
    if not owners:
        return pl.DataFrame(
            schema={**QUEUE_SCHEMA, "age_days": pl.Float64(), "stale": pl.Boolean()}
        )
    frame = queue_frame(store, actor, now=now, of=owners)
    return frame.filter(pl.col("kind").is_in(list(REASSIGNABLE)))


def targets(store: GraphStore, actor: Actor) -> pl.DataFrame:
    """The AMs the actor may move work to (am_id, name): the books they may act on."""
    ams = books(store, actor)
    people = store.get_nodes("AccountManager", ams).select(
        "am_id", pl.col("full_name").alias("name")
    )
    order = {am: i for i, am in enumerate(ams)}
    return people.sort(pl.col("am_id").replace_strict(order, return_dtype=pl.Int64))


def _on_target(store: GraphStore, actor: Actor, item_id: str, target: str) -> Acting:
    return authorize(store, actor, action="reassign", item=f"{item_id} to {target}", owner=target)


def _find(store: GraphStore, item_id: str) -> tuple[str, dict[str, Any]]:
    for label in OPEN:
        found = store.get_nodes(label, [item_id])
        if found.height:
            return label, found.row(0, named=True)
    raise NotFound(
        f"no match, draft, escalation or task {item_id!r}",
        hint="twoloop queue --am ID lists them",
    )


def _key(store: GraphStore, label: str, row: dict[str, Any]) -> str:
    return str(row[store.registry.node(label).key])


def _bundle(
    store: GraphStore, label: str, row: dict[str, Any], owner: str | None
) -> list[tuple[str, dict[str, Any]]]:
    """The item and the open work of the same match still with the same owner."""
    match_id = row["match_id"]
    if not match_id:
        return [(label, row)]
    found: list[tuple[str, dict[str, Any]]] = []
    match = store.get_nodes("Match", [match_id])
    if match.height and match_owner(store, match_id) == owner:
        m = match.row(0, named=True)
        if m["status"] in OPEN["Match"] or label == "Match":
            found.append(("Match", m))
    for other in _OWNED_BY_FIELD:
        rows = store.nodes(
            other,
            [
                Filter("match_id", "eq", match_id),
                Filter("status", "in", list(OPEN[other])),
            ],
        )
        if owner is not None:
            rows = rows.filter(pl.col("am_id") == owner)
        found.extend((other, r) for r in rows.iter_rows(named=True))
    key = _key(store, label, row)
    if not any(lbl == label and _key(store, lbl, r) == key for lbl, r in found):
        found.insert(0, (label, row))
    return found


def _move(
    write: WriteBatch, label: str, row: dict[str, Any], owner: str | None, target: str
) -> None:
    key = row[write.registry.node(label).key]
    write.expect(label, key, "status", list(OPEN[label]))
    if label in _OWNED_BY_FIELD:
        if owner is not None:
            write.expect(label, key, "am_id", [owner])
        write.upsert_nodes(label, [{**row, "am_id": target}])
    if label in _ASSIGNED:
        if owner is not None:
            write.delete_edges("ASSIGNED_TO", [{"src_label": label, "src": key, "dst": owner}])
        write.upsert_edges("ASSIGNED_TO", [{"src_label": label, "src": key, "dst": target}])


def _reassignments(store: GraphStore, label: str, item_id: str) -> int:
    on = store.edges("DECIDED_ON", touching=[item_id], side="target", label=label)
    if on.is_empty():
        return 0
    return store.get_nodes("Decision", on["src"]).filter(pl.col("kind") == "reassign").height


def _lost(store: GraphStore, label: str, item_id: str, owner: str | None) -> str:
    rows = store.get_nodes(label, [item_id])
    if rows.height == 0:
        return f"{label.lower()} {item_id} is gone; nothing was changed"
    row = rows.row(0, named=True)
    now_owner = match_owner(store, item_id) if label == "Match" else row["am_id"]
    if row["status"] not in OPEN[label]:
        state = f"is {row['status']} meanwhile"
    elif now_owner != owner:
        state = f"was moved to {now_owner} meanwhile"
    else:
        state = "was changed meanwhile"
    return (
        f"{label.lower()} {item_id} {state}"
        + last_decision(store, label, item_id)
        + ("; nothing was changed")
    )
