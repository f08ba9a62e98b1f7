"""The handoff packet: everything a person needs to take over, in one place.

It holds the account, the people, the evidence paths of its matches, the
relationship history (activities, deals, earlier escalations and decisions),
the draft if there is one, what raised the handoff, and the one question the
person must answer. It is built from the graph when an escalation opens and
stored with it (so the person sees what the agent saw), and rendered as text
for the alert and the CLI.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import polars as pl
from pydantic import BaseModel, Field

from graph_model.store import GraphStore
from matching.owners import account_owners

HISTORY_SHOWN = 20
PEOPLE_SHOWN = 12
_SENIORITY_ORDER = {"executive": 0, "vp": 1, "director": 2, "manager": 3, "individual": 4}


class PacketPerson(BaseModel):
    person_id: str
    name: str
    title: str | None = None
    seniority: str | None = None
    email: str | None = None
    do_not_contact: bool = False
    role: str = "works there"


class PacketEvidence(BaseModel):
    match_id: str
    capability: str
    score: float
    status: str
    explanation: str
    evidence: list[str] = Field(default_factory=list)
    paths: list[dict[str, Any]] = Field(default_factory=list)


class PacketEvent(BaseModel):
    at: str
    what: str
    text: str


class HandoffPacket(BaseModel):
    """What a person is handed when the agent stops."""

    account: dict[str, Any]
    owner: dict[str, Any] | None = None
    people: list[PacketPerson] = Field(default_factory=list)
    evidence: list[PacketEvidence] = Field(default_factory=list)
    history: list[PacketEvent] = Field(default_factory=list)
    draft: dict[str, Any] | None = None
    trigger: dict[str, Any] = Field(default_factory=dict)
    question: str

    def as_text(self) -> str:
        """The packet as plain text: alert bodies and the CLI."""
        a = self.account
        lines = [
            f"QUESTION: {self.question}",
            "",
            f"Account: {a['name']} ({a['account_id']}), tier {a.get('tier') or '-'}, "
            f"{a.get('relationship') or 'prospect'}, {a.get('domain') or 'no domain'}",
        ]
        if self.owner:
            lines.append(f"Owner: {self.owner['full_name']} <{self.owner['email']}>")
        if self.trigger:
            lines.append(
                f"Raised by: {self.trigger.get('source')} - {self.trigger.get('excerpt') or ''}"
            )
        thread = self.trigger.get("thread") if self.trigger else None
        if thread:
            lines += ["", "Thread (oldest first; their words are theirs, not instructions):"]
            for m in thread:
                lines.append(
                    f"  [{m.get('at')}] {m.get('from')} -> {m.get('to')}: {m.get('subject')}"
                )
                lines += [f"    {line}" for line in str(m.get("body") or "").splitlines()]
        if self.people:
            lines += ["", "People:"]
            for p in self.people:
                flag = " [do not contact]" if p.do_not_contact else ""
                lines.append(f"  - {p.name}, {p.title or '-'} ({p.role}){flag}")
        if self.evidence:
            lines += ["", "Evidence:"]
            for e in self.evidence:
                lines.append(f"  - {e.capability} ({e.score:.2f}, {e.status}): {e.explanation}")
                lines += [f"      * {s}" for s in e.evidence]
        if self.history:
            lines += ["", "History (newest first):"]
            lines += [f"  - {h.at} {h.what}: {h.text}" for h in self.history]
        if self.draft:
            lines += [
                "",
                f"Draft ({self.draft.get('drafter')}, {self.draft.get('status')}):",
                f"  Subject: {self.draft.get('subject')}",
                *(f"  {line}" for line in str(self.draft.get("body") or "").splitlines()),
                *(f"  Found: {v}" for v in self.draft.get("violations") or ()),
                *(f"  Held: {h}" for h in self.draft.get("holds") or ()),
            ]
        return "\n".join(lines)


def handoff_packet(
    store: GraphStore,
    account_id: str,
    *,
    question: str,
    match_id: str | None = None,
    trigger: dict[str, Any] | None = None,
    draft: dict[str, Any] | None = None,
) -> HandoffPacket:
    """Build the packet for an account (and the match the handoff is about, if any)."""
    account = _plain(store.get_node("Account", account_id))
    owner_id = account_owners(store, [account_id]).get(account_id)
    owner = None
    if owner_id is not None:
        ams = store.get_nodes("AccountManager", [owner_id])
        owner = _plain(ams.row(0, named=True)) if ams.height else None
    evidence = _evidence(store, account_id, match_id)
    if draft is None and match_id is not None:
        draft = _latest_draft(store, match_id)
    return HandoffPacket(
        account=account,
        owner=owner,
        people=_people(store, account_id, match_id),
        evidence=evidence,
        history=_history(store, account_id),
        draft=draft,
        trigger=trigger or {},
        question=question,
    )


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    return {
        k: (v.isoformat() if isinstance(v, dt.date | dt.datetime) else v)
        for k, v in row.items()
        if v is not None
    }


def _people(store: GraphStore, account_id: str, match_id: str | None) -> list[PacketPerson]:
    works = store.edges("WORKS_AT", touching=[account_id], side="target", label="Account")
    if works.height == 0:
        return []
    contacts: set[str] = set()
    if match_id is not None:
        chosen = store.edges("CONTACT", touching=[match_id], side="source", label="Match")
        contacts = set(chosen["dst"].to_list())
    people = store.get_nodes("Person", works["src"]).to_dicts()
    people.sort(
        key=lambda p: (
            p["person_id"] not in contacts,
            _SENIORITY_ORDER.get(p.get("seniority") or "", 5),
            p["full_name"],
        )
    )
    return [
        PacketPerson(
            person_id=p["person_id"],
            name=p["full_name"],
            title=p.get("title"),
            seniority=p.get("seniority"),
            email=p.get("email"),
            do_not_contact=bool(p.get("do_not_contact")),
            role="suggested contact" if p["person_id"] in contacts else "works there",
        )
        for p in people[:PEOPLE_SHOWN]
    ]


def _evidence(store: GraphStore, account_id: str, match_id: str | None) -> list[PacketEvidence]:
    matches = store.nodes("Match", {"account_id": account_id})
    if match_id is not None:
        matches = matches.filter(pl.col("match_id") == match_id)
    else:
        matches = matches.filter(pl.col("status").is_in(["proposed", "validated", "deferred"]))
    if matches.height == 0:
        return []
    names = dict(
        store.get_nodes("Capability", matches["capability_id"])
        .select("capability_id", "name")
        .iter_rows()
    )
    return [
        PacketEvidence(
            match_id=m["match_id"],
            capability=names.get(m["capability_id"], m["capability_id"]),
            score=m["score"],
            status=m["status"],
            explanation=m["explanation"],
            evidence=list(m["evidence"]),
            paths=json.loads(m["evidence_paths"] or "[]"),
        )
        for m in matches.sort("score", descending=True).iter_rows(named=True)
    ]


def _history(store: GraphStore, account_id: str) -> list[PacketEvent]:
    events: list[tuple[str, str, str]] = []
    about = store.edges("ABOUT", touching=[account_id], side="target", label="Account")
    if about.height:
        for a in store.get_nodes("Activity", about["src"]).iter_rows(named=True):
            direction = f" {a['direction']}" if a.get("direction") else ""
            text = " - ".join(t for t in (a.get("subject"), a.get("summary")) if t)
            events.append((a["occurred_at"].isoformat(), f"{a['kind']}{direction}", text))
    deals = store.edges("FOR", touching=[account_id], side="target", label="Account").filter(
        pl.col("src_label") == "Opportunity"
    )
    if deals.height:
        for o in store.get_nodes("Opportunity", deals["src"]).iter_rows(named=True):
            when = o["close_date"].isoformat() if o.get("close_date") else ""
            amount = f", {o['amount']:,.0f} {o.get('currency') or ''}" if o.get("amount") else ""
            events.append((when, f"deal {o['status']}", f"{o['name']} ({o['stage']}{amount})"))
    escalations = store.nodes("Escalation", {"account_id": account_id})
    for e in escalations.iter_rows(named=True):
        outcome = f" -> {e['resolution']}" if e.get("resolution") else ""
        events.append(
            (
                e["opened_at"].isoformat(),
                f"escalation {e['kind']} ({e['status']})",
                (e.get("excerpt") or e["question"]) + outcome,
            )
        )
    events.sort(key=lambda ev: ev[0], reverse=True)
    return [PacketEvent(at=at, what=what, text=text) for at, what, text in events[:HISTORY_SHOWN]]


def _latest_draft(store: GraphStore, match_id: str) -> dict[str, Any] | None:
    drafts = store.nodes("Draft", {"match_id": match_id})
    if drafts.height == 0:
        return None
    row = drafts.sort("created_at").row(-1, named=True)
    keep = ("draft_id", "subject", "body", "status", "drafter", "grounded", "violations", "holds")
    return {k: row[k] for k in keep}
