"""Play runs: a fired play's steps, run one tick at a time, that stop when they should.

``run_plays`` is one tick: it stores the plays that fired since the last tick (one
PlayRun each, keyed by the play, the subject and the event that completed the
pattern, so a rerun stores nothing twice), then advances every open run:

- first the stop conditions (``check_stop``): a reply, an opt-out, another
  escalation, a meeting, the AM's cancel; a stopped run withdraws its pending
  draft and any unsent message it queued;
- then its steps, in order, until one waits: ``wait`` until its time has come,
  ``draft`` until the AM approves or cancels the draft, ``escalate`` until a person
  resolves it, ``send`` like ``draft`` unless the policy lets the agent act on the
  match and the draft passes every check. Waiting for a person has no timeout.

A run that leaves the AM something to read (a research summary, an alert) and
nothing else to act on stays ``needs_am`` until the AM marks it read
(``app.play_decisions.settle_play_run``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from drafting.followups import comment_draft, follow_up_draft
from drafting.research import render_research, write_research
from graph_model.errors import WriteConflict
from graph_model.settings import Settings
from graph_model.store import Filter, GraphStore, WriteBatch
from routing.channels.task import add_task
from routing.handoff import handoff_packet
from routing.outbox import release_draft
from routing.play_fire import OPEN_RUN, Fire, add_business_days, find_fires
from routing.play_stops import check_stop
from routing.plays import PLACEHOLDERS, Play, PlayBook, Step, fill
from routing.sending import SendingConfig


@dataclass
class PlaysReport:
    plays: str
    dry_run: bool = False
    fired: dict[str, int] = field(default_factory=dict)
    advanced: int = 0
    stopped: dict[str, int] = field(default_factory=dict)
    status: dict[str, int] = field(default_factory=dict)
    research: int = 0
    alerts: int = 0
    drafts: int = 0
    sent: int = 0
    tasks: int = 0
    escalations: int = 0
    runs: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Open runs of plays this file does not have (play -> runs): left as they are.
    left_alone: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class _Context:
    store: GraphStore
    book: PlayBook
    now: dt.datetime
    sending: SendingConfig
    min_personalization: float
    settings: Settings | None
    report: PlaysReport


def run_plays(
    store: GraphStore,
    book: PlayBook,
    *,
    now: dt.datetime,
    sending: SendingConfig,
    min_personalization: float,
    settings: Settings | None = None,
    dry_run: bool = False,
) -> PlaysReport:
    """One tick: store new firings, then advance every open run."""
    report = PlaysReport(plays=book.path, dry_run=dry_run)
    runs = store.nodes("PlayRun")
    start = now - dt.timedelta(days=book.max_age_days)
    fires = find_fires(store, book, start=start, end=now, runs=runs)
    report.fired = dict(Counter(f.play.id for f in fires))
    if dry_run:
        report.runs = [f.as_dict() for f in fires]
        return report
    if fires:
        _store_fires(store, book, fires, now)
    ctx = _Context(store, book, now, sending, min_personalization, settings, report)
    open_runs = store.nodes("PlayRun", [Filter("status", "in", list(OPEN_RUN))])
    for run in open_runs.sort(["fired_at", "run_id"]).iter_rows(named=True):
        try:
            _advance(ctx, run)
        except WriteConflict:
            # A person (or another tick) changed it meanwhile: the next tick sees theirs.
            report.notes.append(f"{run['run_id']}: changed meanwhile, left for the next tick")
    final = store.nodes("PlayRun", [Filter("status", "in", list(OPEN_RUN))])
    report.status = dict(Counter(final["status"].to_list())) if final.height else {}
    return report


def _store_fires(store: GraphStore, book: PlayBook, fires: list[Fire], now: dt.datetime) -> None:
    with store.batch() as write:
        write.upsert_nodes(
            "PlayRun",
            [
                {
                    "run_id": f.run_id,
                    "play_id": f.play.id,
                    "plays": book.digest,
                    "account_id": f.account_id,
                    "am_id": f.am_id,
                    "person_id": f.person_id,
                    "match_id": f.match_id,
                    "subject": f.subject,
                    "events": f.events,
                    "fired_at": f.at,
                    "reason": f.reason,
                    "names": json.dumps(
                        {k: f.values.get(k) for k in PLACEHOLDERS if f.values.get(k) is not None},
                        default=str,
                    ),
                    "status": "active",
                    "step": 0,
                    "log": "[]",
                    "updated_at": now,
                }
                for f in fires
            ],
        )
        label = {
            "signal": "Signal",
            "activity": "Activity",
            "reply": "Reply",
            "decision": "Decision",
            "send": "OutboxMessage",
        }
        edges = [
            {"src": f.run_id, "dst_label": label[e.split(":", 1)[0]], "dst": e.split(":", 1)[1]}
            for f in fires
            for e in f.events
        ]
        write.upsert_edges("FIRED_BY", edges)


def _advance(ctx: _Context, run: dict[str, Any]) -> None:
    report = ctx.report
    try:
        play = ctx.book.get(run["play_id"])
    except KeyError:
        # Another plays file (a test of one, or an edit): its runs are left as they
        # are, never stopped by a file that does not know them.
        report.left_alone[run["play_id"]] = report.left_alone.get(run["play_id"], 0) + 1
        return
    why = check_stop(ctx.store, run, play, now=ctx.now)
    if why is not None:
        _stop(ctx, run, why)
        return
    log: list[dict[str, Any]] = json.loads(run["log"] or "[]")
    status, step = run["status"], int(run["step"])
    changes: dict[str, Any] = {}
    if status == "waiting":
        if run["wait_until"] is not None and ctx.now < run["wait_until"]:
            return
        step += 1
        changes.update(wait_until=None, waiting_for=None)
    elif status == "needs_am":
        waited = _person_step_outcome(ctx.store, run)
        if waited == "waiting":
            return
        if waited.startswith("stop:"):
            _stop(ctx, run, waited[5:])
            return
        if run["waiting_for"] == "read":
            return
        step += 1
        changes.update(waiting_for=None)
    report.advanced += 1
    values = _values(ctx.store, run)
    while step < len(play.steps):
        outcome = _run_step(ctx, run, play, play.steps[step], step, values, log)
        if outcome is None:
            step += 1
            continue
        changes.update(outcome)
        changes["step"] = step
        _save(ctx, run, log, changes)
        return
    # Every step ran: what is left to read stays in the queue until the AM has read it.
    readable = [e for e in log if e["kind"] in ("research", "alert")]
    handed = [e for e in log if e["kind"] in ("task", "escalate", "draft", "send")]
    if readable and (not handed or handed[-1]["step"] < readable[-1]["step"]):
        changes.update(status="needs_am", waiting_for="read", step=step)
    else:
        changes.update(status="done", waiting_for=None, step=step)
    _save(ctx, run, log, changes)


def _save(
    ctx: _Context, run: dict[str, Any], log: list[dict[str, Any]], changes: dict[str, Any]
) -> None:
    record = {**run, **changes, "log": json.dumps(log, default=str), "updated_at": ctx.now}
    with ctx.store.batch() as write:
        write.expect("PlayRun", run["run_id"], "status", [run["status"]])
        write.upsert_nodes("PlayRun", [record])


def _values(store: GraphStore, run: dict[str, Any]) -> dict[str, Any]:
    """The names a step's text fills in, as of now."""
    account = store.names("Account", [run["account_id"]])
    person = store.names("Person", [run.get("person_id")], field="full_name")
    am = store.names("AccountManager", [run["am_id"]], field="full_name")
    capability = None
    if run.get("match_id"):
        match = store.get_nodes("Match", [run["match_id"]], fields=["capability_id"])
        if match.height:
            capability = store.names("Capability", [match["capability_id"][0]]).get(
                match["capability_id"][0]
            )
    return {
        **json.loads(run.get("names") or "{}"),
        "account": account.get(run["account_id"], run["account_id"]),
        "person": person.get(run.get("person_id") or ""),
        "am": am.get(run["am_id"], run["am_id"]),
        "capability": capability or json.loads(run.get("names") or "{}").get("capability"),
        "play": run["play_id"],
        "reason": run["reason"],
    }


