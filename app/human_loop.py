"""The human loop: what waits for an AM, and what they do about it.

Every call takes an ``actor`` (an AM id or email, or an admin named in
``TWOLOOP_ADMINS``) and checks it against the item's owner before anything else
(``app.actors``): the owner, their managers up the REPORTS_TO chain, or an admin;
anyone else gets ``NotAuthorized`` (exit 77). Every action writes a Decision that
names the actor, their role and the owner they acted for.

``work_queue`` lists, oldest first with their age, an AM's drafts waiting for
approval, open escalations (with their question), open tasks (voice notes,
research), messages a relay could not confirm, open replies, and play runs that
wait or left something to read (each with why: a play's reason). ``approve_draft``,
``edit_draft`` and ``cancel_draft`` decide a pending draft (``app.draft_decisions``).
``resolve_item`` closes an escalation or a task, ``settle_send`` an unconfirmed
send, ``handle_reply`` an inbound reply.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, Literal

import polars as pl

from app.actors import Acting, Actor, act_on, identify, see_books
from app.decisions import acted, decision_key, last_decision, write_decision
from app.draft_decisions import (
    StyleWriter,
    approve_draft,
    cancel_draft,
    edit_draft,
)
from app.queue import play_waits, plays_of_items
from graph_model.errors import (
    DecisionConflict,
    DecisionRejected,
    WriteConflict,
)
from graph_model.store import Filter, GraphStore

# Deciding a draft is ``app.draft_decisions``; it is part of this API.
__all__ = [
    "StyleWriter",
    "approve_draft",
    "cancel_draft",
    "edit_draft",
    "handle_reply",
    "resolve_escalation",
    "resolve_item",
    "settle_send",
    "work_queue",
]


def _age(since: dt.datetime, now: dt.datetime) -> str:
    seconds = max(0, int((now - since).total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    return f"{days}d {hours}h" if days else f"{hours}h {rest // 60}m"


def work_queue(
    store: GraphStore, actor: str | Actor, *, now: dt.datetime, of: str | None = None
) -> list[dict[str, Any]]:
    """Everything waiting for the actor, oldest first; with ``of``, for that AM (the
    actor being them, their manager or an admin)."""
    _, (am_id,) = see_books(
        store, actor, [of] if of else None, hint="say whose queue to see (twoloop queue --for AM)"
    )
    items: list[dict[str, Any]] = []
    drafts = store.nodes("Draft", [Filter("am_id", "eq", am_id), Filter("status", "eq", "pending")])
    names = _account_names(store, drafts)
    for d in drafts.iter_rows(named=True):
        items.append(
            {
                "item": d["draft_id"],
                # A play's follow-up or suggested comment says so.
                "type": "approval"
                + ("" if d["purpose"] in (None, "outreach") else f":{d['purpose']}"),
                "since": d["created_at"],
                "account": names.get(d["match_id"], ""),
                "what": d["subject"],
                "detail": f"to {d['to_address'] or 'nobody'}; {d['drafter']}; grounded "
                f"{d['grounded']}, personalization {d['personalization']:.2f}"
                + "".join(f"; {hold}" for hold in d.get("holds") or ()),
            }
        )
    escalations = store.nodes(
        "Escalation", [Filter("am_id", "eq", am_id), Filter("status", "eq", "open")]
    )
    accounts = store.names("Account", escalations["account_id"])
    for e in escalations.iter_rows(named=True):
        items.append(
            {
                "item": e["escalation_id"],
                "type": f"escalation:{e['kind']}",
                "since": e["opened_at"],
                "account": accounts.get(e["account_id"], e["account_id"]),
                "what": e["question"],
                "detail": (e.get("excerpt") or "")
                + (" (automation stopped for the account)" if e["blocking"] else ""),
            }
        )
    tasks = store.nodes("Task", [Filter("am_id", "eq", am_id), Filter("status", "eq", "open")])
    accounts = store.names("Account", tasks["account_id"])
    for t in tasks.iter_rows(named=True):
        items.append(
            {
                "item": t["task_id"],
                "type": f"task:{t['kind']}",
                "since": t["created_at"],
                "account": accounts.get(t["account_id"], t["account_id"]),
                "what": t["title"],
                "detail": "",
            }
        )
    unconfirmed = store.nodes(
        "OutboxMessage", [Filter("am_id", "eq", am_id), Filter("status", "eq", "unconfirmed")]
    )
    for m in unconfirmed.iter_rows(named=True):
        items.append(
            {
                "item": m["message_id"],
                "type": "unconfirmed_send",
                "since": m["claimed_at"] or m["created_at"],
                "account": m["account_id"],
                "what": f"did '{m['subject']}' reach {m['to_address']}?",
                "detail": m.get("note") or "",
            }
        )
    items += _replies_and_plays(store, am_id, now)
    made = plays_of_items(
        store,
        drafts=drafts["draft_id"].to_list(),
        tasks=tasks["task_id"].to_list(),
        escalations=escalations["escalation_id"].to_list(),
    )
    for item in items:
        play = made.get(item["item"])
        item.setdefault("why", f"play {play.play_id}: {play.reason}" if play else "")
    items.sort(key=lambda i: (i["since"], i["item"]))
    for item in items:
        item["age"] = _age(item["since"], now)
    return items


def _replies_and_plays(store: GraphStore, am_id: str, now: dt.datetime) -> list[dict[str, Any]]:
    """Open replies, and play runs that wait on time or left the AM something to read
    (a run waiting for a draft or an escalation shows as that item)."""
    mine = Filter("am_id", "eq", am_id)
    replies = store.nodes("Reply", [mine, Filter("status", "eq", "open")])
    runs = store.nodes("PlayRun", [mine, Filter("status", "in", ["waiting", "needs_am"])])
    runs = runs.filter((pl.col("status") == "waiting") | (pl.col("waiting_for") == "read"))
    accounts = store.names("Account", [*replies["account_id"], *runs["account_id"]])
    items: list[dict[str, Any]] = []
    for r in replies.iter_rows(named=True):
        why = str(r["classification"]).replace("_", " ")
        items.append(
            {
                "item": r["reply_id"],
                "type": f"reply:{r['classification']}",
                "since": r["received_at"],
                "account": accounts.get(r["account_id"], r["account_id"]),
                "what": f"{r['from_address'] or 'someone'}: {r['subject'] or '(no subject)'}",
                "detail": "; ".join(r["actions"] or ()),
                "why": f"replied: {why}" + (f" ({r['rationale']})" if r["rationale"] else ""),
            }
        )
    for run in runs.iter_rows(named=True):
        items.append(
            {
                "item": run["run_id"],
                "type": "play:" + ("wait" if run["status"] == "waiting" else "read"),
                "since": run["fired_at"],
                "account": accounts.get(run["account_id"], run["account_id"]),
                "what": play_waits(run, now),
                "detail": f"waiting for {run['waiting_for']}",
                "why": f"play {run['play_id']}: {run['reason']}",
            }
        )
    return items


def _account_names(store: GraphStore, drafts: pl.DataFrame) -> dict[str, str]:
    if drafts.is_empty():
        return {}
    matches = store.get_nodes("Match", drafts["match_id"])
    names = store.names("Account", matches["account_id"])
    return {
        str(m): names.get(str(a), str(a))
        for m, a in zip(matches["match_id"], matches["account_id"], strict=True)
    }


# ---------------------------------------------------------------- escalations, tasks, sends


SendOutcome = Literal["sent", "not_sent", "cancel"]
_SETTLED = {"sent": "sent", "not_sent": "pending", "cancel": "cancelled"}


def resolve_item(
    store: GraphStore, item_id: str, *, actor: str | Actor, now: dt.datetime, answer: str
) -> dict[str, Any]:
    """Resolve an escalation (``e-...``) or finish a task (``t-...``) with an answer.
    An unconfirmed send (``msg-...``) is settled with ``settle_send`` instead: an
    explicit outcome, never read from free text."""
    if item_id.startswith("t-"):
        return _finish_task(store, item_id, actor=actor, now=now, answer=answer)
    if item_id.startswith("msg-"):
        raise DecisionRejected(
            f"{item_id} is a send to confirm: say what happened with --sent, --not-sent "
            "(it goes out again, same message) or --cancel, not with an answer"
        )
    return resolve_escalation(store, item_id, actor=actor, resolution=answer, now=now)


def resolve_escalation(
    store: GraphStore,
    escalation_id: str,
    *,
    actor: str | Actor,
    resolution: str,
    now: dt.datetime,
) -> dict[str, Any]:
    """Close an open escalation with the person's answer (a Decision, kind resolve).
    One nobody owns only an admin may resolve. Resolving one that is already resolved
    is a conflict: nothing changes."""
    if not resolution.strip():
        raise DecisionRejected("resolving needs the answer to the escalation's question")
    if not isinstance(actor, Actor):
        actor = identify(store, actor, action="resolve", item=escalation_id)
    row = store.get_node("Escalation", escalation_id, hint="twoloop queue --am ID lists them")
    acting = act_on(store, actor, action="resolve", item=escalation_id, owner=row["am_id"])
    decision_id = _close_open_item(
        store,
        "Escalation",
        escalation_id,
        row,
        acting,
        now=now,
        closed={
            "status": "resolved",
            "resolved_at": now,
            "resolved_by": acting.actor,
            "resolution": resolution.strip(),
        },
        reason=resolution.strip(),
        already=_resolved_text,
    )
    return {
        "escalation_id": escalation_id,
        "account_id": row["account_id"],
        "kind": row["kind"],
        "status": "resolved",
        "resolved_by": acting.actor,
        "resolved_at": now,
        "decision_id": decision_id,
        **acted(acting, now),
    }


def _resolved_text(row: dict[str, Any]) -> str:
    return _already_closed("escalation", row["escalation_id"], row, "resolved")


def _already_closed(what: str, key: str, row: dict[str, Any], verb: str) -> str:
    at, by = row.get(f"{verb}_at"), row.get(f"{verb}_by")
    when = f" at {at:%Y-%m-%d %H:%M} UTC" if at else ""
    return (
        f"{what} {key} is already {row['status']} by {by or 'someone'}{when}; nothing was changed"
    )


def _close_open_item(
    store: GraphStore,
    label: str,
    key: str,
    row: dict[str, Any],
    acting: Acting,
    *,
    now: dt.datetime,
    closed: dict[str, Any],
    reason: str | None,
    already: Callable[[dict[str, Any]], str],
) -> str:
    """Close an open item (an escalation, a reply) and store the resolve Decision on it,
    in one commit guarded by its status: closing it twice is a conflict naming who
    closed it first. Returns the Decision's id."""
    if row["status"] != "open":
        raise DecisionConflict(already(row))
    decision_id = decision_key(key, "resolve")
    try:
        with store.batch() as write:
            write.expect(label, key, "status", ["open"])
            write.upsert_nodes(label, [{**row, **closed}])
            write_decision(
                write, decision_id, "resolve", acting, now=now, on=[(label, key)], reason=reason
            )
    except WriteConflict:
        raise DecisionConflict(already(store.get_node(label, key))) from None
    return decision_id


