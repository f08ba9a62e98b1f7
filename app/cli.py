"""The ``twoloop`` command: one sub-app per area, ``--help`` everywhere, ``--json`` for data.

Errors that twoloop raises on purpose print as one line on stderr and exit
non-zero with the error type's exit code; nothing prints a traceback.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text
from typer.core import TyperGroup

from app.example_graph import load_example_graph
from graph_model import REGISTRY, connect
from graph_model.errors import TwoloopError
from graph_model.store import GraphCounts, GraphStore

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


def _open(graph: str | None) -> GraphStore:
    return connect(graph)


def _print_json(payload: Any) -> None:
    sys.stdout.write(json.dumps(payload, indent=2, default=_json_default) + "\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")


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
    """Export every label and edge type to files (nodes/<Label>.<fmt>, edges/<TYPE>.<fmt>)."""
    written: list[dict[str, Any]] = []
    with _open(graph) as store:
        tables = [("nodes", label) for label in sorted(REGISTRY.nodes)]
        tables += [("edges", rel_type) for rel_type in sorted(REGISTRY.edges)]
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err_console,
            disable=json_output,
            transient=True,
        ) as progress:
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
def demo(graph: GraphOption = None, json_output: JsonOption = False) -> None:
    """Build the small example graph in the store and print its stats.

    Idempotent: a second run leaves the same graph.
    """
    with _open(graph) as store:
        store.ensure_schema()
        written = load_example_graph(store)
        counts = store.counts()
        if json_output:
            _print_json({"graph": store.uri, "records_written": written, **counts.as_dict()})
            return
        console.print(f"[green]example graph written[/] to {store.uri} ({written} records)")
        console.print(_counts_table("example graph", counts))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
