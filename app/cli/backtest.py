"""``twoloop backtest``: rank as of a past cut-off, score against what was won after it."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from app.cli.common import GraphOption, JsonOption, _open, _print_json, _progress, app, console
from app.cli.match import _as_of
from graph_model.errors import TwoloopError
from matching.backtest import HIT_AT, NDCG_AT, backtest, parse_horizon


@app.command("backtest")
def backtest_command(
    cutoff: Annotated[
        str,
        typer.Option(
            "--cutoff",
            help="Rank as of this ISO date or datetime (UTC when no zone is given): deals, "
            "losses, signals, activities, job changes and decisions after it do not exist.",
        ),
    ],
    horizon: Annotated[
        str,
        typer.Option(
            "--horizon",
            help="How long after the cut-off a win (or a validate decision) counts: 90d, 12w.",
        ),
    ] = "90d",
    wins_only: Annotated[
        bool,
        typer.Option(
            "--wins-only",
            help="Count won deals only, not validate decisions (AMs validate what twoloop "
            "showed them, so validations favour twoloop).",
        ),
    ] = False,
    graph: GraphOption = None,
    json_output: JsonOption = False,
) -> None:
    """Backtest the ranking: score every pair as of --cutoff (in memory: nothing is
    written) and measure, per AM, hit@5 and NDCG@10 against what was won (or validated)
    within --horizon after it, beside a per-industry popularity baseline ranking the
    same candidates (pairs no gate blocks as of the cut-off).

    Exit codes: 0 done; 2 a bad --cutoff or --horizon.
    """
    when = _as_of(cutoff)
    assert when is not None
    try:
        span = parse_horizon(horizon)
    except TwoloopError as exc:
        raise typer.BadParameter(str(exc), param_hint="--horizon") from None
    with _open(graph) as store, _progress(json_output) as progress:
        progress.add_task(f"ranking as of {when.date()}", total=None)
        report = backtest(store, cutoff=when, horizon=span, validations=not wins_only)
    if json_output:
        _print_json({"graph": store.uri, **report.as_dict()})
        return
    table = Table(
        title=f"backtest: ranked as of {when.date()} with model {report.model_version}, "
        f"won or validated within {report.horizon_days} days after"
    )
    for name, justify in (
        ("am", "left"),
        ("candidates", "right"),
        ("relevant", "right"),
        (f"twoloop hit@{HIT_AT}", "right"),
        (f"twoloop NDCG@{NDCG_AT}", "right"),
        (f"popularity hit@{HIT_AT}", "right"),
        (f"popularity NDCG@{NDCG_AT}", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in report.ams:
        table.add_row(
            Text(f"{row.name} ({row.am_id})" if row.name else row.am_id),
            f"{row.candidates:,}",
            f"{row.relevant:,}",
            _figure(row.twoloop["hit5"]),
            _figure(row.twoloop["ndcg10"]),
            _figure(row.popularity["hit5"]),
            _figure(row.popularity["ndcg10"]),
        )
    table.add_section()
    table.add_row(
        Text("mean", style="bold"),
        f"{report.candidates:,}",
        f"{report.relevant:,}",
        _figure(report.mean["twoloop"]["hit5"]),
        _figure(report.mean["twoloop"]["ndcg10"]),
        _figure(report.mean["popularity"]["hit5"]),
        _figure(report.mean["popularity"]["ndcg10"]),
    )
    console.print(table)
    console.print(
        "relevant: won or validated within the horizon; candidates: pairs no gate blocks "
        "as of the cut-off; mean: over the AMs with a relevant pair"
    )
    if report.relevant_blocked:
        console.print(
            f"{report.relevant_blocked:,} later wins were blocked by a gate as of the cut-off "
            "(an open deal, a recent activity, ...) and are not candidates"
        )
    for note in report.notes:
        console.print(Text(f"• {note}"))


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
