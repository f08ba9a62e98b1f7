"""Drafts and escalations: what waits on a book, item by item, with its actions.

Six tabs: drafts waiting for approval (approve, edit and send, cancel with a
reason; a play's follow-up or suggested comment says what it is and why the play
fired), open escalations (the handoff packet, the question, resolve with an
answer), open tasks (done, with a note), unconfirmed sends (sent, not sent,
cancel), open replies (``items_plays``: handled, with a note) and play runs that
wait (``items_plays``: mark read, cancel with a reason). ``?item=<id>`` opens one
item. Reads are ``app.items``; every action is ``app.human_loop`` (or
``app.play_decisions``) with the signed-in actor, which checks it again. Graph
text is shown only as text (``app.console.text``).
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from app import items
from app.console.screens.items_layout import (
    FLASH,
    ITEM_PARAM,
    act,
    closed,
    each,
    error,
    item_link,
    table,
    when,
)
from app.console.screens.items_plays import play_card, reply_card
from app.console.session import Console
from app.console.text import clean, field, flash, show
from app.decisions import REASON_CODES
from app.human_loop import (
    SendOutcome,
    approve_draft,
    cancel_draft,
    edit_draft,
    resolve_item,
    settle_send,
)
from app.queue import PlayOf, books
from drafting.style import configured_style_writer
from graph_model.errors import GuardedEdit, TwoloopError
from routing.handoff import HandoffPacket
from routing.sending import configured_sending

TITLE = "Drafts and escalations"
TABS = ("Drafts", "Escalations", "Tasks", "Unconfirmed sends", "Replies", "Plays")
BOOK = "items_book"


def render(console: Console) -> None:
    st.title(TITLE)
    flash(FLASH)
    wanted = st.query_params.get(ITEM_PARAM)
    try:
        if wanted:
            book = console.read(items.find_item, console.actor, wanted)
        else:
            whose = _whose(console)
            if whose is None:
                return
            book = console.read(items.book_items, console.actor, whose)
    except TwoloopError as exc:
        error(exc)
        if wanted:
            _show_all_button()
        return
    default = None
    if wanted:
        st.caption("One item, opened by its id.")
        _show_all_button()
        default = _tab_of(book)
    elif book.empty:
        st.caption("Nothing waits on this book.")
    # Keyed by the item: opening another item from a card (a rerun, not a new page)
    # shows its tab, not the tab the last one was on.
    drafts, escalations, tasks, sends, replies, plays = st.tabs(
        list(TABS), default=default, key=f"items_tabs_{wanted}" if wanted else None
    )
    with drafts:
        each(book.drafts, "No draft waits for approval.", lambda d: _draft(console, d))
    with escalations:
        each(book.escalations, "No open escalation.", lambda e: _escalation(console, e))
    with tasks:
        each(book.tasks, "No open task.", lambda t: _task(console, t))
    with sends:
        each(book.sends, "No send waits to be confirmed.", lambda m: _send(console, m))
    with replies:
        each(book.replies, "No reply waits for you.", lambda r: reply_card(console, r))
    with plays:
        each(book.plays, "No play run waits.", lambda r: play_card(console, r))


# ---------------------------------------------------------------- layout helpers


def _whose(console: Console) -> str | None:
    """The book to show: the actor's own, or one they choose among those they may see."""
    choices = console.read(books, console.actor)
    if not choices:
        st.caption("There is no account manager's book to show.")
        return None
    if len(choices) == 1:
        return choices[0]
    return st.selectbox("Whose book", choices, key=BOOK, format_func=clean)


def _show_all_button() -> None:
    if st.button("Show every item", key="items_show_all"):
        del st.query_params[ITEM_PARAM]
        st.rerun()


def _tab_of(book: items.ItemBook) -> str:
    parts = (book.drafts, book.escalations, book.tasks, book.sends, book.replies, book.plays)
    return next((tab for tab, part in zip(TABS, parts, strict=True) if part), TABS[0])


