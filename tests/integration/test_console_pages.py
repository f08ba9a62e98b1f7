"""Issue 16: the queue and why pages, driven through Streamlit's AppTest (dev
sign-in) on both stores; several people at once; untrusted text shown as text."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from app.decisions import decide
from app.queue import queue_frame
from graph_model.store import GraphStore
from tests.support.console import (
    console_app,
    errors,
    fresh_caches,
    open_item,
    successes,
    warnings,
)
from tests.support.hand_graph import add_managers, build, hand_over


@pytest.fixture
def world(store: GraphStore) -> Iterator[GraphStore]:
    fresh_caches()
    build(store)
    add_managers(store)
    hand_over(store)
    yield store
    fresh_caches()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _match_items(store: GraphStore, am: str) -> list[str]:
    frame = queue_frame(store, am, now=_now())
    return frame.filter(pl.col("kind") == "match")["item"].to_list()


def _texts(at: AppTest) -> str:
    parts = [str(t.value) for t in at.text] + [str(h.value) for h in at.header]
    return "\n".join(parts)


def test_the_queue_page_lists_the_am_s_work_and_nobody_else_s(
    world: GraphStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = console_app(world.uri, "am-1", monkeypatch).run()
    assert not errors(at)
    assert at.title[0].value == "Queue"
    (table,) = at.dataframe
    shown = table.value
    mine = queue_frame(world, "am-1", now=_now())
    assert len(shown) == mine.height
    assert set(shown["account"]) == set(mine["account"].to_list())
    # am-2's accounts never appear in am-1's queue.
    theirs = set(queue_frame(world, "am-2", now=_now())["account"].to_list())
    assert not theirs & set(shown["account"])
    # A plain AM gets no Team page and no choice of queue.
    assert not [s for s in at.selectbox if s.key == "queue_whose"]


def test_filters_narrow_the_queue_and_a_saved_view_brings_them_back(
    world: GraphStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = console_app(world.uri, "am-1", monkeypatch).run()
    total = len(at.dataframe[0].value)
    at.multiselect(key="queue_kinds").set_value(["match"]).run()
    only = at.dataframe[0].value
    assert 0 < len(only) < total
    assert set(only["kind"]) == {"match"}
    at.text_input(key="queue_view_name").set_value("just matches").run()
    at.button[[b.label for b in at.button].index("Save view")].click().run()
    assert not errors(at)
    # A new session: filters start empty; picking the view restores them.
    again = console_app(world.uri, "am-1", monkeypatch).run()
    assert len(again.dataframe[0].value) == total
    again.selectbox(key="queue_view").set_value("just matches").run()
    assert set(again.dataframe[0].value["kind"]) == {"match"}
    # Another AM does not have it.
    other = console_app(world.uri, "am-2", monkeypatch).run()
    assert "just matches" not in other.selectbox(key="queue_view").options


def test_bulk_kill_of_everything_a_filter_shows(
    world: GraphStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = console_app(world.uri, "am-1", monkeypatch).run()
    at.multiselect(key="queue_kinds").set_value(["match"]).run()
    shown = _match_items(world, "am-1")
    assert shown
    kill_all = next(b for b in at.button if b.label == "Kill all shown")
    assert kill_all.disabled  # not without the confirmation
    at.selectbox(key="bulk_reason").set_value("bad_timing")
    at.text_input(key="bulk_note").set_value("budget frozen until Q3")
    at.checkbox(key="bulk_confirm_all").check().run()
    next(b for b in at.button if b.label == "Kill all shown").click().run()
    assert not errors(at)
    assert any(f"{len(shown)} matches killed" in s for s in successes(at))
    killed = world.get_nodes("Match", shown)
    assert set(killed["status"]) == {"killed"}
    decisions = world.nodes("Decision").filter(pl.col("kind") == "kill")
    assert decisions.height == len(shown)
    assert set(decisions["reason_code"]) == {"bad_timing"}
    assert set(decisions["reason"]) == {"budget frozen until Q3"}
    assert set(decisions["actor"]) == {"am-1"}
    # The queue no longer shows them.
    assert not set(shown) & set(_match_items(world, "am-1"))


def test_the_why_panel_validates_defers_and_kills(
    world: GraphStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    items = _match_items(world, "am-1")
    at = console_app(world.uri, "am-1", monkeypatch).run()
    open_item(at, items[0])
    assert not errors(at)
    assert at.title[0].value == "Why"
    assert [s.value for s in at.subheader][:2] == ["Decide", "Evidence"]
    at.button(key="why_validate").click().run()
    assert world.get_node("Match", items[0])["status"] == "validated"
    (decision,) = world.nodes("Decision").filter(pl.col("kind") == "validate").iter_rows(named=True)
    assert decision["actor"] == "am-1" and decision["role"] == "am"
    assert decision["decided_at"] is not None
    # Decided: the buttons are gone, the history shows it.
    assert not [b for b in at.button if b.key == "why_validate"]


def test_a_decision_on_a_match_someone_changed_meanwhile_is_refused_with_what_changed(
    world: GraphStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Point 9: two people at once; the second sees the first's decision on rerun."""
    items = _match_items(world, "am-1")
    ada = console_app(world.uri, "am-1", monkeypatch).run()
    open_item(ada, items[0])
    # Her manager kills it from their own session meanwhile.
    cy = console_app(world.uri, "am-3", monkeypatch).run()
    cy.selectbox(key="queue_whose").set_value("am-1").run()
    open_item(cy, items[0])
    cy.selectbox(key="why_reason").set_value("competitor")
    cy.button(key="why_kill").click().run()
    assert world.get_node("Match", items[0])["status"] == "killed"
    # Ada's page, rerun: it says the match changed; her validate is refused.
    ada.run()
    assert any("changed since you opened it" in w for w in warnings(ada))
    assert not [b for b in ada.button if b.key == "why_validate"]
    # Her queue shows the kill on its next run (reads are keyed by data version).
    queue = console_app(world.uri, "am-1", monkeypatch).run()
    assert items[0] not in _match_items(world, "am-1")
    assert len(queue.dataframe[0].value) == queue_frame(world, "am-1", now=_now()).height


