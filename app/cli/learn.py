"""``twoloop decide`` (the decisions learning feeds on) and ``twoloop learn``: refit the
match score, list and roll back its versions."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from app.cli.common import (
    AmOption,
    GraphOption,
    JsonOption,
    NowOption,
    _acted_by,
    _now,
    _open,
    _print_json,
    app,
    console,
    err_console,
)
from app.cli.match import _as_of
from app.decisions import REASON_CODES, decide
from matching.learn import FLOOD_RATIO, MIN_LABELS, learn
from matching.model import PRIOR_VERSION, activate, model_versions


class DecisionChoice(StrEnum):
    validate = "validate"
    defer = "defer"
    kill = "kill"


ReasonCodeOption = Annotated[
    str | None,
    typer.Option(
        "--reason-code",
        help="Why, from the fixed list (counted on the console's outcomes page): "
        + "; ".join(f"{code} = {label}" for code, label in REASON_CODES.items()),
        show_default=False,
    ),
]


@app.command("decide")
def decide_command(
    kind: Annotated[DecisionChoice, typer.Argument(help="validate, defer or kill.")],
    match_id: Annotated[str, typer.Argument(help="The match id (see match top).")],
    am: AmOption,
    until: Annotated[
        str | None,
        typer.Option(
            "--until", help="defer: the ISO date the match comes back.", show_default=False
        ),
    ] = None,
    reason: Annotated[
        str | None,
        typer.Option(
            "--reason", help="Why, in your words (kill: this or --reason-code).", show_default=False
        ),
    ] = None,
    now: NowOption = None,
    graph: GraphOption = None,
    json_output: JsonOption = False,
    reason_code: ReasonCodeOption = None,
) -> None:
    """Record a decision on a match: validate (worth pursuing), defer until a date, or
    kill with a reason. Decisions retrain the ranking (twoloop learn).

    Exit codes: 0 recorded; 2 missing reason/date; 4 no such match; 5 the match was
    already decided (nothing changed); 77 you may not act on this match's book.
    """
    defer_until = None
    if until is not None:
        try:
            defer_until = dt.date.fromisoformat(until)
        except ValueError:
            raise typer.BadParameter(
                f"{until!r} is not an ISO date", param_hint="--until"
            ) from None
    with _open(graph) as store:
        record = decide(
            store,
            match_id,
            kind.value,
            actor=am,
            reason=reason,
            reason_code=reason_code,
            defer_until=defer_until,
            now=_now(now),
        )
    if json_output:
        _print_json(record.as_dict())
        return
    extra = f" until {record.defer_until}" if record.defer_until else ""
    by = _acted_by(record.actor, record.role, record.on_behalf_of)
    console.print(
        Text.assemble(
            (record.kind, "green"),
            f" {record.match_id} by {by}{extra}: now {record.status} ({record.decision_id})",
        )
    )


learn_app = typer.Typer(
    help="Refit the match score from AM decisions; list and roll back versions.",
    invoke_without_command=True,
)
app.add_typer(learn_app, name="learn")


@learn_app.callback()
def learn_command(
    ctx: typer.Context,
    strength: Annotated[
        float,
        typer.Option("--strength", min=0.0, help="How hard the fit is pulled toward the prior."),
    ] = 2.0,
    min_labels: Annotated[
        int, typer.Option("--min-labels", min=2, help="Refuse with fewer labelled decisions.")
    ] = MIN_LABELS,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Fit and report, but store no new version.")
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help=f"Store the refit even if it would surface more than {FLOOD_RATIO:g}x the "
            "matches the current model surfaces.",
        ),
    ] = False,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Learn as of this ISO date or datetime: decisions made after it do not "
            "exist, and the queues are measured on the graph as it was then.",
            show_default=False,
        ),
    ] = None,
    graph: GraphOption = None,
    json_output: JsonOption = False,
) -> None:
    """Refit the score's weights from decisions (validate = positive, kill = negative,
    defer = no label), pulled toward the prior; print held-out metrics before and after;
    recalibrate the surfacing threshold on the held-out decisions so the queue is no
    less precise; print the queue before and after (matches surfaced, share with dated
    current evidence); store the result as a new active version that the next match
    run uses. A refit that would flood the queue is not stored unless --force.

    Exit codes: 0 learned; 2 too few labels; 6 refused: the refit would flood the queue.
    """
    if ctx.invoked_subcommand is not None:
        return
    with _open(graph) as store:
        report = learn(
            store,
            strength=strength,
            min_labels=min_labels,
            save=not dry_run,
            as_of=_as_of(as_of),
            force=force,
        )
    stored = not dry_run and report.refused is None
    if json_output:
        _print_json({"stored": stored, **report.as_dict()})
        if report.refused:
            raise typer.Exit(FLOODED)
        return
    console.print(
        f"[green]learned[/] from {report.labels} decisions ({report.positives} validated, "
        f"{report.negatives} killed; {report.held_out} held out)"
        + (f" as of {report.as_of}" if report.as_of else "")
        + (
            f": stored as {report.version} (was {report.parent})"
            if stored
            else (" (dry run)" if dry_run else ": [bold red]not stored[/]")
        )
    )
    if report.before:
        table = Table(title="held-out decisions")
        table.add_column("metric")
        table.add_column(f"before ({report.parent})", justify="right")
        table.add_column("after", justify="right")
        for name in report.before:
            table.add_row(name, f"{report.before[name]:.3f}", f"{report.after[name]:.3f}")
        console.print(table)
    weights = Table(title="weights")
    weights.add_column("feature")
    weights.add_column("before", justify="right")
    weights.add_column("after", justify="right")
    for name, value in report.weights_after.items():
        weights.add_row(name, f"{report.weights_before.get(name, 0.0):+.3f}", f"{value:+.3f}")
    console.print(weights)
    queue = Table(title="the queue (every pair the metapaths reach)")
    queue.add_column("")
    queue.add_column(f"before ({report.parent})", justify="right")
    queue.add_column("after", justify="right")
    queue.add_row(
        "surfacing threshold", f"{report.threshold_before:.3f}", f"{report.threshold_after:.3f}"
    )
    queue.add_row(
        "held-out precision at it",
        _share(report.precision_before),
        _share(report.precision_after),
    )
    for name, label in (
        ("surfaced", "matches surfaced"),
        ("with_current_evidence", "with dated current evidence"),
    ):
        queue.add_row(
            label, f"{report.queue_before.get(name, 0):,}", f"{report.queue_after.get(name, 0):,}"
        )
    queue.add_row(
        "share with dated current evidence",
        _share(report.queue_before.get("current_share")),
        _share(report.queue_after.get("current_share")),
    )
    console.print(queue)
    for note in report.notes:
        console.print(Text(f"• {note}"))
    if report.refused:
        err_console.print(Text.assemble(("refused: ", "bold red"), report.refused), soft_wrap=True)
        raise typer.Exit(FLOODED)


# The exit code of a refit refused because it would flood the queue.
FLOODED = 6


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


@learn_app.command("versions")
def learn_versions(graph: GraphOption = None, json_output: JsonOption = False) -> None:
    """Stored score-model versions, oldest first, and which one is active."""
    with _open(graph) as store:
        versions = model_versions(store).drop("weights").to_dicts()
    if json_output:
        _print_json({"versions": versions})
        return
    if not versions:
        console.print(f"no stored versions: runs use the prior ({PRIOR_VERSION})")
        return
    for row in versions:
        mark = "*" if row["active"] else " "
        console.print(
            f"{mark} {row['model_id']}  {row['created_at']:%Y-%m-%d %H:%M}  "
            f"{row['trained_on']} labels  from {row['parent']}"
        )
    if not any(row["active"] for row in versions):
        console.print(f"* {PRIOR_VERSION} (active)")


@learn_app.command("rollback")
def learn_rollback(
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            help="The version to return to (e.g. v1, or prior). "
            "Default: the one before the active version.",
            show_default=False,
        ),
    ] = None,
    graph: GraphOption = None,
    json_output: JsonOption = False,
) -> None:
    """Make an earlier score-model version active again; the next match run uses it."""
    with _open(graph) as store:
        active = activate(store, to)
    if json_output:
        _print_json({"active": active})
        return
    console.print(f"[green]active score model:[/] {active} (next match run uses it)")
