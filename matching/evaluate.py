"""Evaluate metapaths as polars joins over typed edge tables.

A metapath is split at its pivot. The capability side (capability -> pivot) is
walked once per run over the whole graph and cached; the account side (pivot
<- account) is walked per batch of accounts, fetching only the edges that touch
the batch (``store.edges(type, touching=..., side=...)``). The two meet in a
join on the pivot. A small batch (``match explain``, a handful of accounts)
walks the capability side backwards from the batch's pivot keys instead; both
ways give the same result, and a contract test checks it on both stores.

Per (account, capability) the evaluator returns path counts and weighted sums
without materialising every path instance: each side is first aggregated per
pivot, and the sums multiply (an instance's weight is the product of its two
sides' weights). A path whose sum is a share (``share_of``: the share of an
industry's accounts that bought, rather than how many did) divides each pivot's
capability side by the number of accounts the pivot reaches in the whole graph,
so the feature does not grow with the size of the book. A condition comparing
the two sides (``peer != a``) is applied by subtracting the instances that break
it, which a second, narrow join finds.
Only the strongest few instances per pair are joined in full, to explain it, and
their sentences are rendered on demand (``PathResult.instances_for``) in one
vectorised pass, so a full run renders only what it stores.

Everything reads through the ``GraphStore`` interface, so the embedded store
and Neo4j give identical results, and batches can run on separate workers.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from graph_model.store import GraphStore
from matching.asof import as_of_view
from matching.metapaths import Condition, Hop, Metapath
from matching.model import ScoreModelSpec
from matching.render import placeholders, render_expr
from matching.results import PathResult, count_once, node_pairs

# Instances kept per (side, pivot) and per pair for explanations.
TOP_PER_PIVOT = 4
TOP_PER_PAIR = 3
# Batches up to this many accounts walk the capability side from their own pivots.
SMALL_BATCH = 64
_EVIDENCE_CHARS = 160
W = "__w"


@dataclass(frozen=True)
class _Step:
    hop: Hop
    known: str  # alias already in the frame
    new: str  # alias the step adds
    stored_from_known: bool  # the edge is stored from ``known`` to ``new``


class Evaluator:
    """Evaluates a set of metapaths for batches of accounts at one as-of time."""

    def __init__(
        self,
        store: GraphStore,
        metapaths: Sequence[Metapath],
        model: ScoreModelSpec,
        *,
        as_of: dt.datetime,
        small_batch: int = SMALL_BATCH,
    ) -> None:
        if as_of.tzinfo is None:
            raise ValueError("as_of needs a time zone")
        self.as_of = as_of.astimezone(dt.UTC)
        # Every read sees the graph as it was known at the as-of time (matching.asof).
        self.store = as_of_view(store, self.as_of)
        self.metapaths = list(metapaths)
        self.model = model
        self.small_batch = small_batch
        # Per metapath, for full batches: the whole capability side, its per-pivot
        # sums and its strongest instances, computed once per run.
        self._capability_cache: dict[str, tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]] = {}

    # ------------------------------------------------------------------ public

    def evaluate(self, accounts: Sequence[str]) -> list[PathResult]:
        """Every metapath for these accounts."""
        keys = sorted(set(accounts))
        results = [self.evaluate_one(mp, keys) for mp in self.metapaths]
        count_once(results)
        return results

    def evaluate_one(self, mp: Metapath, accounts: Sequence[str]) -> PathResult:
        if mp.pair:
            return self._evaluate_pair(mp, accounts)
        a = mp.account_alias
        start = pl.DataFrame({a: list(accounts)}, schema={a: pl.String})
        steps = [
            _Step(h, h.to_alias, h.from_alias, not h.forward) for h in reversed(mp.account_hops)
        ]
        acct = self._walk(mp, start, steps)
        acct = self._finish_side(mp, acct, [*self._side_aliases(mp, "account")])
        c = mp.capability_alias
        if mp.pivot is None or c is None:
            pairs = (
                acct.group_by(a)
                .agg(pl.len().cast(pl.Int64).alias("n"), pl.col(W).sum().round(10).alias("w"))
                .rename({a: "account_id"})
            )
            top = _top(acct, [a], TOP_PER_PAIR, [W])

            def of_accounts(wanted: pl.DataFrame | None) -> pl.DataFrame:
                if wanted is None:
                    return top
                keys = wanted.select(pl.col("account_id").alias(a)).unique()
                return top.join(keys, on=a, how="semi")

            return PathResult(mp, pairs.sort("account_id"), of_accounts, self._render)
        pivot = mp.pivot
        if len(accounts) <= self.small_batch:
            cap = self._capability_side(mp, acct[pivot].unique().to_list())
            cap_agg, cap_top = self._capability_summary(mp, cap)
        else:
            if mp.id not in self._capability_cache:
                whole = self._capability_side(mp, None)
                self._capability_cache[mp.id] = (whole, *self._capability_summary(mp, whole))
            cap, cap_agg, cap_top = self._capability_cache[mp.id]
        if mp.unreached:
            return self._unreached(mp, acct, pairs=self._aggregate(mp, acct, cap, cap_agg))
        per_node: pl.DataFrame | None = None
        if mp.counts_once is not None:
            per_node = self._per_node(mp, acct, cap_agg)
            pairs = node_pairs(per_node)
        else:
            pairs = self._aggregate(mp, acct, cap, cap_agg)
        acct_top = _top(acct, _unique([a, pivot]), TOP_PER_PIVOT, [W]).rename({W: "__wa"})
        kept: list[pl.DataFrame] = []

        def of_pairs(wanted: pl.DataFrame | None) -> pl.DataFrame:
            if wanted is None:
                inst = acct_top.join(cap_top, on=pivot, how="inner")
            else:
                keys = wanted.select(
                    pl.col("account_id").alias(a), pl.col("capability_id").alias(c)
                ).unique()
                side = acct_top.join(keys.select(a).unique(), on=a, how="semi")
                inst = side.join(cap_top, on=pivot, how="inner").join(keys, on=[a, c], how="semi")
            for cond in mp.crossing():
                inst = inst.filter(self._condition(cond, inst))
            inst = inst.with_columns((pl.col("__wa") * pl.col("__wc")).round(12).alias(W)).drop(
                "__wa", "__wc"
            )
            node = mp.counts_once
            if node is not None:  # each node once, and only where it is credited
                if kept:
                    inst = inst.join(
                        kept[0].select(
                            pl.col("account_id").alias(a),
                            pl.col("capability_id").alias(c),
                            pl.col("node").alias(node),
                        ),
                        on=[a, c, node],
                        how="semi",
                    )
                inst = _top(inst, [a, c, node], 1, [W])
            return _top(inst, [a, c], TOP_PER_PAIR, [W])

        return PathResult(mp, pairs, of_pairs, self._render, per_node, kept)

    def _evaluate_pair(self, mp: Metapath, accounts: Sequence[str]) -> PathResult:
        """A path of two unconnected nodes: every capability with every account of the
        batch, each side filtered by its own conditions, then by the conditions that
        compare the two. A comparison with an unknown value is false, except that an
        unknown bound on the capability's side does not bound an evidence path (a
        capability with only a minimum size fits every larger account)."""
        c, a = list(mp.nodes)
        caps = self._capabilities(mp, c)
        acct = pl.DataFrame({a: list(accounts) if caps.height else []}, schema={a: pl.String})
        acct = self._node_conditions(mp, acct, a)
        for alias in (c, a):
            needed = self._fields_needed(mp, alias, sentence=False)
            if alias == c:
                caps = self._fetch(mp, caps, c, needed)
            else:
                acct = self._fetch(mp, acct, a, needed)
        frame = acct.join(caps, how="cross")
        for cond in mp.conditions:
            if cond.other is not None:
                frame = frame.filter(self._compare(mp, cond, frame))
        return self._pair_result(mp, frame.select(a, c))

    def _unreached(self, mp: Metapath, acct: pl.DataFrame, *, pairs: pl.DataFrame) -> PathResult:
        """An ``unreached`` gate: the pairs of the accounts that reach some pivot (have
        an industry at all) with the capabilities that pass their node's conditions,
        less the pairs the path joins."""
        a, c = mp.account_alias, mp.capability_alias
        assert c is not None
        caps = self._capabilities(mp, c).select(c)
        reached = pairs.select(pl.col("account_id").alias(a), pl.col("capability_id").alias(c))
        frame = acct.select(a).unique().join(caps, how="cross")
        return self._pair_result(mp, frame.join(reached, on=[a, c], how="anti"))

    def _capabilities(self, mp: Metapath, alias: str) -> pl.DataFrame:
        """Every capability that passes the conditions on the path's capability node."""
        spec = self.store.registry.node(mp.nodes[alias])
        keys = self.store.nodes(spec.label)[spec.key].to_list()
        return self._node_conditions(
            mp, pl.DataFrame({alias: keys}, schema={alias: pl.String}), alias
        )

    def _pair_result(self, mp: Metapath, frame: pl.DataFrame) -> PathResult:
        """The result of a path whose instance is the pair itself (``frame``: the
        account and capability aliases), each pair counting once."""
        a, c = mp.account_alias, mp.capability_alias
        assert c is not None
        frame = frame.with_columns(pl.lit(1.0).alias(W))
        pairs = frame.select(
            pl.col(a).alias("account_id"),
            pl.col(c).alias("capability_id"),
            pl.lit(1, dtype=pl.Int64).alias("n"),
            pl.col(W).alias("w"),
        ).sort(["account_id", "capability_id"])

        def of_pairs(wanted: pl.DataFrame | None) -> pl.DataFrame:
            if wanted is None:
                return frame
            keys = wanted.select(
                pl.col("account_id").alias(a), pl.col("capability_id").alias(c)
            ).unique()
            return frame.join(keys, on=[a, c], how="semi")

        return PathResult(mp, pairs, of_pairs, self._render)

    def _compare(self, mp: Metapath, cond: Condition, frame: pl.DataFrame) -> pl.Expr:
        assert cond.other is not None and cond.field is not None
        left = pl.col(f"{cond.alias}.{cond.field}")
        right = pl.col(f"{cond.other[0]}.{cond.other[1]}")
        if frame.schema[f"{cond.alias}.{cond.field}"] == pl.String:
            left = left.str.strip_chars().str.to_lowercase()
        ops = {
            "==": lambda: left == right,
            "!=": lambda: left != right,
            "<": lambda: left < right,
            ">": lambda: left > right,
            "<=": lambda: left <= right,
            ">=": lambda: left >= right,
            "in": lambda: right.list.contains(left),
            "not in": lambda: ~right.list.contains(left),
        }
        if cond.op not in ops:
            raise ValueError(f"{mp.id}: {cond.op!r} does not compare two fields")
        held = ops[cond.op]()
        open_bound = mp.role == "evidence" and cond.op in ("<", ">", "<=", ">=")
        return (
            pl.when(left.is_null())
            .then(pl.lit(False))
            .when(right.is_null())
            .then(pl.lit(open_bound))
            .otherwise(held)
        )

    def window_changes(self, accounts: Sequence[str]) -> pl.DataFrame:
        """Per account, the first moment after the as-of time when a gate with a time
        window (``x.f within Nd``) could start or stop blocking it: an event of its
        path enters the window at its time minus N days and leaves it at its time
        plus N. Only windows on the account side of the path are followed (all the
        shipped ones are). Columns: account_id, at."""
        schema = {"account_id": pl.String, "at": pl.Datetime("us", "UTC")}
        found: list[pl.DataFrame] = []
        keys = sorted(set(accounts))
        for mp in self.metapaths:
            windows = [
                c
                for c in mp.conditions
                if c.op == "within" and c.alias in mp.nodes and mp.side_of(c.alias) != "capability"
            ]
            if mp.role != "gate" or not windows or not keys:
                continue
            relaxed = dataclasses.replace(
                mp, conditions=tuple(c for c in mp.conditions if c.op != "within")
            )
            a = mp.account_alias
            steps = [
                _Step(h, h.to_alias, h.from_alias, not h.forward) for h in reversed(mp.account_hops)
            ]
            start = pl.DataFrame({a: keys}, schema={a: pl.String})
            frame = self._walk(relaxed, start, steps)
            for cond in windows:
                frame = self._fetch(relaxed, frame, cond.alias, {str(cond.field)})
                column = pl.col(f"{cond.alias}.{cond.field}")
                if frame.schema[f"{cond.alias}.{cond.field}"] == pl.Date:
                    column = column.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
                days = dt.timedelta(days=int(cond.value))
                for edge in (column - days, column + days):
                    found.append(
                        frame.select(pl.col(a).alias("account_id"), edge.alias("at"))
                        .filter(pl.col("at") > self.as_of)
                        .cast(schema)  # type: ignore[arg-type]
                    )
        if not found:
            return pl.DataFrame(schema=schema)
        return pl.concat(found).group_by("account_id").agg(pl.col("at").min()).sort("account_id")

    # ------------------------------------------------------------------ sides

    def _capability_summary(
        self, mp: Metapath, cap: pl.DataFrame
    ) -> tuple[pl.DataFrame, pl.DataFrame]:
        """The capability side per (capability, pivot): counts and weight sums, and
        its strongest instances."""
        c, pivot = mp.capability_alias, mp.pivot
        assert c is not None and pivot is not None
        agg = cap.group_by(_unique([c, pivot])).agg(
            pl.len().cast(pl.Int64).alias("nc"), pl.col(W).sum().alias("wc")
        )
        top = _top(cap, _unique([c, pivot]), TOP_PER_PIVOT, [W]).rename({W: "__wc"})
        return agg, top

    def _capability_side(self, mp: Metapath, pivot_keys: list[str] | None) -> pl.DataFrame:
        """Rows from the capability to the pivot: all of them, or those reaching these
        pivot keys."""
        aliases = self._side_aliases(mp, "capability")
        c = mp.capability_alias
        assert c is not None and mp.pivot is not None
        if pivot_keys is None:
            caps = self.store.nodes(mp.nodes[c])
            key = self.store.registry.node(mp.nodes[c]).key
            start = pl.DataFrame({c: caps[key].to_list()}, schema={c: pl.String})
            steps = [_Step(h, h.from_alias, h.to_alias, h.forward) for h in mp.capability_hops]
            frame = self._finish_side(mp, self._walk(mp, start, steps), aliases)
        else:
            start = pl.DataFrame({mp.pivot: sorted(set(pivot_keys))}, schema={mp.pivot: pl.String})
            steps = [
                _Step(h, h.to_alias, h.from_alias, not h.forward)
                for h in reversed(mp.capability_hops)
            ]
            frame = self._finish_side(mp, self._walk(mp, start, steps), aliases)
        if mp.share_of is None:
            return frame
        sizes = self._pivot_sizes(mp, frame[mp.pivot].unique().to_list())
        return (
            frame.join(sizes, on=mp.pivot, how="inner")
            .with_columns((pl.col(W) / pl.col("__size")).round(12).alias(W))
            .drop("__size")
        )

    def _pivot_sizes(self, mp: Metapath, pivot_keys: list[str]) -> pl.DataFrame:
        """How many accounts each pivot reaches over the whole graph (not only the
        batch): the denominator of a ``share_of`` path."""
        assert mp.pivot is not None
        start = pl.DataFrame({mp.pivot: sorted(set(pivot_keys))}, schema={mp.pivot: pl.String})
        steps = [_Step(h, h.from_alias, h.to_alias, h.forward) for h in mp.account_hops]
        reached = self._walk(mp, start, steps)
        return reached.group_by(mp.pivot).agg(
            pl.col(mp.account_alias).n_unique().cast(pl.Float64).alias("__size")
        )

    def _side_aliases(self, mp: Metapath, side: str) -> list[str]:
        """Aliases whose weight and recency fields one side accounts for (the pivot's
        belong to the account side, so they count once)."""
        names = [*mp.nodes, *(h.alias for h in mp.hops if h.alias)]
        sides = ("account", "pivot") if side == "account" else (side,)
        return [x for x in names if mp.side_of(x) in sides]

    def _walk(self, mp: Metapath, frame: pl.DataFrame, steps: Sequence[_Step]) -> pl.DataFrame:
        """Follow edges from the frame's one alias, one step per hop, applying the
        conditions of each node and edge as soon as it is reached."""
        frame = self._node_conditions(mp, frame, frame.columns[0])
        for step in steps:
            frame = self._step(mp, frame, step)
            frame = self._node_conditions(mp, frame, step.new)
        return frame

    def _step(self, mp: Metapath, frame: pl.DataFrame, step: _Step) -> pl.DataFrame:
        hop = step.hop
        spec = self.store.registry.edge(hop.edge_type)
        edge_fields = sorted(self._fields_needed(mp, hop.alias)) if hop.alias else []
        out_schema: dict[str, Any] = {step.known: pl.String, step.new: pl.String}
        for name in edge_fields:
            out_schema[f"{hop.alias}.{name}"] = spec.frame_schema()[name]
        keys = frame[step.known].unique().to_list() if frame.height else []
        if keys:
            side = "source" if step.stored_from_known else "target"
            edges = self.store.edges(
                hop.edge_type, touching=keys, side=side, label=mp.nodes[step.known]
            )
        else:
            edges = pl.DataFrame(schema=spec.frame_schema())
        known_col, new_col, new_label = (
            ("src", "dst", "dst_label") if step.stored_from_known else ("dst", "src", "src_label")
        )
        edges = edges.filter(pl.col(new_label) == mp.nodes[step.new]).select(
            pl.col(known_col).alias(step.known),
            pl.col(new_col).alias(step.new),
            *[pl.col(name).alias(f"{hop.alias}.{name}") for name in edge_fields],
        )
        if hop.alias:
            edges = edges.filter(self._conditions_on(mp, hop.alias, edges))
            if spec.merge_on:  # parallel edges (one per extractor): keep the strongest
                strength = _product([f"{hop.alias}.{f}" for a, f in mp.weight if a == hop.alias])
                edges = (
                    edges.with_columns(strength.alias("__s"))
                    .sort(["__s", *edges.columns], descending=[True] + [False] * edges.width)
                    .unique([step.known, step.new], keep="first", maintain_order=True)
                    .drop("__s")
                )
        return frame.join(edges.cast(out_schema), on=step.known, how="inner")  # type: ignore[arg-type]

    def _node_conditions(self, mp: Metapath, frame: pl.DataFrame, alias: str) -> pl.DataFrame:
        """Fetch what the alias's conditions and weights need, and filter on its conditions."""
        if any(c.alias == alias and c.field for c in mp.conditions):
            frame = self._fetch(mp, frame, alias, self._fields_needed(mp, alias, sentence=False))
        for cond in mp.conditions:
            if cond.alias == alias and cond.op in ("has", "lacks") and frame.height:
                keys = frame[alias].drop_nulls().unique().to_list()
                edges = self.store.edges(
                    str(cond.value), touching=keys, side="source", label=mp.nodes[alias]
                )
                with_edge = edges.filter(pl.col("src_label") == mp.nodes[alias])["src"].unique()
                held = pl.col(alias).is_in(with_edge.implode())
                frame = frame.filter(held if cond.op == "has" else ~held)
        return frame.filter(self._conditions_on(mp, alias, frame))

    def _finish_side(self, mp: Metapath, frame: pl.DataFrame, aliases: list[str]) -> pl.DataFrame:
        """Add the weight column of one side: weight fields times recency decay."""
        for alias in aliases:
            if alias in mp.nodes:
                missing = self._fields_needed(mp, alias, sentence=False) - _fields_present(
                    frame, alias
                )
                if missing:
                    frame = self._fetch(mp, frame, alias, missing)
        weight = _product([f"{a}.{f}" for a, f in mp.weight if a in aliases])
        if mp.recency and mp.recency[0] in aliases:
            weight = weight * self._decay(mp, frame)
        # Rounded so that vectorised float maths (which may differ in the last bit
        # between batch shapes) cannot change which instances rank first.
        return frame.with_columns(weight.cast(pl.Float64).round(12).alias(W))

    def _decay(self, mp: Metapath, frame: pl.DataFrame) -> pl.Expr:
        assert mp.recency is not None
        alias, name = mp.recency
        column = f"{alias}.{name}"
        dtype = frame.schema[column]
        if dtype == pl.Date:
            age = (pl.lit(self.as_of.date()) - pl.col(column)).dt.total_seconds() / 86_400
        else:
            age = (pl.lit(self.as_of) - pl.col(column)).dt.total_seconds() / 86_400
        age = age.clip(lower_bound=0.0)
        kinds = {k: v for k, v in mp.half_lives if k != "default"}
        if mp.nodes.get(alias) == "Signal" and kinds:
            half_life = pl.col(f"{alias}.kind").replace_strict(
                kinds, default=mp.half_life(), return_dtype=pl.Float64
            )
        else:
            half_life = pl.lit(mp.half_life())
        return pl.when(pl.col(column).is_null()).then(0.5).otherwise(0.5 ** (age / half_life))

    def _fields_needed(self, mp: Metapath, alias: str | None, *, sentence: bool = True) -> set[str]:
        if alias is None:
            return set()
        fields = {c.field for c in mp.conditions if c.alias == alias and c.field}
        fields |= {c.other[1] for c in mp.conditions if c.other and c.other[0] == alias}
        fields |= {f for a, f in mp.weight if a == alias}
        if mp.recency and mp.recency[0] == alias:
            fields.add(mp.recency[1])
            if mp.nodes.get(alias) == "Signal":
                fields.add("kind")
        if sentence or alias not in mp.nodes:  # edge fields come with the edge
            fields |= placeholders(mp).get(alias, set())
        return fields

    def _fetch(
        self, mp: Metapath, frame: pl.DataFrame, alias: str, fields: Iterable[str]
    ) -> pl.DataFrame:
        wanted = sorted(set(fields) - _fields_present(frame, alias))
        if not wanted:
            return frame
        spec = self.store.registry.node(mp.nodes[alias])
        schema = spec.frame_schema()
        keys = frame[alias].drop_nulls().unique()
        nodes = (
            self.store.get_nodes(spec.label, keys) if keys.len() else pl.DataFrame(schema=schema)
        )
        nodes = nodes.select(
            pl.col(spec.key).alias(alias), *[pl.col(f).alias(f"{alias}.{f}") for f in wanted]
        )
        return frame.join(nodes, on=alias, how="left")

    # ------------------------------------------------------------------ conditions

    def _conditions_on(self, mp: Metapath, alias: str, frame: pl.DataFrame) -> pl.Expr:
        expr = pl.lit(True)
        for cond in mp.conditions:
            if (
                cond.alias != alias
                or cond.other is not None
                or cond.op in ("has", "lacks")
                or cond in mp.crossing()
            ):
                continue
            if cond.field is None and str(cond.value) not in frame.columns:
                continue  # compares with an alias not reached yet: applied later
            expr = expr & self._condition(cond, frame)
        return expr

    def _condition(self, cond: Condition, frame: pl.DataFrame) -> pl.Expr:
        if cond.field is None:
            return (pl.col(cond.alias) != pl.col(str(cond.value))).fill_null(True)
        column = f"{cond.alias}.{cond.field}"
        col = pl.col(column)
        dtype = frame.schema.get(column)
        value = cond.value
        if cond.op == "within":
            days = dt.timedelta(days=int(value))
            if dtype == pl.Date:
                lo, hi = self.as_of.date() - days, self.as_of.date() + days
            else:
                lo, hi = self.as_of - days, self.as_of + days
            return col.is_between(pl.lit(lo), pl.lit(hi)).fill_null(False)
        if dtype in (pl.Date, pl.Datetime) and isinstance(value, str):
            value = dt.date.fromisoformat(value)
        if cond.op == "==":
            return (col == value).fill_null(False)
        if cond.op == "!=":
            return (col != value).fill_null(True)
        if cond.op == ">=":
            return (col >= value).fill_null(False)
        if cond.op == "<=":
            return (col <= value).fill_null(False)
        if cond.op == "<":
            return (col < value).fill_null(False)
        if cond.op == ">":
            return (col > value).fill_null(False)
        if cond.op == "not in":
            return (~col.is_in(list(cond.value))).fill_null(True)
        return col.is_in(list(cond.value)).fill_null(False)

    # ------------------------------------------------------------------ aggregation

    def _per_node(self, mp: Metapath, acct: pl.DataFrame, cap_agg: pl.DataFrame) -> pl.DataFrame:
        """A ``counts_once`` path per (account, capability, counted node): the node's
        strongest instance, however many pivots (needs) lead to it."""
        a, c, pivot, node = mp.account_alias, mp.capability_alias, mp.pivot, mp.counts_once
        assert c is not None and pivot is not None and node is not None
        return (
            acct.select(*_unique([a, pivot, node]), pl.col(W).alias("wa"))
            .join(cap_agg.select(c, pivot, "wc"), on=pivot, how="inner")
            .group_by([a, c, node])
            .agg((pl.col("wa") * pl.col("wc")).max().round(12).alias("w"))
            .select(
                pl.col(a).alias("account_id"),
                pl.col(c).alias("capability_id"),
                pl.col(node).alias("node"),
                "w",
            )
        )

    def _aggregate(
        self, mp: Metapath, acct: pl.DataFrame, cap: pl.DataFrame, cap_agg: pl.DataFrame
    ) -> pl.DataFrame:
        a, c, pivot = mp.account_alias, mp.capability_alias, mp.pivot
        assert c is not None and pivot is not None
        acct_agg = acct.group_by(_unique([a, pivot])).agg(
            pl.len().cast(pl.Int64).alias("na"), pl.col(W).sum().alias("wa")
        )
        joined = acct_agg.join(cap_agg, on=pivot, how="inner")
        pairs = joined.group_by([a, c]).agg(
            (pl.col("na") * pl.col("nc")).sum().alias("n"),
            (pl.col("wa") * pl.col("wc")).sum().alias("w"),
        )
        for cond in mp.crossing():
            x, y = cond.alias, str(cond.value)
            acct_key, cap_key = (x, y) if mp.side_of(x) == "account" else (y, x)
            broken = (
                acct.select([*_unique([a, pivot, acct_key]), pl.col(W).alias("wa")])
                .join(
                    cap.select([*_unique([c, pivot, cap_key]), pl.col(W).alias("wc")]),
                    left_on=_unique([pivot, acct_key]),
                    right_on=_unique([pivot, cap_key]),
                    how="inner",
                )
                .group_by([a, c])
                .agg(
                    pl.len().cast(pl.Int64).alias("n_x"),
                    (pl.col("wa") * pl.col("wc")).sum().alias("w_x"),
                )
            )
            pairs = (
                pairs.join(broken, on=[a, c], how="left")
                .with_columns(
                    (pl.col("n") - pl.col("n_x").fill_null(0)).alias("n"),
                    (pl.col("w") - pl.col("w_x").fill_null(0.0)).clip(lower_bound=0.0).alias("w"),
                )
                .drop("n_x", "w_x")
                .filter(pl.col("n") > 0)
            )
        return (
            pairs.rename({a: "account_id", c: "capability_id"})
            .with_columns(pl.col("w").round(10))
            .sort(["account_id", "capability_id"])
        )

    # ------------------------------------------------------------------ explanations

    def _render(self, mp: Metapath, top: pl.DataFrame) -> pl.DataFrame:
        for alias, fields in placeholders(mp).items():
            if alias in mp.nodes:
                top = self._fetch(mp, top, alias, fields)
        a, c = mp.account_alias, mp.capability_alias
        keep = [pl.col(a).alias("account_id")]
        if c is not None:
            keep.append(pl.col(c).alias("capability_id"))
        # An unreached gate's instance is the pair alone: no pivot to name.
        nodes = pl.struct([pl.col(x) for x in mp.nodes if x in top.columns]).struct.json_encode()
        return top.select(
            *keep,
            pl.lit(mp.id).alias("metapath"),
            pl.col(W).alias("w"),
            render_expr(mp.sentence, top.schema).alias("sentence"),
            nodes.alias("nodes"),
        )


