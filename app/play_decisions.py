"""What an AM decides about a play run: mark it read, or cancel it.

- ``read``: the AM has read what the run left them (a research summary, an
  alert); a run waiting only for that is done.
- ``cancel``: the run stops where it is, with the AM's reason; its pending draft
  is withdrawn and nothing it queued is sent.

The actor is checked against the run's AM (``app.actors``) before anything else
is said; the decision and the run's new status are one commit, guarded by a
compare-and-set so a tick of the engine and a person cannot both win.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from app.actors import Actor, act_on, identify
from app.decisions import acted, decision_key, write_decision
from graph_model.errors import DecisionConflict, DecisionRejected, WriteConflict
from graph_model.store import GraphStore
from routing.play_runs import withdraw

PlayDecision = Literal["read", "cancel"]
OPEN = ("active", "waiting", "needs_am")


def settle_play_run(
    store: GraphStore,
    run_id: str,
    *,
    actor: str | Actor,
    decision: PlayDecision,
    now: dt.datetime,
    reason: str | None = None,
) -> dict[str, Any]:
    if decision not in ("read", "cancel"):
        raise DecisionRejected(f"unknown decision {decision!r} on a play run: read or cancel")
    if not isinstance(actor, Actor):
        actor = identify(store, actor, action=decision, item=run_id)
    row = store.get_node("PlayRun", run_id, hint="twoloop plays list --am ID lists them")
    acting = act_on(store, actor, action=decision, item=run_id, owner=row["am_id"])
    if row["status"] not in OPEN:
        raise DecisionConflict(
            f"play run {run_id} is already {row['status']}"
            + (f": {row['stopped_reason']}" if row.get("stopped_reason") else "")
        )
    if decision == "read" and row.get("waiting_for") != "read":
        raise DecisionRejected(
            f"play run {run_id} is not waiting to be read (it is {row['status']}"
            + (f", waiting for {row['waiting_for']}" if row.get("waiting_for") else "")
            + ")",
            hint="cancel it instead to stop it",
        )
    kind = "resolve" if decision == "read" else "cancel"
    decision_id = decision_key(run_id, kind)
    text = (reason or "").strip() or None
    why = "the AM cancelled it" + (f": {text}" if text else "")
    withdrawn = withdraw(store, run_id, why=why, now=now)
    try:
        with store.batch() as write:
            write.expect("PlayRun", run_id, "status", [row["status"]])
            if decision == "cancel":
                withdrawn(write)
                new = {"status": "stopped", "stopped_reason": why, "waiting_for": None}
            else:
                new = {"status": "done", "waiting_for": None}
            write.upsert_nodes("PlayRun", [{**row, **new, "updated_at": now}])
            write_decision(
                write, decision_id, kind, acting, now=now, on=[("PlayRun", run_id)], reason=text
            )
    except WriteConflict:
        fresh = store.get_node("PlayRun", run_id)
        raise DecisionConflict(
            f"play run {run_id} changed meanwhile: it is now {fresh['status']}"
        ) from None
    return {
        "run_id": run_id,
        "play": row["play_id"],
        **new,
        "decision_id": decision_id,
        **acted(acting, now),
    }
