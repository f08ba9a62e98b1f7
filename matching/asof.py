"""The graph as it was known at one moment: reads that see nothing from after it.

A run ``--as-of`` a past date (a backtest, ``match explain --as-of``, ``learn
--as-of``) must not read the future, or it ranks with deals that closed and
losses that were recorded later. Rather than each metapath, query and reader
remembering that, every read goes through one view, :class:`AsOfStore`, that
applies one declared rule per label and edge type:

- a node with a "known from" time (``KNOWN_FROM``: a signal's or an activity's
  ``occurred_at``, a decision's ``decided_at``, a match's ``created_at``, ...)
  does not exist before that time;
- an Opportunity created after the as-of time (``created_at``, when known) does not
  exist; a deal won or lost after it was still open then if it was created before
  it (its status reads ``open``, its close date is unknown), and does not exist when
  its ``created_at`` is unknown (nothing says it was open yet);
- an edge with a "known from" date (``EDGE_KNOWN_FROM``: WORKS_AT ``since``, USES
  ``since``) does not exist before it; a PREVIOUSLY_AT whose ``until`` is after the
  as-of time is a move that has not happened: the person still works at the old
  account, so it reads as a WORKS_AT there (and not as a PREVIOUSLY_AT);
- an edge with an end that does not exist yet does not exist either (the EMITTED
  of a later signal, the INCLUDES of a later deal, the DECIDED_ON of a later
  decision).

A missing date counts as known (an undated edge is taken as always there, as the
score already does). The view is read-only: writes go to the store itself.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import polars as pl

from graph_model.errors import StoreError
from graph_model.store import (
    EdgeRow,
    Filter,
    GraphCounts,
    GraphStore,
    Side,
    WriteOp,
    filters_to_polars,
    resolve_filters,
    wanted_fields,
)

# Node label -> the property from which a node of it is known.
KNOWN_FROM: dict[str, str] = {
    "Signal": "occurred_at",
    "Activity": "occurred_at",
    "Decision": "decided_at",
    "Match": "created_at",
    "Route": "routed_at",
    "Draft": "created_at",
    "Escalation": "opened_at",
    "OutboxMessage": "created_at",
    "Task": "created_at",
    "Suppression": "added_at",
    "ScoreModel": "created_at",
}
# Edge type -> the date from which an edge of it is known (a missing date: always).
EDGE_KNOWN_FROM: dict[str, str] = {"WORKS_AT": "since", "USES": "since"}
# Edge type -> the date until which it was not yet a past employer (see module doc).
MOVED_AT: dict[str, str] = {"PREVIOUSLY_AT": "until"}
OPPORTUNITY = "Opportunity"
_OPPORTUNITY_FIELDS = ("status", "close_date", "created_at", "stage")


class ReadOnlyView(StoreError):
    """Something tried to write through an as-of view."""


def as_of_view(store: GraphStore, as_of: dt.datetime) -> GraphStore:
    """``store`` as it was known at ``as_of`` (the same view when it already is one)."""
    if as_of.tzinfo is None:
        raise ValueError("as_of needs a time zone")
    when = as_of.astimezone(dt.UTC)
    if isinstance(store, AsOfStore):
        if store.as_of == when:
            return store
        store = store.inner
    return AsOfStore(store, when)


def known_opportunities(frame: pl.DataFrame, as_of: dt.datetime) -> pl.DataFrame:
    """Opportunity rows as they stood at ``as_of`` (see the module doc); the frame needs
    ``status``, ``close_date`` and ``created_at``."""
    created = pl.col("created_at")
    closed_later = pl.col("status").is_in(["won", "lost"]) & (
        pl.col("close_date") > pl.lit(as_of.date())
    ).fill_null(False)
    exists = (created <= pl.lit(as_of)).fill_null(True) & ~(closed_later & created.is_null())
    out = frame.filter(exists).with_columns(
        pl.when(closed_later).then(pl.lit("open")).otherwise(pl.col("status")).alias("status"),
        pl.when(closed_later)
        .then(pl.lit(None, dtype=frame.schema["close_date"]))
        .otherwise(pl.col("close_date"))
        .alias("close_date"),
    )
    if "stage" in frame.columns:
        out = out.with_columns(
            pl.when(closed_later.fill_null(False))
            .then(pl.lit("open"))
            .otherwise(pl.col("stage"))
            .alias("stage")
        )
    return out


class AsOfStore(GraphStore):
    """A read-only view of a store at one moment; see the module doc for the rules."""

    def __init__(self, inner: GraphStore, as_of: dt.datetime) -> None:
        self.inner = inner
        self.as_of = as_of
        self.uri = inner.uri
        self.registry = inner.registry
        # Per timed label, the keys of the nodes that do not exist yet: read once per
        # view (few, unless the as-of time is far back), so an edge read needs no
        # lookup of its ends.
        self._later: dict[str, frozenset[str]] = {}
        # The same keys as one polars list, built once: an edge read filters with it,
        # and sorting a million later signals on every read cost a backtest minutes.
        self._later_list: dict[str, pl.Series] = {}

    # -- nodes

    def _later_keys(self, label: str) -> pl.Series | None:
        """``later(label)`` as a one-row list Series for ``is_in``; None when empty."""
        if label not in self._later_list:
            gone = self.later(label)
            self._later_list[label] = pl.Series(sorted(gone), dtype=pl.String).implode()
        found = self._later_list[label]
        return found if self.later(label) else None

    def _known(self, label: str, frame: pl.DataFrame) -> pl.DataFrame:
        if label == OPPORTUNITY:
            return known_opportunities(frame, self.as_of)
        field = KNOWN_FROM.get(label)
        if field is None:
            return frame
        return frame.filter((pl.col(field) <= pl.lit(self.as_of)).fill_null(True))

    def get_nodes(
        self, label: str, keys: Iterable[str] | pl.Series, *, fields: Sequence[str] | None = None
    ) -> pl.DataFrame:
        if label != OPPORTUNITY and label not in KNOWN_FROM:
            return self.inner.get_nodes(label, keys, fields=fields)
        rule = list(_OPPORTUNITY_FIELDS) if label == OPPORTUNITY else [KNOWN_FROM[label]]
        wanted = None if fields is None else [*fields, *(f for f in rule if f not in fields)]
        found = self._known(label, self.inner.get_nodes(label, keys, fields=wanted))
        if fields is None:
            return found
        key = self.registry.node(label).key
        return found.select([key, *(f for f in dict.fromkeys(fields) if f != key)])

    def existing_keys(self, label: str, keys: Iterable[str] | pl.Series) -> set[str]:
        found = self.inner.existing_keys(label, keys)
        if label != OPPORTUNITY and label not in KNOWN_FROM:
            return found
        return found - self.later(label)

    def later(self, label: str) -> frozenset[str]:
        """Keys of the nodes of a timed label that do not exist yet at the as-of time."""
        if label not in self._later:
            key = self.registry.node(label).key
            if label == OPPORTUNITY:
                # Created later, or closed later (which may still exist, as open).
                maybe = pl.concat(
                    [
                        self.inner.nodes(label, [Filter("created_at", "gt", self.as_of)]),
                        self.inner.nodes(label, [Filter("close_date", "gt", self.as_of.date())]),
                    ]
                ).unique(key)
                kept = set(self._known(label, maybe)[key].to_list())
                gone = set(maybe[key].to_list()) - kept
            else:
                later = Filter(KNOWN_FROM[label], "gt", self.as_of)
                # Keys only: on Neo4j the later signals' text in one read exceeded
                # the server's transaction memory at 100k accounts.
                gone = set(self.inner.nodes(label, [later], fields=[])[key].to_list())
            self._later[label] = frozenset(gone)
        return self._later[label]

    def nodes(
        self,
        label: str,
        where: Mapping[str, Any] | Sequence[Filter] | None = None,
        *,
        limit: int | None = None,
        fields: Sequence[str] | None = None,
    ) -> pl.DataFrame:
        if label in KNOWN_FROM:  # pushed down: the store filters on the date itself
            filters = resolve_filters(self.registry.node(label), where)
            known = Filter(KNOWN_FROM[label], "lte", self.as_of)
            return self.inner.nodes(label, [*filters, known], limit=limit, fields=fields)
        if label != OPPORTUNITY:
            return self.inner.nodes(label, where, limit=limit, fields=fields)
        # A deal's status as of then is not the stored one: filter after the rule.
        spec = self.registry.node(label)
        filters = resolve_filters(spec, where)
        found = self._known(label, self.inner.nodes(label)).filter(filters_to_polars(filters))
        if fields is not None:
            found = found.select(wanted_fields(spec, fields))
        return found if limit is None else found.head(limit)

    # -- edges

    def edges(
        self,
        rel_type: str,
        touching: Iterable[str] | None = None,
        *,
        side: Side = "either",
        label: str | None = None,
    ) -> pl.DataFrame:
        keys = None if touching is None else list(touching)
        frame = self.inner.edges(rel_type, keys, side=side, label=label)
        if rel_type in EDGE_KNOWN_FROM:
            since = pl.col(EDGE_KNOWN_FROM[rel_type])
            frame = frame.filter((since <= pl.lit(self.as_of.date())).fill_null(True))
        for moved, until in MOVED_AT.items():
            if rel_type == moved:
                frame = frame.filter((pl.col(until) <= pl.lit(self.as_of.date())).fill_null(True))
            elif rel_type == "WORKS_AT":
                # Not moved yet: still at the old account.
                earlier = self.inner.edges(moved, keys, side=side, label=label).filter(
                    (pl.col(until) > pl.lit(self.as_of.date())).fill_null(False)
                )
                if earlier.height:
                    schema = frame.schema
                    earlier = earlier.select(
                        [
                            pl.col(c) if c in earlier.columns else pl.lit(None).alias(c)
                            for c in schema
                        ]
                    ).cast(schema)
                    frame = pl.concat([frame, earlier]).unique(
                        ["src_label", "src", "dst_label", "dst"], keep="first", maintain_order=True
                    )
        spec = self.registry.edge(rel_type)
        for end, labels in (("src", spec.src_labels), ("dst", spec.dst_labels)):
            for timed in labels:
                if timed != OPPORTUNITY and timed not in KNOWN_FROM:
                    continue
                gone = self._later_keys(timed)
                if gone is not None and frame.height:
                    frame = frame.filter(
                        ~((pl.col(f"{end}_label") == timed) & pl.col(end).is_in(gone))
                    )
        return frame

    # -- everything else is the store's (counts and projections are not as-of)

    def _apply(self, ops: Sequence[WriteOp], *, chunked: bool) -> list[int]:
        raise ReadOnlyView(
            f"cannot write through a view of the graph as of {self.as_of.isoformat()}",
            hint="write to the store itself",
        )

    def ensure_schema(self) -> list[str]:
        return self.inner.ensure_schema()

    def counts(self) -> GraphCounts:
        return self.inner.counts()

    def _incident_edges(self, label: str, keys: Sequence[str]) -> list[EdgeRow]:
        return self.inner._incident_edges(label, keys)

    def data_version(self) -> str:
        return self.inner.data_version()

    def close(self) -> None:
        """The view does not own the store: closing it leaves the store open."""
