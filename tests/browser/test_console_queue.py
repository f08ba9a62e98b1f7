"""The queue and the why panel in a real browser: an AM validates, defers and kills
matches and kills a filtered set in bulk, and each decision lands in the graph with
who decided, in what right and when; one AM sees nothing of another's book."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from playwright.sync_api import Page, expect

from app.decisions import REASON_CODES
from app.queue import queue_frame
from graph_model import Filter, connect
from tests.support.browser import (
    ConsoleServer,
    World,
    button,
    choose,
    screenshot,
    set_date,
    settle,
    sign_in,
    table_rows,
    type_text,
)

pytestmark = pytest.mark.browser

AM_A = "005A00000"
AM_B = "005A00001"


def open_queue(graph: Path, am: str) -> pl.DataFrame:
    """What waits in ``am``'s queue, as the queue page reads it."""
    with connect(str(graph)) as store:
        return queue_frame(store, am, now=dt.datetime.now(dt.UTC))


def decisions_on(graph: Path, match_id: str) -> list[dict[str, Any]]:
    with connect(str(graph)) as store:
        ids = store.edges("DECIDED_ON", touching=[match_id])["src"].to_list()
        if not ids:
            return []
        return store.nodes("Decision", [Filter("decision_id", "in", ids)]).to_dicts()


def match_status(graph: Path, match_id: str) -> str:
    with connect(str(graph)) as store:
        return str(store.get_node("Match", match_id)["status"])


def flash(page: Page):
    return page.get_by_test_id("stAlert").first


def open_match(page: Page, match: dict[str, Any]) -> None:
    """From the queue page: pick the match in "Item to open", press "Open item",
    land on Why."""
    described = f"{match['account']} - {match['capability']} (match,"
    choose(page, "Item to open", described, exact=False)
    button(page, "Open item").click()
    expect(page.get_by_role("heading", name="Why", exact=True)).to_be_visible()
    expect(page).to_have_url(re.compile(rf"/why\?match={match['item']}$"))
    settle(page)


def assert_decided(
    graph: Path, match_id: str, kind: str, actor: str, since: dt.datetime
) -> dict[str, Any]:
    [decision] = decisions_on(graph, match_id)
    assert decision["kind"] == kind
    assert (decision["actor"], decision["role"], decision["on_behalf_of"]) == (actor, "am", actor)
    assert since <= decision["decided_at"] <= dt.datetime.now(dt.UTC)
    return decision


@pytest.fixture(scope="module")
def a_matches(fresh_console: ConsoleServer) -> list[dict[str, Any]]:
    """AM A's three best open matches, each decided by one test below."""
    frame = open_queue(fresh_console.graph, AM_A).filter(pl.col("kind") == "match")
    assert frame.height >= 3, "the demo world gives AM A open matches"
    return frame.head(3).to_dicts()


def test_an_am_validates_a_match_from_the_queue(
    page: Page, fresh_console: ConsoleServer, a_matches: list[dict[str, Any]]
) -> None:
    match = a_matches[0]
    sign_in(page, AM_A, fresh_console)
    expect(page.get_by_role("heading", name="Queue", exact=True)).to_be_visible()
    open_match(page, match)
    screenshot(page, "why")
    since = dt.datetime.now(dt.UTC)

    button(page, "Validate").click()
    settle(page)

    expect(flash(page)).to_contain_text("Validated: your decision is stored.")
    assert_decided(fresh_console.graph, match["item"], "validate", AM_A, since)
    assert match_status(fresh_console.graph, match["item"]) == "validated"


def test_an_am_defers_a_match_until_a_date(
    page: Page, fresh_console: ConsoleServer, a_matches: list[dict[str, Any]]
) -> None:
    match = a_matches[1]
    until = dt.date.today() + dt.timedelta(days=45)
    sign_in(page, AM_A, fresh_console)
    open_match(page, match)
    since = dt.datetime.now(dt.UTC)

    set_date(page, "Defer until", until)
    button(page, "Defer").click()
    settle(page)

    expect(flash(page)).to_contain_text("Deferred: your decision is stored.")
    decision = assert_decided(fresh_console.graph, match["item"], "defer", AM_A, since)
    assert decision["defer_until"] == until
    assert match_status(fresh_console.graph, match["item"]) == "deferred"


