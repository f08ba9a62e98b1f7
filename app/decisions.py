"""The decisions API: what an AM decides about a match, stored for the record and
for learning.

- ``validate``: the match is worth pursuing (a positive label for learning).
- ``defer``: not now; it comes back to the queue on ``defer_until`` (no label).
- ``kill``: not worth pursuing, with a reason (a negative label).

Each decision is a Decision node linked to the match (DECIDED_ON) and the AM
(DECIDED_BY), carrying the match's features, score and model version as the AM
saw them, so a later rescoring does not change what was learned from. The
decision and the match's new status are written in one commit. A match that is
already validated or killed cannot be decided again: that is a conflict, and
the error says who decided it and when. The check is a compare-and-set in the
same commit, so two AMs deciding at once cannot both win.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any, Literal

from graph_model.errors import DecisionConflict, DecisionRejected, WriteConflict
from graph_model.store import GraphStore, NotFound

MatchDecision = Literal["validate", "defer", "kill"]
_STATUS = {"validate": "validated", "defer": "deferred", "kill": "killed"}
OPEN_STATUSES = ("proposed", "deferred")


@dataclass(frozen=True)
class DecisionRecord:
    decision_id: str
    match_id: str
    kind: str
    am_id: str
    decided_at: dt.datetime
    status: str
    reason: str | None
    defer_until: dt.date | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def decide(
    store: GraphStore,
    match_id: str,
    kind: MatchDecision,
    *,
    am_id: str,
    reason: str | None = None,
    defer_until: dt.date | None = None,
    now: dt.datetime | None = None,
) -> DecisionRecord:
    """Record an AM's decision on a match and move the match to its new status."""
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    if kind not in _STATUS:
        raise DecisionRejected(f"unknown decision {kind!r} (validate, defer or kill)")
    store.get_node("AccountManager", am_id)
    match = store.get_node("Match", match_id, hint="twoloop match top --am ID lists them")
    if kind == "kill" and not (reason and reason.strip()):
        raise DecisionRejected("a kill needs a reason (it is what the ranking learns from)")
    if kind == "defer":
        if defer_until is None:
            raise DecisionRejected("a defer needs a date to come back (defer_until)")
        if defer_until <= now.date():
            raise DecisionRejected(f"defer_until {defer_until} is not in the future")
    if match["status"] not in OPEN_STATUSES:
        raise DecisionConflict(_conflict(store, match))
    digest = hashlib.sha1(f"{match_id}\x1f{kind}\x1f{am_id}\x1f{now.isoformat()}".encode())
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
                    "reason": reason.strip() if reason else None,
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
        write.upsert_edges("DECIDED_BY", [{"src": decision_id, "dst": am_id}])
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
        am_id=am_id,
        decided_at=now,
        status=status,
        reason=reason.strip() if reason else None,
        defer_until=defer_until if kind == "defer" else None,
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
    on = store.edges("DECIDED_ON", touching=[match["match_id"]], side="target", label="Match")
    decisions = store.get_nodes("Decision", on["src"].to_list()) if on.height else None
    text = f"match {match['match_id']} is already {match['status']}"
    if decisions is not None and decisions.height:
        last = decisions.sort("decided_at").row(-1, named=True)
        by = store.edges("DECIDED_BY", touching=[last["decision_id"]], side="source")
        who = by["dst"][0] if by.height else "someone"
        text += f" ({last['kind']} by {who} at {last['decided_at']:%Y-%m-%d %H:%M} UTC)"
    return text + "; nothing was changed"
