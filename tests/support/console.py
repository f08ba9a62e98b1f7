"""Driving the console in-process with Streamlit's AppTest (dev sign-in)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

MAIN = Path(__file__).resolve().parents[2] / "app" / "console" / "main.py"
ITEMS_TIMEOUT = 60


def console_app(uri: str, user: str | None, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    """The console on ``uri``, signed in (dev) as ``user``; not run yet."""
    monkeypatch.setenv("TWOLOOP_GRAPH_URI", uri)
    monkeypatch.setenv("TWOLOOP_CONSOLE_AUTH", "dev")
    at = AppTest.from_file(str(MAIN), default_timeout=120)
    if user is not None:
        at.session_state["console_dev_user"] = user
    return at


def fresh_caches() -> None:
    """Caches live as long as the process; tests that wipe a Neo4j database start the
    data version again, so each test starts with empty caches."""
    st.cache_data.clear()


def open_item(at: AppTest, item: str) -> AppTest:
    """Open ``item`` from the queue page (a match goes to the why panel)."""
    chooser = at.selectbox(key="queue_open")
    chooser.set_value(item)
    at.button(key="queue_open_button").click()
    return at.run()


def plain(markdown: object) -> str:
    """A message box's text as the person reads it (the console escapes markdown)."""
    return re.sub(r"\\(.)", r"\1", str(markdown))


def errors(at: AppTest) -> list[str]:
    return [plain(e.value) for e in at.error] + [str(e.value) for e in at.exception]


def warnings(at: AppTest) -> list[str]:
    return [plain(w.value) for w in at.warning]


def successes(at: AppTest) -> list[str]:
    return [plain(s.value) for s in at.success]


def items_page() -> None:
    """The console's script, down to the items page (main.py's pages are callables,
    which AppTest cannot switch to). Self-contained: AppTest runs its source."""
    from app.console import session
    from app.console.auth import signed_in
    from app.console.screens import items
    from graph_model.settings import load_settings

    settings = load_settings()
    store = session.open_store(settings)
    actor = signed_in(store, settings)
    items.render(session.Console(store=store, actor=actor, settings=settings))


def items_env(monkeypatch: pytest.MonkeyPatch, graph: str, sending: Path) -> None:
    """Dev sign-in on ``graph``, sending configured by ``sending``; no admins, no
    Claude key, the shipped plays."""
    monkeypatch.setenv("TWOLOOP_CONSOLE_AUTH", "dev")
    monkeypatch.setenv("TWOLOOP_GRAPH_URI", graph)
    monkeypatch.setenv("TWOLOOP_SENDING_CONFIG", str(sending))
    for name in ("TWOLOOP_ADMINS", "TWOLOOP_PLAYS_FILE", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("TWOLOOP_ANTHROPIC_API_KEY", raising=False)


def open_items(am: str, *, item: str | None = None) -> AppTest:
    """The items page run once, signed in (dev) as ``am``, with ``?item=`` if given;
    a traceback fails the test."""
    at = AppTest.from_function(items_page, default_timeout=ITEMS_TIMEOUT)
    at.session_state["console_dev_user"] = am
    if item:
        at.query_params["item"] = item
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at
