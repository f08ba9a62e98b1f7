"""``twoloop graph``: create, inspect and export the graph store; the schema registry."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer
from rich.table import Table

from app.cli.common import GraphOption, JsonOption, _open, _print_json, _progress, app, console
from app.cli.reports import _counts_table
from graph_model import REGISTRY
from graph_model.neo4j_import import write_import_files

graph_app = typer.Typer(help="Create, inspect and export the graph store.", no_args_is_help=True)
app.add_typer(graph_app, name="graph")


class ExportFormat(StrEnum):
    parquet = "parquet"
    jsonl = "jsonl"
    csv = "csv"
    neo4j_import = "neo4j-import"


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
