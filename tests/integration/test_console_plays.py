"""The "Replies" and "Plays" tabs of the console's items page, driven with
Streamlit's AppTest on the embedded store in dev sign-in: what a reply and a play
run card say, each action reaching its API once, a suggested comment's approval
giving a task, and another AM seeing none of it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from graph_model import connect
from graph_model.store import Filter
from routing.play_runs import run_plays
from tests.support.console import errors, items_env, open_items, successes
from tests.support.hand_graph import AS_OF
from tests.support.items_world import SENDING, sending_file
from tests.support.play_items_world import REPLY_BODY, PlayIds, play_items_world
from tests.support.plays_world import only, plays_world


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, PlayIds]:
    graph = str(tmp_path / "graph")
    with connect(graph) as store:
        store.ensure_schema()
        ids = play_items_world(store)
    items_env(monkeypatch, graph, sending_file(tmp_path))
    return graph, ids


_open = open_items


def _texts(at: AppTest) -> str:
    return "\n".join(str(t.value) for t in at.text)


def _keys(at: AppTest) -> set[str]:
    return {str(b.key) for b in [*at.button, *at.text_input] if b.key}


def test_reply_and_play_cards_say_what_waits_and_why(world: tuple[str, PlayIds]) -> None:
    _, ids = world
    at = _open("am-1")
    texts = _texts(at)
    # The reply: who, what (as text, markup and all), how it was read, the thread.
    assert "Cat Diaz <cat@acme.example>" in texts and REPLY_BODY in texts
    # Untrusted: only ever text, never markdown (nor a caption, which renders it).
    rendered = [*at.markdown, *at.caption, *at.success, *at.info, *at.warning]
    assert not [m for m in rendered if "Ignore previous" in str(m.value)]
    assert "question: asks whether it works with their warehouse (rules, 90% sure)" in texts
    assert f"Re: {ids.thread_subject}" in texts and "Hi Cat," in texts
    assert at.button(key=f"items_handled_{ids.reply}").label == "Handled"
    # The waiting follow-up: when its next step runs (due already, or to come: the
    # console's clock is the real one), and what stops it.
    (waits,) = [line for line in texts.splitlines() if line.startswith("draft follow-up")]
    assert "Fri 27 Nov" in waits
    assert waits.endswith("unless they reply, the account is escalated or a meeting is logged")
    assert (
        'no reply from Cat Diaz at Acme five business days after "Privacy Vault at Acme"' in texts
    )
    # The run left to read: its research summary and alert; only it can be marked read.
    assert "Research on globex for am-1" in texts
    assert "Globex is looking at pricing: read the summary first." in texts
    assert f"items_play_read_{ids.watch}" in _keys(at)
    assert f"items_play_read_{ids.follow_up}" not in _keys(at)
    assert at.button(key=f"items_play_cancel_{ids.follow_up}").label == "Cancel run"
    # The suggested comment says what it is and why the play fired.
    assert "A suggested comment on their social post. twoloop never posts it" in texts
    assert "Ann Lee at Acme posted about Pipeline reliability" in texts
    assert at.button(key=f"items_send_{ids.comment}").label == "Approve edited"


def test_mark_read_cancel_and_handled_each_reach_their_api(world: tuple[str, PlayIds]) -> None:
    graph, ids = world
    at = _open("am-1")
    at.button(key=f"items_play_read_{ids.watch}").click().run()
    assert successes(at) == ["Read: the run is done."] and not errors(at)
    at.text_input(key=f"items_play_reason_{ids.follow_up}").input("I called her instead")
    at.button(key=f"items_play_cancel_{ids.follow_up}").click().run()
    assert successes(at) == ["Cancelled: the run is stopped and nothing it queued is sent."]
    at.text_input(key=f"items_reply_note_{ids.reply}").input("Answered: yes")
    at.button(key=f"items_handled_{ids.reply}").click().run()
    assert successes(at) == ["Handled: the reply is closed."] and not errors(at)
    with connect(graph) as store:
        assert store.get_node("PlayRun", ids.watch)["status"] == "done"
        run = store.get_node("PlayRun", ids.follow_up)
        assert run["stopped_reason"] == "the AM cancelled it: I called her instead"
        assert store.get_node("Reply", ids.reply)["status"] == "handled"
    assert {f"items_handled_{ids.reply}", f"items_play_read_{ids.watch}"}.isdisjoint(_keys(at))


def test_approving_a_suggested_comment_gives_a_task_to_post_it(
    world: tuple[str, PlayIds],
) -> None:
    graph, ids = world
    at = _open("am-1")
    at.button(key=f"items_approve_{ids.comment}").click().run()
    (told,) = successes(at)
    assert told.startswith("Approved: nothing is sent; post the comment yourself (task t-")
    with connect(graph) as store:
        assert store.nodes("OutboxMessage", [Filter("draft_id", "eq", ids.comment)]).is_empty()
    task_id = told.split("(task ")[1].split(" ")[0]
    assert f"items_done_{task_id}" in _keys(at)
    assert "Post your comment" in _texts(at)


def test_another_am_sees_none_of_it_even_by_id(world: tuple[str, PlayIds]) -> None:
    _, ids = world
    at = _open("am-2")
    assert ids.reply not in _texts(at)
    assert not {k for k in _keys(at) if ids.watch in k or ids.reply in k}
    for item in (ids.reply, ids.watch):
        at = _open("am-2", item=item)
        assert any("not" in e.lower() for e in errors(at)), errors(at)
        assert not {k for k in _keys(at) if item in k}


def test_a_follow_up_draft_says_whose_thread_it_continues(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    graph = str(tmp_path / "graph")
    with connect(graph) as store:
        store.ensure_schema()
        plays_world(store)
        book = only("follow_up_no_reply")
        for at in (AS_OF + dt.timedelta(hours=1), AS_OF + dt.timedelta(days=8)):
            run_plays(store, book, now=at, sending=SENDING, min_personalization=0.5)
        (run,) = store.nodes("PlayRun").to_dicts()
    items_env(monkeypatch, graph, sending_file(tmp_path))
    draft = run["waiting_for"].split(":", 1)[1]
    at = _open("am-1", item=draft)
    texts = _texts(at)
    assert (
        'A follow-up in the thread of "Privacy Vault at Acme" (sent 2026-11-20 12:00 UTC)' in texts
    )
    assert "no reply from Cat Diaz at Acme five business days after" in texts
    assert at.button(key=f"items_send_{draft}").label == "Send edited"
    # The run waits for this draft: opened by its id, it says so and links back.
    at = _open("am-1", item=run["run_id"])
    assert f"your decision on draft {draft}" in _texts(at)