def _run_step(
    ctx: _Context,
    run: dict[str, Any],
    play: Play,
    step: Step,
    index: int,
    values: dict[str, Any],
    log: list[dict[str, Any]],
) -> dict[str, Any] | None:
    """Run one step; None to go on to the next, or the run's changes while it waits."""
    store, now, report = ctx.store, ctx.now, ctx.report
    entry: dict[str, Any] = {"step": index, "kind": step.kind, "at": now.isoformat()}
    o = step.options
    if step.kind == "research":
        row = write_research(
            store,
            account_id=run["account_id"],
            am_id=run["am_id"],
            now=now,
            match_id=run.get("match_id"),
            play_run_id=run["run_id"],
            settings=ctx.settings,
        )
        entry.update(research_id=row["research_id"], writer=row["writer"])
        log.append(entry)
        report.research += 1
        return None
    if step.kind == "alert":
        entry["text"] = fill(o["text"], values)
        log.append(entry)
        report.alerts += 1
        return None
    if step.kind == "wait":
        # A first wait counts from the event ("5 business days after the send"), not
        # from the tick that saw it; a later one from the step before it.
        base = run["fired_at"] if index == 0 else now
        days = o.get("business_days")
        until = add_business_days(base, days) if days else base + dt.timedelta(days=o["days"])
        entry["until"] = until.isoformat()
        log.append(entry)
        if until <= now:
            return None
        return {"status": "waiting", "wait_until": until, "waiting_for": "time"}
    if step.kind == "task":
        with store.batch() as write:
            task = add_task(
                write,
                kind=o["kind"],
                am_id=run["am_id"],
                account_id=run["account_id"],
                title=fill(o["title"], values),
                body=_body(store, run, log),
                now=now,
                match_id=run.get("match_id"),
                play_run_id=run["run_id"],
            )
        entry["task_id"] = task["task_id"]
        log.append(entry)
        report.tasks += 1
        return None
    if step.kind == "escalate":
        eid = _escalate(
            store, run, o["kind"], fill(o["question"], values), _body(store, run, log), now
        )
        entry["escalation_id"] = eid
        log.append(entry)
        report.escalations += 1
        return {"status": "needs_am", "waiting_for": f"escalation:{eid}"}
    # draft or send
    draft = _draft(ctx, run, step, log)
    if draft is None:
        entry["note"] = "no match or contact to write for: nothing drafted"
        log.append(entry)
        report.notes.append(f"{run['run_id']}: {entry['note']}")
        return None
    entry["draft_id"] = draft["draft_id"]
    report.drafts += 1
    if draft["status"] == "rejected":
        entry["note"] = "the draft failed its checks: " + "; ".join(draft.get("violations") or [])
        log.append(entry)
        return {
            "status": "stopped",
            "stopped_reason": "the draft failed its checks; nothing was sent",
        }
    if step.kind == "send":
        refusal = _send_refusal(store, run, draft, ctx.min_personalization)
        if refusal is None:
            with store.batch() as write:
                message = release_draft(
                    write,
                    draft,
                    account_id=run["account_id"],
                    released_by=f"agent:play:{play.id}",
                    role="agent",
                    config=ctx.sending,
                    now=now,
                )
            entry["message_id"] = message["message_id"]
            log.append(entry)
            report.sent += 1
            return None
        entry["note"] = f"not sent: {refusal}; it waits for the AM's approval"
    log.append(entry)
    return {"status": "needs_am", "waiting_for": f"draft:{draft['draft_id']}"}


