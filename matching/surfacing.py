"""What a score model puts in the queue: how many matches it surfaces, how many of
them rest on dated current evidence, and the surfacing threshold that keeps the
queue as precise as before a refit.

**Dated current evidence.** A pair has it when at least one instance of an
evidence metapath with a recency date (``recency`` in metapaths.yaml: a signal's
``occurred_at``, a job change's ``until``) is no older than its half-life at the
as-of time (the half-life of the signal's kind, or of the metapath; the same one
the score decays with), i.e. the instance still counts at least half. Background
fit (industry, technology, lookalike wins) is never current evidence: it says the
account could use the capability, not that something happened lately.

**Recalibration.** A refit changes every score, so the old ``surface_min_score``
no longer means the same queue. On the held-out decisions (labels the refit did
not see), the old model's precision at its threshold is the share of validated
matches among those it scores at or above it. The new model's threshold is the
lowest one, not below the prior's, at which its precision on the same held-out
decisions is at least that; when no threshold reaches it, the highest held-out
score is used (the new model then surfaces only what it is surest of).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from graph_model.store import GraphStore
from graph_model.vocabulary import SignalKind
from matching.evaluate import Evaluator
from matching.metapaths import Condition, Metapath
from matching.model import ScoreModelSpec
from matching.run import DEFAULT_BATCH, Matcher

KEY = ["account_id", "capability_id"]


@dataclass(frozen=True)
class QueueSize:
    """One model's queue: surfaced matches and the share with dated current evidence."""

    surfaced: int
    current: int

    @property
    def current_share(self) -> float:
        return round(self.current / self.surfaced, 4) if self.surfaced else 0.0

    def as_dict(self) -> dict[str, float | int]:
        return {
            "surfaced": self.surfaced,
            "with_current_evidence": self.current,
            "current_share": self.current_share,
        }


def precision_at(scores: np.ndarray, labels: np.ndarray, threshold: float) -> float | None:
    """Share of positives among the scores at or above ``threshold`` (None: none are)."""
    kept = scores >= threshold
    return float(labels[kept].mean()) if kept.any() else None


def recalibrated_threshold(
    old_scores: np.ndarray,
    new_scores: np.ndarray,
    labels: np.ndarray,
    *,
    old_threshold: float,
    floor: float,
) -> tuple[float, float | None, float | None]:
    """The new model's surfacing threshold (see the module doc), with the held-out
    precision of the old model at its threshold and of the new one at the result."""
    target = precision_at(old_scores, labels, old_threshold)
    if target is None:
        return floor, None, precision_at(new_scores, labels, floor)
    candidates = sorted({floor, *(float(s) for s in new_scores if s >= floor)})
    for threshold in candidates:
        reached = precision_at(new_scores, labels, threshold)
        if reached is not None and reached >= target - 1e-12:
            return round(threshold, 6), target, reached
    top = float(new_scores.max()) if len(new_scores) else floor
    return round(max(top, floor), 6), target, precision_at(new_scores, labels, max(top, floor))


def scored_pairs(
    store: GraphStore,
    metapaths: Sequence[Metapath],
    model: ScoreModelSpec,
    *,
    as_of: dt.datetime,
    batch_size: int = DEFAULT_BATCH,
) -> pl.DataFrame:
    """Every pair the metapaths reach as of then, scored with ``model`` (no explanations,
    nothing written): account_id, capability_id, ``w:<id>``, gates, evidence_n."""
    matcher = Matcher(store, as_of=as_of, metapaths=metapaths, model=model)
    accounts = sorted(store.nodes("Account")["account_id"].to_list())
    frames = []
    for start in range(0, len(accounts), batch_size):
        batch = accounts[start : start + batch_size]
        frames.append(matcher.score_results(matcher.evaluator.evaluate(batch), batch))
    if not frames:
        return pl.DataFrame(schema={"account_id": pl.String, "capability_id": pl.String})
    return pl.concat(frames, how="diagonal_relaxed")


def surfaced_by(pairs: pl.DataFrame, model: ScoreModelSpec, evidence: Sequence[str]) -> pl.Series:
    """Which of the scored pairs ``model`` surfaces (no gate, some evidence, score at
    or above its threshold)."""
    if pairs.is_empty():
        return pl.Series("surfaced", [], dtype=pl.Boolean)
    return pairs.select(
        (
            (pl.col("gates").list.len() == 0)
            & (pl.col("evidence_n") > 0)
            & (model.score_expr(list(evidence)) >= model.surface_min_score)
        ).alias("surfaced")
    )["surfaced"]


def current_evidence(
    store: GraphStore,
    metapaths: Sequence[Metapath],
    model: ScoreModelSpec,
    *,
    as_of: dt.datetime,
) -> pl.DataFrame:
    """The (account_id, capability_id) pairs with dated current evidence as of then."""
    variants: list[Metapath] = []
    for mp in metapaths:
        if mp.role != "evidence" or mp.recency is None or mp.capability_alias is None:
            continue
        alias, field = mp.recency
        if mp.nodes.get(alias) == "Signal":
            by_half_life: dict[float, list[str]] = {}
            for kind in SignalKind:
                by_half_life.setdefault(mp.half_life(kind.value), []).append(kind.value)
            groups = [
                (days, (Condition(alias, "kind", "in", tuple(kinds)),))
                for days, kinds in by_half_life.items()
            ]
        else:
            groups = [(mp.half_life(), ())]
        for days, extra in groups:
            within = Condition(alias, field, "within", int(days))
            variants.append(
                dataclasses.replace(
                    mp,
                    id=f"{mp.id}~current{len(variants)}",
                    conditions=(*mp.conditions, *extra, within),
                    share_of=None,
                )
            )
    schema = {"account_id": pl.String, "capability_id": pl.String}
    if not variants:
        return pl.DataFrame(schema=schema)
    evaluator = Evaluator(store, variants, model, as_of=as_of)
    accounts = sorted(store.nodes("Account")["account_id"].to_list())
    found = [
        r.pairs.select(KEY)
        for start in range(0, len(accounts), DEFAULT_BATCH)
        for r in evaluator.evaluate(accounts[start : start + DEFAULT_BATCH])
    ]
    return pl.concat(found).unique().sort(KEY) if found else pl.DataFrame(schema=schema)


def queue_size(surfaced: pl.DataFrame, current: pl.DataFrame) -> QueueSize:
    """Size of a queue (its surfaced pairs) and how many have dated current evidence."""
    hits = surfaced.select(KEY).join(current, on=KEY, how="semi").height
    return QueueSize(surfaced=surfaced.height, current=hits)
