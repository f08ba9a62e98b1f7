"""The console's script: ``twoloop console`` runs it with Streamlit.

Signs the person in, then shows the pages they may use. Each page module has a
``render(console)`` function.
"""

from __future__ import annotations

import streamlit as st

from app.console import session
from app.console.auth import signed_in
from app.console.screens import items, outcomes, queue, team, why
from graph_model.settings import load_settings

st.set_page_config(page_title="twoloop", layout="wide", initial_sidebar_state="expanded")
settings = load_settings()
store = session.open_store(settings)
actor = signed_in(store, settings)
console = session.Console(store=store, actor=actor, settings=settings)

pages = [
    st.Page(lambda: queue.render(console), title="Queue", url_path="queue", default=True),
    st.Page(lambda: why.render(console), title="Why", url_path="why"),
    st.Page(lambda: items.render(console), title="Drafts and escalations", url_path="items"),
]
if team.visible(console):
    pages.append(st.Page(lambda: team.render(console), title="Team", url_path="team"))
pages.append(st.Page(lambda: outcomes.render(console), title="Outcomes", url_path="outcomes"))
# Pages switch to each other (the queue opens a match in the why panel).
st.session_state["console_pages"] = pages
st.navigation(pages).run()