def _body(store: GraphStore, run: dict[str, Any], log: list[dict[str, Any]]) -> str:
    """The run's reason, with its research summary and alerts so far."""
    parts = [f"Why: {run['reason']} (play {run['play_id']})"]
    for e in log:
        if e["kind"] == "alert":
            parts.append(e["text"])
        if e["kind"] == "research":
            row = store.get_nodes("Research", [e["research_id"]])
            if row.height:
                parts.append(render_research(row.row(0, named=True)))
    return "\n\n".join(parts)


def _draft(
    ctx: _Context, run: dict[str, Any], step: Step, log: list[dict[str, Any]]
) -> dict[str, Any] | None:
    store = ctx.store
    match_id = run.get("match_id")
    if not match_id:
        return None
    number = 1 + sum(1 for e in log if e["kind"] in ("draft", "send"))
    if step.options["purpose"] == "comment":
        signal = next(
            (e.split(":", 1)[1] for e in reversed(run["events"]) if e.startswith("signal:")), None
        )
        if signal is None:
            return None
        return comment_draft(
            store,
            match_id=match_id,
            signal_id=signal,
            now=ctx.now,
            play_run_id=run["run_id"],
            settings=ctx.settings,
            link_domains=ctx.sending.link_domains,
        )
    sent = next(
        (e.split(":", 1)[1] for e in reversed(run["events"]) if e.startswith("send:")), None
    )
    if sent is None:
        return None
    return follow_up_draft(
        store,
        match_id=match_id,
        follows=sent,
        now=ctx.now,
        play_run_id=run["run_id"],
        number=number,
        settings=ctx.settings,
        link_domains=ctx.sending.link_domains,
    )


def _send_refusal(
    store: GraphStore, run: dict[str, Any], draft: dict[str, Any], min_personalization: float
) -> str | None:
    """Why the agent may not send this draft itself (None: it may)."""
    route = store.nodes(
        "Route", [Filter("match_id", "eq", run["match_id"]), Filter("current", "eq", True)]
    )
    action = route.sort("routed_at")["action"][-1] if route.height else None
    if action != "auto_send":
        return f"the match's route is {action or 'none yet'}, not auto_send (above the threshold)"
    if not draft.get("grounded"):
        return "the draft is not grounded in the match's evidence"
    if float(draft.get("personalization") or 0.0) < min_personalization:
        return "the draft's personalization is under the threshold"
    if draft.get("holds"):
        return "a person must check it: " + "; ".join(draft["holds"])
    return None


