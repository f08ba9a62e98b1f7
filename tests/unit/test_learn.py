"""The refit itself: MAP logistic regression toward the prior, and its metrics."""

from __future__ import annotations

import json

import numpy as np
import pytest

from matching.learn import design_matrix, fit, metrics


def _data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.column_stack([np.ones(n), rng.normal(size=n), rng.normal(size=n)])
    p = 1 / (1 + np.exp(-(x @ np.array([-0.5, 2.0, -1.0]))))
    return x, (rng.random(n) < p).astype(float)


def test_a_weak_pull_recovers_the_true_weights() -> None:
    x, y = _data(5000)
    theta = fit(x, y, np.zeros(3), strength=1e-3, fixed=())
    assert theta == pytest.approx([-0.5, 2.0, -1.0], abs=0.15)


def test_the_bias_stays_at_the_prior_and_the_weights_still_learn() -> None:
    x, y = _data(5000)
    # Labels drawn only from the top of a queue: mostly positives.
    top = x[:, 1] > 0.5
    prior = np.array([-3.0, 0.5, 0.5])
    theta = fit(x[top], y[top], prior, strength=1e-3)
    assert theta[0] == -3.0
    assert theta[1] > prior[1] and theta[2] < 0  # the direction of each weight is learned
    free = fit(x[top], y[top], prior, strength=1e-3, fixed=())
    assert free[0] > -1.5  # a free bias would have learned the sample's base rate


def test_a_strong_pull_stays_at_the_prior() -> None:
    x, y = _data(200)
    prior = np.array([-3.0, 0.5, 0.5])
    theta = fit(x, y, prior, strength=1e6)
    assert theta == pytest.approx(prior, abs=1e-3)
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
