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
``edit_draft`` and ``cancel_draft`` decide a pending draft: each is one commit
that holds the Decision (linked to the draft and its match, with the match's
features for learning: approve and edit count as positive, cancel as negative),
the draft's new status, the match's new status and, for approve and edit, the
OutboxMessage. The commit is guarded by a compare-and-set on the draft's status,
so a second decision (by anyone, at any time) is a conflict error naming who
decided first, never a second message. An edit runs the drafting guard on what
it sends: what the guard stops goes out only with ``confirm=True``, and the
Decision keeps what was confirmed. The owner's own edits feed their style notes.
``resolve_item`` closes an escalation or a task, ``settle_send`` an unconfirmed
send.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal, Protocol

import polars as pl

from app.actors import Acting, Actor, act_on, identify, see_books
from app.decisions import check_reason_code, decided_by, last_decision
from app.queue import play_waits, plays_of_items
from drafting.guard import DraftCheck, check_draft
from drafting.model import Claim, DraftContent
from drafting.requests import draft_requests
from drafting.style import record_style, style_rules
from graph_model.errors import (
    DecisionConflict,
    DecisionRejected,
    GuardedEdit,
    ModelError,
    WriteConflict,
)
from graph_model.store import Filter, GraphStore, NotFound, WriteBatch
from routing.channels.task import add_task
from routing.outbox import release_draft
from routing.sending import SendingConfig

OPEN_MATCH = ("proposed", "deferred")


class StyleWriter(Protocol):
    """Turns an edit into style notes (``drafting.claude.ClaudeStyleNotes``)."""

    rule: str

    def notes(self, original: str, edited: str) -> list[str]: ...


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


# ---------------------------------------------------------------- draft decisions


def _decision_id(subject: str, kind: str) -> str:
    return "d-" + hashlib.sha1(f"{subject}\x1f{kind}".encode()).hexdigest()[:20]


def _decision(
    write: WriteBatch,
    decision_id: str,
    kind: str,
    acting: Acting,
    *,
    now: dt.datetime,
    on: list[tuple[str, str]],
    **fields: Any,
) -> None:
    """A Decision naming who acted, in what right and for whom, on these items."""
    write.upsert_nodes(
        "Decision",
        [{"decision_id": decision_id, "kind": kind, "decided_at": now, **acting.audit(), **fields}],
    )
    write.upsert_edges(
        "DECIDED_ON",
        [{"src": decision_id, "dst_label": label, "dst": key} for label, key in on],
    )
    decided_by(write, decision_id, acting)


def _draft_conflict(store: GraphStore, draft: dict[str, Any]) -> str:
    text = f"draft {draft['draft_id']} is already {draft['status']}"
    decided = last_decision(store, "Draft", draft["draft_id"])
    if decided:
        text += decided
    elif draft["status"] == "rejected":
        text += " by post-validation (" + "; ".join(draft["violations"][:2]) + ")"
    return text + "; nothing was changed"


@contextmanager
def _conflict_on_draft(store: GraphStore, draft_id: str) -> Iterator[None]:
    try:
        yield
    except WriteConflict as exc:
        if exc.label == "Match":
            raise DecisionConflict(
                f"the match of draft {draft_id} is {exc.found_value} meanwhile; nothing was changed"
            ) from None
        row = store.get_nodes("Draft", [draft_id]).row(0, named=True)
        raise DecisionConflict(_draft_conflict(store, row)) from None


def _edit_check(
    store: GraphStore, draft: dict[str, Any], updated: dict[str, Any], sending: SendingConfig
) -> DraftCheck:
    """The drafting guard on an edit: the same checks, against the match's evidence,
    the draft's claims and its fixed recipient and sender."""
    (request,) = draft_requests(store, store.get_nodes("Match", [draft["match_id"]]))
    request = dataclasses.replace(
        request,
        from_address=draft["from_address"] or request.from_address,
        to_address=draft["to_address"],
    )
    # Built without validation: a person's edit may be longer than a drafter's answer.
    content = DraftContent.model_construct(
        subject=updated["subject"],
        body=updated["body"],
        claims=[Claim.model_construct(**c) for c in json.loads(draft["claims"] or "[]")],
    )
    return check_draft(request, content, link_domains=sending.link_domains)


