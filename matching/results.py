"""What evaluating one metapath over a batch gives (``PathResult``), and the rule
that one node counts once however many paths reach it (``count_once``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import polars as pl

from matching.metapaths import Metapath


@dataclass
class PathResult:
    """One metapath over one batch.

    ``pairs``: account_id, capability_id (absent for account-only paths), n, w.
    ``instances``: the strongest path instances per pair: ``metapath``, weight ``w``,
    the rendered ``sentence`` and ``nodes`` (JSON: alias -> node key, the path's ids).
    ``instances_for(pairs)`` renders only those of the given pairs.
    """

    metapath: Metapath
    pairs: pl.DataFrame
    # The strongest instances (node keys and weight, not rendered) of the given
    # (account_id, capability_id) pairs, or of every pair with None; built on
    # demand, since a batch explains only the pairs it surfaces.
    strongest: Callable[[pl.DataFrame | None], pl.DataFrame] = field(repr=False)
    renderer: Callable[[Metapath, pl.DataFrame], pl.DataFrame] = field(repr=False)
    # A ``counts_once`` path: one row per (account_id, capability_id, node) with the
    # node's strongest weight ``w``; ``kept`` holds the rows this path is credited
    # with once every path counting the same label has been weighed (see
    # ``Evaluator.evaluate``), and its instances are limited to those nodes.
    per_node: pl.DataFrame | None = None
    kept: list[pl.DataFrame] = field(default_factory=list, repr=False)

    def credit(self, rows: pl.DataFrame) -> None:
        """Keep only these (account_id, capability_id, node, w) rows of ``per_node``:
        the pairs' counts and sums are recomputed from them."""
        self.kept[:] = [rows]
        self.pairs = node_pairs(rows)

    @property
    def instances(self) -> pl.DataFrame:
        return self.renderer(self.metapath, self.strongest(None))

    def instances_for(self, pairs: pl.DataFrame) -> pl.DataFrame:
        """Rendered instances of these (account_id, capability_id) pairs; an
        account-only path (a gate on the account) keeps its rows for their accounts."""
        return self.renderer(self.metapath, self.strongest(pairs))


def node_pairs(per_node: pl.DataFrame) -> pl.DataFrame:
    """Pairs of a ``counts_once`` path: how many distinct nodes reach each, and the
    sum of their weights."""
    return (
        per_node.group_by(["account_id", "capability_id"])
        .agg(pl.len().cast(pl.Int64).alias("n"), pl.col("w").sum().round(10).alias("w"))
        .sort(["account_id", "capability_id"])
    )


def count_once(results: Sequence[PathResult]) -> None:
    """One node, one count: of the ``counts_once`` paths that count the same label
    (a signal the account emitted, and the same signal through one of its people),
    each (pair, node) is credited to the path where it weighs most (the one declared
    first on a tie), and the others drop it."""
    groups: dict[str, list[tuple[int, PathResult]]] = {}
    for order, r in enumerate(results):
        mp = r.metapath
        if mp.counts_once is not None and r.per_node is not None:
            groups.setdefault(mp.nodes[mp.counts_once], []).append((order, r))
    for members in groups.values():
        if len(members) < 2:
            for _order, r in members:
                assert r.per_node is not None
                r.credit(r.per_node)
            continue
        key = ["account_id", "capability_id", "node"]
        long = pl.concat(
            [
                r.per_node.with_columns(pl.lit(order).alias("__order"))
                for order, r in members
                if r.per_node is not None
            ]
        )
        winners = long.sort(["w", "__order"], descending=[True, False]).unique(
            key, keep="first", maintain_order=True
        )
        for order, r in members:
            r.credit(winners.filter(pl.col("__order") == order).drop("__order"))
