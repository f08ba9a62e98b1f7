"""Untrusted text shown as text.

Names, titles, signal texts and drafts come from outside. Streamlit renders
markdown (and, if asked, HTML) in most widgets' labels and in ``st.markdown``,
``st.write``, ``st.caption``, ``st.info``; so text from the graph goes only
through ``st.text``, ``st.code``, text inputs, and data frames, whose cells are
drawn as plain text. Widget labels built from graph text are escaped first
(``label``). Links are shown only for http(s) addresses, as the address itself.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import streamlit as st

# Markdown's special characters, escaped with a backslash in labels.
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")
_CONTROLS = re.compile(r"[\u0000-\u0008\u000b-\u001f\u007f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
LABEL_MAX = 120


def clean(value: Any, *, limit: int | None = None) -> str:
    """``value`` as one plain string: bidirectional and control characters dropped
    (a right-to-left override cannot reorder what the AM reads), cut at ``limit``."""
    text = "" if value is None else str(value)
    text = _CONTROLS.sub("", text)
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def label(value: Any, *, limit: int = LABEL_MAX) -> str:
    """Graph text for a widget label or an expander title (which render markdown):
    cleaned, cut, and every markdown character escaped."""
    return _MARKDOWN.sub(r"\\\1", clean(value, limit=limit).replace("\n", " "))


def show(value: Any, *, limit: int | None = 4000) -> None:
    """A block of graph text, shown as is."""
    st.text(clean(value, limit=limit))


def field(name: str, value: Any, *, limit: int | None = 4000) -> None:
    """``name`` (our own words, never graph text) above ``value`` (graph text)."""
    st.caption(name)
    st.text(clean(value, limit=limit) or "-")


def safe_url(value: Any) -> str | None:
    """``value`` when it is an http(s) address with a host, else None."""
    if not isinstance(value, str):
        return None
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        return None
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return None
    return clean(value.strip())


def notice(kind: str, message: Any) -> None:
    """A coloured message box whose text may quote the graph: escaped so it reads
    as written (no markdown, links or HTML)."""
    box = {"error": st.error, "warning": st.warning, "success": st.success}.get(kind, st.info)
    box(label(message, limit=2000))


def flash(key: str) -> None:
    """Show, once, the (kind, message) an action left under ``key`` before its rerun."""
    told = st.session_state.pop(key, None)
    if told:
        notice(*told)
