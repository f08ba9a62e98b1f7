"""Who is signed in to the console.

- ``oidc``: Streamlit's ``st.login`` against the OpenID Connect provider in
  twoloop's settings (``twoloop console`` writes them into Streamlit's ``[auth]``
  secrets). The signed-in email is looked up as an AccountManager, or as an
  admin named in ``TWOLOOP_ADMINS``; anyone else is shown who they are signed in
  as, that twoloop does not know them, and a sign-out button.
- ``dev``: no provider; one picks a person from a list. A banner says so on
  every page, and the console refuses to run on anything but a loopback address.

Either way the result is an ``Actor`` that every action passes to the human-loop
API, which checks it again: the console cannot do what the API refuses.
"""

from __future__ import annotations

import ipaddress
import socket

import streamlit as st

from app.actors import Actor, identify
from app.console.text import clean
from graph_model.errors import NotAuthorized
from graph_model.settings import Settings
from graph_model.store import GraphStore

DEV_USER = "console_dev_user"


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and addresses in 127.0.0.0/8 or ::1 (never for 0.0.0.0)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        try:
            return all(
                ipaddress.ip_address(info[4][0]).is_loopback
                for info in socket.getaddrinfo(host, None)
            )
        except (OSError, ValueError):
            return False


def signed_in(store: GraphStore, settings: Settings) -> Actor:
    """The signed-in actor; otherwise the sign-in screen, and the run stops here."""
    if settings.console_auth == "dev":
        return _dev(store, settings)
    return _oidc(store)


def _oidc(store: GraphStore) -> Actor:
    if not st.user.is_logged_in:
        st.title("twoloop")
        st.write("Sign in to work your queue.")
        st.button("Sign in", type="primary", on_click=st.login)
        st.stop()
    email = str(st.user.get("email") or "")
    try:
        actor = identify(store, email, action="sign in", item="the console")
    except NotAuthorized:
        st.error("twoloop does not know this sign-in as an account manager or an admin.")
        st.text(f"Signed in as {clean(email, limit=200) or 'someone without an email'}")
        st.button("Sign out", on_click=st.logout)
        st.stop()
    with st.sidebar:
        st.text(f"Signed in as {clean(email, limit=200)}")
        st.button("Sign out", on_click=st.logout)
    return actor


def _dev(store: GraphStore, settings: Settings) -> Actor:
    address = str(st.get_option("server.address") or settings.console_host)
    if not is_loopback(address):
        st.error(
            "Dev sign-in works only on a loopback address; this console listens on "
            "another one. Use OpenID Connect sign-in (TWOLOOP_CONSOLE_AUTH=oidc)."
        )
        st.stop()
    st.warning(
        "Dev sign-in: anyone who can open this page can act as anyone. "
        "For people, use OpenID Connect (TWOLOOP_CONSOLE_AUTH=oidc)."
    )
    people = store.nodes("AccountManager").sort("am_id")
    choices = [str(a) for a in people["am_id"].to_list()] + [
        a for a in settings.admins if "@" not in a or a not in set(people["email"].to_list())
    ]
    names = dict(zip(people["am_id"].to_list(), people["full_name"].to_list(), strict=True))
    with st.sidebar:
        chosen = st.selectbox(
            "Act as (dev sign-in)",
            choices,
            index=None,
            key=DEV_USER,
            # A keyed widget's value is dropped on st.switch_page unless it persists
            # for the session (Streamlit 1.67): opening a match signed the person out.
            persist_state="session",
            format_func=lambda c: clean(f"{names[c]} ({c})" if c in names else f"{c} (admin)"),
        )
    if chosen is None:
        st.title("twoloop")
        st.write("Pick who you are in the sidebar (dev sign-in).")
        st.stop()
    return identify(store, chosen, action="sign in", item="the console")
