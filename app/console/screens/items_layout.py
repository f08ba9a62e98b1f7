"""What every card on the "Drafts and escalations" page is drawn with: a bordered
card per item, an action that reads afresh and reruns, times, plain-text tables,
links to other items, and an API refusal as one clear line.

Graph text goes only through ``app.console.text``: cards show it as text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import polars as pl
import streamlit as st

from app.console.session import Console
from app.console.text import clean, field, label
from graph_model.errors import TwoloopError

FLASH = "items_flash"
ITEM_PARAM = "item"
# Ids twoloop makes (d-..., dr-..., pr-..., t-...; CRM ids of replies): only these
# become a link's query; anything else is shown as text.
_ITEM_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@<>-]{0,120}$")


def each(rows: Sequence[Any], nothing: str, draw: Callable[[Any], None]) -> None:
    if not rows:
        st.caption(nothing)
    for row in rows:
        with st.container(border=True):
            draw(row)


def error(exc: TwoloopError) -> None:
    """An API refusal as one clear line; its text may quote graph text, so escaped."""
    st.error(label(str(exc), limit=1500))


def act(console: Console, done: str | Callable[[Any], str], action: Callable[[], Any]) -> None:
    """Run an API call; on success read afresh and rerun so the lists update.
    ``done``: what to tell the AM, or how to say it from the call's result."""
    try:
        result = action()
    except TwoloopError as exc:
        error(exc)
        return
    console.refresh()
    st.session_state[FLASH] = ("success", done if isinstance(done, str) else done(result))
    st.rerun()


def when(value: Any) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC" if value is not None else "-"


def day(value: Any) -> str:
    """A date as the AM says it: Fri 27 Nov."""
    return f"{value:%a %d %b}" if value is not None else "-"


def table(rows: list[dict[str, Any]]) -> None:
    """Rows of graph text as a plain-text table."""
    if not rows:
        return
    columns = list(rows[0])
    frame = pl.DataFrame(
        {c: [clean(r.get(c), limit=2000) for r in rows] for c in columns},
        schema={c: pl.String for c in columns},
    )
    st.dataframe(frame, hide_index=True, width="stretch")


def closed(status: str, open_status: str | tuple[str, ...]) -> bool:
    """A decided item (opened by its id): its status, and no actions."""
    if status == open_status or (isinstance(open_status, tuple) and status in open_status):
        return False
    field("Status", status)
    st.caption("Already decided: there is nothing left to do on it.")
    return True


def item_link(item_id: str, text: str, *, on: str) -> None:
    """A link-styled button that opens ``item_id`` on this page (``?item=<id>``, the
    same address the queue opens); ``text`` is escaped. ``on``: the card it is on,
    so the same item linked from two cards has two widgets."""
    if not _ITEM_ID.match(item_id):
        st.text(clean(f"{text} ({item_id})"))
        return
    # st.page_link to the page one is on does not change its query: a rerun does.
    if st.button(label(text), key=f"items_open_{on}_{item_id}", type="tertiary"):
        st.query_params[ITEM_PARAM] = item_id
        st.rerun()
