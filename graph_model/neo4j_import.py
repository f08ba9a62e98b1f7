"""Files for ``neo4j-admin database import full``: the bulk path for first loads.

Writing through Cypher ``MERGE`` is what incremental ingest needs, but it is
bounded by the server's transaction rate (about 20k graph records/s on a
2-core machine, see bench/RESULTS.md). A first load of a large CRM into an
empty Neo4j can instead go: ingest into an embedded store, write that store
out with :func:`write_import_files`, and let Neo4j's offline importer build the
database directly. Everything twoloop keeps is graph state (IngestRun nodes
carry the watermarks), so later incremental runs continue against Neo4j.

The importer needs a stopped database and replaces it: it is for a new,
self-managed Neo4j, not for Aura or a database that already holds data.

Format: one CSV per label and one per (edge type, source label, target label),
header in the first row, the label's key as ``key:ID(Label)`` so each label is
its own id space, typed columns (``:long``, ``:double``, ``:boolean``,
``:datetime``, ``:date``, ``:string[]``), nulls as empty unquoted fields (no
property), empty strings as ``""``. ``import.args`` holds the importer's
arguments, one per line, for ``neo4j-admin database import full @import.args``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from graph_model.errors import TwoloopError
from graph_model.schema import REGISTRY, FieldSpec, SchemaRegistry
from graph_model.store import GraphStore

ARRAY_DELIMITER = "\x1f"  # ASCII unit separator; refused if any value contains it
ARGS_FILE = "import.args"
MANIFEST = "manifest.json"
_TYPES = {
    "str": "",
    "int": ":long",
    "float": ":double",
    "bool": ":boolean",
    "datetime": ":datetime",
    "date": ":date",
    "list_str": ":string[]",
}
_TEXT_FORMATS = {"datetime": "%Y-%m-%dT%H:%M:%S%.6fZ", "date": "%Y-%m-%d"}


class ImportFileError(TwoloopError):
    """A value cannot be written in the importer's CSV format."""

    code = "import_file"


@dataclass
class ImportFiles:
    out: Path
    database: str
    nodes: dict[str, int] = field(default_factory=dict)
    edges: dict[str, int] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    args: list[str] = field(default_factory=list)

    def command(self) -> str:
        return f"neo4j-admin database import full @{self.out / ARGS_FILE}"

    def as_dict(self) -> dict[str, object]:
        return {
            "out": str(self.out),
            "database": self.database,
            "nodes": self.nodes,
            "edges": self.edges,
            "files": self.files,
            "command": self.command(),
        }


def write_import_files(
    store: GraphStore,
    out: Path,
    *,
    database: str = "neo4j",
    registry: SchemaRegistry = REGISTRY,
    on_table: Callable[[str], None] | None = None,
) -> ImportFiles:
    """Write every label and edge type of ``store`` as importer CSVs under ``out``."""
    out = out.absolute()
    out.mkdir(parents=True, exist_ok=True)
    result = ImportFiles(out=out, database=database)
    node_args: list[str] = []
    edge_args: list[str] = []
    for label in sorted(registry.nodes):
        if on_table:
            on_table(f"nodes/{label}")
        spec = registry.node(label)
        frame = store.nodes(label)
        result.nodes[label] = frame.height
        if not frame.height:
            continue
        headers = {
            name: (f"{name}:ID({label})" if name == spec.key else name + _TYPES[f.kind])
            for name, f in spec.fields.items()
        }
        path = out / "nodes" / f"{label}.csv"
        _write(_as_text(frame, spec.fields, f"nodes/{label}"), headers, path)
        node_args.append(f"--nodes={label}={path}")
        result.files.append(str(path))
    for rel_type in sorted(registry.edges):
        if on_table:
            on_table(f"edges/{rel_type}")
        spec = registry.edge(rel_type)
        frame = store.edges(rel_type)
        result.edges[rel_type] = frame.height
        if not frame.height:
            continue
        props = list(spec.fields)
        for (src_label, dst_label), group in frame.group_by(
            ["src_label", "dst_label"], maintain_order=True
        ):
            headers = {"src": f":START_ID({src_label})", "dst": f":END_ID({dst_label})"}
            headers |= {name: name + _TYPES[f.kind] for name, f in spec.fields.items()}
            path = out / "edges" / f"{rel_type}.{src_label}.{dst_label}.csv"
            table = _as_text(group.select("src", "dst", *props), spec.fields, f"edges/{rel_type}")
            _write(table, headers, path)
            edge_args.append(f"--relationships={rel_type}={path}")
            result.files.append(str(path))
    # The database comes first: after --relationships the importer reads any
    # further bare word as one more file.
    result.args = [
        database,
        "--multiline-fields=true",
        "--array-delimiter=U+001F",
        "--overwrite-destination=true",
        f"--report-file={out / 'import.report'}",
        *node_args,
        *edge_args,
    ]
    (out / ARGS_FILE).write_text("\n".join(result.args) + "\n")
    (out / MANIFEST).write_text(json.dumps(result.as_dict(), indent=2) + "\n")
    return result


def _as_text(frame: pl.DataFrame, fields: dict[str, FieldSpec], table: str) -> pl.DataFrame:
    """Temporal values as ISO text, lists joined by the array delimiter."""
    columns: list[pl.Expr] = []
    for name, spec in fields.items():
        if name not in frame.columns:
            continue
        if spec.kind in _TEXT_FORMATS:
            columns.append(pl.col(name).dt.to_string(_TEXT_FORMATS[spec.kind]))
        elif spec.kind == "list_str":
            bad = frame.select(
                pl.col(name)
                .list.eval(pl.element().str.contains(ARRAY_DELIMITER, literal=True))
                .list.any()
                .fill_null(False)
                .arg_true()
                .first()
            ).item()
            if bad is not None:
                raise ImportFileError(
                    f"{table}: field {name!r} of row {int(bad) + 1} contains the array "
                    "delimiter U+001F, which the importer would split"
                )
            # An empty list has no importer form (an empty field means no property).
            columns.append(
                pl.when(pl.col(name).list.len() > 0)
                .then(pl.col(name).list.join(ARRAY_DELIMITER))
                .otherwise(None)
                .alias(name)
            )
    return frame.with_columns(columns) if columns else frame


def _write(frame: pl.DataFrame, headers: dict[str, str], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    frame.rename(headers).write_csv(tmp, null_value="", quote_style="non_numeric")
    tmp.replace(path)
