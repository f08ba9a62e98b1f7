"""The queue page (being built)."""

from __future__ import annotations

import streamlit as st

from app.console.session import Console


def render(console: Console) -> None:
    st.title("queue")
    st.info("This page is not built yet.")
