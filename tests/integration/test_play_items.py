"""Replies and play runs as items, on both stores: what the AM reads on a reply
(who, what, how it was classified, the thread) and on a play run (why it fired,
what it waits for, its research summary with citations, its alerts, the items it
made); drafts and tasks a play made carry its reason; who may read which."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from app.human_loop import approve_draft, handle_reply
from app.items import book_items, find_item
from app.play_decisions import settle_play_run
from graph_model import connect
from graph_model.errors import NotAuthorized
from graph_model.store import GraphStore
from routing.play_runs import run_plays
from tests.integration.test_cli import run
from tests.support.hand_graph import AS_OF, add_managers
from tests.support.items_world import SENDING
from tests.support.play_items_world import NOW, REPLY_BODY, PlayIds, play_items_world
from tests.support.plays_world import only, plays_world


@pytest.fixture
def world(store: GraphStore) -> tuple[GraphStore, PlayIds]:
    return store, play_items_world(store)


def test_an_open_reply_shows_who_wrote_what_and_the_thread_it_answers(
    world: tuple[GraphStore, PlayIds],
) -> None:
    store, ids = world
    (reply,) = book_items(store, "am-1").replies
    assert reply.reply_id == ids.reply and reply.status == "open"
    assert (reply.person, reply.from_address, reply.account) == (
        "Cat Diaz",
        "cat@acme.example",
        "Acme",
    )
    assert reply.body == REPLY_BODY and reply.subject == f"Re: {ids.thread_subject}"
    assert (reply.classification, reply.classifier) == ("question", "rules")
    assert reply.rationale == "asks whether it works with their warehouse"
    assert reply.thread is not None and reply.thread.subject == ids.thread_subject
    assert reply.thread.sent_at == AS_OF and reply.thread.body.startswith("Hi Cat,")


def test_waiting_play_runs_say_why_they_fired_and_what_they_wait_for(
    world: tuple[GraphStore, PlayIds],
) -> None:
    store, ids = world
    runs = {p.run_id: p for p in book_items(store, "am-1").plays}
    assert set(runs) == {ids.follow_up, ids.watch, ids.comment_run}
    follow_up = runs[ids.follow_up]
    assert (follow_up.status, follow_up.waiting_for) == ("waiting", "time")
    assert follow_up.wait_until == dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)
    assert follow_up.waits.startswith("next step on Fri 27 Nov")
    assert (
        follow_up.reason
        == f'no reply from Cat Diaz at Acme five business days after "{ids.thread_subject}"'
    )
    assert follow_up.person == "Cat Diaz" and [s.kind for s in follow_up.steps] == ["wait"]
    # A run left to read: its research summary, rendered, with what it cites.
    watch = runs[ids.watch]
    assert (watch.status, watch.waiting_for, watch.account) == ("needs_am", "read", "Globex")
    research, alert = watch.steps
    assert research.kind == "research" and research.text.startswith("Research on globex for am-1")
    assert research.made is not None and research.made[0] == "research"
    assert research.citations and {c.kind for c in research.citations} & {"deal", "account"}
    assert alert.text == "Globex is looking at pricing: read the summary first."
    assert watch.waits == alert.text and watch.made == ()
    # A run waiting for its suggested comment: the draft it made, still pending.
    comment = runs[ids.comment_run]
    assert comment.made == (("draft", ids.comment, "pending"),)
    assert comment.waits == f"your decision on draft {ids.comment}"


def test_drafts_and_tasks_a_play_made_carry_its_reason(world: tuple[GraphStore, PlayIds]) -> None:
    store, ids = world
    book = book_items(store, "am-1")
    drafts = {d.draft_id: d for d in book.drafts}
    comment = drafts[ids.comment]
    assert comment.purpose == "comment" and comment.follows is None
    assert comment.play is not None and comment.play.play_id == "prospect_posts_problem"
    assert comment.play.reason.startswith("Ann Lee at Acme posted about Pipeline reliability")
    assert [d.play for d in drafts.values() if d.draft_id != ids.comment] == [None]
    (task,) = [t for t in book.tasks if t.task_id == ids.voice_note]
    assert task.play is not None and task.play.play_id == "connection_accepted"
    # Approving the comment gives the AM a task to post it, with the play's reason.
    done = approve_draft(store, ids.comment, actor="am-1", now=NOW, sending=SENDING)
    (post,) = find_item(store, "am-1", done["task_id"]).tasks
    assert post.kind == "post_comment" and post.play == comment.play


def test_a_follow_up_draft_names_the_message_whose_thread_it_continues(store: GraphStore) -> None:
    plays_world(store)
    book = only("follow_up_no_reply")
    for at in (AS_OF + dt.timedelta(hours=1), AS_OF + dt.timedelta(days=8)):
        run_plays(store, book, now=at, sending=SENDING, min_personalization=0.5)
    (draft,) = [d for d in book_items(store, "am-1").drafts if d.purpose == "follow_up"]
    assert draft.follows is not None and draft.follows.sent_at == AS_OF
    assert draft.subject == "Re: " + draft.follows.subject
    assert draft.play is not None and draft.play.play_id == "follow_up_no_reply"


def test_decided_replies_and_runs_leave_the_book_and_still_open_by_id(
    world: tuple[GraphStore, PlayIds],
) -> None:
    store, ids = world
    handle_reply(store, ids.reply, actor="am-1", now=NOW, note="Answered: yes, it does")
    settle_play_run(store, ids.watch, actor="am-1", decision="read", now=NOW)
    settle_play_run(
        store, ids.follow_up, actor="am-1", decision="cancel", now=NOW, reason="I called her"
    )
    book = book_items(store, "am-1")
    assert book.replies == () and [p.run_id for p in book.plays] == [ids.comment_run]
    (reply,) = find_item(store, "am-1", ids.reply).replies
    assert (reply.status, reply.handled_by) == ("handled", "am-1")
    (watch,) = find_item(store, "am-1", ids.watch).plays
    assert watch.status == "done" and watch.waiting_for is None
    (stopped,) = find_item(store, "am-1", ids.follow_up).plays
    assert stopped.status == "stopped"
    assert stopped.stopped_reason == "the AM cancelled it: I called her"
    assert stopped.waits == "nothing: the run is stopped"
    assert find_item(store, "am-1", ids.reply).item == ids.reply


def test_another_am_sees_none_of_them_and_a_manager_sees_their_reports(
    world: tuple[GraphStore, PlayIds],
) -> None:
    store, ids = world
    add_managers(store)
    theirs = book_items(store, "am-2")
    assert theirs.replies == ()
    (referral,) = theirs.plays
    assert referral.play_id == "referral_in_network" and referral.am_id == "am-2"
    assert referral.made == (("escalation", ids.referral, "open"),)
    assert [e.escalation_id for e in theirs.escalations if e.play] == [ids.referral]
    for item in (ids.reply, ids.watch, ids.follow_up):
        with pytest.raises(NotAuthorized):
            find_item(store, "am-2", item)
    with pytest.raises(NotAuthorized):
        book_items(store, "am-2", of="am-1")
    with pytest.raises(NotAuthorized):
        find_item(store, "am-1", ids.referral)
    # Cy manages am-1: the reply and the runs are on a book Cy may see.
    assert [r.reply_id for r in book_items(store, "am-3", of="am-1").replies] == [ids.reply]
    assert find_item(store, "am-3", ids.watch).plays[0].run_id == ids.watch


def test_twoloop_queue_prints_replies_and_play_runs_with_why(tmp_path: Path) -> None:
    graph = tmp_path / "graph"
    with connect(str(graph)) as store:
        store.ensure_schema()
        ids = play_items_world(store)
    now = "2026-11-21T15:00:00+00:00"
    shown = run(["queue", "--am", "am-1", "--graph", str(graph), "--now", now], tmp_path)
    lines = {line.split("│")[3].strip(): line for line in shown.stdout.splitlines() if "│" in line}
    assert "reply:question" in lines[ids.reply] and "cat@acme.example: Re:" in lines[ids.reply]
    assert "play:wait" in lines[ids.follow_up] and "next step on Fri 27 Nov" in lines[ids.follow_up]
    assert "play:read" in lines[ids.watch] and "play pricing_watch:" in lines[ids.watch]
    assert "approval:comment" in lines[ids.comment]
    assert "play prospect_posts_problem:" in lines[ids.comment]
    listed = run(["queue", "--am", "am-1", "--graph", str(graph), "--now", now, "--json"], tmp_path)
    items = {i["item"]: i for i in json.loads(listed.stdout)["items"]}
    assert items[ids.reply]["why"] == (
        "replied: question (asks whether it works with their warehouse)"
    )
    assert items[ids.follow_up]["why"].startswith("play follow_up_no_reply: no reply from Cat")
    assert items[ids.watch]["what"] == "Globex is looking at pricing: read the summary first."
    # Not on am-2's queue.
    theirs = run(["queue", "--am", "am-2", "--graph", str(graph), "--now", now, "--json"], tmp_path)
    assert not {ids.reply, ids.watch, ids.follow_up} & {
        i["item"] for i in json.loads(theirs.stdout)["items"]
    }
