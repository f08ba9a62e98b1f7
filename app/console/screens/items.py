"""Drafts and escalations: what waits on a book, item by item, with its actions.

Four tabs: drafts waiting for approval (approve, edit and send, cancel with a
reason), open escalations (the handoff packet, the question, resolve with an
answer), open tasks (done, with a note) and unconfirmed sends (sent, not sent,
cancel). ``?item=<id>`` opens one item. Reads are ``app.items``; every action is
``app.human_loop`` with the signed-in actor, which checks it again. Graph text
is shown only as text (``app.console.text``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import polars as pl
import streamlit as st

from app import items
from app.console.session import Console
from app.console.text import clean, field, flash, label, show
from app.decisions import REASON_CODES
from app.human_loop import (
    SendOutcome,
    approve_draft,
    cancel_draft,
    edit_draft,
    resolve_item,
    settle_send,
)
from app.queue import books
from drafting.style import configured_style_writer
from graph_model.errors import GuardedEdit, TwoloopError
from routing.handoff import HandoffPacket
from routing.sending import configured_sending

TITLE = "Drafts and escalations"
TABS = ("Drafts", "Escalations", "Tasks", "Unconfirmed sends")
BOOK = "items_book"
FLASH = "items_flash"
ITEM_PARAM = "item"


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
        _error(exc)
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
    drafts, escalations, tasks, sends = st.tabs(list(TABS), default=default)
    with drafts:
        _each(book.drafts, "No draft waits for approval.", lambda d: _draft(console, d))
    with escalations:
        _each(book.escalations, "No open escalation.", lambda e: _escalation(console, e))
    with tasks:
        _each(book.tasks, "No open task.", lambda t: _task(console, t))
    with sends:
        _each(book.sends, "No send waits to be confirmed.", lambda m: _send(console, m))


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
    parts = (book.drafts, book.escalations, book.tasks, book.sends)
    return next((tab for tab, part in zip(TABS, parts, strict=True) if part), TABS[0])


def _each(rows: Sequence[Any], nothing: str, draw: Callable[[Any], None]) -> None:
    if not rows:
        st.caption(nothing)
    for row in rows:
        with st.container(border=True):
            draw(row)


def _error(exc: TwoloopError) -> None:
    """An API refusal as one clear line; its text may quote graph text, so escaped."""
    st.error(label(str(exc), limit=1500))


def _act(console: Console, done: str, action: Callable[[], Any]) -> None:
    """Run an API call; on success read afresh and rerun so the lists update."""
    try:
        action()
    except TwoloopError as exc:
        _error(exc)
        return
    console.refresh()
    st.session_state[FLASH] = ("success", done)
    st.rerun()


def _when(value: Any) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC" if value is not None else "-"


def _table(rows: list[dict[str, Any]]) -> None:
    """Rows of graph text as a plain-text table."""
    if not rows:
        return
    columns = list(rows[0])
    frame = pl.DataFrame(
        {c: [clean(r.get(c), limit=2000) for r in rows] for c in columns},
        schema={c: pl.String for c in columns},
    )
    st.dataframe(frame, hide_index=True, width="stretch")


def _closed(status: str, open_status: str) -> bool:
    """A decided item (opened by its id): its status, and no actions."""
    if status == open_status:
        return False
    field("Status", status)
    st.caption("Already decided: there is nothing left to do on it.")
    return True


# ---------------------------------------------------------------- drafts


def _draft(console: Console, draft: items.DraftItem) -> None:
    key = draft.draft_id
    field("Account", f"{draft.account} ({draft.capability})")
    field("To", f"{draft.contact or 'nobody'} <{draft.to_address or 'no address'}>")
    field("From", draft.from_address)
    field(
        "Drafter",
        f"{draft.drafter}, {_when(draft.created_at)}; grounded: "
        f"{'yes' if draft.grounded else 'no'}; personalization {draft.personalization:.2f}",
    )
    field("Draft id", key)
    if _closed(draft.status, "pending"):
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
        _act(
            console,
            "Approved: the draft is in the outbox.",
            lambda: approve_draft(
                console.store,
                key,
                actor=console.actor,
                now=console.now,
                sending=configured_sending(console.settings),
            ),
        )
    guard_key = f"items_guard_{key}"
    if send.button("Send edited", key=f"items_send_{key}"):
        st.session_state.pop(guard_key, None)
        unchanged = (subject.strip(), body.strip()) == (
            clean(draft.subject).strip(),
            clean(draft.body).strip(),
        )
        if unchanged:
            st.warning("Nothing was changed: use Approve to send the draft as written.")
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
        _act(
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
        edit_draft(
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
        _error(exc)
        return
    st.session_state.pop(guard_key, None)
    console.refresh()
    st.session_state[FLASH] = ("success", "Sent: the edited draft is in the outbox.")
    st.rerun()


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
        _table(rows)
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
        f"{escalation.kind}, opened {_when(escalation.opened_at)}"
        + ("; automation is stopped for the account" if escalation.blocking else ""),
    )
    field("Raised by", escalation.trigger)
    field("The excerpt that raised it", escalation.excerpt)
    field("The question", escalation.question)
    with st.expander("Handoff packet", expanded=False):
        if escalation.packet is None:
            st.caption("The packet does not read as a handoff packet; as stored:")
            show(escalation.packet_raw)
        else:
            _packet(escalation.packet)
    if _closed(escalation.status, "open"):
        field("Answer", escalation.resolution)
        return
    answer = st.text_area("Answer", key=f"items_answer_{key}")
    if st.button("Resolve", key=f"items_resolve_{key}", type="primary"):
        _act(
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
        _table(
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
        _table([{"at": h.at, "what": h.what, "text": h.text} for h in packet.history])
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
    field("Kind", f"{task.kind}, since {_when(task.created_at)}")
    field("Account", task.account)
    field("What to do", task.body)
    if _closed(task.status, "open"):
        return
    note = st.text_input("Note", key=f"items_task_note_{key}", placeholder="What you did")
    if st.button("Done", key=f"items_done_{key}", type="primary"):
        _act(
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
        f"claimed {_when(message.claimed_at)}, {message.attempts} attempt(s); "
        f"released by {message.released_by}",
    )
    field("What the relay said", message.note)
    with st.expander("Message body", expanded=False):
        show(message.body)
    if _closed(message.status, "unconfirmed"):
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
            _act(
                console,
                done,
                lambda outcome=outcome: settle_send(
                    console.store, key, outcome, actor=console.actor, now=console.now
                ),
            )
