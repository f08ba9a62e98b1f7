"""What waits for a person on a book, item by item, as the console's "Drafts and
escalations" page lays it out.

- ``Draft``: a draft waiting for approval, with each claim's cited evidence
  resolved to what it rests on (the signal's words, date and source; the deal;
  the person), the guard's findings and the AM's style notes;
- ``Escalation``: an open escalation, its excerpt, question and handoff packet;
- ``Task``: an open task (voice note, LinkedIn, call, research);
- ``Send``: a message a relay could not confirm;
- ``Reply``: an open reply to one of our sends: who wrote, what it says, how it
  was classified and why, what twoloop already did, and the thread it answers;
- ``Play``: a play run that waits (on time, a person, or to be read): why it
  fired, its steps so far (the research summary with its citations, alerts) and
  the items it made.

Drafts, tasks and escalations a play made carry that play and its reason.

Every read takes the actor and checks it like the human-loop API does
(``app.actors``): an AM sees their own book, a manager their reports', an admin
any; anyone else gets ``NotAuthorized`` before anything about the item is said.
What is returned is graph text, untrusted: the page shows it as text. Deciding is
``app.human_loop``'s.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import polars as pl
from pydantic import ValidationError

from app.actors import Actor, act_on, identify, see_books
from app.item_sources import Source
from app.item_sources import claims_of as _claims
from app.item_sources import rows_by_key as _rows
from app.item_sources import source_of as _source
from app.play_items import PlayItem, PlayStep, ReplyItem, SentMessage, _plays, _replies, _sent
from app.queue import PlayOf, plays_of_items
from drafting.style import style_notes
from graph_model.store import Filter, GraphStore, NotFound
from matching.metapaths import load_metapaths
from routing.handoff import HandoffPacket

__all__ = [
    "DraftItem",
    "EscalationItem",
    "ItemBook",
    "PlayItem",
    "PlayStep",
    "ReplyItem",
    "SendItem",
    "SentMessage",
    "Source",
    "TaskItem",
    "book_items",
    "find_item",
]

# The labels item ids are keys of, and the part of a book each is in.
ITEM_LABELS = {
    "Draft": "drafts",
    "Escalation": "escalations",
    "Task": "tasks",
    "OutboxMessage": "sends",
    "Reply": "replies",
    "PlayRun": "plays",
}


@dataclass(frozen=True)
class Evidence:
    """An evidence id a claim cites (``E1``...): the match's sentence for it, its
    metapath and the records on the path."""

    id: str
    sentence: str
    metapath: str
    sources: tuple[Source, ...] = ()


@dataclass(frozen=True)
class ClaimView:
    text: str
    evidence: tuple[Evidence, ...]
    # Cited ids the match has no evidence for (the guard found them too).
    unknown: tuple[str, ...] = ()


@dataclass(frozen=True)
class DraftItem:
    draft_id: str
    am_id: str
    match_id: str
    account_id: str | None
    account: str
    capability: str
    subject: str
    body: str
    to_address: str | None
    from_address: str | None
    contact: str | None
    drafter: str
    status: str
    created_at: dt.datetime
    grounded: bool
    personalization: float
    claims: tuple[ClaimView, ...]
    violations: tuple[str, ...]
    holds: tuple[str, ...]
    style_notes: tuple[str, ...]
    # outreach, follow_up (in the thread of ``follows``) or comment (the AM posts it).
    purpose: str = "outreach"
    follows: SentMessage | None = None
    play: PlayOf | None = None


@dataclass(frozen=True)
class EscalationItem:
    escalation_id: str
    am_id: str | None
    account_id: str
    account: str
    kind: str
    trigger: str
    excerpt: str | None
    question: str
    status: str
    opened_at: dt.datetime
    blocking: bool
    resolution: str | None
    # None when the stored packet is empty or does not read as a packet; then ``raw``.
    packet: HandoffPacket | None
    packet_raw: str
    play: PlayOf | None = None


@dataclass(frozen=True)
class TaskItem:
    task_id: str
    am_id: str
    account_id: str
    account: str
    kind: str
    title: str
    body: str
    status: str
    created_at: dt.datetime
    match_id: str | None
    escalation_id: str | None
    play: PlayOf | None = None


@dataclass(frozen=True)
class SendItem:
    message_id: str
    am_id: str
    account_id: str
    account: str
    to_address: str
    from_address: str
    subject: str
    body: str
    status: str
    created_at: dt.datetime
    claimed_at: dt.datetime | None
    attempts: int
    released_by: str
    note: str | None


@dataclass(frozen=True)
class ItemBook:
    """What waits on one AM's book (or one item of it), oldest first per kind."""

    am_id: str | None
    drafts: tuple[DraftItem, ...] = ()
    escalations: tuple[EscalationItem, ...] = ()
    tasks: tuple[TaskItem, ...] = ()
    sends: tuple[SendItem, ...] = ()
    replies: tuple[ReplyItem, ...] = ()
    plays: tuple[PlayItem, ...] = ()
    # Set when the book holds one item asked for by id (whatever its status).
    item: str | None = None

    @property
    def empty(self) -> bool:
        return not (
            self.drafts
            or self.escalations
            or self.tasks
            or self.sends
            or self.replies
            or self.plays
        )