def _decide_draft(
    store: GraphStore,
    draft_id: str,
    kind: str,
    *,
    actor: str | Actor,
    now: dt.datetime,
    sending: SendingConfig | None,
    reason: str | None = None,
    reason_code: str | None = None,
    subject: str | None = None,
    body: str | None = None,
    style_writer: StyleWriter | None = None,
    confirm: bool = False,
) -> dict[str, Any]:
    if not isinstance(actor, Actor):
        actor = identify(store, actor, action=kind, item=draft_id)
    draft = store.get_node("Draft", draft_id, hint="twoloop queue --am ID lists them")
    acting = act_on(store, actor, action=kind, item=draft_id, owner=draft["am_id"])
    if draft["status"] != "pending":
        raise DecisionConflict(_draft_conflict(store, draft))
    found = store.get_nodes("Match", [draft["match_id"]])
    if found.height == 0:
        raise NotFound(f"the match of draft {draft_id} is gone (a new match run removed it)")
    match = found.row(0, named=True)
    decision_id = _decision_id(draft_id, kind)
    new_status = {"approve": "approved", "edit": "edited", "cancel": "cancelled"}[kind]
    # A first-touch draft's decision is the match's (and a label for learning); a
    # play's follow-up or suggested comment is about that message only.
    first_touch = (draft.get("purpose") or "outreach") == "outreach"
    match_status = (
        ("killed" if kind == "cancel" else "validated") if first_touch else match["status"]
    )
    updated = dict(draft)
    confirmed: list[str] = []
    if kind == "edit":
        assert sending is not None
        updated.update(
            subject=(subject or draft["subject"]).strip(),
            body=(body or draft["body"]).strip(),
            original_body=draft["original_body"] or draft["body"],
        )
        check = _edit_check(store, draft, updated, sending)
        findings = [*check.violations, *check.holds]
        if findings and not confirm:
            raise GuardedEdit(draft_id, findings)
        confirmed = findings
        # The draft describes what goes out: the edit's checks replace the drafter's.
        updated.update(
            grounded=check.grounded,
            personalization=check.personalization,
            violations=check.violations,
            holds=check.holds,
        )
    # A manager's or admin's edit is not the owner's style.
    teaches = kind == "edit" and acting.role == "am"
    notes = _style_notes(store, draft, updated, style_writer) if teaches else []
    message: dict[str, Any] | None = None
    task: dict[str, Any] | None = None
    with _conflict_on_draft(store, draft_id), store.batch() as write:
        if first_touch:
            write.expect("Match", match["match_id"], "status", [*OPEN_MATCH, "validated"])
        if kind == "cancel":
            write.expect("Draft", draft_id, "status", ["pending"])
            write.upsert_nodes("Draft", [{**updated, "status": new_status, "updated_at": now}])
        elif draft.get("purpose") == "comment":
            # A suggested comment is posted by the AM: approving it gives them the task.
            write.expect("Draft", draft_id, "status", ["pending"])
            write.upsert_nodes("Draft", [{**updated, "status": new_status, "updated_at": now}])
            task = add_task(
                write,
                kind="post_comment",
                am_id=draft["am_id"],
                account_id=match["account_id"],
                title=f"Post your comment: {updated['subject']}",
                body=updated["body"],
                now=now,
                match_id=match["match_id"],
                play_run_id=draft.get("play_run_id") or draft_id,
            )
        else:
            assert sending is not None
            message = release_draft(
                write,
                updated,
                account_id=match["account_id"],
                released_by=acting.actor,
                role=acting.role,
                config=sending,
                now=now,
                status=new_status,
            )
        _decision(
            write,
            decision_id,
            kind,
            acting,
            now=now,
            on=[("Draft", draft_id), ("Match", match["match_id"])]
            if first_touch
            else [("Draft", draft_id)],
            reason=reason,
            reason_code=reason_code,
            features=match["features"],
            score=match["score"],
            model_version=match["model_version"],
            confirmed_findings=confirmed,
        )
        if first_touch:
            write.upsert_nodes("Match", [{**match, "status": match_status}])
        if notes:
            record_style(write, store, draft["am_id"], notes, now=now)
    return {
        "draft_id": draft_id,
        "decision": kind,
        "decision_id": decision_id,
        "status": new_status,
        "match_id": match["match_id"],
        "match_status": match_status,
        "message_id": message["message_id"] if message else None,
        "task_id": task["task_id"] if task else None,
        "confirmed_findings": confirmed,
        **_by(acting, now),
    }


