"""Plays and replies in a real browser: an AM signs in on a world where plays have
fired and a contact replied; the queue shows the play and reply rows with their
reasons; they mark a run read, cancel a waiting follow-up with a reason, mark the
reply handled, and approve a suggested comment, which gives them a task to post it
(nothing is emailed). Each decision lands in the graph."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from graph_model import Filter, connect
from tests.support.browser import (
    ConsoleServer,
    ServerDidNotStart,
    button,
    choose,
    screenshot,
    settle,
    sign_in,
    start_console,
    start_provider,
    table_rows,
    type_text,
)
from tests.support.play_items_world import PlayIds, play_items_world

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def plays_graph(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, PlayIds]:
    graph = tmp_path_factory.mktemp("browser-plays") / "graph"
    with connect(str(graph)) as store:
        store.ensure_schema()
        ids = play_items_world(store)
    return graph, ids


@pytest.fixture(scope="module")
def plays_console(plays_graph: tuple[Path, PlayIds], browser_logs: Path) -> Iterator[ConsoleServer]:
    """A console on the plays world, signed in through a provider that knows its two
    AMs (am-1 Ada, am-2 Ben)."""
    graph, _ = plays_graph
    with connect(str(graph)) as store:
        ams = store.nodes("AccountManager").select("am_id", "email").rows()
    users = [{"sub": am, "email": email} for am, email in ams]
    try:
        with (
            start_provider(users, browser_logs) as provider,
            start_console(graph, browser_logs, provider=provider) as server,
        ):
            yield server
    except ServerDidNotStart as exc:
        pytest.fail(str(exc), pytrace=False)


def flash(page: Page):
    return page.get_by_test_id("stAlert").first


def open_by_id(page: Page, console: ConsoleServer, item: str, *, shows: str = "") -> None:
    """Open ``item`` on the items page by its id; it shows ``shows``."""
    page.goto(f"{console.url}items?item={item}")
    expect(page.get_by_role("heading", name="Drafts and escalations", exact=True)).to_be_visible()
    settle(page)
    if shows:
        expect(page.get_by_text(shows, exact=False).first).to_be_visible()


def press(page: Page, name: str, *, told: str) -> None:
    """Press the button ``name``; the page then says ``told``."""
    button(page, name).click()
    settle(page)
    expect(flash(page)).to_contain_text(told)


def node(graph: Path, label: str, key: str) -> dict[str, object]:
    with connect(str(graph)) as store:
        return store.get_node(label, key)


def test_an_am_works_plays_and_replies_from_the_queue(
    page: Page, plays_console: ConsoleServer, plays_graph: tuple[Path, PlayIds]
) -> None:
    graph, ids = plays_graph
    sign_in(page, "am-1", plays_console)
    expect(page.get_by_role("heading", name="Queue", exact=True)).to_be_visible()

    # The queue: play and reply rows, each with its rule and reason.
    rows = table_rows(page)
    (reply,) = [r for r in rows if r["kind"] == "reply"]
    assert (reply["action"], reply["account"]) == ("reply:question", "Acme")
    assert reply["reason"] == "replied: question (asks whether it works with their warehouse)"
    plays = {r["rule"]: r for r in rows if r["kind"] == "play"}
    follow_up = plays["play:follow_up_no_reply"]
    assert follow_up["action"] == "play:wait"
    assert follow_up["reason"].startswith("no reply from Cat Diaz at Acme five business days")
    assert "Fri 27 Nov" in follow_up["what"]
    watch = plays["play:pricing_watch"]
    assert (watch["action"], watch["account"]) == ("play:read", "Globex")
    assert watch["reason"] == "Globex looked at our pricing page 2 times in 7 days"
    (comment,) = [r for r in rows if r["rule"] == "play:prospect_posts_problem"]
    assert comment["kind"] == "draft"
    assert comment["reason"].startswith("Ann Lee at Acme posted about Pipeline reliability")
    # The kind filter chooses them.
    choose(page, "Kind", "play")
    assert {r["kind"] for r in table_rows(page)} == {"play"}

    # A run left to read opens on the items page: its summary, then Mark read.
    choose(page, "Item to open", "(play, play:read)", exact=False)
    button(page, "Open item").click()
    expect(page).to_have_url(re.compile(rf"/items\?item={ids.watch}$"))
    settle(page)
    expect(page.get_by_text("Research on globex for am-1", exact=False)).to_be_visible()
    expect(
        page.get_by_text("Globex is looking at pricing: read the summary first.")
    ).to_be_visible()
    screenshot(page, "console-plays")
    press(page, "Mark read", told="Read: the run is done.")
    assert node(graph, "PlayRun", ids.watch)["status"] == "done"

    # The waiting follow-up: what it waits for; cancelled with a reason.
    open_by_id(page, plays_console, ids.follow_up, shows="unless they reply")
    type_text(page, "Why cancel", "I called Cat instead")
    press(page, "Cancel run", told="Cancelled: the run is stopped")
    run = node(graph, "PlayRun", ids.follow_up)
    assert (run["status"], run["stopped_reason"]) == (
        "stopped",
        "the AM cancelled it: I called Cat instead",
    )

    # The reply: read, handled with a note.
    open_by_id(page, plays_console, ids.reply, shows="Cat Diaz <cat@acme.example>")
    type_text(page, "Note", "Answered: yes, Snowflake works")
    press(page, "Handled", told="Handled: the reply is closed.")
    assert node(graph, "Reply", ids.reply)["status"] == "handled"

    # The suggested comment: approving it gives a post_comment task, and no email.
    # It links to the run that made it, and the run links back to it.
    open_by_id(page, plays_console, ids.comment, shows="twoloop never posts it")
    button(page, "Open the play run").click()
    expect(page).to_have_url(re.compile(rf"/items\?item={ids.comment_run}$"))
    expect(page.get_by_text(f"your decision on draft {ids.comment}")).to_be_visible()
    button(page, f"draft {ids.comment} (pending)").click()
    expect(page).to_have_url(re.compile(rf"/items\?item={ids.comment}$"))
    settle(page)
    press(page, "Approve", told="post the comment yourself (task ")
    with connect(str(graph)) as store:
        (task,) = store.nodes("Task", [Filter("kind", "eq", "post_comment")]).to_dicts()
        assert store.nodes("OutboxMessage", [Filter("draft_id", "eq", ids.comment)]).is_empty()
    assert task["play_run_id"] == ids.comment_run and task["am_id"] == "am-1"
    open_by_id(page, plays_console, task["task_id"])
    expect(page.get_by_text("post_comment", exact=False)).to_be_visible()


def test_another_am_cannot_open_am_1s_reply_or_runs(
    page: Page, plays_console: ConsoleServer, plays_graph: tuple[Path, PlayIds]
) -> None:
    _, ids = plays_graph
    sign_in(page, "am-2", plays_console)
    assert "reply" not in {r["kind"] for r in table_rows(page)}
    for item in (ids.reply, ids.follow_up):
        open_by_id(page, plays_console, item)
        expect(flash(page)).to_contain_text("not")
        expect(button(page, "Handled")).to_have_count(0)
        expect(button(page, "Cancel run")).to_have_count(0)
