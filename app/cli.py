"""The ``twoloop`` command: one sub-app per area, ``--help`` everywhere, ``--json`` for data.

Errors that twoloop raises on purpose print as one line on stderr and exit
non-zero with the error type's exit code; nothing prints a traceback.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import sys
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text
from typer.core import TyperGroup

from app.agent_loop import LoopReport, run_agent_loop
from app.decisions import decide
from app.example_graph import load_example_graph
from app.human_loop import (
    SendOutcome,
    approve_draft,
    cancel_draft,
    edit_draft,
    resolve_item,
    settle_send,
    work_queue,
)
from app.loop import STEPS, LoopRunReport, LoopSetup, recent_runs, run_loop
from drafting.model import Drafter
from drafting.offline import OfflineDrafter
from graph_model import REGISTRY, connect
from graph_model.errors import ConfigError, TwoloopError
from graph_model.neo4j_import import write_import_files
from graph_model.settings import Settings, load_settings
from graph_model.store import GraphCounts, GraphStore
from ingest.config import load_config
from ingest.pipeline import Ingestor, ProgressHook, RunReport, run_summary_line
from ingest.sample import AS_OF as SAMPLE_AS_OF
from ingest.sample import write_sample
from ingest.schedule import ScheduledRun, Scheduler, upcoming
from matching.indicates import choose_extractor, run_extraction
from matching.learn import MIN_LABELS, learn
from matching.model import PRIOR_VERSION, activate, model_versions
from matching.read import explain_pair, top_matches
from matching.run import DEFAULT_BATCH, run_matching
from routing.channels.smtp import SmtpChannel
from routing.channels.webhook import WebhookChannel
from routing.outbox import Relay
from routing.policy import DEFAULT_FILE as DEFAULT_POLICY
from routing.policy import ROUTING_FIELDS, load_policy
from routing.route import route_matches
from routing.sending import SendingConfig, load_sending
from routing.simulate import simulate

console = Console()
err_console = Console(stderr=True)


class _ErrorsAsOneLine(TyperGroup):
    """Print TwoloopError as one clear line and exit with its code."""

    def invoke(self, ctx: Any) -> Any:  # typer vendors click; its Context type is private
        try:
            return super().invoke(ctx)
        except TwoloopError as exc:
            line = " ".join(str(exc).split())
            # Text, not markup: the message may quote data with [brackets] in it.
            err_console.print(Text.assemble(("error: ", "bold red"), line), soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None


app = typer.Typer(
    cls=_ErrorsAsOneLine,
    help="twoloop: knowledge-graph matching for account managers, with an explicit "
    "handoff between the agent loop and the human loop.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
graph_app = typer.Typer(help="Create, inspect and export the graph store.", no_args_is_help=True)
app.add_typer(graph_app, name="graph")

GraphOption = Annotated[
    str | None,
    typer.Option(
        "--graph",
        envvar="TWOLOOP_GRAPH_URI",
        help="Graph store: a directory (embedded) or neo4j://, neo4j+s://, bolt:// URI. "
        "Default: .twoloop/graph",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


class ExportFormat(StrEnum):
    parquet = "parquet"
    jsonl = "jsonl"
    csv = "csv"
    neo4j_import = "neo4j-import"


def _open(graph: str | None) -> GraphStore:
    return connect(graph)


def _print_json(payload: Any) -> None:
    sys.stdout.write(json.dumps(payload, indent=2, default=_json_default) + "\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def _progress(disabled: bool) -> Progress:
    """A progress display on stderr (stdout stays clean for --json); gone when done."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        disable=disabled,
        transient=True,
    )


def _counts_table(title: str, counts: GraphCounts) -> Table:
    table = Table(title=title, show_lines=False)
    table.add_column("kind")
    table.add_column("name")
    table.add_column("count", justify="right")
    for label, n in counts.nodes.items():
        table.add_row("node", label, f"{n:,}")
    for rel_type, n in counts.edges.items():
        table.add_row("edge", rel_type, f"{n:,}")
    total_nodes = sum(counts.nodes.values())
    total_edges = sum(counts.edges.values())
    table.add_section()
    table.add_row("total", f"{total_nodes:,} nodes", f"{total_edges:,} edges")
    return table


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        from importlib.metadata import version as dist_version

        console.print(f"twoloop {dist_version('twoloop')}")
        raise typer.Exit(0)


@graph_app.command("init")
def graph_init(graph: GraphOption = None, json_output: JsonOption = False) -> None:
    """Create the store's schema: Neo4j constraints and indexes, or the embedded store's files.

    Safe to rerun: what exists is left alone.
    """
    with _open(graph) as store:
        actions = store.ensure_schema()
        if json_output:
            _print_json({"graph": store.uri, "actions": actions})
            return
        for action in actions:
            console.print(f"• {action}")
        console.print(f"[green]graph ready[/] at {store.uri}")


@graph_app.command("stats")
def graph_stats(graph: GraphOption = None, json_output: JsonOption = False) -> None:
    """Count nodes per label and edges per type."""
    with _open(graph) as store:
        counts = store.counts()
        if json_output:
            _print_json({"graph": store.uri, **counts.as_dict()})
            return
        console.print(_counts_table(f"graph {store.uri}", counts))