def test_a_stale_click_is_refused_not_applied(
    world: GraphStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    items = _match_items(world, "am-1")
    ada = console_app(world.uri, "am-1", monkeypatch).run()
    open_item(ada, items[0])
    # Someone defers it through the API (the CLI) while Ada's page is open.
    decide(
        world,
        items[0],
        "defer",
        actor="am-3",
        defer_until=_now().date() + dt.timedelta(days=9),
    )
    # Ada clicks Kill on the page as she loaded it: the run that handles the click
    # keeps what she saw, so the decision is refused with what changed.
    ada.selectbox(key="why_reason").set_value("no_need")
    ada.button(key="why_kill").click().run()
    assert any("changed since you loaded it" in e and "am-3" in e for e in errors(ada))
    assert world.get_node("Match", items[0])["status"] == "deferred"
    assert world.nodes("Decision").filter(pl.col("kind") == "kill").is_empty()


def test_another_am_cannot_open_a_match_off_their_book(
    world: GraphStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    items = _match_items(world, "am-1")
    ben = console_app(world.uri, "am-2", monkeypatch).run()
    offered = [s.options for s in ben.selectbox if s.key == "queue_open"]
    assert not any(items[0] in options for options in offered)
    # Straight to the why panel with someone else's match (a shared link): refused,
    # and nothing of the match is shown.
    monkeypatch.setenv("TWOLOOP_GRAPH_URI", world.uri)
    direct = AppTest.from_function(_why_page_as, args=("am-2",), default_timeout=120)
    direct.query_params["match"] = items[0]
    direct.run()
    assert any("neither am-1's manager nor an admin" in e for e in errors(direct))
    assert not direct.subheader and not direct.dataframe
    # Her manager may open it.
    manager = AppTest.from_function(_why_page_as, args=("am-3",), default_timeout=120)
    manager.query_params["match"] = items[0]
    manager.run()
    assert not errors(manager)
    assert manager.subheader[0].value == "Decide"


def _why_page_as(user: str) -> None:
    """The why page alone, for ``user`` (a script for AppTest.from_function)."""
    from app.actors import identify
    from app.console import session
    from app.console.screens import why
    from graph_model.settings import load_settings

    settings = load_settings()
    store = session.open_store(settings)
    actor = identify(store, user, action="sign in", item="the console")
    why.render(session.Console(store=store, actor=actor, settings=settings))


INJECTIONS = [
    "<script>alert('x')</script>",
    "[click me](javascript:alert(1))",
    "**bold** _it_ `code` # heading",
    "<img src=x onerror=alert(1)>",
    "\u202eevil\u202c right-to-left",
    "x" * 5000,
]


def test_untrusted_text_from_the_graph_is_shown_as_text(
    world: GraphStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Point 8: account names and signal texts from the injection corpus never reach
    a markdown element unescaped, and right-to-left overrides are dropped."""
    accounts = world.nodes("Account")
    renamed = [
        {**row, "name": INJECTIONS[i % len(INJECTIONS)]}
        for i, row in enumerate(accounts.iter_rows(named=True))
    ]
    world.upsert_nodes("Account", renamed)
    signals = world.nodes("Signal")
    world.upsert_nodes(
        "Signal",
        [
            {**row, "text": INJECTIONS[i % len(INJECTIONS)]}
            for i, row in enumerate(signals.iter_rows(named=True))
        ],
    )
    at = console_app(world.uri, "am-1", monkeypatch).run()
    items = _match_items(world, "am-1")
    open_item(at, items[0])
    assert not errors(at)
    markdown = [str(m.value) for m in at.markdown] + [str(h.value) for h in at.header]
    markdown += [str(c.value) for c in at.caption] + [str(w.value) for w in at.warning]
    for body in markdown:
        # Escaped (\<script\>) reads as text; a bare tag would be markup.
        assert not re.search(r"(?<!\\)<(script|img)", body)
        assert not re.search(r"(?<!\\)\[click me(?<!\\)\]\(", body)
        assert "\u202e" not in body
    text = _texts(at)
    assert "\u202e" not in text
