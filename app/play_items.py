"""Replies and play runs as the items page shows them (``app.items``): who wrote a
reply, what it says, how it was classified and why, what twoloop already did and the
thread it answers; why a play run fired, what it waits for, its steps so far (the
research summary with its citations, alerts) and the items it made."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import polars as pl

from app.item_sources import CITED_LABELS, Source
from app.item_sources import claims_of as _claims
from app.item_sources import rows_by_key as _rows
from app.item_sources import source_of as _source
from app.queue import play_waits
from drafting.research import render_research
from graph_model.store import GraphStore


@dataclass(frozen=True)
class SentMessage:
    """One of our sent messages, as a thread a follow-up or a reply belongs to."""

    message_id: str
    subject: str
    body: str
    to_address: str
    sent_at: dt.datetime | None
    status: str


@dataclass(frozen=True)
class ReplyItem:
    reply_id: str
    am_id: str
    account_id: str
    account: str
    person: str | None
    from_address: str | None
    subject: str | None
    body: str
    received_at: dt.datetime
    source: str
    classification: str
    rationale: str
    classifier: str
    confidence: float
    # What twoloop already did about it (suppressed the address, escalated, ...).
    actions: tuple[str, ...]
    status: str
    handled_at: dt.datetime | None
    handled_by: str | None
    # Our message it answers; None when that message is gone.
    thread: SentMessage | None


@dataclass(frozen=True)
class PlayStep:
    """One step a play run did, from its log: what kind, when, its text (an alert,
    the research summary, where a wait ends, a note) and the item it made."""

    number: int
    kind: str
    at: str
    text: str
    # ("draft" | "task" | "escalation" | "message" | "research", id) it made.
    made: tuple[str, str] | None = None
    # The research summary's citations, resolved to what they are.
    citations: tuple[Source, ...] = ()


@dataclass(frozen=True)
class PlayItem:
    run_id: str
    am_id: str
    play_id: str
    reason: str
    status: str
    # "time", "read", "draft:<id>", "escalation:<id>", or None.
    waiting_for: str | None
    wait_until: dt.datetime | None
    # What it waits for, in words (when the next step runs, what to read).
    waits: str
    stopped_reason: str | None
    # The step it is at (0-based: the one it waits on, or the next to run).
    step: int
    fired_at: dt.datetime
    account_id: str
    account: str
    person: str | None
    match_id: str | None
    events: tuple[str, ...]
    steps: tuple[PlayStep, ...]
    # The drafts, tasks and escalations it made: (kind, id, status), in step order.
    made: tuple[tuple[str, str, str], ...]


def _sent(store: GraphStore, message_ids: Any) -> dict[str, SentMessage]:
    return {
        key: SentMessage(
            message_id=key,
            subject=m["subject"],
            body=m["body"],
            to_address=m["to_address"],
            sent_at=m["sent_at"],
            status=str(m["status"]),
        )
        for key, m in _rows(store, "OutboxMessage", message_ids).items()
    }


def _replies(
    store: GraphStore, replies: pl.DataFrame, accounts: dict[str, str]
) -> tuple[ReplyItem, ...]:
    if replies.is_empty():
        return ()
    threads = _sent(store, replies["thread_id"].to_list())
    people = store.names("Person", replies["person_id"].drop_nulls(), field="full_name")
    return tuple(
        ReplyItem(
            reply_id=r["reply_id"],
            am_id=r["am_id"],
            account_id=r["account_id"],
            account=accounts.get(r["account_id"]) or str(r["account_id"]),
            person=people.get(r["person_id"] or ""),
            from_address=r["from_address"],
            subject=r["subject"],
            body=r["body"] or "",
            received_at=r["received_at"],
            source=r["source"],
            classification=str(r["classification"]),
            rationale=r["rationale"] or "",
            classifier=r["classifier"],
            confidence=float(r["confidence"] if r["confidence"] is not None else 1.0),
            actions=tuple(r["actions"] or ()),
            status=str(r["status"]),
            handled_at=r["handled_at"],
            handled_by=r["handled_by"],
            thread=threads.get(r["thread_id"]),
        )
        for r in replies.sort("received_at").iter_rows(named=True)
    )


# A play log entry's key for the item it made, and that item's label.
_MADE = {
    "draft_id": ("draft", "Draft"),
    "task_id": ("task", "Task"),
    "escalation_id": ("escalation", "Escalation"),
    "message_id": ("message", "OutboxMessage"),
}


def _plays(store: GraphStore, runs: pl.DataFrame, accounts: dict[str, str]) -> tuple[PlayItem, ...]:
    if runs.is_empty():
        return ()
    logs = {r["run_id"]: _log(r["log"]) for r in runs.iter_rows(named=True)}
    entries = [e for log in logs.values() for e in log]
    research = _rows(store, "Research", [e.get("research_id") for e in entries])
    statuses: dict[str, str] = {}
    for key, (_, label) in _MADE.items():
        for item, row in _rows(store, label, [e.get(key) for e in entries]).items():
            statuses[item] = str(row["status"])
    cites = [
        str(c)
        for row in research.values()
        for s in _claims(row["statements"])
        for c in s.get("cites") or ()
    ]
    cited = _cited(store, cites)
    people = store.names("Person", runs["person_id"].drop_nulls(), field="full_name")
    items = []
    for r in runs.sort("fired_at").iter_rows(named=True):
        steps = tuple(_step(e, research, cited) for e in logs[r["run_id"]])
        made = tuple(
            (s.made[0], s.made[1], statuses.get(s.made[1], "gone"))
            for s in steps
            if s.made and s.made[0] != "research"
        )
        items.append(
            PlayItem(
                run_id=r["run_id"],
                am_id=r["am_id"],
                play_id=r["play_id"],
                reason=r["reason"],
                status=str(r["status"]),
                waiting_for=r["waiting_for"],
                wait_until=r["wait_until"],
                waits=_waits(r),
                stopped_reason=r["stopped_reason"],
                step=int(r["step"] or 0),
                fired_at=r["fired_at"],
                account_id=r["account_id"],
                account=accounts.get(r["account_id"]) or str(r["account_id"]),
                person=people.get(r["person_id"] or ""),
                match_id=r["match_id"],
                events=tuple(r["events"] or ()),
                steps=steps,
                made=made,
            )
        )
    return tuple(items)


def _waits(run: dict[str, Any]) -> str:
    """What the run waits for, in the AM's words."""
    status, waiting = str(run["status"]), run["waiting_for"] or ""
    if status == "waiting" or waiting == "read":
        return play_waits(run)
    kind, _, key = waiting.partition(":")
    if kind == "draft":
        return f"your decision on draft {key}"
    if kind == "escalation":
        return f"your answer to escalation {key}"
    if status in ("done", "stopped"):
        return "nothing: the run is " + status
    return "its next step, at the loop's next run"


