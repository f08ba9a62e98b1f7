"""Drafts plays ask for beyond the first touch: a follow-up email in the thread of an
earlier send, and a suggested comment on a person's social post.

Both go through the same guard as first-touch drafts (``drafting.guard``:
grounding, injection, holds) and are stored as pending Drafts (``rejected`` when
the guard finds a violation), idempotently: the id derives from what the draft is
for, and writing it again returns the stored row unchanged.

- A follow-up (purpose ``follow_up``) goes to the person the earlier send went
  to, from the same AM and address (from the earlier OutboxMessage, never from a
  model), with the subject ``Re: <earlier subject>``. It is short, and adds at
  most one piece of evidence that appeared since the earlier send (a signal dated
  after it); without one it is a brief bump restating what the earlier note
  rested on.
- A comment (purpose ``comment``) has no recipient address: the AM posts it
  themselves. It is short, grounded in the post (the only evidence it may cite,
  ``E1``), and pitches nothing.

Claude writes them when a key is set (``drafting.claude_followups``); when it
fails, the offline composition is used (the draft's ``drafter`` says which).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from drafting.guard import check_draft
from drafting.model import FOREGROUND, Claim, DraftContent, DraftRequest, EvidenceItem
from drafting.offline import NAME as OFFLINE
from drafting.offline import evidence_sentence
from drafting.records import draft_record
from drafting.requests import QUOTE_CHARS, draft_requests
from drafting.style import style_notes
from graph_model.errors import DecisionRejected, ModelError
from graph_model.settings import Settings, load_settings
from graph_model.store import GraphStore

_RE = re.compile(r"^\s*(re\s*:\s*)+", re.IGNORECASE)


@dataclass(frozen=True)
class FollowUpRequest:
    """A follow-up's request: recipient and sender fixed from the earlier send."""

    request: DraftRequest
    follows: str
    earlier_subject: str
    earlier_body: str
    earlier_on: dt.date
    number: int
    # At most one piece of evidence that appeared since the earlier send.
    new_item: EvidenceItem | None = None

    @property
    def subject(self) -> str:
        return "Re: " + _RE.sub("", self.earlier_subject).strip()


@dataclass(frozen=True)
class CommentRequest:
    """A comment's request: the post is the only evidence (``E1``)."""

    request: DraftRequest
    signal_id: str


class FollowUpDrafter(Protocol):
    name: str

    def follow_up(self, request: FollowUpRequest) -> DraftContent: ...

    def comment(self, request: CommentRequest) -> DraftContent: ...


def follow_up_id(match_id: str, follows: str, number: int, play_run_id: str | None = None) -> str:
    """One per (match, earlier message, number), and per play run when a play asks:
    two plays following up one send write two drafts, not one."""
    key = f"follow_up\x1f{match_id}\x1f{follows}\x1f{number}"
    if play_run_id:
        key += f"\x1f{play_run_id}"
    return "dr-" + hashlib.sha1(key.encode()).hexdigest()[:20]


def comment_id(match_id: str, signal_id: str, play_run_id: str | None = None) -> str:
    key = f"comment\x1f{match_id}\x1f{signal_id}" + (f"\x1f{play_run_id}" if play_run_id else "")
    return "dr-" + hashlib.sha1(key.encode()).hexdigest()[:20]


# ---------------------------------------------------------------- offline


def _first(name: str | None) -> str | None:
    return name.split()[0] if name else None


def _am_first(request: DraftRequest) -> str:
    return request.am_name.split()[0] if request.am_name else ""


def _lead_item(request: DraftRequest) -> tuple[EvidenceItem, str] | None:
    """The evidence the earlier note most likely led with, and its sentence."""
    ordered = sorted(request.evidence, key=lambda e: (not e.foreground, int(e.id[1:])))
    for item in ordered:
        text = evidence_sentence(item, request)
        if text:
            return item, text
    return None


class OfflineFollowUps:
    """Follow-ups and comments composed from the graph's names, without a model."""

    name = OFFLINE

    def follow_up(self, request: FollowUpRequest) -> DraftContent:
        r = request.request
        first = _first(r.contact_name)
        hello = f"Hi {first}," if first else "Hello,"
        when = request.earlier_on.isoformat()
        claims: list[Claim] = []
        new = evidence_sentence(request.new_item, r) if request.new_item else None
        if request.new_item and new:
            opening = f"One thing since my note of {when}: {new}"
            claims.append(Claim(text=new, evidence=[request.new_item.id]))
        else:
            lead = _lead_item(r)
            opening = f"Bringing my note of {when} back to the top of your inbox."
            if lead:
                opening += f" {lead[1]}"
                claims.append(Claim(text=lead[1], evidence=[lead[0].id]))
        question = (
            "Should I close the loop on this for now?"
            if request.number >= 2
            else "Would a short call be useful?"
        )
        body = "\n\n".join(p for p in (hello, opening, question, _am_first(r)) if p)
        return DraftContent(subject=request.subject, body=body, claims=claims)

    def comment(self, request: CommentRequest) -> DraftContent:
        r = request.request
        post = r.evidence[0]
        first = _first(post.facts.get("person"))
        need = post.facts.get("need")
        if need:
            said = f"Great point on {need.lower()}" + (f", {first}." if first else ".")
            ask = "Curious what has made the biggest difference for your team so far?"
        else:
            said = "Thanks for sharing this" + (f", {first}." if first else ".")
            ask = "Curious how your team is approaching it?"
        return DraftContent(
            subject=_comment_subject(post),
            body=f"{said} {ask}",
            claims=[Claim(text=said, evidence=[post.id])],
        )