def _by(acting: Acting, now: dt.datetime) -> dict[str, Any]:
    return {"by": acting.actor, "role": acting.role, "on_behalf_of": acting.on_behalf_of, "at": now}


def _style_notes(
    store: GraphStore,
    draft: dict[str, Any],
    updated: dict[str, Any],
    writer: StyleWriter | None,
) -> list[tuple[str, str]]:
    """What the edit says about the AM's style: Claude's notes when a writer is given
    (falling back to the rules if Claude fails: the edit itself must not), else the
    rules'."""
    if writer is not None:
        try:
            return [(writer.rule, n) for n in writer.notes(draft["body"], updated["body"])]
        except ModelError:
            pass
    person = store.get_nodes("Person", [draft["person_id"]]) if draft["person_id"] else None
    am = store.get_nodes("AccountManager", [draft["am_id"]]).row(0, named=True)
    first = person["full_name"][0].split()[0] if person is not None and person.height else None
    return style_rules(
        draft["body"], updated["body"], first_name=first, am_first=am["full_name"].split()[0]
    )


def approve_draft(
    store: GraphStore,
    draft_id: str,
    *,
    actor: str | Actor,
    now: dt.datetime,
    sending: SendingConfig,
) -> dict[str, Any]:
    """Approve a pending draft as written: it goes to the outbox."""
    return _decide_draft(store, draft_id, "approve", actor=actor, now=now, sending=sending)


def edit_draft(
    store: GraphStore,
    draft_id: str,
    *,
    actor: str | Actor,
    now: dt.datetime,
    sending: SendingConfig,
    subject: str | None = None,
    body: str | None = None,
    style_writer: StyleWriter | None = None,
    confirm: bool = False,
) -> dict[str, Any]:
    """Send a pending draft with the actor's changes, after the drafting guard: an
    edit carrying what it stops (links outside ``link_domains``, other addresses,
    forward instructions, prices, discounts, promises) or a hold is ``GuardedEdit``
    unless ``confirm``; then it goes out and the Decision keeps what was confirmed.
    The owner's own edits become style notes: by ``style_writer`` (Claude, when a key
    is set) or else by the offline rules."""
    if not (subject or body):
        raise DecisionRejected("an edit needs a new subject or body")
    return _decide_draft(
        store,
        draft_id,
        "edit",
        actor=actor,
        now=now,
        sending=sending,
        subject=subject,
        body=body,
        style_writer=style_writer,
        confirm=confirm,
    )


def cancel_draft(
    store: GraphStore,
    draft_id: str,
    *,
    actor: str | Actor,
    now: dt.datetime,
    reason: str | None = None,
    reason_code: str | None = None,
) -> dict[str, Any]:
    """Never send this draft; the match is killed with the reason (a negative label):
    a ``reason_code`` from ``app.decisions.REASON_CODES``, the person's own words
    (``reason``), or both."""
    text = (reason or "").strip() or None
    check_reason_code(reason_code, "cancel")
    if text is None and reason_code is None:
        raise DecisionRejected("a cancel needs a reason (it is what the ranking learns from)")
    return _decide_draft(
        store,
        draft_id,
        "cancel",
        actor=actor,
        now=now,
        sending=None,
        reason=text,
        reason_code=reason_code,
    )


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
        **_by(acting, now),
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
    decision_id = _decision_id(key, "resolve")
    try:
        with store.batch() as write:
            write.expect(label, key, "status", ["open"])
            write.upsert_nodes(label, [{**row, **closed}])
            _decision(
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
    decision_id = _decision_id(
        f"{message_id}\x1f{message['attempts']}\x1f{now.isoformat()}", "settle"
    )
    try:
        with store.batch() as write:
            write.expect("OutboxMessage", message_id, "status", ["unconfirmed"])
            write.upsert_nodes("OutboxMessage", [{**message, **change}])
            _decision(
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
        **_by(acting, now),
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
    decision_id = _decision_id(task_id, "resolve")
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
            _decision(
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
    return {"task_id": task_id, "status": "done", "decision_id": decision_id, **_by(acting, now)}


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
        **_by(acting, now),
    }


def _handled_text(row: dict[str, Any]) -> str:
    return _already_closed("reply", row["reply_id"], row, "handled")