def settle_send(
    store: GraphStore,
    message_id: str,
    outcome: SendOutcome,
    *,
    actor: str | Actor,
    now: dt.datetime,
    note: str | None = None,
) -> dict[str, Any]:
    """Settle an unconfirmed send: ``sent`` (it went out), ``not_sent`` (requeue it
    under the same idempotency key and Message-ID, so a receiving server can still
    tell a duplicate), or ``cancel`` (it never goes out). A Decision (kind settle)
    records the outcome and who settled it."""
    if outcome not in _SETTLED:
        raise DecisionRejected(f"unknown outcome {outcome!r} (sent, not_sent or cancel)")
    if not isinstance(actor, Actor):
        actor = identify(store, actor, action="settle", item=message_id)
    message = store.get_node("OutboxMessage", message_id, hint="twoloop queue --am ID lists them")
    acting = act_on(store, actor, action="settle", item=message_id, owner=message["am_id"])
    status = _SETTLED[outcome]
    said = (
        f"settled as {outcome.replace('_', ' ')} by {acting.describe()} at {now:%Y-%m-%d %H:%M} UTC"
    )
    change: dict[str, Any] = {"status": status, "note": said + (f": {note}" if note else "")}
    if outcome == "sent":
        change["sent_at"] = message["sent_at"] or message["claimed_at"] or now
    elif outcome == "not_sent":
        change.update(claimed_by=None, claimed_at=None, not_before=None)
    # A message can be in doubt again after a requeue: one decision per settling.
    decision_id = decision_key(
        f"{message_id}\x1f{message['attempts']}\x1f{now.isoformat()}", "settle"
    )
    try:
        with store.batch() as write:
            write.expect("OutboxMessage", message_id, "status", ["unconfirmed"])
            write.upsert_nodes("OutboxMessage", [{**message, **change}])
            write_decision(
                write,
                decision_id,
                "settle",
                acting,
                now=now,
                on=[("OutboxMessage", message_id)],
                reason=outcome + (f": {note}" if note else ""),
            )
    except WriteConflict:
        current = store.get_node("OutboxMessage", message_id)
        raise DecisionConflict(
            f"message {message_id} is {current['status']}, not unconfirmed; nothing was changed"
        ) from None
    return {
        "message_id": message_id,
        "status": status,
        "outcome": outcome,
        "decision_id": decision_id,
        **acted(acting, now),
    }