def _comment_subject(post: EvidenceItem) -> str:
    who = post.facts.get("person") or "their"
    return f"Comment on {who}'s post of {post.facts.get('signal_date', '')}".strip()


# ---------------------------------------------------------------- requests


def _match_request(store: GraphStore, match_id: str, am_id: str | None = None) -> DraftRequest:
    match = store.get_nodes("Match", [match_id])
    if match.height == 0:
        store.get_node("Match", match_id, hint="give a Match id")
    assigned = store.edges("ASSIGNED_TO", touching=[match_id], side="source", label="Match")
    ams = [am_id] if am_id else assigned["dst"].to_list()
    (request,) = draft_requests(store, match, style=style_notes(store, ams))
    return request


def follow_up_request(
    store: GraphStore,
    *,
    match_id: str,
    follows: str,
    number: int = 1,
    now: dt.datetime | None = None,
) -> FollowUpRequest:
    """The follow-up's request: the earlier send's person, AM and addresses, and at
    most one piece of evidence dated after that send (and not after ``now``: a play
    in a simulation runs in the past)."""
    earlier = store.get_node("OutboxMessage", follows, hint="give the earlier send's message id")
    if earlier["match_id"] != match_id:
        raise DecisionRejected(
            f"{follows} was sent for match {earlier['match_id']}, not {match_id}",
            hint="follow up the send of this match",
        )
    if earlier["status"] != "sent":
        raise DecisionRejected(
            f"{follows} is {earlier['status']}, not sent: there is nothing to follow up",
            hint="follow up a message that went out",
        )
    if number < 1:
        raise DecisionRejected(f"follow-up number {number} must be 1 or more")
    base = _match_request(store, match_id, earlier["am_id"])
    am = store.get_node("AccountManager", earlier["am_id"])
    person: dict[str, Any] = {}
    if earlier.get("person_id"):
        found = store.get_nodes("Person", [earlier["person_id"]])
        person = found.row(0, named=True) if found.height else {}
    request = dataclasses.replace(
        base,
        am_id=earlier["am_id"],
        am_name=str(am["full_name"]),
        # The thread's addresses, never a model's.
        from_address=earlier["from_address"],
        to_address=earlier["to_address"],
        person_id=earlier.get("person_id"),
        contact_name=person.get("full_name"),
        contact_title=person.get("title"),
    )
    sent_at = earlier.get("sent_at") or earlier["created_at"]
    said = earlier["body"].lower()
    latest = (now or dt.datetime.now(dt.UTC)).date().isoformat()
    new = [
        e
        for e in request.evidence
        if sent_at.date().isoformat() < e.facts.get("signal_date", "") <= latest
        and (evidence_sentence(e, request) or e.sentence).lower() not in said
    ]
    new.sort(key=lambda e: (e.metapath not in FOREGROUND, int(e.id[1:])))
    return FollowUpRequest(
        request=request,
        follows=follows,
        earlier_subject=str(earlier["subject"]),
        earlier_body=str(earlier["body"]),
        earlier_on=sent_at.date(),
        number=number,
        new_item=new[0] if new else None,
    )


def comment_request(store: GraphStore, *, match_id: str, signal_id: str) -> CommentRequest:
    """The comment's request: the post (its author, date, the needs it indicates and
    its words as an untrusted quote) as the only evidence."""
    base = _match_request(store, match_id)
    signal = store.get_node("Signal", signal_id, hint="give the post's Signal id")
    emitted = store.edges("EMITTED", touching=[signal_id], side="target", label="Signal")
    authors = emitted.filter(emitted["src_label"] == "Person")["src"].to_list()
    if not authors:
        raise DecisionRejected(
            f"signal {signal_id} was not posted by a person: there is nobody to comment to",
            hint="comment on a person's post",
        )
    person = store.get_node("Person", authors[0])
    indicates = store.edges("INDICATES", touching=[signal_id], side="source", label="Signal")
    addressed = store.edges("ADDRESSES", touching=[base.capability_id], side="source")
    ours = set(addressed["dst"].to_list())
    need_ids = sorted(set(indicates["dst"].to_list()), key=lambda n: (n not in ours, n))
    need_names = store.names("Need", need_ids)
    facts = {
        "person": str(person["full_name"]),
        "signal_kind": str(signal["kind"]).replace("_", " "),
        "signal_date": signal["occurred_at"].date().isoformat(),
    }
    need = next((need_names[n] for n in need_ids if n in need_names), None)
    if need:
        facts["need"] = need
    text = " ".join(t for t in (signal.get("title"), signal.get("text")) if t)
    post = EvidenceItem(
        id="E1",
        metapath="buyer_priority",
        sentence=f"{person['full_name']} posted on {facts['signal_date']}"
        + (f" about {need}" if need else ""),
        facts=facts,
        quote=text[:QUOTE_CHARS] or None,
        url=signal.get("url"),
    )
    request = dataclasses.replace(
        base,
        evidence=(post,),
        person_id=person["person_id"],
        contact_name=str(person["full_name"]),
        contact_title=person.get("title"),
        # The AM posts it themselves: no address on either end.
        to_address=None,
        from_address="",
    )
    return CommentRequest(request=request, signal_id=signal_id)