def _escalate(
    store: GraphStore, run: dict[str, Any], kind: str, question: str, body: str, now: dt.datetime
) -> str:
    eid = "e-" + hashlib.sha1(f"play\x1f{run['run_id']}\x1f{kind}".encode()).hexdigest()[:20]
    packet = handoff_packet(
        store,
        run["account_id"],
        question=question,
        match_id=run.get("match_id"),
        trigger={"source": f"play:{run['play_id']}", "kind": kind, "excerpt": body},
    )
    with store.batch() as write:
        write.upsert_nodes(
            "Escalation",
            [
                {
                    "escalation_id": eid,
                    "account_id": run["account_id"],
                    "am_id": run["am_id"],
                    "match_id": run.get("match_id"),
                    "kind": kind,
                    "status": "open",
                    "blocking": True,
                    "trigger": f"play:{run['run_id']}",
                    "excerpt": run["reason"],
                    "question": question,
                    "opened_at": now,
                    "packet": packet.model_dump_json(),
                }
            ],
        )
        write.upsert_edges("ESCALATES", [{"src": eid, "dst": run["account_id"]}])
        write.upsert_edges(
            "ASSIGNED_TO", [{"src_label": "Escalation", "src": eid, "dst": run["am_id"]}]
        )
        if run.get("match_id"):
            write.upsert_edges(
                "TRIGGERED_BY", [{"src": eid, "dst_label": "Match", "dst": run["match_id"]}]
            )
    return eid


def _person_step_outcome(store: GraphStore, run: dict[str, Any]) -> str:
    """What became of the item a ``needs_am`` run waits for: ``waiting``, ``done``,
    or ``stop:<why>``."""
    waiting_for = run.get("waiting_for") or ""
    kind, _, key = waiting_for.partition(":")
    if kind == "draft":
        draft = store.get_nodes("Draft", [key], fields=["status"])
        status = draft["status"][0] if draft.height else "cancelled"
        if status == "pending":
            return "waiting"
        if status in ("cancelled", "rejected"):
            return "stop:the AM cancelled its draft"
        return "done"
    if kind == "escalation":
        esc = store.get_nodes("Escalation", [key], fields=["status"])
        if esc.height and esc["status"][0] == "open":
            return "waiting"
        return "done"
    return "waiting" if waiting_for == "read" else "done"


def withdraw(store: GraphStore, run_id: str, *, why: str, now: dt.datetime) -> Any:
    """What stopping run ``run_id`` withdraws, as a function that adds it to a write
    batch: its pending drafts are cancelled and the unsent messages it queued
    cancelled with ``why``, each only if still so (a person or a relay acting
    first wins: the commit fails on the compare-and-set)."""
    drafts = store.nodes("Draft", [Filter("play_run_id", "eq", run_id)])
    pending = drafts.filter(pl.col("status") == "pending") if drafts.height else drafts
    outbox = (
        store.nodes(
            "OutboxMessage",
            [
                Filter("draft_id", "in", drafts["draft_id"].to_list()),
                Filter("status", "eq", "pending"),
            ],
        )
        if drafts.height
        else pl.DataFrame()
    )

    def add(write: WriteBatch) -> None:
        for d in pending.iter_rows(named=True):
            write.expect("Draft", d["draft_id"], "status", ["pending"])
            write.upsert_nodes("Draft", [{**d, "status": "cancelled", "updated_at": now}])
        for m in outbox.iter_rows(named=True):
            write.expect("OutboxMessage", m["message_id"], "status", ["pending"])
            write.upsert_nodes("OutboxMessage", [{**m, "status": "cancelled", "note": why}])

    return add


def _stop(ctx: _Context, run: dict[str, Any], why: str) -> None:
    """Stop the run, withdrawing what it left waiting (``withdraw``)."""
    store, now = ctx.store, ctx.now
    withdrawn = withdraw(store, run["run_id"], why=f"play run stopped: {why}", now=now)
    with store.batch() as write:
        write.expect("PlayRun", run["run_id"], "status", [run["status"]])
        withdrawn(write)
        write.upsert_nodes(
            "PlayRun",
            [
                {
                    **run,
                    "status": "stopped",
                    "stopped_reason": why,
                    "waiting_for": None,
                    "updated_at": now,
                }
            ],
        )
    ctx.report.stopped[why] = ctx.report.stopped.get(why, 0) + 1
