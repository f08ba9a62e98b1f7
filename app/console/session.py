"""What every page gets: the store, the signed-in actor, the time, and reads cached
by the store's data version.

A read is cached under the store's ``data_version()`` as well as its arguments,
so the next rerun after anyone's write (another AM in this console, a CLI
command, the scheduled loop) reads afresh, and a page with nothing new reads
from the cache. The version is read once per run (``Console.version``); a write
made by this run moves it, and ``Console.refresh`` reads it again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

import streamlit as st

from app.actors import Actor
from graph_model.settings import Settings, load_settings
from graph_model.store import GraphStore, connect

P = ParamSpec("P")
R = TypeVar("R")


@st.cache_resource(show_spinner=False)
def _open(uri: str) -> GraphStore:
    store = connect(uri)
    store.ensure_schema()
    return store


def open_store(settings: Settings) -> GraphStore:
    """The configured store, opened once per console process."""
    return _open(settings.graph_uri)


@dataclass
class Console:
    """One run of a page: who is looking, at what, when."""

    store: GraphStore
    actor: Actor
    settings: Settings = field(default_factory=load_settings)
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    version: str = ""

    def __post_init__(self) -> None:
        if not self.version:
            self.version = self.store.data_version()

    def refresh(self) -> None:
        self.version = self.store.data_version()

    def read(self, function: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        """``function(store, *args, **kwargs)``, cached by data version and arguments.
        Arguments must be hashable by Streamlit (str, numbers, tuples, dataclasses)."""
        # Streamlit cannot hash a function: it is keyed by its qualified name.
        name = f"{function.__module__}.{function.__qualname__}"
        return _cached(
            name, function, self.store.uri, self.version, self.actor, args, kwargs, self.store
        )


@st.cache_data(show_spinner=False, max_entries=256, ttl=600)
def _cached(
    name: str,
    _function: Callable[..., Any],
    uri: str,
    version: str,
    actor: Actor,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    _store: GraphStore,
) -> Any:
    del name, uri, version, actor  # they are the cache key
    return _function(_store, *args, **kwargs)
