"""The "Replies" and "Plays" tabs of the "Drafts and escalations" page.

A reply card: who wrote, what they wrote (untrusted: shown as text), how it was
classified and why, what twoloop already did, the message of ours it answers,
and "Handled" with a note (``app.human_loop.handle_reply``). A play card: the
play, why it fired, what it waits for, what its steps did (the research summary
with what each statement cites, alerts), links to the items it made, and "Mark
read" (when it waits to be read) or "Cancel run" with a reason
(``app.play_decisions.settle_play_run``).
"""

from __future__ import annotations

import streamlit as st

from app import items
from app.console.screens.items_layout import act, closed, day, item_link, table, when
from app.console.session import Console
from app.console.text import field, label, show
from app.human_loop import handle_reply
from app.play_decisions import OPEN, settle_play_run
from graph_model.errors import TwoloopError
from graph_model.settings import Settings
from routing.plays import Play, configured_plays

# A play's stop_on, as the AM says it after "unless".
STOPS = {
    "reply": "they reply",
    "meeting": "a meeting is logged",
    "escalation": "the account is escalated",
    "opt_out": "they opt out",
}


# ---------------------------------------------------------------- replies


def reply_card(console: Console, reply: items.ReplyItem) -> None:
    key = reply.reply_id
    field("From", f"{reply.person or 'someone'} <{reply.from_address or 'no address'}>")
    field("Account", reply.account)
    field("Received", f"{when(reply.received_at)} (read from {reply.source})")
    field("Subject", reply.subject or "(no subject)")
    st.caption("What they wrote (as received: not checked by twoloop)")
    with st.container(border=True):
        show(reply.body or "(empty)")
    field(
        "Classified as",
        f"{reply.classification.replace('_', ' ')}: {reply.rationale or 'no reason given'} "
        f"({reply.classifier}, {reply.confidence:.0%} sure)",
    )
    st.caption("What twoloop already did")
    if not reply.actions:
        st.text("Nothing: it waits for you.")
    for action in reply.actions:
        verb, _, rest = action.partition(" ")
        if verb == "escalated" and rest:
            item_link(rest.split(" ")[0], action, on=key)
        else:
            show(action)
    thread = reply.thread
    with st.expander("The thread: our message it answers", expanded=False):
        if thread is None:
            st.caption("The message it answers is no longer in the graph.")
        else:
            field("Subject", thread.subject)
            field("Sent", f"{when(thread.sent_at)} to {thread.to_address} ({thread.status})")
            show(thread.body)
    if closed(reply.status, "open"):
        field("Handled", f"{when(reply.handled_at)} by {reply.handled_by or '-'}")
        return
    note = st.text_input("Note", key=f"items_reply_note_{key}", placeholder="What you did about it")
    if st.button("Handled", key=f"items_handled_{key}", type="primary"):
        act(
            console,
            "Handled: the reply is closed.",
            lambda: handle_reply(
                console.store, key, actor=console.actor, now=console.now, note=note
            ),
        )


# ---------------------------------------------------------------- plays


@st.cache_resource(show_spinner=False, ttl=60)
def _plays(plays_file: str | None, _settings: Settings) -> dict[str, Play]:
    """The configured plays by id (their descriptions and stop conditions); empty
    when plays are off or the file does not load (the card says less, no more).
    Cached by the setting (``plays_file``)."""
    del plays_file
    try:
        book = configured_plays(None, _settings)
    except (TwoloopError, OSError):
        return {}
    return {p.id: p for p in book.plays} if book is not None else {}


def _waits(run: items.PlayItem, play: Play | None, console: Console) -> str:
    if run.waiting_for == "read":
        return "You: read what it found (below), then mark it read; it has no step left."
    if run.status != "waiting" or run.wait_until is None:
        return run.waits
    steps = play.steps if play else ()
    after = steps[run.step + 1].describe() if run.step + 1 < len(steps) else "next step"
    stops = [STOPS.get(s, s.replace("_", " ")) for s in (play.stop_on if play else ())]
    unless = ""
    if stops:
        unless = " unless " + (
            stops[0] if len(stops) == 1 else f"{', '.join(stops[:-1])} or {stops[-1]}"
        )
    if run.wait_until <= console.now:
        return f"{after}: due since {day(run.wait_until)}, at the loop's next run{unless}"
    return f"{after} on {day(run.wait_until)}{unless}"


def play_card(console: Console, run: items.PlayItem) -> None:
    key = run.run_id
    play = _plays(console.settings.plays_file, console.settings).get(run.play_id)
    field("Play", run.play_id + (f": {play.description}" if play and play.description else ""))
    field("Why it fired", run.reason)
    field("About", run.account + (f", {run.person}" if run.person else ""))
    field("Fired on", f"{', '.join(run.events) or '-'} (the last at {when(run.fired_at)})")
    field("Waits for", _waits(run, play, console))
    st.markdown("**What it did**")
    if not run.steps:
        st.caption("No step has run yet.")
    for step in run.steps:
        st.caption(label(f"Step {step.number}: {step.kind} ({step.at[:16].replace('T', ' ')})"))
        if step.text:
            show(step.text)
        if step.citations:
            table(
                [
                    {
                        "cites": f"{c.kind} {c.key}",
                        "text": c.text,
                        "date": c.date.isoformat() if c.date else "",
                        "source": c.source or "",
                        "url": c.url or "",
                    }
                    for c in step.citations
                ]
            )
        if step.made and step.made[0] != "research":
            item_link(step.made[1], f"Open the {step.made[0]} it made", on=f"{key}_{step.number}")
    if run.made:
        st.caption("Items it made")
        for kind, item_id, status in run.made:
            item_link(item_id, f"{kind} {item_id} ({status})", on=key)
    if closed(run.status, OPEN):
        if run.stopped_reason:
            field("Why it stopped", run.stopped_reason)
        return
    if run.waiting_for == "read" and st.button(
        "Mark read", key=f"items_play_read_{key}", type="primary"
    ):
        act(
            console,
            "Read: the run is done.",
            lambda: settle_play_run(
                console.store, key, actor=console.actor, decision="read", now=console.now
            ),
        )
    st.divider()
    reason = st.text_input(
        "Why cancel", key=f"items_play_reason_{key}", placeholder="Why, in your words"
    )
    st.caption("Cancelling stops the run where it is; its pending draft is withdrawn.")
    if st.button("Cancel run", key=f"items_play_cancel_{key}"):
        act(
            console,
            "Cancelled: the run is stopped and nothing it queued is sent.",
            lambda: settle_play_run(
                console.store,
                key,
                actor=console.actor,
                decision="cancel",
                now=console.now,
                reason=reason,
            ),
        )