@graph_app.command("export")
def graph_export(
    out: Annotated[Path, typer.Option("--out", help="Directory to write one file per table into.")],
    graph: GraphOption = None,
    fmt: Annotated[ExportFormat, typer.Option("--format", help="File format.")] = (
        ExportFormat.parquet
    ),
    include_empty: Annotated[
        bool, typer.Option("--include-empty", help="Also write tables with no rows.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Export every label and edge type to files (nodes/<Label>.<fmt>, edges/<TYPE>.<fmt>).

    `--format neo4j-import` writes the files and argument list for Neo4j's offline
    importer instead: the fast path for a first load into a new, stopped Neo4j.
    """
    if fmt is ExportFormat.neo4j_import:
        _export_neo4j_import(out, graph, json_output)
        return
    written: list[dict[str, Any]] = []
    with _open(graph) as store:
        tables = [("nodes", label) for label in sorted(REGISTRY.nodes)]
        tables += [("edges", rel_type) for rel_type in sorted(REGISTRY.edges)]
        with _progress(json_output) as progress:
            task = progress.add_task("exporting", total=len(tables))
            for kind, name in tables:
                progress.update(task, description=f"exporting {kind}/{name}")
                frame = store.nodes(name) if kind == "nodes" else store.edges(name)
                progress.advance(task)
                if frame.height == 0 and not include_empty:
                    continue
                path = out / kind / f"{name}.{fmt.value}"
                _write_frame(frame, path, fmt)
                written.append({"table": f"{kind}/{name}", "rows": frame.height, "path": str(path)})
    if json_output:
        _print_json({"graph": store.uri, "out": str(out), "format": fmt.value, "files": written})
        return
    for item in written:
        console.print(f"• {item['table']}: {item['rows']:,} rows -> {item['path']}")
    console.print(f"[green]exported {len(written)} tables[/] to {out}")


def _export_neo4j_import(out: Path, graph: str | None, json_output: bool) -> None:
    tables = len(REGISTRY.nodes) + len(REGISTRY.edges)
    with _open(graph) as store, _progress(json_output) as progress:
        task = progress.add_task("exporting", total=tables)

        def advance(table: str) -> None:
            progress.update(task, description=f"exporting {table}", advance=1)

        files = write_import_files(store, out, on_table=advance)
    if json_output:
        _print_json({"graph": store.uri, "format": "neo4j-import", **files.as_dict()})
        return
    console.print(
        f"[green]wrote {len(files.files)} importer files[/] "
        f"({sum(files.nodes.values()):,} nodes, {sum(files.edges.values()):,} edges) to {out}"
    )
    console.print(
        "Stop the target Neo4j, then run (it replaces the database):\n"
        f"  {files.command()}\n"
        "then start it and run `twoloop graph init --graph URI` to create the constraints."
    )


def _write_frame(frame: pl.DataFrame, path: Path, fmt: ExportFormat) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    if fmt is ExportFormat.parquet:
        frame.write_parquet(tmp)
    elif fmt is ExportFormat.jsonl:
        frame.write_ndjson(tmp)
    else:
        lists = [c for c, t in frame.schema.items() if isinstance(t, pl.List)]
        frame.with_columns(pl.col(c).list.join("|") for c in lists).write_csv(tmp)
    tmp.replace(path)


@graph_app.command("schema")
def graph_schema(json_output: JsonOption = False) -> None:
    """Show every node label and edge type in the schema registry."""
    if json_output:
        _print_json(schema_as_dict())
        return
    nodes = Table(title="node labels")
    for column in ("label", "key", "properties"):
        nodes.add_column(column)
    for spec in REGISTRY.nodes.values():
        props = ", ".join(
            f"{n}{'' if f.required else '?'}: {f.type_text()}"
            for n, f in spec.fields.items()
            if n != spec.key
        )
        nodes.add_row(spec.label, spec.key, props)
    edges = Table(title="edge types")
    for column in ("type", "from -> to", "properties"):
        edges.add_column(column)
    for spec in REGISTRY.edges.values():
        pairs = ", ".join(f"{s} -> {d}" for s, d in spec.endpoints)
        props = ", ".join(
            f"{n}{'' if f.required else '?'}: {f.type_text()}" for n, f in spec.fields.items()
        )
        edges.add_row(spec.type, pairs, props or "-")
    console.print(nodes)
    console.print(edges)


def schema_as_dict() -> dict[str, Any]:
    def fields(specs: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            {
                "name": n,
                "type": f.kind,
                "required": f.required,
                "enum": list(f.enum or []) or None,
                "ge": f.ge,
                "le": f.le,
            }
            for n, f in specs.items()
        ]

    return {
        "nodes": [
            {
                "label": s.label,
                "key": s.key,
                "indexed": list(s.indexed),
                "description": s.description,
                "properties": fields(s.fields),
            }
            for s in REGISTRY.nodes.values()
        ],
        "edges": [
            {
                "type": s.type,
                "endpoints": [list(p) for p in s.endpoints],
                "merge_on": list(s.merge_on),
                "description": s.description,
                "properties": fields(s.fields),
            }
            for s in REGISTRY.edges.values()
        ],
    }


@app.command("demo")
def demo(
    graph: GraphOption = None,
    sample_dir: Annotated[
        Path, typer.Option("--sample-dir", help="Where the sample world is written.")
    ] = Path(".twoloop/sample"),
    accounts: Annotated[int, typer.Option("--accounts", min=1, help="Sample size.")] = 300,
    example: Annotated[
        bool, typer.Option("--example", help="Load the tiny hand-built example graph instead.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Write a sample world, ingest it, extract needs, match, print ranked, explained
    matches for the first AMs' queues, then run one agent-loop batch in dry run and
    print the routed matches with their reasons.

    Idempotent: a second run leaves the same graph (the sample is regenerated from
    the same seed; ingest upserts; matching is scored as of the sample's date).
    """
    with _open(graph) as store:
        store.ensure_schema()
        if example:
            written = load_example_graph(store)
            counts = store.counts()
            if json_output:
                _print_json({"graph": store.uri, "records_written": written, **counts.as_dict()})
                return
            console.print(f"[green]example graph written[/] to {store.uri} ({written} records)")
            console.print(_counts_table("example graph", counts))
            return
        summary = write_sample(sample_dir, accounts=accounts, seed=7)
        config = load_config(sample_dir / "ingest.yaml")
        with _ingest_progress(json_output) as hook:
            report = Ingestor(store, config, progress=hook).run()
        counts = store.counts()
        if not json_output:
            console.print(
                f"[green]sample world[/] {summary.accounts:,} accounts, {summary.contacts:,} "
                f"contacts, {summary.signals:,} signals in {sample_dir}"
            )
            _print_ingest_report(report)
            console.print(_counts_table(f"graph {store.uri}", counts))
        if not report.ok:
            raise typer.Exit(1)
        # The agent loop's matching half: needs from signals, then ranked, explained matches.
        settings = load_settings()
        extractor = choose_extractor(store, settings)
        with _progress(json_output) as progress:
            progress.add_task(f"extracting needs ({extractor.name})", total=None)
            extracted = run_extraction(store, extractor)
            progress.add_task("matching", total=None)
            matched = run_matching(store, as_of=SAMPLE_AS_OF)
            progress.add_task("agent loop (dry run)", total=None)
            loop = agent_batch(
                store, policy=DEFAULT_POLICY, now=SAMPLE_AS_OF, am=None, dry_run=True
            )
        queues = {
            am: top_matches(store, am, limit=3, today=SAMPLE_AS_OF.date())
            for am in sorted(matched.by_am)[:2]
        }
        if json_output:
            _print_json(
                {
                    "sample": summary.as_dict(),
                    "ingest": report.as_dict(),
                    **counts.as_dict(),
                    "extraction": extracted.as_dict(),
                    "matching": matched.as_dict(),
                    "queues": queues,
                    "agent_loop": loop.as_dict(),
                }
            )
            return
        if extractor.name == "rules":
            console.print(
                "[yellow]offline:[/] no Claude API key is set, so needs come from the rules "
                "extractor (catalog phrases only)"
            )
        console.print(
            f"[green]matched[/] as of {SAMPLE_AS_OF.date()} with model "
            f"{matched.model_version}: {matched.surfaced:,} matches surfaced "
            f"({matched.weak:,} weak) from {matched.pairs:,} pairs; "
            f"{extracted.findings:,} need findings in the signals"
        )
        for am, rows in queues.items():
            console.print(f"\n[bold]top matches for {am}[/]")
            _print_queue(rows)
        console.print("\n[bold]agent loop, dry run[/] (twoloop run does it for real)")
        _print_loop(loop, per_action=3)


# ---------------------------------------------------------------- ingest

ingest_app = typer.Typer(
    help="Load CRM exports, org charts, signals and the catalog into the graph.",
    no_args_is_help=True,
)
app.add_typer(ingest_app, name="ingest")

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="The ingest config (ingest.yaml).")
]


@contextlib.contextmanager
def _ingest_progress(disabled: bool) -> Iterator[ProgressHook]:
    with _progress(disabled) as progress:
        tasks: dict[tuple[str, str], TaskID] = {}

        def hook(source: str, stage: str, done: int, total: int) -> None:
            key = (source, stage)
            if key not in tasks:
                tasks[key] = progress.add_task(f"{source}: {stage}", total=total or 1)
            progress.update(tasks[key], completed=done, total=total or 1)

        yield hook


def _print_ingest_report(report: RunReport) -> None:
    table = Table(title=f"ingest run {report.run_id}")
    for column in (
        "source",
        "status",
        "rows in",
        "loaded",
        "quarantined",
        "duplicates",
        "review",
        "seconds",
    ):
        table.add_column(column, justify="left" if column in ("source", "status") else "right")
    for s in report.sources:
        status = "[green]ok[/]" if s.status == "succeeded" else f"[red]{s.status}[/]"
        table.add_row(
            s.source,
            status,
            f"{s.rows_in:,}",
            f"{s.loaded:,}",
            f"{s.quarantined:,}" + (f" ({s.known_rejects:,} known)" if s.known_rejects else ""),
            f"{s.duplicates:,}",
            f"{s.review:,}",
            f"{s.seconds:.1f}",
        )
    console.print(table)
    for s in report.sources:
        if s.quarantine_file or s.review_file or s.error or s.warnings:
            console.print(Text(run_summary_line(s)))


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


@app.command("sample")
def sample(
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory to write the world into.")],
    accounts: Annotated[int, typer.Option("--accounts", min=1, help="How many accounts.")] = 200,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same files).")] = 7,
    contacts: Annotated[
        int, typer.Option("--contacts-per-account", min=1, help="Contacts per account.")
    ] = 10,
    signals: Annotated[
        int, typer.Option("--signals-per-account", min=1, help="Signals per account (at least).")
    ] = 20,
    capabilities: Annotated[
        int,
        typer.Option(
            "--capabilities",
            min=1,
            help="Catalog size; above 12 adds editions of the 12 (for benchmarks).",
        ),
    ] = 12,
    json_output: JsonOption = False,
) -> None:
    """Write a realistic, dirty input set (Salesforce-style CSVs, job changes, signals
    JSONL, a catalog), an ingest.yaml for it and a separate ground_truth.csv."""
    with _progress(json_output) as progress:
        tasks: dict[str, TaskID] = {}

        def hook(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=total)
            progress.update(tasks[stage], completed=done, total=total)

        summary = write_sample(
            out,
            accounts=accounts,
            seed=seed,
            contacts_per_account=contacts,
            signals_per_account=signals,
            capabilities=capabilities,
            progress=hook,
        )
    if json_output:
        _print_json(summary.as_dict())
        return
    console.print(
        f"[green]wrote[/] {summary.accounts:,} accounts, {summary.contacts:,} contacts, "
        f"{summary.signals:,} signals, {summary.opportunities:,} deals to {out}"
    )
    console.print(f"ingest it: twoloop ingest run --config {out / 'ingest.yaml'}")
    console.print(
        f"ground truth ({summary.ground_truth_pairs:,} good pairs): "
        f"{out / 'ground_truth.csv'} (never ingested)"
    )