# ---------------------------------------------------------------- drafts


def _draft(console: Console, draft: items.DraftItem) -> None:
    key = draft.draft_id
    comment = draft.purpose == "comment"
    field("Account", f"{draft.account} ({draft.capability})")
    _what_draft(draft)
    _play(draft.play, key)
    if comment:
        field("For", f"{draft.contact or 'someone'}'s post: you post it yourself")
    else:
        field("To", f"{draft.contact or 'nobody'} <{draft.to_address or 'no address'}>")
        field("From", draft.from_address)
    field(
        "Drafter",
        f"{draft.drafter}, {when(draft.created_at)}; grounded: "
        f"{'yes' if draft.grounded else 'no'}; personalization {draft.personalization:.2f}",
    )
    field("Draft id", key)
    if closed(draft.status, "pending"):
        return
    subject = st.text_input("Subject", value=clean(draft.subject), key=f"items_subject_{key}")
    body = st.text_area("Body", value=clean(draft.body), height=260, key=f"items_body_{key}")
    _claims(draft)
    _findings(draft)
    st.markdown("**The AM's style notes**")
    if draft.style_notes:
        show("\n".join(f"- {n}" for n in draft.style_notes))
    else:
        st.caption("No style notes yet: they come from the AM's own edits.")
    approve, send = st.columns(2)
    if approve.button("Approve", key=f"items_approve_{key}", type="primary"):
        act(
            console,
            _approved,
            lambda: approve_draft(
                console.store,
                key,
                actor=console.actor,
                now=console.now,
                sending=configured_sending(console.settings),
            ),
        )
    guard_key = f"items_guard_{key}"
    if send.button("Approve edited" if comment else "Send edited", key=f"items_send_{key}"):
        st.session_state.pop(guard_key, None)
        unchanged = (subject.strip(), body.strip()) == (
            clean(draft.subject).strip(),
            clean(draft.body).strip(),
        )
        if unchanged:
            st.warning("Nothing was changed: use Approve to take the draft as written.")
        else:
            _edit(console, draft, subject, body, confirm=False)
    guarded = st.session_state.get(guard_key)
    if guarded is not None:
        if (guarded["subject"], guarded["body"]) != (subject, body):
            # The text changed since the guard stopped it: it must be checked again.
            del st.session_state[guard_key]
        else:
            st.warning("The draft guard stopped this edit. It found:")
            show("\n".join(f"- {f}" for f in guarded["findings"]))
            st.caption("Change the text and send it again, or send it as it is.")
            if st.button("Send anyway", key=f"items_anyway_{key}"):
                _edit(console, draft, subject, body, confirm=True)
    st.divider()
    codes = list(REASON_CODES)
    reason = st.selectbox(
        "Reason", codes, key=f"items_reason_{key}", format_func=lambda c: REASON_CODES[c]
    )
    note = st.text_input("Note", key=f"items_note_{key}", placeholder="Why, in your words")
    if st.button("Cancel draft", key=f"items_cancel_{key}"):
        act(
            console,
            "Cancelled: the draft will never be sent.",
            lambda: cancel_draft(
                console.store,
                key,
                actor=console.actor,
                now=console.now,
                reason=note,
                reason_code=reason,
            ),
        )


def _edit(
    console: Console, draft: items.DraftItem, subject: str, body: str, *, confirm: bool
) -> None:
    guard_key = f"items_guard_{draft.draft_id}"
    try:
        done = edit_draft(
            console.store,
            draft.draft_id,
            actor=console.actor,
            now=console.now,
            sending=configured_sending(console.settings),
            subject=subject,
            body=body,
            style_writer=configured_style_writer(console.settings),
            confirm=confirm,
        )
    except GuardedEdit as exc:
        st.session_state[guard_key] = {"subject": subject, "body": body, "findings": exc.findings}
        return
    except TwoloopError as exc:
        error(exc)
        return
    st.session_state.pop(guard_key, None)
    console.refresh()
    st.session_state[FLASH] = ("success", _approved(done, edited=True))
    st.rerun()


