"""Inbound replies: threaded to our sends by Message-ID, classified, acted on.

An inbound email activity (read from the mailbox by ``ingest.mailbox``, or from
a CRM export with its message ids) is a reply when one of its In-Reply-To or
References ids is the Message-ID one of our OutboxMessages was sent with
(``<outbox key@sender's domain>``, ``routing.channels``). ``thread_replies``
turns each such activity into one ``Reply`` (keyed by its Message-ID: one per
message, ever, however many copies were read), ``ANSWERS`` the outbox message,
and classifies it: by the rules in ``routing/replies.yaml`` offline, or by a
``ReplyClassifier`` (Claude, ``routing.claude_replies``) that falls back to the
rules, with the reason recorded, when the model fails. A rules ``unsubscribe``
always wins: words that ask us to stop are obeyed whatever a model says.

What follows, in the same commit as the Reply (recorded in ``Reply.actions``):

- ``unsubscribe``: the sender's address and the address we wrote to are
  suppressed and the person is marked do-not-contact, at once (the relay
  suppresses anything still pending to them);
- ``interested``: a blocking Escalation (kind ``reply``) for the account's AM,
  TRIGGERED_BY the Reply, whose packet holds the thread (our message and the
  reply) and the match's evidence (``routing.handoff``);
- ``out_of_office``: handled at once; an out-of-office is not an answer, so it does
  not stop follow-ups (``replied_since`` leaves it out);
- the rest stay open until the AM marks them handled
  (``app.human_loop.handle_reply``).

The reply's text is untrusted: it is stored and shown as text, and a model sees
it only as escaped, quoted data.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import polars as pl

from graph_model.changes import journal
from graph_model.errors import ModelError
from graph_model.store import Filter, GraphStore, WriteBatch
from matching.owners import account_owners
from routing.channels import message_id_header
from routing.handoff import handoff_packet
from routing.reply_rules import (
    ReplyClassifier,
    ReplyRules,
    ReplyText,
    RulesClassifier,
    Verdict,
    classify_by_rules,
    load_reply_rules,
)

# The rules and the classifier interface are ``routing.reply_rules``; part of this API.
__all__ = [
    "REPLY_STATUSES",
    "ReplyClassifier",
    "ReplyReport",
    "ReplyRules",
    "ReplyText",
    "RulesClassifier",
    "Verdict",
    "classify_by_rules",
    "has_replied",
    "list_replies",
    "load_reply_rules",
    "packet_thread",
    "replies_since",
    "reply_summary",
    "thread_messages",
    "thread_replies",
]

EXCERPT_CHARS = 200


# ------------------------------------------------------------------ threading


def reply_key(message_id: str) -> str:
    """The Reply key of a message: one Reply per Message-ID, ever."""
    return "r-" + hashlib.sha1(message_id.encode()).hexdigest()[:20]


def _bare(message_id: str) -> str:
    return message_id.strip().strip("<>").strip()


def _outbox_key(message_id: str) -> str:
    return _bare(message_id).rsplit("@", 1)[0]


def _is_ours(message_id: str, outbox: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """The outbox message ``message_id`` is the Message-ID of (its key at its sender's
    domain), or None."""
    sent = outbox.get(_outbox_key(message_id))
    if sent is None:
        return None
    header = message_id_header(sent["message_id"], sent["from_address"])
    return sent if header.lower() == f"<{_bare(message_id)}>".lower() else None


_ACTIVITY_FIELDS = (
    "kind",
    "occurred_at",
    "direction",
    "subject",
    "summary",
    "message_id",
    "in_reply_to",
    "from_address",
)


def reply_candidates(store: GraphStore) -> list[dict[str, Any]]:
    """Inbound email activities that answer one of our sends and are no Reply yet,
    each with ``thread`` (the OutboxMessage) and ``reply_id``; one per Message-ID."""
    # A narrow scan first (a CRM holds many emails, few of them answers), then the
    # texts of the candidates only.
    scan = store.nodes(
        "Activity",
        [Filter("kind", "eq", "email")],
        fields=("direction", "in_reply_to", "message_id"),
    )
    if not scan.height:
        return []
    scan = scan.filter(
        (pl.col("direction").is_null() | (pl.col("direction") == "inbound"))
        & (pl.col("in_reply_to").list.len() > 0)
    )
    if not scan.height:
        return []
    rows = scan.sort("activity_id").to_dicts()
    for row in rows:
        row["message_id"] = _bare(row["message_id"]) if row.get("message_id") else None
        row["reply_id"] = reply_key(row["message_id"] or f"activity:{row['activity_id']}")
    known = store.existing_keys("Reply", [r["reply_id"] for r in rows])
    rows = [r for r in rows if r["reply_id"] not in known]
    ids = {i for r in rows for i in [*r["in_reply_to"], r["message_id"] or ""] if i}
    keys = sorted({_outbox_key(i) for i in ids})
    outbox = (
        {m["message_id"]: m for m in store.get_nodes("OutboxMessage", keys).iter_rows(named=True)}
        if keys
        else {}
    )
    found: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row["reply_id"] in found:
            continue  # another copy of the same message (mailbox and CRM)
        if row["message_id"] and _is_ours(row["message_id"], outbox):
            continue  # our own send, logged back
        thread = next((t for i in row["in_reply_to"] if (t := _is_ours(i, outbox))), None)
        if thread is not None:
            found[row["reply_id"]] = {**row, "thread": thread}
    if not found:
        return []
    texts = store.get_nodes(
        "Activity", [r["activity_id"] for r in found.values()], fields=_ACTIVITY_FIELDS
    )
    by_id = {t["activity_id"]: t for t in texts.iter_rows(named=True)}
    return [{**by_id[r["activity_id"]], **r} for r in found.values()]


# ------------------------------------------------------------------ the run


@dataclass
class ReplyReport:
    read: int = 0  # candidate activities found
    threaded: int = 0  # new Replies
    by_class: dict[str, int] = field(default_factory=dict)
    suppressed: list[str] = field(default_factory=list)
    escalated: list[str] = field(default_factory=list)
    fallbacks: list[str] = field(default_factory=list)
    replies: list[dict[str, Any]] = field(default_factory=list)
    classifier: str = "rules"
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def thread_replies(
    store: GraphStore,
    *,
    now: dt.datetime,
    classifier: ReplyClassifier | None = None,
    rules: ReplyRules | None = None,
    origin: str | None = None,
    dry_run: bool = False,
) -> ReplyReport:
    """Thread, classify and act on every inbound email activity that answers one of
    our sends and is no Reply yet; each Reply and its actions are one commit.
    ``origin`` is the mailbox the ``mail-`` activities were read from
    (``imap:<host>/<box>``)."""
    rules = rules or load_reply_rules()
    fallback = RulesClassifier(rules)
    classifier = classifier or fallback
    report = ReplyReport(classifier=classifier.name, dry_run=dry_run)
    candidates = reply_candidates(store)
    report.read = len(candidates)
    for row in candidates:
        text = ReplyText(
            subject=row.get("subject") or "",
            body=row.get("summary") or "",
            from_address=row.get("from_address"),
            answers_subject=row["thread"]["subject"],
        )
        verdict = _classify(classifier, fallback, text, report)
        reply = _reply_record(row, verdict, now=now, origin=origin)
        report.by_class[verdict.classification] = report.by_class.get(verdict.classification, 0) + 1
        if dry_run:
            report.replies.append({k: v for k, v in reply.items() if k != "body"})
            continue
        _commit(store, reply, row, now=now, report=report)
        report.replies.append({k: v for k, v in reply.items() if k != "body"})
        report.threaded += 1
    report.by_class = dict(sorted(report.by_class.items()))
    return report


def _classify(
    classifier: ReplyClassifier, fallback: RulesClassifier, text: ReplyText, report: ReplyReport
) -> Verdict:
    by_rules = fallback.classify(text)
    if classifier is fallback:
        return by_rules
    try:
        verdict = classifier.classify(text)
    except ModelError as exc:
        reason = f"{classifier.name} failed ({type(exc).__name__}: {exc}); by the rules"
        report.fallbacks.append(reason)
        return Verdict(
            by_rules.classification,
            by_rules.confidence,
            f"{reason}: {by_rules.rationale}",
            "rules",
        )
    if by_rules.classification == "unsubscribe" and verdict.classification != "unsubscribe":
        # Words asking us to stop are obeyed, whatever the model read into them.
        return Verdict(
            "unsubscribe",
            by_rules.confidence,
            f"{by_rules.rationale} (overrides {classifier.name}: {verdict.classification})",
            "rules",
        )
    return verdict


def _reply_record(
    row: dict[str, Any], verdict: Verdict, *, now: dt.datetime, origin: str | None
) -> dict[str, Any]:
    thread = row["thread"]
    source = (origin or "imap") if row["activity_id"].startswith("mail-") else "crm"
    status = "handled" if verdict.classification == "out_of_office" else "open"
    return {
        "reply_id": row["reply_id"],
        "message_id": row["message_id"] or f"activity:{row['activity_id']}",
        "thread_id": thread["message_id"],
        "account_id": thread["account_id"],
        "am_id": thread["am_id"],
        "match_id": thread.get("match_id"),
        "person_id": thread.get("person_id"),
        "activity_id": row["activity_id"],
        "from_address": (row.get("from_address") or "").lower() or None,
        "subject": row.get("subject"),
        "body": row.get("summary") or "",
        "received_at": row["occurred_at"],
        "source": source,
        "classification": verdict.classification,
        "classifier": verdict.classifier,
        "confidence": verdict.confidence,
        "rationale": verdict.rationale[:500],
        "actions": [],
        "status": status,
        "handled_at": now if status == "handled" else None,
        "handled_by": "agent:replies" if status == "handled" else None,
    }


def _commit(
    store: GraphStore,
    reply: dict[str, Any],
    row: dict[str, Any],
    *,
    now: dt.datetime,
    report: ReplyReport,
) -> None:
    kind = reply["classification"]
    escalation: dict[str, Any] | None = None
    people: list[dict[str, Any]] = []
    addresses: list[str] = []
    if kind == "unsubscribe":
        people, addresses = _to_suppress(store, reply, row)
        reply["actions"] += [f"suppressed {a}" for a in addresses]
        reply["actions"] += [f"do_not_contact {p['person_id']}" for p in people]
        report.suppressed += addresses
    elif kind == "interested":
        escalation = _escalation(store, reply, row["thread"], now=now)
        reply["actions"].append(f"escalated {escalation['escalation_id']} to {escalation['am_id']}")
        report.escalated.append(escalation["escalation_id"])
    elif kind == "out_of_office":
        reply["actions"].append("handled: out of office, follow-ups go on")
    with store.batch() as write:
        write.upsert_nodes("Reply", [reply])
        write.upsert_edges("ANSWERS", [{"src": reply["reply_id"], "dst": reply["thread_id"]}])
        if people or addresses:
            _suppress(write, people, addresses, reply, now=now)
        if escalation is not None:
            _open(write, escalation, reply)


def _to_suppress(
    store: GraphStore, reply: dict[str, Any], row: dict[str, Any]
) -> tuple[list[dict[str, Any]], list[str]]:
    """Who an unsubscribe stops: the person we wrote to and the sender (when we know
    them as a Person), and both addresses."""
    ids = {reply["person_id"]} if reply["person_id"] else set()
    involved = store.edges("INVOLVED", touching=[row["activity_id"]], side="source")
    ids |= set(involved.filter(pl.col("dst_label") == "Person")["dst"].to_list())
    people = store.get_nodes("Person", sorted(ids)).to_dicts() if ids else []
    addresses = {str(row["thread"]["to_address"]).lower()}
    if reply["from_address"]:
        addresses.add(reply["from_address"])
    return people, sorted(addresses)


def _suppress(
    write: WriteBatch,
    people: list[dict[str, Any]],
    addresses: list[str],
    reply: dict[str, Any],
    *,
    now: dt.datetime,
) -> None:
    if people:
        write.upsert_nodes("Person", [{**p, "do_not_contact": True} for p in people])
        # Who may be contacted changed: incremental matching chooses again.
        journal(write, "replies", {"nodes": {"Person": [p["person_id"] for p in people]}}, now=now)
    write.upsert_nodes(
        "Suppression",
        [
            {
                "address": a,
                "reason": "unsubscribe reply",
                "source": f"reply:{reply['reply_id']}",
                "added_at": now,
            }
            for a in addresses
        ],
    )


def _escalation(
    store: GraphStore, reply: dict[str, Any], thread: dict[str, Any], *, now: dt.datetime
) -> dict[str, Any]:
    account_id = reply["account_id"]
    account = store.get_node("Account", account_id)
    owner = account_owners(store, [account_id]).get(account_id) or reply["am_id"]
    who = reply["from_address"] or "The contact"
    question = (
        f"{who} at {account['name']} replied with interest to {thread['subject']!r}: "
        "answer them yourself, and say what happens next."
    )
    excerpt = _excerpt(reply["body"])
    trigger = {
        "source": f"reply:{reply['reply_id']}",
        "kind": "reply",
        "excerpt": excerpt,
        "occurred_at": reply["received_at"].isoformat(),
        "classification": reply["classification"],
        "classifier": reply["classifier"],
        "rationale": reply["rationale"],
        "thread": thread_messages(thread, reply),
    }
    packet = handoff_packet(
        store, account_id, question=question, match_id=reply["match_id"], trigger=trigger
    )
    escalation_id = "e-" + hashlib.sha1(f"reply\x1f{reply['reply_id']}".encode()).hexdigest()[:20]
    return {
        "escalation_id": escalation_id,
        "account_id": account_id,
        "am_id": owner,
        "match_id": reply["match_id"],
        "kind": "reply",
        "status": "open",
        "blocking": True,
        "trigger": f"reply:{reply['reply_id']}",
        "excerpt": excerpt,
        "question": question,
        "opened_at": now,
        "packet": packet.model_dump_json(),
    }


def thread_messages(thread: dict[str, Any], reply: dict[str, Any]) -> list[dict[str, Any]]:
    """The thread as the AM reads it: our message, then the reply (texts untrusted)."""
    sent_at = thread.get("sent_at") or thread.get("created_at")
    return [
        {
            "direction": "outbound",
            "message_id": message_id_header(thread["message_id"], thread["from_address"]),
            "from": thread["from_address"],
            "to": thread["to_address"],
            "subject": thread["subject"],
            "body": thread["body"],
            "at": sent_at.isoformat() if isinstance(sent_at, dt.datetime) else sent_at,
        },
        {
            "direction": "inbound",
            "message_id": f"<{reply['message_id']}>",
            "from": reply["from_address"],
            "to": thread["from_address"],
            "subject": reply["subject"],
            "body": reply["body"],
            "at": reply["received_at"].isoformat(),
        },
    ]


def _open(write: WriteBatch, escalation: dict[str, Any], reply: dict[str, Any]) -> None:
    write.upsert_nodes("Escalation", [escalation])
    write.upsert_edges(
        "ESCALATES", [{"src": escalation["escalation_id"], "dst": escalation["account_id"]}]
    )
    write.upsert_edges(
        "TRIGGERED_BY",
        [
            {
                "src_label": "Escalation",
                "src": escalation["escalation_id"],
                "dst_label": "Reply",
                "dst": reply["reply_id"],
            }
        ],
    )
    if escalation["am_id"]:
        write.upsert_edges(
            "ASSIGNED_TO",
            [
                {
                    "src_label": "Escalation",
                    "src": escalation["escalation_id"],
                    "dst": escalation["am_id"],
                }
            ],
        )


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= EXCERPT_CHARS else flat[: EXCERPT_CHARS - 3] + "..."


# ------------------------------------------------------------------ reading


REPLY_STATUSES = ("open", "handled", "all")


def list_replies(store: GraphStore, *, am: str | None = None, status: str = "open") -> pl.DataFrame:
    """Replies (of one AM's threads), newest first; ``status`` open, handled or all."""
    where: list[Filter] = []
    if status != "all":
        where.append(Filter("status", "eq", status))
    if am is not None:
        where.append(Filter("am_id", "eq", am))
    return store.nodes("Reply", where).sort(["received_at", "reply_id"], descending=True)


def replies_since(
    store: GraphStore,
    since: dt.datetime,
    *,
    account_ids: Iterable[str] | None = None,
    include_out_of_office: bool = False,
) -> pl.DataFrame:
    """Replies received at or after ``since`` (of these accounts): what stops a
    follow-up. An out-of-office is not an answer and is left out unless asked for.
    Columns include account_id, match_id, person_id, thread_id, classification."""
    where = [Filter("received_at", "gte", since)]
    if account_ids is not None:
        where.append(Filter("account_id", "in", sorted(set(account_ids))))
    found = store.nodes("Reply", where)
    if not include_out_of_office and found.height:
        found = found.filter(pl.col("classification") != "out_of_office")
    return found


def has_replied(
    store: GraphStore,
    since: dt.datetime,
    *,
    account_id: str | None = None,
    match_id: str | None = None,
    person_id: str | None = None,
) -> bool:
    """Whether anyone answered one of our sends since ``since`` (out-of-office aside):
    on the account, on the match, to the person, or all that are given."""
    found = replies_since(store, since, account_ids=[account_id] if account_id else None)
    if match_id is not None:
        found = found.filter(pl.col("match_id") == match_id)
    if person_id is not None:
        found = found.filter(pl.col("person_id") == person_id)
    return found.height > 0


def reply_summary(rows: pl.DataFrame) -> dict[str, Any]:
    """Counts of replies by class and status (for the CLI)."""
    if not rows.height:
        return {"replies": 0, "by_class": {}, "by_status": {}}
    by_class = dict(rows.group_by("classification").len().sort("classification").iter_rows())
    by_status = dict(rows.group_by("status").len().sort("status").iter_rows())
    return {"replies": rows.height, "by_class": by_class, "by_status": by_status}


def packet_thread(escalation: dict[str, Any]) -> list[dict[str, Any]]:
    """The thread stored in a reply escalation's packet."""
    return list(json.loads(escalation["packet"]).get("trigger", {}).get("thread", []))