# ---------------------------------------------------------------- match

match_app = typer.Typer(
    help="Match capabilities to accounts: extract needs from signals, score, explain.",
    no_args_is_help=True,
)
app.add_typer(match_app, name="match")


class ExtractorChoice(StrEnum):
    auto = "auto"
    rules = "rules"
    claude = "claude"


@match_app.command("extract")
def match_extract(
    extractor: Annotated[
        ExtractorChoice,
        typer.Option(
            "--extractor",
            help="auto: Claude when an API key is set, else the offline rules extractor.",
        ),
    ] = ExtractorChoice.auto,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="Read at most this many signals.")
    ] = None,
    graph: GraphOption = None,
    json_output: JsonOption = False,
) -> None:
    """Read signals and record the needs they reveal as INDICATES edges (with extractor,
    confidence and a verbatim evidence quote). Reruns change only what changed.

    Exit codes: 0 done; 2 Claude refused the request or no key for --extractor claude;
    3 store or Claude unreachable.
    """
    settings = load_settings()
    use_claude = {"auto": None, "rules": False, "claude": True}[extractor.value]
    with _open(graph) as store:
        chosen = choose_extractor(store, settings, use_claude=use_claude)
        offline = chosen.name == "rules"
        if offline and extractor is ExtractorChoice.auto and not json_output:
            console.print(
                "[yellow]offline:[/] no Claude API key is set, so the rules extractor reads "
                "the catalog's phrases only (set TWOLOOP_ANTHROPIC_API_KEY for paraphrases)"
            )
        with _progress(json_output) as progress:
            progress.add_task(f"extracting needs ({chosen.name})", total=None)
            report = run_extraction(store, chosen, limit=limit)
    if json_output:
        _print_json({"graph": store.uri, "offline": offline, **report.as_dict()})
        return
    console.print(
        f"[green]{report.extractor}[/] read {report.signals_read:,} signals: "
        f"{report.findings:,} findings ({report.negated:,} denied phrases skipped, "
        f"{report.rejected:,} answers rejected); {report.written:,} edges written, "
        f"{report.removed:,} removed"
    )
    for note in report.notes:
        console.print(f"• {note}")


