"""The quality benchmark's metrics and ranking rules."""

from __future__ import annotations

import math

from bench.matching_quality import evaluate_method, ndcg_at, rank


def test_ndcg_at_k() -> None:
    assert ndcg_at([True, True, False], relevant=2, k=10) == 1.0
    # One relevant item at rank 2 of a list that could have had it first.
    assert math.isclose(ndcg_at([False, True], relevant=1, k=10), 1 / math.log2(3))
    # Relevant items past k do not count; the ideal is capped at k.
    assert ndcg_at([False, False, True], relevant=3, k=2) == 0.0
    assert math.isnan(ndcg_at([False], relevant=0, k=10))


def test_rank_puts_unscored_pairs_last_and_breaks_ties_by_hash_not_order() -> None:
    pairs = [("a", "x"), ("b", "x"), ("c", "x"), ("d", "x")]
    scores = {("a", "x"): 0.2, ("b", "x"): 0.9, ("c", "x"): 0.9}
    ranked = rank(pairs, scores)
    assert ranked[0] in {("b", "x"), ("c", "x")} and ranked[2] == ("a", "x")
    assert ranked[3] == ("d", "x")
    assert rank(list(reversed(pairs)), scores) == ranked


def test_evaluate_method_averages_per_queue() -> None:
    truth = {("a", "x"), ("b", "y")}
    queues = {"am1": [("a", "x"), ("a", "y")], "am2": [("b", "x"), ("b", "y")]}
    by_cap = {"x": [("a", "x"), ("b", "x")], "y": [("a", "y"), ("b", "y")]}
    perfect = {("a", "x"): 1.0, ("a", "y"): 0.0, ("b", "y"): 1.0, ("b", "x"): 0.0}
    got = evaluate_method(perfect, queues, by_cap, truth)
    assert got["ndcg10_am"] == 1.0 and got["ndcg10_capability"] == 1.0
    assert got["precision5"] == 0.2 and got["recall20"] == 1.0
    inverted = {p: 1.0 - s for p, s in perfect.items()}
    worse = evaluate_method(inverted, queues, by_cap, truth)
    assert math.isclose(worse["ndcg10_am"], 1 / math.log2(3))
