"""Backtests over several cut-offs: would twoloop have found the deals won later?

Each cut-off runs ``matching.backtest.backtest`` (the graph as known then, the
score model in use then; nothing written) and the results come back as frames
for a chart: one row per cut-off and method (twoloop, popularity), and per AM.

Examples run on the test suite's hand-built graph (``tests/support/analysis_world.py``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

import polars as pl

from graph_model.store import GraphStore
from matching.backtest import BacktestReport, backtest

METHODS = ("twoloop", "popularity")


def cutoffs_between(
    start: dt.datetime, end: dt.datetime, *, every: dt.timedelta
) -> list[dt.datetime]:
    """Cut-offs from ``start`` to ``end`` (both included when they fall on the step).

    >>> month = dt.timedelta(days=30)
    >>> [c.date().isoformat() for c in cutoffs_between(AS_OF - 2 * month, AS_OF, every=month)]
    ['2026-09-21', '2026-10-21', '2026-11-20']
    """
    if every <= dt.timedelta(0):
        raise ValueError("every must be a positive time span")
    out, at = [], start
    while at <= end:
        out.append(at)
        at += every
    return out


def backtest_series(
    store: GraphStore,
    cutoffs: Sequence[dt.datetime],
    *,
    horizon: dt.timedelta,
    validations: bool = True,
    progress: Callable[[dt.datetime], None] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Backtest at each cut-off. Returns ``(summary, per_am)``: ``summary`` has one row
    per cut-off and method with the mean hit@5 and NDCG@10 over the AMs that had
    something to find, and the counts (accounts, candidates, relevant); ``per_am``
    one row per cut-off, AM and method. ``validations=False`` counts won deals only
    (validations favour twoloop: AMs validate what it showed them). ``progress`` is
    called with each cut-off before it runs (a progress bar in a notebook).

    >>> cutoff, horizon = AS_OF - dt.timedelta(days=40), dt.timedelta(days=60)
    >>> summary, per_am = backtest_series(store, [cutoff], horizon=horizon)
    >>> summary.select("method", "relevant", "ndcg10").rows()
    [('twoloop', 1, 1.0), ('popularity', 1, 1.0)]
    >>> wins, _ = backtest_series(store, [cutoff], horizon=horizon, validations=False)
    >>> wins["relevant"].to_list()  # the one found was a validation, not a win
    [0, 0]
    """
    summary_rows, am_rows = [], []
    for cutoff in cutoffs:
        if progress is not None:
            progress(cutoff)
        report = backtest(store, cutoff=cutoff, horizon=horizon, validations=validations)
        summary_rows += _summary(report, cutoff)
        for am in report.ams:
            for method in METHODS:
                metrics = getattr(am, method)
                am_rows.append(
                    {
                        "cutoff": cutoff,
                        "am_id": am.am_id,
                        "am": am.name,
                        "method": method,
                        "candidates": am.candidates,
                        "relevant": am.relevant,
                        "hit5": metrics.get("hit5"),
                        "ndcg10": metrics.get("ndcg10"),
                    }
                )
    summary_schema = {
        "cutoff": pl.Datetime("us", "UTC"),
        "method": pl.String,
        "model_version": pl.String,
        "accounts": pl.Int64,
        "candidates": pl.Int64,
        "relevant": pl.Int64,
        "relevant_blocked": pl.Int64,
        "hit5": pl.Float64,
        "ndcg10": pl.Float64,
    }
    am_schema = {
        "cutoff": pl.Datetime("us", "UTC"),
        "am_id": pl.String,
        "am": pl.String,
        "method": pl.String,
        "candidates": pl.Int64,
        "relevant": pl.Int64,
        "hit5": pl.Float64,
        "ndcg10": pl.Float64,
    }
    return (
        pl.DataFrame(summary_rows, schema=summary_schema),
        pl.DataFrame(am_rows, schema=am_schema),
    )


def _summary(report: BacktestReport, cutoff: dt.datetime) -> list[dict[str, object]]:
    return [
        {
            "cutoff": cutoff,
            "method": method,
            "model_version": report.model_version,
            "accounts": report.accounts,
            "candidates": report.candidates,
            "relevant": report.relevant,
            "relevant_blocked": report.relevant_blocked,
            "hit5": report.mean.get(method, {}).get("hit5"),
            "ndcg10": report.mean.get(method, {}).get("ndcg10"),
        }
        for method in METHODS
    ]
