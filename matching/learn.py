"""Refit the score's weights from AM decisions, pulled toward the prior.

Labels come from Decision nodes on matches: ``validate`` is positive, ``kill``
negative, ``defer`` carries no label; when an AM decided a match more than once,
the latest decision counts. Features are the ones stored on the decision (the
match as the AM saw it), transformed as the score does (``ln(1 + W_m)``).

The fit is logistic regression with a Gaussian prior centred on the prior
model's weights (L2 toward the prior, ``strength`` = how hard it pulls), solved
by Newton's method. The bias is fit without a pull, as a nuisance, and the
stored version keeps the prior's bias: decisions are a selected sample (see
``fit``), so they tell the weights of the evidence, not the base rate.

A fifth of the labels (chosen by a hash of the match id, so the split is
stable) is held out: the report compares the current model and the refit on it
(log loss, AUC, accuracy). The stored version is then refit on every
label. Too few labels is refused with the counts.

The queue guard (``matching.surfacing``): the refit's ``surface_min_score`` is
recalibrated on the held-out decisions so its expected precision is not lower
than the current model's at its own threshold; both models then score every
pair the metapaths reach, and the report gives each queue's size and its share
of matches with dated current evidence. A refit that would surface more than
``FLOOD_RATIO`` times as many matches is refused (not stored, not activated),
with the reason, unless forced.

``as_of`` learns as of that time: decisions (and the matches they are on) made
after it do not exist, and the queues are measured on the graph as it was then
(``matching.asof``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import polars as pl

from graph_model.errors import TooFewLabels
from graph_model.store import GraphStore
from matching.asof import as_of_view
from matching.metapaths import Metapath, load_metapaths
from matching.model import ScoreModelSpec, active_model, load_prior, save_version
from matching.surfacing import (
    current_evidence,
    queue_size,
    recalibrated_threshold,
    scored_pairs,
    surfaced_by,
)

MIN_LABELS = 30
MIN_PER_CLASS = 5
HOLDOUT_SHARE = 0.2
# A refit that would surface more than this many times the matches is refused.
FLOOD_RATIO = 1.5


@dataclass
class LearnReport:
    version: str
    parent: str
    labels: int
    positives: int
    negatives: int
    held_out: int
    before: dict[str, float]
    after: dict[str, float]
    weights_before: dict[str, float]
    weights_after: dict[str, float]
    notes: list[str] = field(default_factory=list)
    as_of: str | None = None
    # The surfacing threshold before and after (recalibrated on held-out decisions),
    # and the held-out precision of each at its threshold.
    threshold_before: float = 0.0
    threshold_after: float = 0.0
    precision_before: float | None = None
    precision_after: float | None = None
    # Each model's queue over every reachable pair: surfaced, with_current_evidence,
    # current_share (matching.surfacing).
    queue_before: dict[str, float | int] = field(default_factory=dict)
    queue_after: dict[str, float | int] = field(default_factory=dict)
    # Why the refit was not stored (a flood), or None.
    refused: str | None = None
    forced: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# Decisions that label a match: validating it or approving or editing its draft is
# positive; killing it or cancelling its draft is negative.
POSITIVE = ("validate", "approve", "edit")
NEGATIVE = ("kill", "cancel")


def labelled_decisions(store: GraphStore) -> pl.DataFrame:
    """match_id, label (1 positive / 0 negative), features (JSON) of each match's
    latest labelling decision; a later defer does not erase an earlier label."""
    decisions = store.nodes("Decision", {"kind": [*POSITIVE, *NEGATIVE]})
    if decisions.height == 0:
        return pl.DataFrame(
            schema={"match_id": pl.String, "label": pl.Int64, "features": pl.String}
        )
    on = store.edges("DECIDED_ON", touching=decisions["decision_id"].to_list(), side="source")
    on = on.filter(pl.col("dst_label") == "Match").select(
        pl.col("src").alias("decision_id"), pl.col("dst").alias("match_id")
    )
    return (
        decisions.join(on, on="decision_id", how="inner")
        .sort(["match_id", "decided_at", "decision_id"])
        .group_by("match_id", maintain_order=True)
        .last()
        .select(
            "match_id",
            pl.col("kind").is_in(POSITIVE).cast(pl.Int64).alias("label"),
            pl.col("features").fill_null("{}"),
        )
    )


def design_matrix(features: Sequence[str], names: Sequence[str]) -> np.ndarray:
    """Rows of [1, ln(1 + W_m) for m in names] from stored feature JSON."""
    rows = []
    for text in features:
        stored = json.loads(text or "{}")
        rows.append([1.0, *(math.log1p(max(stored.get(m, {}).get("w", 0.0), 0.0)) for m in names)])
    return np.asarray(rows, dtype=float).reshape(len(rows), len(names) + 1)


def fit(
    x: np.ndarray,
    y: np.ndarray,
    prior: np.ndarray,
    *,
    strength: float,
    fixed: Sequence[int] = (),
    unpenalised: Sequence[int] = (0,),
    iterations: int = 50,
) -> np.ndarray:
    """MAP logistic regression with an L2 pull of ``strength`` toward ``prior``.

    Coordinates in ``fixed`` stay at the prior; those in ``unpenalised`` are fit
    without a pull. By default the bias (column 0) is fit freely and everything else
    is pulled. Decisions label a selected sample (matches that were surfaced, mostly
    the top of a queue), like a case-control study: the weights of the evidence can
    be estimated from it, the base rate cannot, and the intercept absorbs the
    selection. ``learn`` therefore fits the bias here as a nuisance and stores the
    prior's bias. Holding the bias at the prior during the fit instead distorts the
    weights, which then have to carry the selection themselves (a unit test shows
    the slopes doubling).
    """
    theta = prior.copy()
    free = np.ones(len(prior), dtype=bool)
    free[list(fixed)] = False
    pull = np.full(len(prior), strength)
    pull[list(unpenalised)] = 0.0
    xf = x[:, free]
    pf = pull[free]

    def loss(t: np.ndarray) -> float:
        z = x @ t
        # -log-likelihood, written so large |z| cannot overflow, plus the pull.
        nll = float(np.sum(np.logaddexp(0.0, z) - y * z))
        return nll + 0.5 * float(np.sum(pull * (t - prior) ** 2))

    current = loss(theta)
    for _ in range(iterations):
        p = _sigmoid(x @ theta)
        grad = xf.T @ (p - y) + pf * (theta[free] - prior[free])
        hess = (xf.T * (p * (1 - p))) @ xf + np.diag(pf) + 1e-9 * np.eye(len(pf))
        step = np.zeros_like(theta)
        step[free] = np.linalg.solve(hess, grad)
        # Newton's step, halved until the penalised loss falls (plain Newton can
        # overshoot when the start is far from the answer).
        scale = 1.0
        while scale > 1e-6:
            trial = theta - scale * step
            if (value := loss(trial)) <= current:
                break
            scale /= 2
        else:
            break
        theta, current, step = trial, value, scale * step
        if float(np.max(np.abs(step))) < 1e-8:
            break
    return theta


def metrics(x: np.ndarray, y: np.ndarray, theta: np.ndarray) -> dict[str, float]:
    p = np.clip(_sigmoid(x @ theta), 1e-9, 1 - 1e-9)
    log_loss = float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    accuracy = float(np.mean((p >= 0.5) == (y == 1)))
    return {
        "log_loss": round(log_loss, 4),
        "auc": round(_auc(p, y), 4),
        "accuracy": round(accuracy, 4),
    }


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # no overflow for large |z|


def _auc(p: np.ndarray, y: np.ndarray) -> float:
    pos, neg = p[y == 1], p[y == 0]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    # Probability that a random positive outranks a random negative (ties count half).
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (len(pos) * len(neg)))


def _held_out(match_id: str) -> bool:
    bucket = int(hashlib.sha1(match_id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return bucket < HOLDOUT_SHARE


def learn(
    store: GraphStore,
    *,
    strength: float = 2.0,
    min_labels: int = MIN_LABELS,
    metapaths: Sequence[Metapath] | None = None,
    now: dt.datetime | None = None,
    save: bool = True,
    as_of: dt.datetime | None = None,
    force: bool = False,
) -> LearnReport:
    """Refit from decisions; recalibrate the surfacing threshold on held-out decisions;
    store and activate the new version (unless ``save`` is off, or it would flood the
    queue and ``force`` is off: then ``refused`` says why)."""
    metapaths = list(metapaths) if metapaths is not None else load_metapaths()
    at = as_of or now or dt.datetime.now(dt.UTC)
    reads = as_of_view(store, as_of) if as_of is not None else store
    prior = load_prior(metapaths=metapaths)
    current = active_model(reads, prior)
    names = [m.id for m in metapaths if m.role == "evidence"]
    labels = labelled_decisions(reads)
    positives = int(labels["label"].sum() or 0)
    negatives = labels.height - positives
    if labels.height < min_labels or min(positives, negatives) < MIN_PER_CLASS:
        raise TooFewLabels(
            f"too few decisions to learn from: {positives} validated and {negatives} killed "
            f"matches; learning needs at least {min_labels} in all and {MIN_PER_CLASS} of each"
            + (f" (as of {as_of.isoformat()})" if as_of is not None else ""),
            hint="deferred matches carry no label; twoloop decide validate|kill adds labels",
        )
    x = design_matrix(labels["features"].to_list(), names)
    y = labels["label"].to_numpy().astype(float)
    anchor = np.asarray([prior.bias, *(prior.weights.get(m, 0.0) for m in names)])
    now_theta = np.asarray([current.bias, *(current.weights.get(m, 0.0) for m in names)])
    held = np.asarray([_held_out(m) for m in labels["match_id"].to_list()])
    notes: list[str] = []
    threshold = prior.surface_min_score
    precision_before = precision_after = None
    if held.sum() < 2 or (~held).sum() < 2 or len(set(y[held])) < 2:
        notes.append("the held-out fifth has too few labels of each kind for metrics")
        notes.append(
            f"the surfacing threshold stays at the prior's {threshold:g}: no held-out "
            "decisions to recalibrate it on"
        )
        before = after = {}
    else:
        trial = fit(x[~held], y[~held], anchor, strength=strength)
        # Log loss and accuracy depend on the intercept, which a selected sample
        # sets: each model is measured with its intercept fitted to the training
        # decisions (the current model's weights held), so the two compare like for
        # like. AUC does not depend on it.
        weights_only = range(1, len(names) + 1)
        calibrated = fit(x[~held], y[~held], now_theta, strength=strength, fixed=weights_only)
        before = metrics(x[held], y[held], calibrated)
        after = metrics(x[held], y[held], trial)
        # The threshold is set on scores as they surface: each model with its stored
        # bias (the refit keeps the prior's), the refit fitted without the held-out.
        as_stored = np.concatenate([[prior.bias], trial[1:]])
        threshold, precision_before, precision_after = recalibrated_threshold(
            _sigmoid(x[held] @ now_theta),
            _sigmoid(x[held] @ as_stored),
            y[held],
            old_threshold=current.surface_min_score,
            floor=prior.surface_min_score,
        )
    theta = fit(x, y, anchor, strength=strength)
    learned = ScoreModelSpec(
        version=current.version,
        bias=prior.bias,
        weights={m: float(round(w, 6)) for m, w in zip(names, theta[1:], strict=True)},
        background=prior.background,
        surface_min_score=threshold,
        weak_below=prior.weak_below,
    )
    pairs = scored_pairs(reads, metapaths, current, as_of=at)
    current_pairs = current_evidence(reads, metapaths, current, as_of=at)
    queue_before = queue_size(pairs.filter(surfaced_by(pairs, current, names)), current_pairs)
    queue_after = queue_size(pairs.filter(surfaced_by(pairs, learned, names)), current_pairs)
    refused = None
    if queue_after.surfaced > FLOOD_RATIO * max(queue_before.surfaced, 1):
        flood = (
            f"the refit would surface {queue_after.surfaced} matches, "
            f"{queue_after.surfaced / max(queue_before.surfaced, 1):.1f}x the "
            f"{queue_before.surfaced} the current model surfaces (more than {FLOOD_RATIO:g}x), "
            f"and {queue_after.current_share:.0%} of them with dated current evidence "
            f"(now {queue_before.current_share:.0%})"
        )
        if force:
            notes.append(f"forced: {flood}")
        else:
            refused = flood + "; not stored (twoloop learn --force stores it anyway)"
    version = current.version
    if save and refused is None:
        stored = save_version(
            store,
            learned,
            trained_on=labels.height,
            metrics={
                "held_out_before": before,
                "held_out_after": after,
                "strength": strength,
                "threshold_before": current.surface_min_score,
                "threshold_after": threshold,
                "queue_before": queue_before.as_dict(),
                "queue_after": queue_after.as_dict(),
            },
            parent=current.version,
            now=now or at,
        )
        version = stored.version
    return LearnReport(
        version=version,
        parent=current.version,
        labels=labels.height,
        positives=positives,
        negatives=negatives,
        held_out=int(held.sum()),
        before=before,
        after=after,
        weights_before={"bias": current.bias, **{m: current.weights.get(m, 0.0) for m in names}},
        weights_after={"bias": learned.bias, **learned.weights},
        notes=notes,
        as_of=as_of.isoformat() if as_of is not None else None,
        threshold_before=current.surface_min_score,
        threshold_after=threshold,
        precision_before=_rounded(precision_before),
        precision_after=_rounded(precision_after),
        queue_before=queue_before.as_dict(),
        queue_after=queue_after.as_dict(),
        refused=refused,
        forced=force,
    )


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