def _approved(result: dict[str, Any], *, edited: bool = False) -> str:
    """What approving did: a message in the outbox, or (a suggested comment) a task
    for the AM to post it."""
    if result.get("task_id"):
        return (
            f"Approved: nothing is sent; post the comment yourself (task {result['task_id']} "
            "is on your list)."
        )
    if edited:
        return "Sent: the edited draft is in the outbox."
    return "Approved: the draft is in the outbox."


def _what_draft(draft: items.DraftItem) -> None:
    if draft.purpose == "comment":
        what = (
            "A suggested comment on their social post. twoloop never posts it: approving it "
            "gives you a task to post it yourself."
        )
    elif draft.purpose == "follow_up":
        follows = draft.follows
        what = (
            f'A follow-up in the thread of "{follows.subject}" (sent {when(follows.sent_at)}): '
            "it goes out as a reply to that message."
            if follows
            else "A follow-up to a message that is no longer in the graph."
        )
    else:
        what = "A first email to the contact."
    field("What it is", what)


def _play(play: PlayOf | None, on: str) -> None:
    """Why the play that made an item fired, and a link to its run."""
    if play is None:
        return
    field("Why the play fired", f"{play.reason} (play {play.play_id})")
    item_link(play.run_id, "Open the play run", on=on)


def _claims(draft: items.DraftItem) -> None:
    st.markdown("**Claims, and the evidence each rests on**")
    if not draft.claims:
        st.caption("The draft makes no claim.")
    for i, claim in enumerate(draft.claims, start=1):
        show(f"{i}. {claim.text}")
        rows = []
        for evidence in claim.evidence:
            rows.append(
                {
                    "evidence": evidence.id,
                    "what": f"path: {evidence.metapath}",
                    "text": evidence.sentence,
                    "date": "",
                    "source": "",
                    "url": "",
                }
            )
            for source in evidence.sources:
                rows.append(
                    {
                        "evidence": evidence.id,
                        "what": source.kind,
                        "text": source.text,
                        "date": source.date.isoformat() if source.date else "",
                        "source": source.source or "",
                        "url": source.url or "",
                    }
                )
        table(rows)
        if claim.unknown:
            show(f"cites evidence the match does not have: {', '.join(claim.unknown)}")
        if not claim.evidence and not claim.unknown:
            st.caption("This claim cites no evidence.")


def _findings(draft: items.DraftItem) -> None:
    if not (draft.violations or draft.holds):
        st.caption("The draft guard found nothing.")
        return
    if draft.violations:
        st.markdown("**The draft guard found**")
        show("\n".join(f"- {v}" for v in draft.violations))
    if draft.holds:
        st.markdown("**Held for a person to check**")
        show("\n".join(f"- {h}" for h in draft.holds))


# ---------------------------------------------------------------- escalations


def _escalation(console: Console, escalation: items.EscalationItem) -> None:
    key = escalation.escalation_id
    field("Account", escalation.account)
    field(
        "Kind",
        f"{escalation.kind}, opened {when(escalation.opened_at)}"
        + ("; automation is stopped for the account" if escalation.blocking else ""),
    )
    field("Raised by", escalation.trigger)
    _play(escalation.play, escalation.escalation_id)
    field("The excerpt that raised it", escalation.excerpt)
    field("The question", escalation.question)
    with st.expander("Handoff packet", expanded=False):
        if escalation.packet is None:
            st.caption("The packet does not read as a handoff packet; as stored:")
            show(escalation.packet_raw)
        else:
            _packet(escalation.packet)
    if closed(escalation.status, "open"):
        field("Answer", escalation.resolution)
        return
    answer = st.text_area("Answer", key=f"items_answer_{key}")
    if st.button("Resolve", key=f"items_resolve_{key}", type="primary"):
        act(
            console,
            "Resolved: the escalation is closed with your answer.",
            lambda: resolve_item(
                console.store, key, actor=console.actor, now=console.now, answer=answer
            ),
        )


