"""The team page, for managers and admins: each report's queue and pace
(``app.analysis.team_stats``), and moving an item to another AM
(``app.reassign``)."""

from __future__ import annotations

import datetime as dt

import polars as pl
import streamlit as st

from app import analysis
from app.console.session import Console
from app.console.text import clean, label
from app.queue import books
from app.reassign import reassign, reassignable, targets
from graph_model.errors import TwoloopError

FLASH = "team_flash"


def visible(console: Console) -> bool:
    """Admins, and anyone with a report (whose books include more than their own)."""
    if console.actor.admin:
        return True
    return len(console.read(books, console.actor)) > 1


def render(console: Console) -> None:
    st.title("Team")
    # Minutes: a rerun within the same minute reads from the cache.
    now = console.now.replace(second=0, microsecond=0)
    stats = console.read(analysis.team_stats, console.actor, now)
    if FLASH in st.session_state:
        st.success(label(st.session_state.pop(FLASH), limit=300))
    st.subheader("Queues and pace")
    st.caption(
        "Open items per AM and the age of the oldest; decisions made by or for each AM "
        "over the last four weeks, and the share of match decisions that validated or killed."
    )
    st.dataframe(
        stats,
        hide_index=True,
        column_config={
            "am_id": "AM",
            "name": "Name",
            "queue": "Open items",
            "oldest_days": st.column_config.NumberColumn("Oldest (days)", format="%.1f"),
            "decisions": "Decisions (4 weeks)",
            "decisions_per_week": st.column_config.NumberColumn("Per week", format="%.1f"),
            "validated": "Validated",
            "killed": "Killed",
            "validate_rate": st.column_config.NumberColumn("Validate rate", format="percent"),
            "kill_rate": st.column_config.NumberColumn("Kill rate", format="percent"),
        },
    )
    if stats.height:
        chart = stats.select(
            pl.col("am_id").alias("AM"),
            pl.col("queue").alias("Open items"),
            pl.col("decisions_per_week").alias("Decisions per week"),
        )
        st.bar_chart(chart, x="AM", y=["Open items", "Decisions per week"], stack=False)
    _reassign_form(console, now)


def _reassign_form(console: Console, now: dt.datetime) -> None:
    st.subheader("Reassign")
    items = console.read(reassignable, console.actor, now=now)
    people = console.read(targets, console.actor)
    if items.is_empty():
        st.write("Nothing open in your reports' queues.")
        return
    rows = {r["item"]: r for r in items.iter_rows(named=True)}
    names = dict(zip(people["am_id"].to_list(), people["name"].to_list(), strict=True))

    def describe(item: str) -> str:
        r = rows[item]
        return clean(
            f"{r['kind']} {item} · {r['am_id']} · {r['account'] or '-'} · {r['what'] or ''}",
            limit=160,
        ).replace("\n", " ")

    chosen = st.selectbox("Item", list(rows), format_func=describe, key="team_item")
    to = st.selectbox(
        "Reassign to",
        list(names),
        format_func=lambda am: clean(f"{names[am]} ({am})", limit=120),
        key="team_to",
    )
    note = st.text_input("Note", key="team_note", max_chars=500)
    if st.button("Reassign", type="primary", key="team_reassign"):
        if chosen is None or to is None:
            st.error("Choose an item and who to hand it to.")
            return
        try:
            done = reassign(
                console.store, chosen, to, actor=console.actor, now=console.now, note=note or None
            )
        except TwoloopError as exc:
            st.error(label(" ".join(str(exc).split()), limit=1000))
            return
        st.session_state[FLASH] = f"Moved {done.item} from {done.from_am} to {done.to_am}."
        console.refresh()
        st.rerun()