def book_items(store: GraphStore, actor: str | Actor, of: str | None = None) -> ItemBook:
    """Everything open on the book of ``of`` (default: the actor's own): pending
    drafts, open escalations and tasks, unconfirmed sends, open replies, and play
    runs that wait (on time, a person, or to be read). ``NotAuthorized`` for a book
    the actor may not see."""
    _, (am_id,) = see_books(store, actor, [of] if of else None, hint="choose whose book to see")
    mine = [Filter("am_id", "eq", am_id)]
    drafts = store.nodes("Draft", [*mine, Filter("status", "eq", "pending")])
    escalations = store.nodes("Escalation", [*mine, Filter("status", "eq", "open")])
    tasks = store.nodes("Task", [*mine, Filter("status", "eq", "open")])
    sends = store.nodes("OutboxMessage", [*mine, Filter("status", "eq", "unconfirmed")])
    replies = store.nodes("Reply", [*mine, Filter("status", "eq", "open")])
    plays = store.nodes("PlayRun", [*mine, Filter("status", "in", ["waiting", "needs_am"])])
    return _book(
        store,
        am_id,
        drafts=drafts,
        escalations=escalations,
        tasks=tasks,
        sends=sends,
        replies=replies,
        plays=plays,
    )


def find_item(store: GraphStore, actor: str | Actor, item_id: str) -> ItemBook:
    """One item by its id (a draft, escalation, task, outbox message, reply or play
    run), whatever its status, as a book of one. ``NotAuthorized`` when it is not on
    a book the actor may see (an escalation nobody owns: admins only); ``NotFound``
    when no item has that id."""
    if not isinstance(actor, Actor):
        actor = identify(store, actor, action="see", item=item_id)
    for label, part in ITEM_LABELS.items():
        found = store.get_nodes(label, [item_id])
        if found.height:
            owner = found["am_id"][0]
            act_on(store, actor, action="see", item=item_id, owner=owner)
            return _book(store, owner, item=item_id, **{part: found})
    raise NotFound(
        f"no draft, escalation, task, outbox message, reply or play run with id {item_id!r}",
        hint="the queue lists what waits",
    )


# ---------------------------------------------------------------- reading


