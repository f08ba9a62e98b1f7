"""The refit itself: MAP logistic regression toward the prior, and its metrics."""

from __future__ import annotations

import json

import numpy as np
import pytest

from matching.learn import design_matrix, fit, metrics
from matching.surfacing import precision_at, recalibrated_threshold


def _data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.column_stack([np.ones(n), rng.normal(size=n), rng.normal(size=n)])
    p = 1 / (1 + np.exp(-(x @ np.array([-0.5, 2.0, -1.0]))))
    return x, (rng.random(n) < p).astype(float)


def test_a_weak_pull_recovers_the_true_weights() -> None:
    x, y = _data(5000)
    theta = fit(x, y, np.zeros(3), strength=1e-3, fixed=())
    assert theta == pytest.approx([-0.5, 2.0, -1.0], abs=0.15)


def test_a_selected_sample_moves_the_intercept_and_the_weights_are_still_recovered() -> None:
    """Decisions are a selected sample (like case-control): every positive, a fifth of
    the negatives. With the bias fit freely the weights are recovered and the
    intercept absorbs the selection (ln 5 higher); held at the prior's bias, the
    weights have to carry the selection and come out about twice too large."""
    rng = np.random.default_rng(0)
    n = 20_000
    x = np.column_stack([np.ones(n), rng.normal(size=n), rng.normal(size=n)])
    truth = np.array([-2.0, 2.0, -1.0])
    y = (rng.random(n) < 1 / (1 + np.exp(-(x @ truth)))).astype(float)
    kept = (y == 1) | (rng.random(n) < 0.2)
    prior = np.array([-3.0, 0.5, 0.5])
    theta = fit(x[kept], y[kept], prior, strength=1e-3)
    assert theta[1:] == pytest.approx(truth[1:], abs=0.1)
    assert theta[0] == pytest.approx(truth[0] + np.log(5), abs=0.1)
    held = fit(x[kept], y[kept], prior, strength=1e-3, fixed=(0,), unpenalised=())
    assert held[0] == -3.0
    assert held[1] > 1.5 * truth[1] and held[2] < 1.5 * truth[2]


def test_only_the_free_coordinates_move() -> None:
    x, y = _data(2000)
    prior = np.array([-3.0, 0.5, 0.5])
    bias_only = fit(x, y, prior, strength=1.0, fixed=(1, 2))
    assert bias_only[1:].tolist() == [0.5, 0.5] and bias_only[0] != -3.0


def test_a_strong_pull_stays_at_the_prior() -> None:
    x, y = _data(200)
    prior = np.array([-3.0, 0.5, 0.5])
    theta = fit(x, y, prior, strength=1e6)
    assert theta[1:] == pytest.approx(prior[1:], abs=1e-3)  # the bias is not pulled
    middle = fit(x, y, prior, strength=20.0)
    free = fit(x, y, prior, strength=1e-3)
    assert abs(middle[1] - prior[1]) < abs(free[1] - prior[1])


def test_metrics_and_the_design_matrix() -> None:
    x, y = _data(2000, seed=1)
    good = metrics(x, y, np.array([-0.5, 2.0, -1.0]))
    bad = metrics(x, y, np.array([-0.5, -2.0, 1.0]))
    assert good["auc"] > 0.8 > 0.2 > bad["auc"]
    assert good["log_loss"] < bad["log_loss"]
    rows = design_matrix(
        [json.dumps({"need_evidence": {"n": 2, "w": np.e - 1}}), "{}"], ["need_evidence", "x"]
    )
    assert rows.tolist() == [[1.0, pytest.approx(1.0), 0.0], [1.0, 0.0, 0.0]]


def test_the_threshold_rises_until_the_held_out_precision_is_kept() -> None:
    labels = np.array([1, 1, 0, 1, 0, 0], dtype=float)
    old = np.array([0.9, 0.8, 0.7, 0.3, 0.2, 0.05])
    new = np.array([0.9, 0.85, 0.6, 0.5, 0.55, 0.4])
    # Old at 0.25 keeps the first four: 3 of 4 validated. New: 0.5 at 0.1 and 0.4,
    # 3/5 at 0.5, 2/4 at 0.55, 2/3 at 0.6, 2/2 at 0.85: the first at or above 0.75.
    assert precision_at(old, labels, 0.25) == 0.75
    assert precision_at(new, labels, 0.95) is None
    assert recalibrated_threshold(old, new, labels, old_threshold=0.25, floor=0.1) == (
        0.85,
        0.75,
        1.0,
    )
    # Unchanged scores keep the same held-out queue (0.3: its lowest score over 0.25).
    assert recalibrated_threshold(old, old, labels, old_threshold=0.25, floor=0.1)[0] == 0.3
    assert recalibrated_threshold(old, new, labels, old_threshold=0.99, floor=0.1) == (
        0.1,
        None,
        0.5,
    )
