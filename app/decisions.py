"""The decisions API: what an AM decides about a match, stored for the record and
for learning.

- ``validate``: the match is worth pursuing (a positive label for learning).
- ``defer``: not now; it comes back to the queue on ``defer_until`` (no label).
- ``kill``: not worth pursuing, with a reason (a negative label): a code from
  ``REASON_CODES`` (so reasons can be counted), the person's own words, or both.

The actor is checked against the match's owner (``app.actors``: the AM it is
assigned to, their managers, or an admin) before anything else about the match
is said. Each decision is a Decision node linked to the match (DECIDED_ON) and,
when the actor is an AM, to them (DECIDED_BY); it names the actor, their role and
the owner they acted for, and carries the match's features, score and model
version as the actor saw them, so a later rescoring does not change what was
learned from. The decision and the match's new status are written in one commit.
A match that is already validated or killed cannot be decided again: that is a
conflict, and the error says who decided it and when. The check is a
compare-and-set in the same commit, so two people deciding at once cannot both
win.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any, Literal

from app.actors import Acting, Actor, act_on, identify, match_owner
from graph_model.errors import DecisionConflict, DecisionRejected, WriteConflict
from graph_model.store import GraphStore, NotFound, WriteBatch

MatchDecision = Literal["validate", "defer", "kill"]
# Why a match is killed or a draft cancelled, from a fixed list (Decision.reason_code);
# the person's own words stay in ``reason``.
REASON_CODES: dict[str, str] = {
    "no_need": "No need for it",
    "bad_timing": "Bad timing",
    "wrong_contact": "Wrong contact",
    "existing_relationship": "Existing relationship: a person handles it",
    "competitor": "They use or chose a competitor",
    "bad_data": "Bad data (account, person or signal)",
    "other": "Other",
}
_STATUS = {"validate": "validated", "defer": "deferred", "kill": "killed"}
OPEN_STATUSES = ("proposed", "deferred")


@dataclass(frozen=True)
class DecisionRecord:
    decision_id: str
    match_id: str
    kind: str
    actor: str
    role: str
    on_behalf_of: str | None
    decided_at: dt.datetime
    status: str
    reason: str | None
    defer_until: dt.date | None
    reason_code: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def decide(
    store: GraphStore,
    match_id: str,
    kind: MatchDecision,
    *,
    actor: str | Actor,
    reason: str | None = None,
    defer_until: dt.date | None = None,
    now: dt.datetime | None = None,
    reason_code: str | None = None,
) -> DecisionRecord:
    """Record a decision on a match by ``actor`` (its owner, a manager of the owner,
    or an admin) and move the match to its new status. A kill needs a ``reason`` or a
    ``reason_code`` (one of ``REASON_CODES``)."""
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    if kind not in _STATUS:
        raise DecisionRejected(f"unknown decision {kind!r} (validate, defer or kill)")
    if not isinstance(actor, Actor):
        actor = identify(store, actor, action=kind, item=match_id)
    match = store.get_node("Match", match_id, hint="twoloop match top --am ID lists them")
    acting = act_on(store, actor, action=kind, item=match_id, owner=match_owner(store, match_id))
    check_reason_code(reason_code, kind)
    if kind == "kill" and not (reason and reason.strip()) and reason_code is None:
        raise DecisionRejected("a kill needs a reason (it is what the ranking learns from)")
    if kind == "defer":
        if defer_until is None:
            raise DecisionRejected("a defer needs a date to come back (defer_until)")
        if defer_until <= now.date():
            raise DecisionRejected(f"defer_until {defer_until} is not in the future")
    if match["status"] not in OPEN_STATUSES:
        raise DecisionConflict(_conflict(store, match))
    digest = hashlib.sha1(f"{match_id}\x1f{kind}\x1f{acting.actor}\x1f{now.isoformat()}".encode())
    decision_id = f"d-{digest.hexdigest()[:20]}"
    status = _STATUS[kind]
    with conflict_on_match(store, match_id), store.batch() as write:
        # Compare-and-set: someone deciding meanwhile makes this a conflict.
        write.expect("Match", match_id, "status", list(OPEN_STATUSES))
        write.upsert_nodes(
            "Decision",
            [
                {
                    "decision_id": decision_id,
                    "kind": kind,
                    "decided_at": now,
                    **acting.audit(),
                    "reason": reason.strip() if reason else None,
                    "reason_code": reason_code,
                    "defer_until": defer_until if kind == "defer" else None,
                    "features": match["features"],
                    "score": match["score"],
                    "model_version": match["model_version"],
                }
            ],
        )
        write.upsert_edges(
            "DECIDED_ON", [{"src": decision_id, "dst_label": "Match", "dst": match_id}]
        )
        decided_by(write, decision_id, acting)
        write.upsert_nodes(
            "Match",
            [
                {
                    **match,
                    "status": status,
                    "defer_until": defer_until if kind == "defer" else None,
                }
            ],
        )
    return DecisionRecord(
        decision_id=decision_id,
        match_id=match_id,
        kind=kind,
        actor=acting.actor,
        role=acting.role,
        on_behalf_of=acting.on_behalf_of,
        decided_at=now,
        status=status,
        reason=reason.strip() if reason else None,
        defer_until=defer_until if kind == "defer" else None,
        reason_code=reason_code,
    )


def check_reason_code(reason_code: str | None, kind: str) -> None:
    """A reason code is one of ``REASON_CODES``, and only a kill or a cancel has one."""
    if reason_code is None:
        return
    if kind not in ("kill", "cancel"):
        raise DecisionRejected(f"a {kind} takes no reason code (only a kill or a cancel does)")
    if reason_code not in REASON_CODES:
        raise DecisionRejected(
            f"unknown reason code {reason_code!r} (one of {', '.join(REASON_CODES)})"
        )


@contextmanager
def conflict_on_match(store: GraphStore, match_id: str) -> Iterator[None]:
    """A lost race on a match, told as who decided it first."""
    try:
        yield
    except WriteConflict:
        rows = store.get_nodes("Match", [match_id])
        if rows.height == 0:
            raise NotFound(f"match {match_id} is gone (a new match run removed it)") from None
        raise DecisionConflict(_conflict(store, rows.row(0, named=True))) from None


def _conflict(store: GraphStore, match: dict[str, Any]) -> str:
    text = f"match {match['match_id']} is already {match['status']}"
    return text + last_decision(store, "Match", match["match_id"]) + "; nothing was changed"


def decided_by(write: WriteBatch, decision_id: str, acting: Acting) -> None:
    """DECIDED_BY to the actor, when they are an AccountManager."""
    if acting.am_id is not None:
        write.upsert_edges("DECIDED_BY", [{"src": decision_id, "dst": acting.am_id}])


def last_decision(store: GraphStore, label: str, key: str) -> str:
    """`` (approve by am-3 as manager of am-1 at 2026-11-20 12:00 UTC)``: the latest
    decision on an item, for a conflict message; empty when there is none."""
    on = store.edges("DECIDED_ON", touching=[key], side="target", label=label)
    if on.height == 0:
        return ""
    last = store.get_nodes("Decision", on["src"]).sort("decided_at").row(-1, named=True)
    if last["actor"]:
        who = Acting(last["actor"], last["role"] or "am", last["on_behalf_of"]).describe()
    else:  # decided before decisions named their actor
        by = store.edges("DECIDED_BY", touching=[last["decision_id"]], side="source")
        who = by["dst"][0] if by.height else "someone"
    return f" ({last['kind']} by {who} at {last['decided_at']:%Y-%m-%d %H:%M} UTC)"