# ------------------------------------------------------------------ helpers


def _product(columns: Sequence[str]) -> pl.Expr:
    expr = pl.lit(1.0)
    for column in columns:
        expr = expr * pl.col(column).cast(pl.Float64).fill_null(1.0)
    return expr


def _top(frame: pl.DataFrame, by: list[str], k: int, weight: list[str]) -> pl.DataFrame:
    """The ``k`` strongest rows per group; ties broken by the path's node keys (the
    alias columns, which identify an instance), so the choice does not depend on row
    order."""
    others = [
        c
        for c in frame.columns
        if c not in weight
        and "." not in c
        and not c.startswith("__")
        and frame.schema[c] != pl.List
    ]
    # Groups of k rows or fewer keep every row; only the larger ones need sorting.
    size = pl.len().over(by)
    small, big = frame.filter(size <= k), frame.filter(size > k)
    ordered = big.sort(
        [*weight, *others], descending=[True] * len(weight) + [False] * len(others), nulls_last=True
    )
    kept = ordered.group_by(by, maintain_order=True).head(k).select(frame.columns)
    return pl.concat([small, kept])


def _unique(items: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _fields_present(frame: pl.DataFrame, alias: str) -> set[str]:
    prefix = alias + "."
    return {c[len(prefix) :] for c in frame.columns if c.startswith(prefix)}