def _as_of(value: str | None) -> dt.datetime | None:
    """An ISO date or datetime (UTC when no zone is given); None stays None."""
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not an ISO date or datetime") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed


AsOfOption = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        help="Score as of this ISO date or datetime (recency and 'within' conditions are "
        "measured from it). Default: now.",
        show_default=False,
    ),
]


def _print_queue(rows: list[dict[str, Any]]) -> None:
    for i, row in enumerate(rows, 1):
        flag = " [yellow](weak)[/]" if row["weak"] else ""
        console.print(
            Text.assemble(
                (f"{i:>2}. {row['score']:.2f} ", "bold"),
                f"{row['account']} ({row['account_id']}) <- {row['capability']}  "
                f"[{row['match_id']}]",
            ),
            soft_wrap=True,
            end="",
        )
        console.print(flag)
        console.print(Text("    " + row["explanation"]), soft_wrap=True)
        for line in row["evidence"]:
            console.print(Text("    - " + line), soft_wrap=True)
        if row["contact"]:
            console.print(Text("    contact: " + row["contact"]["reason"]), soft_wrap=True)
        else:
            console.print("    contact: nobody at the account fits the buyer personas")


@match_app.command("run")
def match_run(
    accounts: Annotated[
        str | None,
        typer.Option("--accounts", help="Comma-separated account ids (default: every account)."),
    ] = None,
    as_of: AsOfOption = None,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="Accounts per batch (one commit each).")
    ] = DEFAULT_BATCH,
    graph: GraphOption = None,
    json_output: JsonOption = False,
) -> None:
    """Score every (account, capability) pair the metapaths reach, explain the ones worth
    surfacing and write them as Match nodes in each owning AM's queue.

    Uses the active score model (twoloop learn), else the prior. Reruns with the same
    graph, model and --as-of write the same matches; decisions already taken are kept.
    """
    when = _as_of(as_of) or dt.datetime.now(dt.UTC)
    wanted = [a.strip() for a in accounts.split(",") if a.strip()] if accounts else None
    with _open(graph) as store, _progress(json_output) as progress:
        task = progress.add_task("matching accounts", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        report = run_matching(
            store, as_of=when, accounts=wanted, batch_size=batch_size, progress=advance
        )
    if json_output:
        _print_json({"graph": store.uri, **report.as_dict()})
        return
    console.print(
        f"[green]matched[/] {report.accounts:,} accounts in {report.batches} batch(es) with "
        f"model {report.model_version} as of {when.date()}: {report.pairs:,} pairs reached, "
        f"{report.gated:,} blocked by gates, [bold]{report.surfaced:,} surfaced[/] "
        f"({report.weak:,} weak, {report.with_contact:,} with a contact); "
        f"{report.removed:,} stale proposals removed ({report.seconds:.1f}s)"
    )
    if report.by_am:
        table = Table(title="surfaced per AM")
        table.add_column("am_id")
        table.add_column("matches", justify="right")
        for am, n in report.by_am.items():
            table.add_row(am, f"{n:,}")
        console.print(table)


@match_app.command("top")
def match_top(
    am: Annotated[str, typer.Option("--am", help="The account manager's id.")],
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many matches.")] = 10,
    graph: GraphOption = None,
    json_output: JsonOption = False,
) -> None:
    """An AM's queue: open matches, best first, each with its case and who to contact."""
    with _open(graph) as store:
        rows = top_matches(store, am, limit=limit)
    if json_output:
        _print_json({"am_id": am, "matches": rows})
        return
    if not rows:
        console.print(f"no open matches for {am} (run twoloop match run first?)")
        return
    _print_queue(rows)


@match_app.command("explain")
def match_explain(
    account: Annotated[str, typer.Argument(help="Account id.")],
    capability: Annotated[str, typer.Argument(help="Capability id.")],
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Evaluate live as of this ISO date/datetime instead of reading the stored match.",
            show_default=False,
        ),
    ] = None,
    graph: GraphOption = None,
    json_output: JsonOption = False,
) -> None:
    """Why a capability is (or is not) proposed to an account: score, evidence paths as
    sentences with dates and sources, gates, and who to contact."""
    with _open(graph) as store:
        told = explain_pair(store, account, capability, as_of=_as_of(as_of))
    if json_output:
        _print_json(told)
        return
    console.print(Text(f"{account} <- {capability} ({told['source']})", style="bold"))
    console.print(Text(told["explanation"]), soft_wrap=True)
    for line in told.get("evidence", []):
        console.print(Text("  - " + line), soft_wrap=True)
    contact = told.get("contact")
    if contact:
        console.print(Text("contact: " + contact["reason"]), soft_wrap=True)


