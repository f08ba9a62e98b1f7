"""``twoloop ingest``: run the configured sources, list runs, run the cron schedules."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from app.cli.agent_setup import loop_setup
from app.cli.common import (
    GraphOption,
    JsonOption,
    PolicyOption,
    _ingest_progress,
    _json_default,
    _open,
    _print_json,
    app,
    console,
    err_console,
)
from app.cli.reports import _print_ingest_report
from app.loop import LoopRunReport, run_loop
from ingest.config import load_config
from ingest.pipeline import Ingestor, run_summary_line
from ingest.schedule import ScheduledRun, Scheduler, upcoming
from routing.policy import DEFAULT_FILE as DEFAULT_POLICY

ingest_app = typer.Typer(
    help="Load CRM exports, org charts, signals and the catalog into the graph.",
    no_args_is_help=True,
)
app.add_typer(ingest_app, name="ingest")

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="The ingest config (ingest.yaml).")
]


@ingest_app.command("run")
def ingest_run(
    config: ConfigOption,
    source: Annotated[
        list[str] | None,
        typer.Option("--source", "-s", help="Run only this source (repeatable), in config order."),
    ] = None,
    graph: GraphOption = None,
    json_output: JsonOption = False,
) -> None:
    """Run the configured sources in order; each source's counts satisfy
    rows_in = loaded + quarantined + duplicates.

    Exit codes: 0 all sources loaded; 1 a source failed (unreadable file, reject rate
    above the limit; later sources are not run); 2 invalid config; 3 store unreachable;
    75 another ingest run holds the lock on this store.
    """
    cfg = load_config(config)
    with _open(graph) as store:
        with _ingest_progress(json_output) as hook:
            report = Ingestor(store, cfg, progress=hook).run(source or None)
        if json_output:
            _print_json(report.as_dict())
        else:
            _print_ingest_report(report)
    if not report.ok:
        raise typer.Exit(1)


@ingest_app.command("runs")
def ingest_runs(
    graph: GraphOption = None,
    source: Annotated[str | None, typer.Option("--source", "-s", help="Only this source.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="How many.")] = 20,
    json_output: JsonOption = False,
) -> None:
    """List recent ingest runs, newest first, with their counts and errors."""
    with _open(graph) as store:
        runs = store.nodes("IngestRun", {"source": source} if source else None)
    runs = runs.sort("started_at", descending=True).head(limit)
    if json_output:
        _print_json({"graph": store.uri, "runs": runs.to_dicts()})
        return
    table = Table(title=f"ingest runs in {store.uri}")
    for column in (
        "run",
        "source",
        "started",
        "status",
        "rows in",
        "loaded",
        "quarantined",
        "duplicates",
        "watermark",
        "error",
    ):
        table.add_column(column)
    for r in runs.iter_rows(named=True):
        table.add_row(
            r["run_id"],
            r["source"],
            r["started_at"].strftime("%Y-%m-%d %H:%M:%S"),
            r["status"],
            f"{r['rows_in']:,}",
            f"{r['loaded']:,}",
            f"{r['quarantined']:,}",
            f"{r['duplicates']:,}",
            r["watermark"] or "",
            r["error"] or "",
        )
    console.print(table)


@ingest_app.command("schedule")
def ingest_schedule(
    config: ConfigOption,
    graph: GraphOption = None,
    run_now: Annotated[
        bool, typer.Option("--run-now", help="Fire every schedule once at start.")
    ] = False,
    max_runs: Annotated[
        int | None, typer.Option("--max-runs", min=1, help="Stop after this many firings.")
    ] = None,
    show_next: Annotated[
        int | None,
        typer.Option("--next", min=1, help="Only print the next N fire times and exit."),
    ] = None,
    policy: PolicyOption = DEFAULT_POLICY,
    json_output: JsonOption = False,
) -> None:
    """Run the config's cron schedules in the foreground (for teams without cron).

    Each firing runs its schedule's sources under the store's ingest lock, or, for
    `job: loop`, the whole agent loop under the loop lock (with --policy); a firing
    that finds its lock taken is skipped and logged. Stops on Ctrl-C or SIGTERM.
    """
    cfg = load_config(config)
    if show_next is not None:
        fires = upcoming(cfg, dt.datetime.now(dt.UTC), show_next)
        if json_output:
            _print_json({"next": [{"at": t, "schedule": n} for t, n in fires]})
        else:
            for t, n in fires:
                console.print(f"{t:%Y-%m-%d %H:%M} UTC  {n}")
        return

    def log(event: ScheduledRun) -> None:
        if json_output:
            payload: dict[str, Any] = {"schedule": event.schedule, "due": event.due}
            payload.update(
                {"skipped": event.skipped}
                if event.report is None
                else {"report": event.report.as_dict()}
            )
            sys.stdout.write(json.dumps(payload, default=_json_default) + "\n")
            sys.stdout.flush()
            return
        if event.report is None:
            err_console.print(
                Text(f"{event.due:%Y-%m-%d %H:%M} {event.schedule}: skipped: {event.skipped}")
            )
            return
        if isinstance(event.report, LoopRunReport):
            steps = ", ".join(f"{s.name} {s.status}" for s in event.report.steps)
            err_console.print(
                Text(
                    f"{event.due:%Y-%m-%d %H:%M} {event.schedule}: loop {event.report.status}"
                    f" ({steps})"
                )
            )
            return
        for source in event.report.sources:
            err_console.print(
                Text(f"{event.due:%Y-%m-%d %H:%M} {event.schedule}: " + run_summary_line(source))
            )

    setup = loop_setup(policy, config) if any(s.job == "loop" for s in cfg.schedules) else None
    with _open(graph) as store:
        if not json_output:
            err_console.print(
                f"scheduling {len(cfg.schedules)} schedule(s) on {store.uri}; Ctrl-C stops"
            )
        loop = (lambda: run_loop(store, setup)) if setup is not None else None
        Scheduler(store, cfg, on_run=log, loop=loop).run(run_now=run_now, max_runs=max_runs)