def _book(
    store: GraphStore,
    am_id: str | None,
    *,
    item: str | None = None,
    drafts: pl.DataFrame | None = None,
    escalations: pl.DataFrame | None = None,
    tasks: pl.DataFrame | None = None,
    sends: pl.DataFrame | None = None,
    replies: pl.DataFrame | None = None,
    plays: pl.DataFrame | None = None,
) -> ItemBook:
    drafts = _or_empty(store, "Draft", drafts)
    replies = _or_empty(store, "Reply", replies)
    plays = _or_empty(store, "PlayRun", plays)
    escalations = _or_empty(store, "Escalation", escalations)
    tasks = _or_empty(store, "Task", tasks)
    sends = _or_empty(store, "OutboxMessage", sends)
    matches = _rows(store, "Match", drafts["match_id"] if drafts.height else [])
    account_ids = {m["account_id"] for m in matches.values()}
    for frame in (escalations, tasks, sends, replies, plays):
        if frame.height:
            account_ids |= set(frame["account_id"].to_list())
    accounts = store.names("Account", account_ids)
    made = plays_of_items(
        store,
        drafts=drafts["draft_id"].to_list(),
        tasks=tasks["task_id"].to_list(),
        escalations=escalations["escalation_id"].to_list(),
    )
    draft_items = _drafts(store, drafts, matches, accounts, made)
    escalation_items = tuple(
        _escalation(e, accounts, made.get(e["escalation_id"]))
        for e in escalations.sort("opened_at").iter_rows(named=True)
    )
    task_items = tuple(
        TaskItem(
            task_id=t["task_id"],
            am_id=t["am_id"],
            account_id=t["account_id"],
            account=accounts.get(t["account_id"]) or str(t["account_id"]),
            kind=t["kind"],
            title=t["title"],
            body=t["body"] or "",
            status=str(t["status"]),
            created_at=t["created_at"],
            match_id=t["match_id"],
            escalation_id=t["escalation_id"],
            play=made.get(t["task_id"]),
        )
        for t in tasks.sort("created_at").iter_rows(named=True)
    )
    send_items = tuple(
        SendItem(
            message_id=m["message_id"],
            am_id=m["am_id"],
            account_id=m["account_id"],
            account=accounts.get(m["account_id"]) or str(m["account_id"]),
            to_address=m["to_address"],
            from_address=m["from_address"],
            subject=m["subject"],
            body=m["body"],
            status=str(m["status"]),
            created_at=m["created_at"],
            claimed_at=m["claimed_at"],
            attempts=m["attempts"],
            released_by=m["released_by"],
            note=m["note"],
        )
        for m in sends.sort("created_at").iter_rows(named=True)
    )
    return ItemBook(
        am_id=am_id,
        item=item,
        drafts=draft_items,
        escalations=escalation_items,
        tasks=task_items,
        sends=send_items,
        replies=_replies(store, replies, accounts),
        plays=_plays(store, plays, accounts),
    )


def _or_empty(store: GraphStore, label: str, frame: pl.DataFrame | None) -> pl.DataFrame:
    return frame if frame is not None else store.get_nodes(label, [])