# ---------------------------------------------------------------- decisions and learning


class DecisionChoice(StrEnum):
    validate = "validate"
    defer = "defer"
    kill = "kill"


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
        str | None, typer.Option("--reason", help="Why (required for kill).", show_default=False)
    ] = None,
    now: NowOption = None,
    graph: GraphOption = None,
    json_output: JsonOption = False,
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
    graph: GraphOption = None,
    json_output: JsonOption = False,
) -> None:
    """Refit the score's weights from decisions (validate = positive, kill = negative,
    defer = no label), pulled toward the prior; print held-out metrics before and after;
    store the result as a new active version that the next match run uses.

    Exit codes: 0 learned; 2 too few labels.
    """
    if ctx.invoked_subcommand is not None:
        return
    with _open(graph) as store:
        report = learn(store, strength=strength, min_labels=min_labels, save=not dry_run)
    if json_output:
        _print_json({"stored": not dry_run, **report.as_dict()})
        return
    console.print(
        f"[green]learned[/] from {report.labels} decisions ({report.positives} validated, "
        f"{report.negatives} killed; {report.held_out} held out)"
        + (f": stored as {report.version} (was {report.parent})" if not dry_run else " (dry run)")
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
    for note in report.notes:
        console.print(f"• {note}")


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


# ---------------------------------------------------------------- routing policy

policy_app = typer.Typer(help="The routing policy: check a file, simulate it on current matches.")
app.add_typer(policy_app, name="policy")

PolicyOption = Annotated[
    Path,
    typer.Option(
        "--policy", help="A routing policy YAML file (default: the shipped routing/policy.yaml)."
    ),
]


@policy_app.command("check")
def policy_check(
    policy: PolicyOption = DEFAULT_POLICY,
    fields: Annotated[
        bool, typer.Option("--fields", help="Also list the fields a rule can use.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Check a policy: unknown fields, wrong values, unreachable rules, a missing default."""
    checked = load_policy(policy)
    rules = [
        {"rule": r.id, "action": r.action, "kind": r.kind, "when": [_cond(c) for c in r.conditions]}
        for r in checked.rules
    ]
    known = {
        name: {"type": f.kind, "description": f.description, "choices": list(f.choices)}
        for name, f in ROUTING_FIELDS.items()
    }
    if json_output:
        _print_json(
            {
                "policy": checked.path,
                "ok": True,
                "rules": rules,
                **({"fields": known} if fields else {}),
            }
        )
        return
    console.print(f"[green]ok[/] {checked.path}: {len(rules)} rules, ends with a default")
    for r in rules:
        action = f"{r['action']}:{r['kind']}" if r["kind"] else r["action"]
        when = " and ".join(r["when"]) or "(always)"
        console.print(f"  {r['rule']:<20} {action:<26} {when}", markup=False, soft_wrap=True)
    if fields:
        console.print("fields:")
        for name, f in known.items():
            choices = f" ({', '.join(f['choices'])})" if f["choices"] else ""
            console.print(f"  {name:<16} {f['type']:<6} {f['description']}{choices}", markup=False)


def _cond(c: Any) -> str:
    def text(v: Any) -> str:
        return str(v).lower() if isinstance(v, bool) else str(v)

    value = "[" + ", ".join(map(text, c.value)) + "]" if c.op == "in" else text(c.value)
    return f"{c.field} {c.op} {value}"


@policy_app.command("simulate")
def policy_simulate(
    policy: PolicyOption = DEFAULT_POLICY,
    am: Annotated[
        str | None, typer.Option("--am", help="Only this AM's matches.", show_default=False)
    ] = None,
    graph: GraphOption = None,
    json_output: JsonOption = False,
) -> None:
    """How many current (proposed) matches each action and rule would get; sends nothing."""
    checked = load_policy(policy)
    with _open(graph) as store:
        result = simulate(store, checked, am=am)
    if json_output:
        _print_json(result)
        return
    who = f" of {am}" if am else ""
    console.print(f"{result['matches']} proposed matches{who} under {result['policy']}")
    for action, n in result["actions"].items():
        console.print(f"  {action:<28} {n:>7}")
    table = Table(title="rules, in order")
    for column in ("rule", "action", "matches", "example"):
        table.add_column(column, justify="right" if column == "matches" else "left")
    for r in result["rules"]:
        ex = r["example"]
        table.add_row(
            r["rule"],
            f"{r['action']}:{r['kind']}" if r["kind"] else r["action"],
            str(r["matches"]),
            f"{ex['account_id']} / {ex['capability_id']}: {ex['reason']}" if ex else "-",
        )
    console.print(table)


@app.command("route")
def route_command(
    policy: PolicyOption = DEFAULT_POLICY,
    am: Annotated[
        str | None, typer.Option("--am", help="Only this AM's matches.", show_default=False)
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be stored; store nothing.")
    ] = False,
    graph: GraphOption = None,
    json_output: JsonOption = False,
) -> None:
    """Give every proposed match one action, with its rule and reason, and store it."""
    checked = load_policy(policy)
    with _open(graph) as store:
        report = route_matches(store, checked, now=dt.datetime.now(dt.UTC), am=am, dry_run=dry_run)
    if json_output:
        _print_json(report.as_dict())
        return
    verb = "would store" if dry_run else "stored"
    console.print(
        f"{report.matches} proposed matches: {verb} {report.written} new routes, "
        f"{report.unchanged} unchanged (policy {report.digest})"
    )
    for action, n in report.actions.items():
        console.print(f"  {action:<28} {n:>7}")


# ---------------------------------------------------------------- the loops

NowOption = Annotated[
    str | None,
    typer.Option(
        "--now",
        help="Act as of this ISO time (with a time zone); default: the current time.",
        show_default=False,
    ),
]
AmOption = Annotated[
    str,
    typer.Option(
        "--am",
        "--as",
        help="Who acts: your AccountManager id (or email). An AM acts on their own book, a "
        "manager on their reports' books, an admin (TWOLOOP_ADMINS) on any, on behalf of "
        "its owner; anyone else is refused (exit 77).",
    ),
]


def _now(value: str | None) -> dt.datetime:
    if value is None:
        return dt.datetime.now(dt.UTC)
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not an ISO time", param_hint="--now") from None
    if when.tzinfo is None:
        raise typer.BadParameter(
            "give a time zone, e.g. 2026-11-20T12:00+00:00", param_hint="--now"
        )
    return when.astimezone(dt.UTC)


def _print_loop(report: LoopReport, *, per_action: int) -> None:
    verb = "would be" if report.dry_run else "were"
    if report.offline:
        console.print(
            "[yellow]offline:[/] no Claude API key is set, so drafts come from the offline "
            "drafter (composed from the evidence, labelled offline)"
        )
    esc = report.escalations
    console.print(
        f"escalation triggers: {esc.get('opened', 0)} new escalations {verb} opened "
        f"({', '.join(f'{k} {v}' for k, v in esc.get('by_kind', {}).items()) or 'none'}) "
        f"from {esc.get('texts', 0):,} recent texts"
    )
    console.print(
        f"{report.routes.get('matches', 0)} proposed matches routed (policy "
        f"{report.routes.get('digest')}); {report.drafted} drafts written by {report.drafter}"
    )
    table = Table(
        title="routed per action" + (" (dry run: nothing stored or sent)" if report.dry_run else "")
    )
    table.add_column("action")
    table.add_column("matches", justify="right")
    for action, n in report.actions.items():
        table.add_row(action, str(n))
    if report.already_handled:
        table.add_row("handed over earlier", str(report.already_handled))
    console.print(table)
    if not report.dry_run:
        relay = report.relay
        console.print(
            f"released to the outbox {report.released}, awaiting approval "
            f"{report.awaiting_approval}, escalated {report.escalated}, tasks {report.tasks}, "
            f"alerts {report.alerts}; relay sent {relay.get('sent', 0)}, deferred "
            f"{relay.get('deferred', 0)}, suppressed {relay.get('suppressed', 0)}, blocked "
            f"{relay.get('blocked', 0)}"
        )
    # The strongest few of each action, so every kind of handoff shows.
    by_action: dict[str, list[dict[str, Any]]] = {}
    for m in sorted(report.matches, key=lambda m: -float(m.get("score") or 0.0)):
        if "action" in m:
            by_action.setdefault(m["action"], []).append(m)
    for action in report.actions:
        rows = by_action.get(action, [])
        console.print(Text(f"\n{action} ({len(rows)})", style="bold"))
        for m in rows[:per_action]:
            console.print(
                Text(
                    f"  {m.get('score', 0):.2f} {m['account_id']} <- {m['capability_id']} "
                    f"[{m['rule']}] {m['reason']}"
                )
            )
        if len(rows) > per_action:
            console.print(f"  ... and {len(rows) - per_action} more (--json lists them all)")


def choose_drafter(settings: Settings) -> Drafter:
    """Claude when a key is set, else the offline drafter."""
    if settings.anthropic_api_key:
        from drafting.claude import ClaudeDrafter

        return ClaudeDrafter(settings)
    return OfflineDrafter()


def email_channel(settings: Settings) -> SmtpChannel | None:
    if not settings.smtp_host:
        return None
    return SmtpChannel(
        settings.smtp_host,
        settings.smtp_port,
        starttls=settings.smtp_starttls,
        username=settings.smtp_user,
        password=settings.smtp_password,
    )


def _sending(settings: Settings) -> SendingConfig:
    return load_sending(Path(settings.sending_config) if settings.sending_config else None)


def agent_batch(
    store: GraphStore, *, policy: Path, now: dt.datetime, am: str | None, dry_run: bool
) -> LoopReport:
    settings = load_settings()
    checked = load_policy(policy)
    channel = email_channel(settings)
    alerts = WebhookChannel(settings.alert_webhook_url) if settings.alert_webhook_url else None
    try:
        return run_agent_loop(
            store,
            policy=checked,
            drafter=choose_drafter(settings),
            sending=_sending(settings),
            now=now,
            min_personalization=settings.draft_min_personalization,
            channel=channel,
            alerts=alerts,
            am=am,
            dry_run=dry_run,
        )
    finally:
        if channel is not None:
            channel.close()


@app.command("run")
def run_command(
    policy: PolicyOption = DEFAULT_POLICY,
    am: Annotated[
        str | None, typer.Option("--am", help="Only this AM's matches.", show_default=False)
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Route and draft, but store and send nothing.")
    ] = False,
    now: NowOption = None,
    limit: Annotated[
        int, typer.Option("--limit", min=0, help="Routed matches to print per action.")
    ] = 5,
    graph: GraphOption = None,
    json_output: JsonOption = False,
) -> None:
    """One agent-loop batch: escalation triggers, route, draft, check, then execute
    (auto_send goes to the outbox and the relay sends it; approvals, escalations and
    tasks go to the AM's queue). Running it again sends nothing twice.

    Without TWOLOOP_SMTP_HOST no email goes out: released messages wait in the outbox.
    """
    when = _now(now)
    with _open(graph) as store, _progress(json_output) as progress:
        progress.add_task("agent loop: triggers, route, draft, execute", total=None)
        report = agent_batch(store, policy=policy, now=when, am=am, dry_run=dry_run)
    if json_output:
        _print_json(report.as_dict())
    else:
        _print_loop(report, per_action=limit)
        if not load_settings().smtp_host and report.released:
            console.print("[yellow]no TWOLOOP_SMTP_HOST:[/] released emails wait in the outbox")
    _exit_if_undelivered(report.relay.get("retry", 0), report.relay.get("rejected", 0))


loop_app = typer.Typer(
    help="The whole agent loop on a schedule: ingest, extract, match, hand off, relay.",
    no_args_is_help=True,
)
app.add_typer(loop_app, name="loop")


def loop_setup(policy: Path, config: Path | None) -> LoopSetup:
    """What ``loop run`` and scheduled loops run with, from the settings."""
    settings = load_settings()
    return LoopSetup(
        policy=load_policy(policy),
        drafter=choose_drafter(settings),
        sending=_sending(settings),
        min_personalization=settings.draft_min_personalization,
        extractor=lambda store: choose_extractor(store, settings),
        config=load_config(config) if config else None,
        channel=email_channel(settings),
        alerts=WebhookChannel(settings.alert_webhook_url) if settings.alert_webhook_url else None,
    )


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
    ingest -> extract -> match (incremental) -> route/draft/release -> relay.

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


@app.command("relay")
def relay_command(
    now: NowOption = None,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="Send at most this many.")
    ] = None,
    graph: GraphOption = None,
    json_output: JsonOption = False,
) -> None:
    """Send the due outbox messages through SMTP, once each, with the send-time
    guardrails (suppression, escalations, caps, quiet hours, sender domain, footer)."""
    settings = load_settings()
    channel = email_channel(settings)
    if channel is None:
        raise ConfigError("TWOLOOP_SMTP_HOST", "is not set; the relay has nowhere to send")
    with _open(graph) as store, channel:
        report = Relay(store, channel, _sending(settings), worker=f"relay-{os.getpid()}").run(
            _now(now), limit=limit
        )
    if json_output:
        _print_json(report.as_dict())
    else:
        console.print(
            f"{report.due} due: sent {report.sent}, deferred {report.deferred}, suppressed "
            f"{report.suppressed}, blocked {report.blocked}, retry later {report.retry}, "
            f"rejected by SMTP {report.rejected}, unconfirmed {report.unconfirmed}, taken by "
            f"another relay {report.conflicts}"
        )
        for note in report.notes:
            console.print(Text(f"  {note}"))
    _exit_if_undelivered(report.retry, report.rejected)


def _exit_if_undelivered(retry: int, rejected: int) -> None:
    """Cron and systemd see it: exit 3 while SMTP only failed for now (the messages wait
    and are tried again), 1 if it refused some for good."""
    if retry or rejected:
        err_console.print(
            Text.assemble(
                ("error: ", "bold red"),
                f"{retry + rejected} message(s) could not be handed to SMTP "
                f"({retry} to retry, {rejected} refused)",
            )
        )
        raise typer.Exit(1 if rejected else 3)


@app.command("queue")
def queue_command(
    am: AmOption,
    of: Annotated[
        str | None,
        typer.Option(
            "--for",
            help="Whose queue: one of your reports' (managers) or anyone's (admins); "
            "default: your own.",
            show_default=False,
        ),
    ] = None,
    now: NowOption = None,
    graph: GraphOption = None,
    json_output: JsonOption = False,
) -> None:
    """What waits for an AM, oldest first: drafts to approve, escalations to resolve,
    tasks (voice notes, research) and sends to confirm."""
    with _open(graph) as store:
        items = work_queue(store, am, now=_now(now), of=of)
    whose = of or am
    if json_output:
        _print_json({"am": whose, "items": items})
        return
    if not items:
        console.print(Text(f"nothing waits for {whose}"))
        return
    table = Table(title=f"queue of {whose} (oldest first)")
    for column in ("age", "type", "item", "account", "what"):
        table.add_column(column, overflow="fold")
    for item in items:
        table.add_row(item["age"], item["type"], item["item"], item["account"], item["what"])
    console.print(table)


def _acted(result: dict[str, Any], json_output: bool) -> None:
    if json_output:
        _print_json(result)
        return
    what = result.get("decision") or result.get("status")
    key = next(k for k in ("draft_id", "escalation_id", "task_id", "message_id") if k in result)
    extra = (
        f"; outbox message {result['message_id']}"
        if result.get("message_id") and key != "message_id"
        else ""
    )
    by = _acted_by(result["by"], result["role"], result["on_behalf_of"])
    console.print(Text.assemble((str(what), "green"), f" {result[key]} by {by}{extra}"))


def _acted_by(actor: str, role: str, on_behalf_of: str | None) -> str:
    """``am-1``, or ``am-3 (manager, for am-1)``."""
    if role == "am":
        return actor
    return f"{actor} ({role}, for {on_behalf_of})" if on_behalf_of else f"{actor} ({role})"


@app.command("approve")
def approve_command(
    draft_id: Annotated[str, typer.Argument(help="The draft id (see twoloop queue).")],
    am: AmOption,
    now: NowOption = None,
    graph: GraphOption = None,
    json_output: JsonOption = False,
) -> None:
    """Approve a pending draft as written: it goes to the outbox (exit 5 if someone
    already decided it, 77 if it is not on your book)."""
    settings = load_settings()
    with _open(graph) as store:
        result = approve_draft(store, draft_id, actor=am, now=_now(now), sending=_sending(settings))
    _acted(result, json_output)


@app.command("edit")
def edit_command(
    draft_id: Annotated[str, typer.Argument(help="The draft id (see twoloop queue).")],
    am: AmOption,
    body_file: Annotated[
        Path | None,
        typer.Option("--body-file", help="A file with the new body.", show_default=False),
    ] = None,
    subject: Annotated[
        str | None, typer.Option("--subject", help="A new subject.", show_default=False)
    ] = None,
    confirm: Annotated[
        bool,
        typer.Option(
            "--confirm",
            help="Send it although the draft guard stops it (links outside link_domains, "
            "other addresses, prices, discounts, promises, held CRM text); the decision "
            "records what you confirmed.",
        ),
    ] = False,
    now: NowOption = None,
    graph: GraphOption = None,
    json_output: JsonOption = False,
) -> None:
    """Send a pending draft with your changes, after the same guard as drafting (exit 2
    listing what it found, unless --confirm); your own edits teach your style notes."""
    body = body_file.read_text() if body_file else None
    settings = load_settings()
    writer = None
    if settings.anthropic_api_key:
        from drafting.claude import ClaudeStyleNotes

        writer = ClaudeStyleNotes(settings)
    with _open(graph) as store:
        result = edit_draft(
            store,
            draft_id,
            actor=am,
            now=_now(now),
            sending=_sending(settings),
            subject=subject,
            body=body,
            style_writer=writer,
            confirm=confirm,
        )
    _acted(result, json_output)


@app.command("cancel")
def cancel_command(
    draft_id: Annotated[str, typer.Argument(help="The draft id (see twoloop queue).")],
    am: AmOption,
    reason: Annotated[str, typer.Option("--reason", help="Why it must not go out.")],
    now: NowOption = None,
    graph: GraphOption = None,
    json_output: JsonOption = False,
) -> None:
    """Never send a pending draft; its match is killed with the reason."""
    with _open(graph) as store:
        result = cancel_draft(store, draft_id, actor=am, now=_now(now), reason=reason)
    _acted(result, json_output)


@app.command("defer")
def defer_command(
    match_id: Annotated[str, typer.Argument(help="The match id.")],
    am: AmOption,
    until: Annotated[str, typer.Option("--until", help="ISO date the match comes back.")],
    now: NowOption = None,
    graph: GraphOption = None,
    json_output: JsonOption = False,
) -> None:
    """Not now: the match comes back to the queue on --until (same as decide defer)."""
    decide_command(DecisionChoice.defer, match_id, am, until, None, now, graph, json_output)


@app.command("kill")
def kill_command(
    match_id: Annotated[str, typer.Argument(help="The match id.")],
    am: AmOption,
    reason: Annotated[str, typer.Option("--reason", help="Why it is not worth pursuing.")],
    now: NowOption = None,
    graph: GraphOption = None,
    json_output: JsonOption = False,
) -> None:
    """Not worth pursuing, with a reason (same as decide kill)."""
    decide_command(DecisionChoice.kill, match_id, am, None, reason, now, graph, json_output)


@app.command("resolve")
def resolve_command(
    item_id: Annotated[
        str,
        typer.Argument(help="An escalation (e-...), task (t-...) or unconfirmed send (msg-...)."),
    ],
    am: AmOption,
    answer: Annotated[
        str | None,
        typer.Option(
            "--answer",
            help="Your answer to the escalation's question, or what was done for a task.",
            show_default=False,
        ),
    ] = None,
    sent: Annotated[
        bool, typer.Option("--sent", help="Unconfirmed send: it went out (no resend).")
    ] = False,
    not_sent: Annotated[
        bool,
        typer.Option(
            "--not-sent",
            help="Unconfirmed send: it did not go out; queue it again (same message and "
            "Message-ID).",
        ),
    ] = False,
    cancel: Annotated[
        bool, typer.Option("--cancel", help="Unconfirmed send: never send it.")
    ] = False,
    now: NowOption = None,
    graph: GraphOption = None,
    json_output: JsonOption = False,
) -> None:
    """Take an escalation off the account (automation resumes), finish a task, or settle
    an unconfirmed send with --sent, --not-sent or --cancel."""
    choices: list[tuple[SendOutcome, bool]] = [
        ("sent", sent),
        ("not_sent", not_sent),
        ("cancel", cancel),
    ]
    outcomes: list[SendOutcome] = [o for o, on in choices if on]
    if len(outcomes) > 1:
        raise typer.BadParameter("give one of --sent, --not-sent, --cancel")
    with _open(graph) as store:
        if outcomes and item_id.startswith("msg-"):
            result = settle_send(store, item_id, outcomes[0], actor=am, now=_now(now), note=answer)
        elif outcomes:
            raise typer.BadParameter(
                "--sent, --not-sent and --cancel settle unconfirmed sends (msg-...)"
            )
        else:
            result = resolve_item(store, item_id, actor=am, now=_now(now), answer=answer or "")
    _acted(result, json_output)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