def _log(text: str | None) -> list[dict[str, Any]]:
    return _claims(text)


def _step(
    entry: dict[str, Any],
    research: dict[str, dict[str, Any]],
    cited: dict[str, Source],
) -> PlayStep:
    kind = str(entry.get("kind") or "")
    made = next(
        ((what, str(entry[key])) for key, (what, _) in _MADE.items() if entry.get(key)), None
    )
    text = ""
    citations: tuple[Source, ...] = ()
    if kind == "research":
        row = research.get(str(entry.get("research_id") or ""))
        if row is not None:
            text = render_research(row)
            wanted = dict.fromkeys(
                str(c) for s in _claims(row["statements"]) for c in s.get("cites") or ()
            )
            citations = tuple(cited[c] for c in wanted if c in cited)
            made = ("research", row["research_id"])
        else:
            text = "the research summary is gone"
    elif kind == "alert":
        text = str(entry.get("text") or "")
    elif kind == "wait":
        text = f"until {entry.get('until') or '?'}"
    if entry.get("note"):
        text = "\n".join(t for t in (text, str(entry["note"])) if t)
    return PlayStep(
        number=int(entry.get("step", 0)) + 1,
        kind=kind,
        at=str(entry.get("at") or ""),
        text=text,
        made=made,
        citations=citations,
    )


def _cited(store: GraphStore, cites: list[str]) -> dict[str, Source]:
    """Each research cite ("signal:<id>") as the record it names."""
    wanted: dict[str, set[str]] = defaultdict(set)
    for cite in cites:
        prefix, _, key = cite.partition(":")
        if prefix in CITED_LABELS and key:
            wanted[CITED_LABELS[prefix]].add(key)
    out: dict[str, Source] = {}
    for label, keys in wanted.items():
        prefix = next(p for p, lab in CITED_LABELS.items() if lab == label)
        for key, row in _rows(store, label, keys).items():
            if label == "Match":
                source = Source("match", key, str(row.get("explanation") or key), None, "twoloop")
            elif label == "Escalation":
                opened = row["opened_at"].date() if row.get("opened_at") else None
                source = Source("escalation", key, str(row["question"]), opened, "twoloop")
            elif label == "Account":
                source = Source("account", key, str(row["name"]), None, "CRM")
            else:
                source = _source(label, key, row)
            out[f"{prefix}:{key}"] = source
    return out
