"""The queue page: the signed-in AM's work, best first, with filters, saved views,
pages of rows, and bulk defer and kill.

The filters, the page and whose queue persist for the session (Streamlit drops a
keyed widget's value on a switch to another page otherwise), so an AM who opens
a match and comes back finds the queue as they left it.

Everything on it comes from ``app.queue (the frame and its filters, saved
views) and ``app.decisions.decide_many`` (bulk decisions).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
import streamlit as st

from app import queue
from app.console.session import Console
from app.console.text import clean, flash, notice
from app.decisions import REASON_CODES, decide_many
from graph_model.errors import TwoloopError

PAGE_SIZES = (25, 50, 100, 200)
FLASH = "queue_flash"
EVERYONE = "__everyone__"
# The short columns that decide what to do first; the long texts at the end.
SHOWN = {
    "kind": "Kind",
    "account": "Account",
    "capability": "Capability",
    "score": "Score",
    "action": "Action",
    "age": "Age",
    "stale": "Stale",
    "weak": "Weak case",
    "rule": "Rule",
    "reason": "Reason",
    "what": "What",
    "status": "Status",
}


def render(console: Console) -> None:
    st.title("Queue")
    flash(FLASH)
    books = console.read(queue.books, console.actor)
    if not books:
        st.write("There is no account manager's queue you may see.")
        return
    of = _whose(console, books)
    status = st.selectbox("Status", queue.STATUSES, key="queue_status", persist_state="session")
    frame = console.read(
        queue.queue_frame,
        console.actor,
        now=console.now.replace(minute=0, second=0, microsecond=0),
        of=tuple(of),
        status=status,
        stale_days=console.settings.console_stale_days,
    )
    wanted = _filters(console, frame, status)
    shown = queue.apply_filter(frame, wanted)
    st.caption(f"{shown.height:,} items shown of {frame.height:,}")
    rows = _table(shown)
    _open(rows)
    _bulk(console, shown, rows)


def _whose(console: Console, books: list[str]) -> list[str]:
    if len(books) == 1:
        return books
    options = [*books, EVERYONE]
    chosen = st.selectbox(
        "Whose queue",
        options,
        key="queue_whose",
        persist_state="session",
        format_func=lambda b: "Everyone I can see" if b == EVERYONE else clean(b),
    )
    return books if chosen == EVERYONE else [chosen]


def _filters(console: Console, frame: pl.DataFrame, status: str) -> queue.QueueFilter:
    views = console.read(queue.saved_views, console.actor)
    choices = queue.options(frame)
    with st.expander("Filters and saved views", expanded=True):
        view_cols = st.columns([3, 3, 1.2, 1.2])
        picked = view_cols[0].selectbox(
            "Saved view",
            ["", *views],
            key="queue_view",
            persist_state="session",
            format_func=lambda v: clean(v) or "-",
            # Applied before the next run draws the filters (a callback may set them).
            on_change=lambda: _apply_view(views.get(st.session_state.get("queue_view") or "")),
        )
        cols = st.columns(4)
        actions = cols[0].multiselect(
            "Action", choices.actions, key="queue_actions", persist_state="session"
        )
        kinds = cols[1].multiselect(
            "Kind", choices.kinds, key="queue_kinds", persist_state="session"
        )
        tiers = cols[2].multiselect(
            "Tier", choices.tiers, key="queue_tiers", persist_state="session"
        )
        capabilities = cols[3].multiselect(
            "Capability",
            choices.capabilities,
            key="queue_capabilities",
            persist_state="session",
            format_func=clean,
        )
        cols = st.columns(3)
        min_score = cols[0].slider(
            "Minimum score", 0.0, 1.0, step=0.05, key="queue_min_score", persist_state="session"
        )
        min_age = cols[1].number_input(
            "Minimum age (days)",
            min_value=0.0,
            step=1.0,
            key="queue_min_age",
            persist_state="session",
        )
        stale_only = cols[2].checkbox("Stale only", key="queue_stale", persist_state="session")
        wanted = queue.QueueFilter(
            actions=tuple(actions),
            kinds=tuple(kinds),
            tiers=tuple(tiers),
            capabilities=tuple(capabilities),
            min_score=float(min_score),
            min_age_days=float(min_age),
            status=status,
            stale_only=bool(stale_only),
        )
        name = view_cols[1].text_input("Save these filters as", key="queue_view_name")
        if view_cols[2].button("Save view", disabled=not name.strip()):
            queue.save_view(console.store, console.actor, name, wanted, now=console.now)
            st.session_state[FLASH] = ("success", f"saved view {name.strip()}")
            console.refresh()
            st.rerun()
        if view_cols[3].button("Delete view", disabled=not picked):
            queue.delete_view(console.store, console.actor, picked)
            st.session_state[FLASH] = ("success", f"deleted view {picked}")
            console.refresh()
            st.rerun()
    return wanted


def _apply_view(wanted: queue.QueueFilter | None) -> None:
    if wanted is None:
        return
    st.session_state["queue_actions"] = list(wanted.actions)
    st.session_state["queue_kinds"] = list(wanted.kinds)
    st.session_state["queue_tiers"] = list(wanted.tiers)
    st.session_state["queue_capabilities"] = list(wanted.capabilities)
    st.session_state["queue_min_score"] = wanted.min_score
    st.session_state["queue_min_age"] = wanted.min_age_days
    st.session_state["queue_stale"] = wanted.stale_only
    st.session_state["queue_status"] = wanted.status


def _table(shown: pl.DataFrame) -> pl.DataFrame:
    """One page of rows in a selectable table; returns the page's rows."""
    cols = st.columns([1, 1, 4])
    size = cols[0].selectbox(
        "Rows per page", PAGE_SIZES, index=1, key="queue_page_size", persist_state="session"
    )
    pages = max(1, -(-shown.height // size))
    number = int(
        cols[1].number_input("Page", 1, pages, 1, key="queue_page", persist_state="session")
    )
    rows = queue.page(shown, number, size)
    view = rows.with_columns(
        pl.col("age_days").map_elements(_age, return_dtype=pl.String).alias("age"),
        pl.col("score").round(2),
    ).select(list(SHOWN))
    st.dataframe(
        view,
        hide_index=True,
        width="stretch",
        on_select="rerun",
        selection_mode="multi-row",
        key="queue_table",
        column_config={name: title for name, title in SHOWN.items()},
    )
    return rows


def _age(days: float) -> str:
    if days >= 1:
        return f"{int(days)}d"
    hours = days * 24
    return f"{int(hours)}h" if hours >= 1 else f"{int(hours * 60)}m"


def _selected(rows: pl.DataFrame) -> pl.DataFrame:
    state: Any = st.session_state.get("queue_table")
    picked = list(getattr(getattr(state, "selection", None), "rows", None) or [])
    if not picked and isinstance(state, dict):
        picked = list(state.get("selection", {}).get("rows", []))
    picked = [i for i in picked if 0 <= i < rows.height]
    return rows[picked] if picked else rows.clear()


def _open(rows: pl.DataFrame) -> None:
    """Open one item of the page: a match in the why panel, anything else (drafts,
    escalations, tasks, sends, replies, play runs) on the drafts and escalations
    page."""
    if rows.is_empty():
        return
    items: list[str] = [str(i) for i in rows["item"].to_list()]
    described = {
        r["item"]: " - ".join(filter(None, [r["account"], r["capability"]]))
        + f" ({r['kind']}, {r['action']})"
        + (f": {r['reason']}" if r["kind"] in ("play", "reply") and r["reason"] else "")
        for r in rows.iter_rows(named=True)
    }
    selected = _selected(rows)
    default = items.index(selected["item"][0]) if selected.height else 0
    cols = st.columns([5, 1])
    chosen = cols[0].selectbox(
        "Item to open",
        items,
        index=default,
        key="queue_open",
        format_func=lambda i: clean(described[i]),
    )
    if cols[1].button("Open item", key="queue_open_button") and chosen is not None:
        kind = rows.filter(pl.col("item") == chosen)["kind"][0]
        if kind == "match":
            st.session_state["why_match"] = chosen
            st.switch_page(_page("why"), query_params={"match": chosen})
        st.session_state["items_item"] = chosen
        st.switch_page(_page("items"), query_params={"item": chosen})


def _page(url_path: str) -> Any:
    for page in st.session_state.get("console_pages", []):
        if page.url_path == url_path:
            return page
    raise RuntimeError(f"no console page {url_path}")


def _bulk(console: Console, shown: pl.DataFrame, rows: pl.DataFrame) -> None:
    matches_shown = shown.filter(pl.col("kind") == "match")["item"].to_list()
    selected = _selected(rows).filter(pl.col("kind") == "match")["item"].to_list()
    with st.expander("Defer or kill matches in bulk", expanded=bool(selected)):
        cols = st.columns(3)
        code = cols[0].selectbox(
            "Reason", list(REASON_CODES), key="bulk_reason", format_func=lambda c: REASON_CODES[c]
        )
        note = cols[1].text_input("Note", key="bulk_note")
        until = cols[2].date_input(
            "Defer until",
            value=console.now.date() + dt.timedelta(days=14),
            min_value=console.now.date() + dt.timedelta(days=1),
            key="bulk_until",
        )
        st.caption(
            f"{len(selected)} selected matches; {len(matches_shown)} matches shown by the filters "
            "(other kinds of items are not decided in bulk)."
        )
        confirm_all = st.checkbox(
            f"Apply to all {len(matches_shown)} matches shown", key="bulk_confirm_all"
        )
        cols = st.columns(4)
        todo: tuple[str, list[str]] | None = None
        if cols[0].button("Defer selected", disabled=not selected):
            todo = ("defer", selected)
        if cols[1].button("Kill selected", disabled=not selected):
            todo = ("kill", selected)
        if cols[2].button("Defer all shown", disabled=not (matches_shown and confirm_all)):
            todo = ("defer", matches_shown)
        if cols[3].button("Kill all shown", disabled=not (matches_shown and confirm_all)):
            todo = ("kill", matches_shown)
    if todo is None:
        return
    kind, ids = todo
    try:
        result = decide_many(
            console.store,
            ids,
            kind,
            actor=console.actor,
            reason=note or None,
            reason_code=code if kind == "kill" else None,
            defer_until=until if kind == "defer" and isinstance(until, dt.date) else None,
            now=console.now,
        )
    except TwoloopError as exc:
        notice("error", exc)
        return
    done = "deferred" if kind == "defer" else "killed"
    told = f"{len(result.decided)} matches {done}"
    if result.conflicts:
        told += f"; {len(result.conflicts)} were already decided or gone"
    if result.refused:
        told += f"; {len(result.refused)} are not on your book"
    st.session_state[FLASH] = ("success" if result.decided else "warning", told)
    st.session_state.pop("bulk_confirm_all", None)
    console.refresh()
    st.rerun()
