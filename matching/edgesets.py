"""Keep a derived edge set equal to what its inputs say, in one commit: the edges
that should exist and differ (or are missing) are written, the ones that no longer
should are deleted, and the change is journaled so incremental matching rescores
the accounts it reaches. A rerun with nothing new writes nothing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import polars as pl

from graph_model.changes import journal
from graph_model.store import GraphStore

_ENDS = ["src", "dst"]


def replace_edges(
    store: GraphStore,
    rel_type: str,
    *,
    existing: pl.DataFrame,
    wanted: pl.DataFrame,
    compare: Sequence[str],
    origin: str,
    now: dt.datetime,
    identity: Sequence[str] = ("src", "dst"),
) -> tuple[int, int]:
    """Make ``existing`` (the derived edges now stored) equal to ``wanted``; rows
    are the same edge on ``identity`` and unchanged when equal on ``compare``.
    Returns (written, removed)."""
    stale = existing.join(wanted.select(_ENDS), on=_ENDS, how="anti")
    changed = wanted.join(existing.select(*compare), on=list(compare), how="anti", nulls_equal=True)
    if stale.height or changed.height:
        with store.batch() as write:
            if stale.height:
                write.delete_edges(rel_type, stale.select(*identity))
            if changed.height:
                write.upsert_edges(rel_type, changed, source=origin)
            ends = pl.concat([stale.select(_ENDS), changed.select(_ENDS)])
            edges = {rel_type: {side: ends[side].unique().to_list() for side in _ENDS}}
            journal(write, f"extract:{origin}", {"edges": edges}, now=now)
    return changed.height, stale.height
