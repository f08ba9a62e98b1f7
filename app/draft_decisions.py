"""Draft decisions: an AM approves, edits or cancels a pending draft.

``approve_draft``, ``edit_draft`` and ``cancel_draft`` each are one commit that
holds the Decision (linked to the draft and, for a first-touch draft, its match,
with the match's features for learning: approve and edit count as positive,
cancel as negative), the draft's new status, the match's new status and, for
approve and edit, the OutboxMessage. The commit is guarded by a compare-and-set
on the draft's status, so a second decision (by anyone, at any time) is a
conflict error naming who decided first, never a second message. An edit runs
the drafting guard on what it sends: what the guard stops goes out only with
``confirm=True``, and the Decision keeps what was confirmed. The owner's own
edits feed their style notes.

A play's drafts are about that message only: cancelling a follow-up or a
suggested comment leaves the match as it was and teaches learning nothing, and
approving a comment gives the AM a ``post_comment`` task (twoloop never posts).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from app.actors import Actor, act_on, identify
from app.decisions import acted, check_reason_code, decision_key, last_decision, write_decision
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
from graph_model.store import GraphStore, NotFound
from routing.channels.task import add_task
from routing.outbox import release_draft
from routing.sending import SendingConfig

OPEN_MATCH = ("proposed", "deferred")


class StyleWriter(Protocol):
    """Turns an edit into style notes (``drafting.claude.ClaudeStyleNotes``)."""

    rule: str

    def notes(self, original: str, edited: str) -> list[str]: ...


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
    decision_id = decision_key(draft_id, kind)
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
        write_decision(
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
        **acted(acting, now),
    }


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
