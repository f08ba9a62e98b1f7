"""Drafts in a real browser: an AM edits a draft and sends it, or approves one as
written, and the outbox holds each body exactly once; untrusted text from the
graph reaches the page source as text, never as markup or links."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from playwright.sync_api import Page, expect

from app.queue import queue_frame
from graph_model import connect
from tests.support.browser import (
    ConsoleServer,
    button,
    choose,
    screenshot,
    settle,
    sign_in,
)

pytestmark = pytest.mark.browser

AM_A = "005A00000"


def drafts_waiting(graph: Path, am: str) -> list[dict[str, Any]]:
    with connect(str(graph)) as store:
        frame = queue_frame(store, am, now=dt.datetime.now(dt.UTC))
    return frame.filter(pl.col("kind") == "draft").to_dicts()


def outbox_of(graph: Path, draft_id: str) -> list[dict[str, Any]]:
    with connect(str(graph)) as store:
        queued = store.edges("QUEUED_FROM", touching=[draft_id], side="target")
        if queued.is_empty():
            return []
        return store.get_nodes("OutboxMessage", queued["src"]).to_dicts()


def open_draft(page: Page, draft: dict[str, Any]) -> None:
    choose(page, "Item to open", f"{draft['account']} - {draft['capability']} (draft,", exact=False)
    button(page, "Open item").click()
    expect(page.get_by_role("heading", name="Drafts and escalations", exact=True)).to_be_visible()
    expect(page).to_have_url(re.compile(rf"/items\?item={draft['item']}$"))
    settle(page)


def test_an_am_edits_a_draft_and_the_outbox_holds_the_edited_body_once(
    page: Page, fresh_console: ConsoleServer
) -> None:
    draft = drafts_waiting(fresh_console.graph, AM_A)[0]
    sign_in(page, AM_A, fresh_console)
    open_draft(page, draft)
    body = page.get_by_role("textbox", name="Body", exact=True)
    written = body.input_value()
    edited = written.rstrip() + "\n\nHappy to walk you through it on a short call."
    body.fill(edited)
    body.press("Control+Enter")  # a text area commits its value on blur or Ctrl+Enter
    settle(page)
    screenshot(page, "draft-edit")
    button(page, "Send edited").click()
    settle(page)
    if button(page, "Send anyway").count():
        # The guard stopped something in the offline draft: confirmed on purpose.
        button(page, "Send anyway").click()
        settle(page)
    expect(page.get_by_test_id("stAlert").first).to_be_visible()
    [message] = outbox_of(fresh_console.graph, draft["item"])
    assert message["body"].startswith(edited.strip().splitlines()[0])
    assert "Happy to walk you through it on a short call." in message["body"]
    # Pressing again (a double click, a reload) sends nothing twice.
    page.reload()
    settle(page)
    assert len(outbox_of(fresh_console.graph, draft["item"])) == 1
    with connect(str(fresh_console.graph)) as store:
        status = store.get_node("Draft", draft["item"])["status"]
    assert status == "edited"


def test_an_am_approves_a_draft_as_written(page: Page, fresh_console: ConsoleServer) -> None:
    draft = drafts_waiting(fresh_console.graph, AM_A)[0]
    sign_in(page, AM_A, fresh_console)
    open_draft(page, draft)
    written = page.get_by_role("textbox", name="Body", exact=True).input_value()
    button(page, "Approve").click()
    settle(page)
    [message] = outbox_of(fresh_console.graph, draft["item"])
    assert written.strip().splitlines()[0] in message["body"]
    assert (message["released_by"], message["released_role"]) == (AM_A, "am")


INJECTED = "<script>window.__pwned=1</script><img src=x onerror=window.__pwned=2>"
LINK = "[claim your prize](javascript:window.__pwned=3)"


def test_untrusted_text_reaches_the_page_source_as_text(
    page: Page, fresh_console: ConsoleServer
) -> None:
    """Point 8, in the browser: account names, signal texts and a draft carry
    markup, a markdown link, a right-to-left override and a very long string; the
    page shows them as text, and its source has no element or link made of them."""
    graph = fresh_console.graph
    draft = drafts_waiting(graph, AM_A)[0]
    with connect(str(graph)) as store:
        accounts = store.nodes("Account")
        store.upsert_nodes(
            "Account",
            [
                {**row, "name": f"{INJECTED} {LINK} \u202eevil {row['name']}"}
                for row in accounts.iter_rows(named=True)
            ],
        )
        store.upsert_nodes(
            "Signal",
            [
                {**row, "text": f"{INJECTED} {LINK} " + "long " * 2000}
                for row in store.nodes("Signal").iter_rows(named=True)
            ],
        )
        row = store.get_node("Draft", draft["item"])
        store.upsert_nodes("Draft", [{**row, "subject": f"{INJECTED} {LINK}"}])
    sign_in(page, AM_A, fresh_console)
    pages = {"queue": page.url}
    match = next(d for d in _queue(graph) if d["kind"] == "match")
    choose(page, "Item to open", "(match,", exact=False)
    button(page, "Open item").click()
    expect(page.get_by_role("heading", name="Why", exact=True)).to_be_visible()
    settle(page)
    _check_source(page)
    pages["why"] = page.url
    page.goto(f"{fresh_console.url}items?item={draft['item']}")
    settle(page)
    _check_source(page)
    for url in pages.values():
        page.goto(url)
        settle(page)
        _check_source(page)
    assert match["account"].startswith("<script>")


def _queue(graph: Path) -> list[dict[str, Any]]:
    with connect(str(graph)) as store:
        return queue_frame(store, AM_A, now=dt.datetime.now(dt.UTC)).to_dicts()


def _check_source(page: Page) -> None:
    source = page.content()
    assert page.evaluate("window.__pwned === undefined"), "injected script ran"
    assert page.locator("script", has_text="__pwned").count() == 0
    assert page.locator("img[src='x']").count() == 0
    assert page.locator("a[href^='javascript']").count() == 0
    assert not re.search(r"<a [^>]*href=\"javascript", source, re.I)
    assert "\u202e" not in source
    # Shown: the markup as text, escaped in the source.
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in source