def _packet(packet: HandoffPacket) -> None:
    account = packet.account
    field(
        "Account",
        "\n".join(f"{k}: {v}" for k, v in account.items() if v not in (None, "", [])),
    )
    if packet.owner:
        field("Owner", f"{packet.owner.get('full_name')} <{packet.owner.get('email')}>")
    if packet.trigger:
        field(
            "Raised by",
            "\n".join(f"{k}: {v}" for k, v in packet.trigger.items() if v not in (None, "")),
        )
    st.caption("People")
    if packet.people:
        table(
            [
                {
                    "name": p.name,
                    "title": p.title or "",
                    "seniority": p.seniority or "",
                    "email": p.email or "",
                    "role": p.role,
                    "do not contact": "yes" if p.do_not_contact else "",
                }
                for p in packet.people
            ]
        )
    else:
        st.text("-")
    st.caption("Evidence")
    if packet.evidence:
        for e in packet.evidence:
            lines = [f"{e.capability} ({e.score:.2f}, {e.status}): {e.explanation}"]
            lines += [f"  - {s}" for s in e.evidence]
            show("\n".join(lines))
    else:
        st.text("-")
    st.caption("History (newest first)")
    if packet.history:
        table([{"at": h.at, "what": h.what, "text": h.text} for h in packet.history])
    else:
        st.text("-")
    if packet.draft:
        d = packet.draft
        lines = [
            f"{d.get('drafter')}, {d.get('status')}",
            f"Subject: {d.get('subject')}",
            "",
            str(d.get("body") or ""),
            *(f"Found: {v}" for v in d.get("violations") or ()),
            *(f"Held: {h}" for h in d.get("holds") or ()),
        ]
        field("Draft", "\n".join(lines))
    field("The question", packet.question)


# ---------------------------------------------------------------- tasks and sends


def _task(console: Console, task: items.TaskItem) -> None:
    key = task.task_id
    field("Task", task.title)
    field("Kind", f"{task.kind}, since {when(task.created_at)}")
    field("Account", task.account)
    _play(task.play, task.task_id)
    field("What to do", task.body)
    if closed(task.status, "open"):
        return
    note = st.text_input("Note", key=f"items_task_note_{key}", placeholder="What you did")
    if st.button("Done", key=f"items_done_{key}", type="primary"):
        act(
            console,
            "Done: the task is closed.",
            lambda: resolve_item(
                console.store, key, actor=console.actor, now=console.now, answer=note
            ),
        )


def _send(console: Console, message: items.SendItem) -> None:
    key = message.message_id
    field("Did this message reach its recipient?", f"{message.subject}\nto {message.to_address}")
    field("From", message.from_address)
    field("Account", message.account)
    field(
        "Tried",
        f"claimed {when(message.claimed_at)}, {message.attempts} attempt(s); "
        f"released by {message.released_by}",
    )
    field("What the relay said", message.note)
    with st.expander("Message body", expanded=False):
        show(message.body)
    if closed(message.status, "unconfirmed"):
        return
    st.caption(
        "Check the sent folder or the relay's log, then say what happened. "
        "Not sent puts it back in the outbox under the same id, so it still goes out once."
    )
    sent, again, cancel = st.columns(3)
    outcomes: tuple[tuple[Any, str, SendOutcome, str, str], ...] = (
        (sent, "It was sent", "sent", "Settled: it was sent.", f"items_sent_{key}"),
        (
            again,
            "Not sent: send again",
            "not_sent",
            "Settled: it goes out again.",
            f"items_resend_{key}",
        ),
        (cancel, "Cancel send", "cancel", "Settled: it will not be sent.", f"items_unsend_{key}"),
    )
    for column, text, outcome, done, widget_key in outcomes:
        if column.button(text, key=widget_key):
            act(
                console,
                done,
                lambda outcome=outcome: settle_send(
                    console.store, key, outcome, actor=console.actor, now=console.now
                ),
            )
