"""The why panel: one match's evidence, score, runner-ups, contact and graph, with
validate, defer and kill.

The match is read with ``app.why.match_why`` (refused off the actor's book). The
state the AM first saw is kept in the session until they act or reload, and
every decision passes it to ``app.decisions.decide(seen=...)``: a match that a
new run rescored, or someone else decided, since the AM opened it is refused
with what changed, never decided blindly.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
import streamlit as st
from streamlit_cytoscape import EdgeStyle, NodeStyle, streamlit_cytoscape

from app.console.session import Console
from app.console.text import clean, field, flash, label, notice, safe_url
from app.decisions import REASON_CODES, decide
from app.why import MatchWhy, graph_elements, match_why
from graph_model.errors import TwoloopError

SEEN = "why_seen"
FLASH = "why_flash"
_COLORS = {
    "Account": "#2A629A",
    "Capability": "#FF7F3E",
    "Need": "#7B2CBF",
    "Signal": "#38A169",
    "Person": "#D53F8C",
    "Opportunity": "#B7791F",
    "Technology": "#4A5568",
    "Industry": "#319795",
    "AccountManager": "#C05621",
}


def render(console: Console) -> None:
    st.title("Why")
    flash(FLASH)
    match_id = st.query_params.get("match") or st.session_state.get("why_match")
    if not match_id:
        st.write("Open a match from the queue to see why it is there.")
        return
    st.session_state["why_match"] = match_id
    try:
        why = console.read(match_why, match_id, actor=console.actor)
    except TwoloopError as exc:
        notice("error", exc)
        return
    seen = st.session_state.setdefault(SEEN, {}).setdefault(match_id, why.seen)
    _header(why)
    if why.seen != seen:
        notice(
            "warning",
            "This match changed since you opened it (a new run or someone's decision): "
            "deciding now is refused. Reload to see it as it is.",
        )
        if st.button("Reload"):
            st.session_state[SEEN].pop(match_id, None)
            st.rerun()
    _actions(console, why, seen)
    _evidence(why)
    cols = st.columns(2)
    with cols[0]:
        _score(why)
    with cols[1]:
        _runner_ups(why)
    _graph(why)
    _history(why)


def _header(why: MatchWhy) -> None:
    st.header(label(f"{why.account} - {why.capability}"))
    cols = st.columns(4)
    cols[0].metric("Score", f"{why.score:.2f}")
    cols[1].metric("Status", why.status)
    cols[2].metric("Case", "weak" if why.weak else "strong")
    cols[3].metric("Model", why.model_version)
    if why.route:
        action = why.route["action"] + (f":{why.route['kind']}" if why.route.get("kind") else "")
        field("Routed action", f"{action} [{why.route['rule']}] {why.route['reason']}")
    else:
        field("Routed action", "not routed yet (the agent loop routes it on its next run)")
    field("Summary", why.explanation)
    if why.contact:
        c = why.contact
        who = c.get("name") or c["person_id"]
        title = f" ({c['title']})" if c.get("title") else ""
        field("Contact", f"{who}{title}: {c.get('reason') or ''}")
    else:
        field("Contact", "nobody at the account fits the buyer personas")


def _actions(console: Console, why: MatchWhy, seen: dict[str, Any]) -> None:
    if why.status not in ("proposed", "deferred"):
        st.caption("This match is decided; its history is below.")
        return
    st.subheader("Decide")
    cols = st.columns(3)
    with cols[0]:
        st.caption("Worth pursuing: it goes on to drafting and routing.")
        validate = st.button("Validate", type="primary", key="why_validate")
    with cols[1]:
        until = st.date_input(
            "Defer until",
            value=console.now.date() + dt.timedelta(days=14),
            min_value=console.now.date() + dt.timedelta(days=1),
            key="why_until",
        )
        defer = st.button("Defer", key="why_defer")
    with cols[2]:
        code = st.selectbox(
            "Reason", list(REASON_CODES), key="why_reason", format_func=lambda c: REASON_CODES[c]
        )
        note = st.text_input("Note", key="why_note")
        kill = st.button("Kill", key="why_kill")
    kind = "validate" if validate else "defer" if defer else "kill" if kill else None
    if kind is None:
        return
    try:
        record = decide(
            console.store,
            why.match_id,
            kind,
            actor=console.actor,
            reason=(note or None) if kind == "kill" else None,
            reason_code=code if kind == "kill" else None,
            defer_until=until if kind == "defer" and isinstance(until, dt.date) else None,
            seen=seen,
            now=console.now,
        )
    except TwoloopError as exc:
        notice("error", exc)
        return
    st.session_state[SEEN].pop(why.match_id, None)
    st.session_state[FLASH] = ("success", f"{record.status.capitalize()}: your decision is stored.")
    console.refresh()
    st.rerun()


def _evidence(why: MatchWhy) -> None:
    st.subheader("Evidence")
    if not why.evidence:
        st.caption("No evidence path is stored for this match.")
        return
    frame = pl.DataFrame(
        {
            "evidence": [clean(e.sentence) for e in why.evidence],
            "date": [e.date or "" for e in why.evidence],
            "source": [clean(e.source) for e in why.evidence],
            "link": [safe_url(e.url) for e in why.evidence],
            "path": [e.metapath for e in why.evidence],
            "weight": [round(e.weight, 3) for e in why.evidence],
        },
        schema={
            "evidence": pl.String,
            "date": pl.String,
            "source": pl.String,
            "link": pl.String,
            "path": pl.String,
            "weight": pl.Float64,
        },
    )
    st.dataframe(
        frame,
        hide_index=True,
        width="stretch",
        column_config={
            "evidence": st.column_config.TextColumn("Evidence", width="large"),
            "link": st.column_config.LinkColumn("Source link", display_text="open"),
        },
    )


def _score(why: MatchWhy) -> None:
    st.subheader("The score's parts")
    parts = pl.DataFrame(why.score_parts).select(
        "part", "paths", "weighted_sum", "weight", pl.col("contribution").round(3)
    )
    st.bar_chart(parts, x="part", y="contribution", horizontal=True)
    st.dataframe(parts, hide_index=True, width="stretch")


def _runner_ups(why: MatchWhy) -> None:
    st.subheader("Runner-up capabilities")
    if not why.runner_ups:
        st.caption("No other capability is matched to this account.")
        return
    frame = pl.DataFrame(why.runner_ups).select(
        pl.col("capability").map_elements(clean, return_dtype=pl.String),
        pl.col("score").round(2),
        "status",
    )
    st.dataframe(frame, hide_index=True, width="stretch")


def _graph(why: MatchWhy) -> None:
    st.subheader("Evidence graph")
    st.caption("The account's neighbourhood along this match's paths. Drag, zoom, select.")
    elements = graph_elements(why)
    for node in elements["nodes"]:
        node["data"]["name"] = clean(node["data"]["name"], limit=60)
    labels = sorted({n["data"]["label"] for n in elements["nodes"]})
    types = sorted({e["data"]["label"] for e in elements["edges"]})
    streamlit_cytoscape(
        elements,
        # A force layout started from app.why.graph_elements' columns (capability to
        # account, as the metapaths read) instead of random places: the same every time.
        # A force layout from the columns app.why.graph_elements places the nodes in
        # (capability to account, as the metapaths read), not from random places:
        # the same graph always lays out the same way.
        layout={"name": "cose", "animate": False},
        node_styles=[NodeStyle(lab, _COLORS.get(lab, "#718096"), "name") for lab in labels],
        edge_styles=[EdgeStyle(t, caption="label", directed=True) for t in types],
        height=420,
        key=f"why_graph_{why.match_id}",
    )


def _history(why: MatchWhy) -> None:
    st.subheader("Decisions")
    if not why.decisions:
        st.caption("Nobody has decided on this match yet.")
        return
    st.dataframe(pl.DataFrame(why.decisions), hide_index=True, width="stretch")