def test_an_am_kills_a_match_with_a_reason_and_a_note(
    page: Page, fresh_console: ConsoleServer, a_matches: list[dict[str, Any]]
) -> None:
    match = a_matches[2]
    sign_in(page, AM_A, fresh_console)
    open_match(page, match)
    since = dt.datetime.now(dt.UTC)

    choose(page, "Reason", REASON_CODES["competitor"])
    type_text(page, "Note", "signed with a rival last month")
    button(page, "Kill").click()
    settle(page)

    expect(flash(page)).to_contain_text("Killed: your decision is stored.")
    decision = assert_decided(fresh_console.graph, match["item"], "kill", AM_A, since)
    assert decision["reason_code"] == "competitor"
    assert decision["reason"] == "signed with a rival last month"
    assert match_status(fresh_console.graph, match["item"]) == "killed"
    screenshot(page, "why-decided")


def test_an_am_kills_every_match_a_filter_shows(page: Page, fresh_console: ConsoleServer) -> None:
    queue = open_queue(fresh_console.graph, AM_B)
    matches = queue.filter(pl.col("kind") == "match")
    skipped = matches.filter(pl.col("action") == "skip")["item"].to_list()
    others = matches.filter(pl.col("action") != "skip")["item"].to_list()
    assert skipped, "the demo world routes some of AM B's matches to skip"
    sign_in(page, AM_B, fresh_console)

    choose(page, "Action", "skip")
    expect(page.get_by_text(f"{len(skipped)} items shown of {queue.height}")).to_be_visible()
    bulk = page.get_by_test_id("stExpander").filter(has_text="Defer or kill matches in bulk")
    bulk.locator("summary").click()
    choose(page, "Reason", REASON_CODES["no_need"])
    type_text(page, "Note", "not this year")
    page.get_by_text(f"Apply to all {len(skipped)} matches shown").click()
    settle(page)
    screenshot(page, "queue-bulk-kill")
    since = dt.datetime.now(dt.UTC)
    button(page, "Kill all shown").click()
    settle(page)

    expect(flash(page)).to_contain_text(f"{len(skipped)} matches killed")
    for match_id in skipped:
        decision = assert_decided(fresh_console.graph, match_id, "kill", AM_B, since)
        assert (decision["reason_code"], decision["reason"]) == ("no_need", "not this year")
        assert match_status(fresh_console.graph, match_id) == "killed"
    for match_id in others:
        assert decisions_on(fresh_console.graph, match_id) == []


def test_an_am_sees_nothing_of_another_ams_book(
    page: Page, console: ConsoleServer, world: World
) -> None:
    a_queue = open_queue(world.graph, AM_A)
    b_queue = open_queue(world.graph, AM_B)
    only_a = set(a_queue["account"].to_list()) - set(b_queue["account"].to_list())
    sign_in(page, AM_B, console)
    choose(page, "Rows per page", "200")

    shown = table_rows(page)
    assert len(shown) == b_queue.height
    assert {row["account"] for row in shown} == set(b_queue["account"].to_list())
    assert not only_a & {row["account"] for row in shown}

    a_match = a_queue.filter(pl.col("kind") == "match").row(0, named=True)
    page.goto(f"{console.url}why?match={a_match['item']}")
    settle(page)
    expect(flash(page)).to_contain_text(f"{AM_B} may not see {a_match['item']}")
    expect(button(page, "Validate")).to_have_count(0)
    if a_match["account"] in only_a:
        expect(page.get_by_text(a_match["account"])).to_have_count(0)
    screenshot(page, "why-refused")