def _finish_task(
    store: GraphStore, task_id: str, *, actor: str | Actor, now: dt.datetime, answer: str
) -> dict[str, Any]:
    if not isinstance(actor, Actor):
        actor = identify(store, actor, action="resolve", item=task_id)
    task = store.get_node("Task", task_id, hint="twoloop queue --am ID lists them")
    acting = act_on(store, actor, action="resolve", item=task_id, owner=task["am_id"])
    if task["status"] != "open":
        raise DecisionConflict(
            f"task {task_id} is already {task['status']}"
            + last_decision(store, "Task", task_id)
            + "; nothing was changed"
        )
    decision_id = decision_key(task_id, "resolve")
    try:
        with store.batch() as write:
            write.expect("Task", task_id, "status", ["open"])
            write.upsert_nodes(
                "Task",
                [
                    {
                        **task,
                        "status": "done",
                        "done_at": now,
                        "body": f"{task['body']}\n\nDone: {answer}".strip(),
                    }
                ],
            )
            write_decision(
                write,
                decision_id,
                "resolve",
                acting,
                now=now,
                on=[("Task", task_id)],
                reason=answer.strip() or None,
            )
    except WriteConflict:
        raise DecisionConflict(
            f"task {task_id} was finished meanwhile; nothing was changed"
        ) from None
    return {"task_id": task_id, "status": "done", "decision_id": decision_id, **acted(acting, now)}


