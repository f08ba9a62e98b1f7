"""The why page (being built)."""

from __future__ import annotations

import streamlit as st

from app.console.session import Console


def render(console: Console) -> None:
    st.title("why")
    st.info("This page is not built yet.")
