"""``twoloop loop``: the whole agent loop as one recorded run; recent runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from app.cli.agent_setup import loop_setup
from app.cli.common import (
    GraphOption,
    JsonOption,
    NowOption,
    PolicyOption,
    _now,
    _open,
    _print_json,
    _progress,
    app,
    console,
)
from app.loop import STEPS, LoopRunReport, recent_runs, run_loop
from routing.channels.smtp import SmtpChannel
from routing.policy import DEFAULT_FILE as DEFAULT_POLICY

loop_app = typer.Typer(
    help="The whole agent loop on a schedule: ingest, extract, match, hand off, relay.",
    no_args_is_help=True,
)
app.add_typer(loop_app, name="loop")


def _print_loop_run(report: LoopRunReport) -> None:
    table = Table(title=f"loop run {report.run_id} ({'full' if report.full else 'incremental'})")
    for column in ("step", "status", "seconds", "what it did"):
        table.add_column(column, overflow="fold")
    for step in report.steps:
        status = {"ok": "[green]ok[/]", "skipped": "[yellow]skipped[/]"}.get(
            step.status, f"[red]{step.status}[/]"
        )
        what = step.error or ", ".join(
            f"{k} {v}" for k, v in step.counts.items() if not isinstance(v, dict) and v is not None
        )
        table.add_row(step.name, status, f"{step.seconds:.1f}", Text(what))
    console.print(table)


@loop_app.command("run")
def loop_run_command(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="ingest.yaml: its sources are the loop's ingest step (without it, no ingest).",
            show_default=False,
        ),
    ] = None,
    policy: PolicyOption = DEFAULT_POLICY,
    full: Annotated[
        bool, typer.Option("--full", help="Rescore every account, not only what changed.")
    ] = False,
    now: NowOption = None,
    graph: GraphOption = None,
    json_output: JsonOption = False,
) -> None:
    """Run every step of the agent loop once, as one recorded run under one lock:
    ingest -> extract -> triggers -> match (incremental) -> route/draft/release -> relay.

    Exit 0 when every step succeeded (a skipped step is fine), 75 when another loop
    holds the lock, else the code of the step that failed (it stops there)."""
    setup = loop_setup(policy, config)
    try:
        with _open(graph) as store, _progress(json_output) as progress:
            task = progress.add_task("loop", total=len(STEPS))

            def advance(step: str) -> None:
                progress.update(task, description=f"loop: {step}", advance=1)

            report = run_loop(
                store, setup, now=_now(now) if now else None, full=full, progress=advance
            )
    finally:
        if isinstance(setup.channel, SmtpChannel):
            setup.channel.close()
    if json_output:
        _print_json(report.as_dict())
    else:
        _print_loop_run(report)
    if report.exit_code:
        raise typer.Exit(report.exit_code)


@loop_app.command("runs")
def loop_runs_command(
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many runs.")] = 10,
    graph: GraphOption = None,
    json_output: JsonOption = False,
) -> None:
    """Recent loop runs, newest first: status, and each step's counts and seconds."""
    with _open(graph) as store:
        runs = recent_runs(store, limit)
    if json_output:
        _print_json({"runs": runs})
        return
    table = Table(title="loop runs (newest first)")
    for column in ("run", "started", "status", "steps", "error"):
        table.add_column(column, overflow="fold")
    for r in runs:
        steps = " ".join(f"{s['name']}:{s['status']} {s['seconds']:.1f}s" for s in r["steps"])
        table.add_row(
            r["run_id"], f"{r['started_at']:%Y-%m-%d %H:%M}", r["status"], steps, r["error"] or ""
        )
    console.print(table)