# ---------------------------------------------------------------- replies


def handle_reply(
    store: GraphStore,
    reply_id: str,
    *,
    actor: str | Actor,
    now: dt.datetime,
    note: str | None = None,
) -> dict[str, Any]:
    """Mark an inbound reply (``routing.replies``) handled: the AM read it and dealt
    with it. A Decision (kind resolve) DECIDED_ON the Reply records who, in what right
    and for whom; the owner is the AM of the thread. Handling it twice is a conflict."""
    if not isinstance(actor, Actor):
        actor = identify(store, actor, action="handle", item=reply_id)
    row = store.get_node("Reply", reply_id, hint="twoloop replies list shows them")
    acting = act_on(store, actor, action="handle", item=reply_id, owner=row["am_id"])
    decision_id = _close_open_item(
        store,
        "Reply",
        reply_id,
        row,
        acting,
        now=now,
        closed={"status": "handled", "handled_at": now, "handled_by": acting.actor},
        reason=(note or "").strip() or None,
        already=_handled_text,
    )
    return {
        "reply_id": reply_id,
        "account_id": row["account_id"],
        "classification": row["classification"],
        "status": "handled",
        "decision_id": decision_id,
        **acted(acting, now),
    }


def _handled_text(row: dict[str, Any]) -> str:
    return _already_closed("reply", row["reply_id"], row, "handled")