# ---------------------------------------------------------------- write and store


def _drafter(settings: Settings) -> FollowUpDrafter | None:
    if not settings.anthropic_api_key:
        return None
    from drafting.claude_followups import ClaudeFollowUps

    return ClaudeFollowUps(settings)


def _written(
    settings: Settings | None,
    write: Callable[[FollowUpDrafter], DraftContent],
    offline: DraftContent,
) -> tuple[DraftContent, str]:
    """Claude's draft when a key is set and it answers, else the offline one."""
    drafter = _drafter(settings or load_settings())
    if drafter is not None:
        try:
            return write(drafter), drafter.name
        except ModelError:
            pass
    return offline, OFFLINE


def _store_draft(
    store: GraphStore,
    request: DraftRequest,
    content: DraftContent,
    *,
    draft_id: str,
    drafter: str,
    now: dt.datetime,
    purpose: str,
    follows: str | None,
    play_run_id: str | None,
    link_domains: Sequence[str],
) -> dict[str, Any]:
    check = check_draft(request, content, link_domains=link_domains)
    record = draft_record(request, content, check, drafter=drafter, now=now)
    record.update(
        draft_id=draft_id,
        purpose=purpose,
        follows=follows,
        play_run_id=play_run_id,
        from_address=request.from_address or None,
    )
    with store.batch() as write:
        write.upsert_nodes("Draft", [record])
        write.upsert_edges("DRAFTED_FOR", [{"src": draft_id, "dst": request.match_id}])
    return store.get_node("Draft", draft_id)


def follow_up_draft(
    store: GraphStore,
    *,
    match_id: str,
    follows: str,
    now: dt.datetime,
    play_run_id: str | None = None,
    number: int = 1,
    settings: Settings | None = None,
    link_domains: Sequence[str] = (),
) -> dict[str, Any]:
    """Write, check and store follow-up ``number`` to the send ``follows`` (an
    OutboxMessage id) of a match; returns the Draft row (the stored one when it
    exists already). ``link_domains``: links the guard allows (the send config's)."""
    did = follow_up_id(match_id, follows, number, play_run_id)
    existing = store.get_nodes("Draft", [did])
    if existing.height:
        return existing.row(0, named=True)
    request = follow_up_request(store, match_id=match_id, follows=follows, number=number, now=now)
    content, name = _written(
        settings, lambda d: d.follow_up(request), OfflineFollowUps().follow_up(request)
    )
    # The thread's subject is code's, whatever the model wrote.
    content = content.model_copy(update={"subject": request.subject})
    return _store_draft(
        store,
        request.request,
        content,
        draft_id=did,
        drafter=name,
        now=now,
        purpose="follow_up",
        follows=follows,
        play_run_id=play_run_id,
        link_domains=link_domains,
    )


def comment_draft(
    store: GraphStore,
    *,
    match_id: str,
    signal_id: str,
    now: dt.datetime,
    play_run_id: str | None = None,
    settings: Settings | None = None,
    link_domains: Sequence[str] = (),
) -> dict[str, Any]:
    """Write, check and store a suggested comment on the person's post ``signal_id``
    for a match's AM to post themselves; returns the Draft row (the stored one when
    it exists already)."""
    did = comment_id(match_id, signal_id, play_run_id)
    existing = store.get_nodes("Draft", [did])
    if existing.height:
        return existing.row(0, named=True)
    request = comment_request(store, match_id=match_id, signal_id=signal_id)
    content, name = _written(
        settings, lambda d: d.comment(request), OfflineFollowUps().comment(request)
    )
    content = content.model_copy(update={"subject": _comment_subject(request.request.evidence[0])})
    return _store_draft(
        store,
        request.request,
        content,
        draft_id=did,
        drafter=name,
        now=now,
        purpose="comment",
        follows=None,
        play_run_id=play_run_id,
        link_domains=link_domains,
    )
