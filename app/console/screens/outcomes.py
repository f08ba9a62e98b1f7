"""The outcomes page (being built)."""

from __future__ import annotations

import streamlit as st

from app.console.session import Console


def visible(console: Console) -> bool:
    return True


def render(console: Console) -> None:
    st.title("outcomes")
    st.info("This page is not built yet.")
