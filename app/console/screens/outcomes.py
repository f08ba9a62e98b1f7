"""The outcomes page: what became of the matches (``app.analysis.funnel``), whether
scores mean what they say (``calibration``), and the score model's versions
(``learning_versions``), which an admin may roll back (``app.learning``)."""

from __future__ import annotations

import altair as alt
import polars as pl
import streamlit as st

from app import analysis
from app.console.session import Console
from app.console.text import label
from app.learning import roll_back
from app.queue import books
from graph_model.errors import TwoloopError

FLASH = "outcomes_flash"
GROUP_LABELS = {
    "AM": "am",
    "capability": "capability",
    "routing rule": "rule",
    "metapath": "metapath",
}


def _books(console: Console) -> tuple[str, ...] | None:
    """The AMs whose matches the actor may see; None (every match) for an admin."""
    if console.actor.admin:
        return None
    return tuple(console.read(books, console.actor))


def render(console: Console) -> None:
    st.title("Outcomes")
    if FLASH in st.session_state:
        st.success(label(st.session_state.pop(FLASH), limit=300))
    ams = _books(console)
    _funnel(console, ams)
    _calibration(console, ams)
    _versions(console)


def _funnel(console: Console, ams: tuple[str, ...] | None) -> None:
    st.subheader("Funnel")
    st.caption(
        "Per match: surfaced, decided (validate, defer or kill), drafted, sent, then a "
        "reply (an inbound activity on the account after the send) or an opportunity "
        "(a deal for the account opened after the match). Under *metapath* a match "
        "counts once for every metapath that gave it evidence."
    )
    grouping = st.selectbox("Group by", list(GROUP_LABELS), key="outcomes_group")
    frame = console.read(analysis.funnel, by=GROUP_LABELS[grouping], ams=ams)
    if frame.is_empty():
        st.write("No matches yet.")
        return
    stages = analysis.funnel_stages(frame)
    chart = (
        alt.Chart(stages.to_pandas())
        .mark_bar()
        .encode(
            x=alt.X("stage:N", sort=list(analysis.STAGES), title="stage"),
            xOffset=alt.XOffset("group:N"),
            y=alt.Y("matches:Q", title="matches"),
            color=alt.Color("group:N", title=grouping),
            tooltip=["group:N", "stage:N", "matches:Q"],
        )
    )
    st.altair_chart(chart, width="stretch")
    st.dataframe(frame, hide_index=True, column_config={"group": grouping})


def _calibration(console: Console, ams: tuple[str, ...] | None) -> None:
    st.subheader("Calibration")
    st.caption(
        "Acceptance by the score the AM saw: validated, approved or edited over every "
        "labelled decision (kills and cancels reject; defers do not count)."
    )
    frame = console.read(analysis.calibration, ams=ams)
    chart = frame.select(
        pl.col("band").alias("score band"),
        pl.col("acceptance_rate").fill_null(0.0).alias("acceptance rate"),
    )
    st.bar_chart(chart, x="score band", y="acceptance rate")
    st.dataframe(
        frame,
        hide_index=True,
        column_config={
            "acceptance_rate": st.column_config.NumberColumn("acceptance rate", format="percent")
        },
    )


def _versions(console: Console) -> None:
    st.subheader("Learning")
    st.caption(
        "Score-model versions, oldest first; held-out metrics compare each version with "
        "the one it replaced on the same held-out decisions."
    )
    versions = console.read(analysis.learning_versions)
    st.dataframe(versions, hide_index=True)
    learned = versions.filter(pl.col("auc_after").is_not_null())
    if learned.height:
        long = learned.select("model_id", "auc_before", "auc_after").unpivot(
            index="model_id", variable_name="model", value_name="held-out AUC"
        )
        chart = (
            alt.Chart(long.to_pandas())
            .mark_bar()
            .encode(
                x=alt.X("model_id:N", title="version", sort=None),
                xOffset="model:N",
                y="held-out AUC:Q",
                color=alt.Color("model:N", title="held-out AUC"),
            )
        )
        st.altair_chart(chart, width="stretch")
    if not console.actor.admin:
        return
    active = versions.filter(pl.col("active"))["model_id"].to_list()
    choices = [v for v in versions["model_id"].to_list() if v not in active]
    if not choices:
        return
    target = st.selectbox("Roll back to", choices, index=len(choices) - 1, key="outcomes_to")
    if st.button("Roll back", key="outcomes_roll_back"):
        try:
            now_active = roll_back(console.store, console.actor, target)
        except TwoloopError as exc:
            st.error(label(" ".join(str(exc).split()), limit=1000))
            return
        st.session_state[FLASH] = f"Active score model: {now_active} (the next match run uses it)."
        console.refresh()
        st.rerun()
