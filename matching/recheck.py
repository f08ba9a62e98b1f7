"""When time alone could change what a scoring decided, so an account that nothing
touched is rescored then and not at every run.

Two things move with time:

- Scores decay (recency half-lives). For a surfaced pair the score can only fall
  (evidence weights are positive; a negative learned weight is taken as not
  decaying, which keeps the bound safe), and it falls no faster than if every
  decaying path had the shortest half-life its metapath can have. That lower bound
  gives the first day the score could cross the nearest threshold below it: the
  model's ``surface_min_score`` and ``weak_below`` and the thresholds the caller
  names (the routing policy's score rules). The same for ``intent`` (the need
  evidence the policy reads) against the policy's intent thresholds.
- Gates with a window (``x.field within Nd``) start or stop blocking when an event
  enters or leaves the window: at its time minus or plus N days.

Each is a conservative (early) time: rescoring then finds either a change or a
later time.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from matching.metapaths import Metapath
from matching.model import ScoreModelSpec

HORIZON_DAYS = 3650.0
INTENT_PATHS = ("need_evidence", "buyer_priority")


@dataclass(frozen=True)
class Thresholds:
    """Values the caller decides on beyond the model's own (e.g. the routing policy's
    ``score >= 0.8`` and ``intent >= 1.5``)."""

    score: Sequence[float] = field(default_factory=tuple)
    intent: Sequence[float] = field(default_factory=tuple)


def fastest_half_lives(metapaths: Sequence[Metapath]) -> dict[str, float]:
    """Per evidence metapath, the shortest half-life any of its instances can have
    (infinite when it does not decay)."""
    out: dict[str, float] = {}
    for mp in metapaths:
        if mp.role != "evidence":
            continue
        if mp.recency is None:
            out[mp.id] = math.inf
        else:
            out[mp.id] = min(days for _kind, days in mp.half_lives)
    return out


def decay_recheck_days(
    pairs: pl.DataFrame,
    model: ScoreModelSpec,
    metapaths: Sequence[Metapath],
    thresholds: Thresholds = Thresholds(),
) -> np.ndarray:
    """Per row of ``pairs`` (``w:<metapath>`` columns and ``score``), the days after its
    as-of time when its score or intent could first cross a threshold below it
    (``inf``: never within ten years)."""
    if pairs.is_empty():
        return np.zeros(0)
    halves = fastest_half_lives(metapaths)
    ids = [m for m in halves if f"w:{m}" in pairs.columns]
    w = pairs.select([pl.col(f"w:{m}").fill_null(0.0) for m in ids]).to_numpy().astype(float)
    weights = np.array([model.weights.get(m, 0.0) for m in ids])
    rate = np.array([0.0 if weights[j] <= 0 else 1.0 / halves[m] for j, m in enumerate(ids)])
    score = pairs["score"].to_numpy().astype(float)
    cuts = sorted({model.surface_min_score, model.weak_below, *thresholds.score})
    # The nearest threshold below each score (none: nothing to cross).
    below = np.full(score.shape, -1.0)
    for t in cuts:
        below = np.where(t < score, t, below)

    def bound(days: np.ndarray) -> np.ndarray:
        decay = np.power(0.5, days[:, None] * rate[None, :])
        z = model.bias + (np.log1p(w * decay) * weights[None, :]).sum(axis=1)
        return 1.0 / (1.0 + np.exp(-z))

    lo, hi = np.zeros(score.shape), np.full(score.shape, HORIZON_DAYS)
    never = bound(hi) >= below
    for _ in range(30):
        mid = (lo + hi) / 2
        crossed = bound(mid) < below
        hi = np.where(crossed, mid, hi)
        lo = np.where(crossed, lo, mid)
    days = np.where(never | (below < 0), np.inf, lo)
    # Intent (need evidence the policy reads) decays at most as fast as its fastest path.
    intent_ids = [m for m in INTENT_PATHS if m in ids]
    if thresholds.intent and intent_ids:
        intent = pairs.select(
            pl.sum_horizontal([pl.col(f"w:{m}").fill_null(0.0) for m in intent_ids])
        ).to_series()
        rate_i = max(1.0 / halves[m] for m in intent_ids)
        values = intent.to_numpy().astype(float)
        for t in thresholds.intent:
            with np.errstate(divide="ignore", invalid="ignore"):
                cross = np.where((values > t) & (t > 0), np.log2(values / t) / rate_i, np.inf)
            days = np.minimum(days, cross)
    return days


def recheck_times(
    accounts: Sequence[str],
    surfaced: pl.DataFrame,
    windows: pl.DataFrame,
    *,
    as_of: dt.datetime,
    model: ScoreModelSpec,
    metapaths: Sequence[Metapath],
    thresholds: Thresholds = Thresholds(),
) -> dict[str, dt.datetime | None]:
    """Per account, the first time anything about its scoring could change by time
    alone; None when nothing can (only new input changes it)."""
    out: dict[str, dt.datetime | None] = dict.fromkeys(accounts)
    days = decay_recheck_days(surfaced, model, metapaths, thresholds)
    for account, d in zip(surfaced["account_id"].to_list(), days.tolist(), strict=True):
        if math.isfinite(d):
            # A minute early rather than a minute late.
            when = as_of + dt.timedelta(days=max(d, 0.0)) - dt.timedelta(minutes=1)
            current = out.get(account)
            out[account] = when if current is None else min(current, when)
    for account, when in windows.iter_rows():
        current = out.get(account)
        out[account] = when if current is None else min(current, when)
    return out
