"""The backtest's metrics, horizon and ranking, on hand-computed values."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from graph_model.errors import TwoloopError
from matching.backtest import hit_at, ndcg_at, parse_horizon, rank


def test_hit_at_k() -> None:
    assert hit_at([False, False, True], 5) == 1.0
    assert hit_at([False] * 5 + [True], 5) == 0.0
    assert hit_at([], 5) == 0.0


def test_ndcg_at_k_by_hand() -> None:
    # One relevant item at rank 1: perfect.
    assert ndcg_at([True, False, False], 1, 10) == 1.0
    # One relevant item at rank 3: (1/log2(4)) / (1/log2(2)) = 0.5.
    assert ndcg_at([False, False, True], 1, 10) == pytest.approx(0.5)
    # Two relevant at ranks 2 and 4: (1/log2(3) + 1/log2(5)) / (1 + 1/log2(3)).
    expected = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
    assert ndcg_at([False, True, False, True], 2, 10) == pytest.approx(expected)
    assert expected == pytest.approx(0.6509, abs=1e-4)  # (0.6309 + 0.4307) / 1.6309
    # A relevant item below the cut counts nothing; none possible is undefined.
    assert ndcg_at([False] * 10 + [True], 1, 10) == 0.0
    assert math.isnan(ndcg_at([False], 0, 10))


def test_rank_puts_scored_pairs_first_and_breaks_ties_by_the_pair() -> None:
    pairs = [("a", "x"), ("b", "x"), ("c", "x"), ("d", "x")]
    scores = {("b", "x"): 0.9, ("c", "x"): 0.2}
    ranked = rank(pairs, scores)
    assert ranked[:2] == [("b", "x"), ("c", "x")]
    assert set(ranked[2:]) == {("a", "x"), ("d", "x")}
    assert rank(list(reversed(pairs)), scores) == ranked  # not input order


def test_horizon() -> None:
    assert parse_horizon("90d") == dt.timedelta(days=90)
    assert parse_horizon("12w") == dt.timedelta(days=84)
    assert parse_horizon("30") == dt.timedelta(days=30)
    for bad in ("0d", "3m", "soon", "-5d"):
        with pytest.raises(TwoloopError, match="not a number of days or weeks"):
            parse_horizon(bad)