def _drafts(
    store: GraphStore,
    drafts: pl.DataFrame,
    matches: dict[str, dict[str, Any]],
    accounts: dict[str, str],
    made: dict[str, PlayOf],
) -> tuple[DraftItem, ...]:
    if drafts.is_empty():
        return ()
    threads = _sent(store, drafts["follows"].to_list())
    capabilities = store.names("Capability", [m["capability_id"] for m in matches.values()])
    people = _rows(store, "Person", drafts["person_id"].to_list())
    notes = style_notes(store, drafts["am_id"].unique().to_list())
    evidence = _evidence(store, list(matches.values()))
    items = []
    for d in drafts.sort("created_at").iter_rows(named=True):
        match = matches.get(d["match_id"], {})
        account_id = match.get("account_id")
        known = evidence.get(d["match_id"], {})
        claims = []
        for claim in _claims(d["claims"]):
            cited = [str(e) for e in claim.get("evidence") or ()]
            claims.append(
                ClaimView(
                    text=str(claim.get("text") or ""),
                    evidence=tuple(known[e] for e in cited if e in known),
                    unknown=tuple(e for e in cited if e not in known),
                )
            )
        person = people.get(d["person_id"] or "")
        items.append(
            DraftItem(
                draft_id=d["draft_id"],
                am_id=d["am_id"],
                match_id=d["match_id"],
                account_id=account_id,
                account=accounts.get(account_id or "", account_id or ""),
                capability=capabilities.get(
                    match.get("capability_id") or "", match.get("capability_id") or ""
                ),
                subject=d["subject"],
                body=d["body"],
                to_address=d["to_address"],
                from_address=d["from_address"],
                contact=person["full_name"] if person else None,
                drafter=d["drafter"],
                status=str(d["status"]),
                created_at=d["created_at"],
                grounded=bool(d["grounded"]),
                personalization=float(d["personalization"] or 0.0),
                claims=tuple(claims),
                violations=tuple(d["violations"] or ()),
                holds=tuple(d["holds"] or ()),
                style_notes=tuple(notes.get(d["am_id"], ())),
                purpose=str(d["purpose"] or "outreach"),
                follows=threads.get(d["follows"] or ""),
                play=made.get(d["draft_id"]),
            )
        )
    return tuple(items)


def _evidence(store: GraphStore, matches: list[dict[str, Any]]) -> dict[str, dict[str, Evidence]]:
    """Each match's evidence by id (``E1`` is its first path), with the records on
    every path read in one batch per label."""
    labels = {m.id: m.nodes for m in load_metapaths()}
    paths: dict[str, list[dict[str, Any]]] = {}
    wanted: dict[str, set[str]] = defaultdict(set)
    for match in matches:
        try:
            found = json.loads(match.get("evidence_paths") or "[]")
        except json.JSONDecodeError:
            found = []
        paths[match["match_id"]] = [p for p in found if isinstance(p, dict)]
        for p in paths[match["match_id"]]:
            for alias, key in (p.get("nodes") or {}).items():
                label = labels.get(p.get("metapath", ""), {}).get(alias)
                if label and label != "Capability":
                    wanted[label].add(str(key))
    records = {label: _rows(store, label, keys) for label, keys in wanted.items()}
    out: dict[str, dict[str, Evidence]] = {}
    for match in matches:
        sentences = list(match.get("evidence") or ())
        by_id: dict[str, Evidence] = {}
        for i, p in enumerate(paths[match["match_id"]], start=1):
            path_labels = labels.get(p.get("metapath", ""), {})
            sources = []
            for alias, key in (p.get("nodes") or {}).items():
                label = path_labels.get(alias)
                record = records.get(label or "", {}).get(str(key))
                if label is None or record is None:
                    continue
                if label == "Account" and key == match["account_id"]:
                    continue
                sources.append(_source(label, str(key), record))
            by_id[f"E{i}"] = Evidence(
                id=f"E{i}",
                sentence=sentences[i - 1] if i <= len(sentences) else "",
                metapath=str(p.get("metapath", "")),
                sources=tuple(sources),
            )
        out[match["match_id"]] = by_id
    return out


def _escalation(e: dict[str, Any], accounts: dict[str, str], play: PlayOf | None) -> EscalationItem:
    raw = e["packet"] or "{}"
    try:
        packet: HandoffPacket | None = HandoffPacket.model_validate_json(raw)
    except ValidationError:
        packet = None
    return EscalationItem(
        escalation_id=e["escalation_id"],
        am_id=e["am_id"],
        account_id=e["account_id"],
        account=accounts.get(e["account_id"]) or str(e["account_id"]),
        kind=e["kind"],
        trigger=e["trigger"],
        excerpt=e["excerpt"],
        question=e["question"],
        status=str(e["status"]),
        opened_at=e["opened_at"],
        blocking=bool(e["blocking"]),
        resolution=e["resolution"],
        packet=packet,
        packet_raw=raw,
        play=play,
    )
