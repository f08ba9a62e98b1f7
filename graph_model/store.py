"""The GraphStore interface, what both stores share, and ``connect``.

Semantics every store keeps (the contract suite in tests/integration checks them):

- ``upsert_*`` MERGE on identity: a node's key; an edge's (source, target) plus the
  type's ``merge_on`` properties. The record replaces the stored properties
  wholesale (an optional property left out becomes null).
- Input is validated whole before anything is written. Edges whose endpoints do
  not exist raise ``MissingEndpoints`` naming them, and nothing is written.
- ``batch()`` groups writes into one all-or-nothing unit, optionally guarded by
  ``expect`` preconditions (compare-and-set) that are checked first, under lock. A lone ``upsert_*``
  call is one unit on the embedded store; Neo4j commits it in transactions of
  ``batch_size`` rows, each all-or-nothing.
- Frames come back with the registry's columns and types, sorted by identity.
"""

from __future__ import annotations

import datetime as dt
import typing
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import networkx as nx
import polars as pl

from graph_model.errors import (
    GraphTooLarge,
    SchemaError,
    StoreError,
    UnsupportedStoreURI,
    WriteConflict,
)
from graph_model.schema import REGISTRY, EdgeSpec, NodeSpec, SchemaRegistry
from graph_model.settings import Settings, load_settings
from graph_model.validation import Records, validate_edges, validate_nodes

NEO4J_SCHEMES = ("neo4j", "neo4j+s", "neo4j+ssc", "bolt", "bolt+s", "bolt+ssc")
MAX_HOPS = 4

FilterOp = Literal["eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "is_null", "not_null"]
Side = Literal["either", "source", "target"]


class NotFound(StoreError):
    exit_code = 4


@dataclass(frozen=True)
class Filter:
    """One condition on a property: ``Filter("tier", "in", ["A", "B"])``."""

    field: str
    op: FilterOp = "eq"
    value: Any = None


def resolve_filters(
    spec: NodeSpec, where: Mapping[str, Any] | Sequence[Filter] | None
) -> list[Filter]:
    """Check filters against the registry; a mapping means eq (or in, for a list)."""
    if where is None:
        return []
    if isinstance(where, Mapping):
        items = [
            Filter(k, "in", list(v))
            if isinstance(v, (list, tuple, set, frozenset))
            else Filter(k, "eq", v)
            for k, v in where.items()
        ]
    else:
        items = list(where)
    for item in items:
        if item.field not in spec.fields:
            raise SchemaError(
                f"cannot filter {spec.label} on {item.field!r}: not a property",
                hint="properties: " + ", ".join(spec.fields),
            )
        if item.op not in typing.get_args(FilterOp):
            raise SchemaError(f"unknown filter operator {item.op!r}")
        if item.op in ("in", "not_in") and not isinstance(item.value, (list, tuple, set)):
            raise SchemaError(f"filter {item.field} {item.op} needs a list of values")
        if isinstance(item.value, dt.datetime) and item.value.tzinfo is None:
            raise SchemaError(f"filter on {item.field}: datetimes need a time zone")
    return items


def filters_to_polars(filters: Sequence[Filter]) -> pl.Expr:
    expr = pl.lit(True)
    for f in filters:
        col = pl.col(f.field)
        value = f.value
        if f.op == "eq":
            cond = col.is_null() if value is None else col == value
        elif f.op == "ne":
            cond = col.is_not_null() if value is None else (col != value) | col.is_null()
        elif f.op == "in":
            cond = col.is_in(list(value))
        elif f.op == "not_in":
            cond = ~col.is_in(list(value)) | col.is_null()
        elif f.op == "gt":
            cond = col > value
        elif f.op == "gte":
            cond = col >= value
        elif f.op == "lt":
            cond = col < value
        elif f.op == "lte":
            cond = col <= value
        elif f.op == "is_null":
            cond = col.is_null()
        else:
            cond = col.is_not_null()
        expr = expr & cond.fill_null(False)
    return expr


@dataclass(frozen=True)
class EdgeRow:
    type: str
    src_label: str
    src: str
    dst_label: str
    dst: str
    props: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False)
    merge_values: tuple[Any, ...] = ()

    @property
    def identity(self) -> tuple[Any, ...]:
        return (self.type, self.src_label, self.src, self.dst_label, self.dst, *self.merge_values)


@dataclass
class Subgraph:
    """Nodes keyed by (label, key) with their properties, and the edges among them."""

    nodes: dict[tuple[str, str], dict[str, Any]]
    edges: list[EdgeRow]
    truncated: bool = False

    def to_networkx(self) -> nx.MultiDiGraph:
        graph = nx.MultiDiGraph()
        for (label, key), props in sorted(self.nodes.items()):
            graph.add_node(f"{label}:{key}", label=label, key=key, **props)
        for edge in self.edges:
            graph.add_edge(
                f"{edge.src_label}:{edge.src}",
                f"{edge.dst_label}:{edge.dst}",
                key="|".join([edge.type, *map(str, edge.merge_values)]),
                type=edge.type,
                **edge.props,
            )
        return graph


@dataclass(frozen=True)
class GraphCounts:
    nodes: dict[str, int]
    edges: dict[str, int]

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {"nodes": dict(self.nodes), "edges": dict(self.edges)}


# ------------------------------------------------------------------ write batches


@dataclass(frozen=True)
class UpsertNodes:
    spec: NodeSpec
    frame: pl.DataFrame


@dataclass(frozen=True)
class UpsertEdges:
    spec: EdgeSpec
    frame: pl.DataFrame


@dataclass(frozen=True)
class DeleteNodes:
    spec: NodeSpec
    keys: tuple[str, ...]


@dataclass(frozen=True)
class DeleteEdges:
    spec: EdgeSpec
    frame: pl.DataFrame  # identity columns only


@dataclass(frozen=True)
class Expect:
    """A precondition: the node exists and its ``field`` holds one of ``values`` when
    the batch commits (checked first, with the node locked), else nothing is written."""

    spec: NodeSpec
    key: str
    field: str
    values: tuple[Any, ...]
    # A missing node also satisfies it (the batch must then create the node; on
    # Neo4j the key is reserved first, so a concurrent creator waits for ours).
    absent_ok: bool = False


WriteOp = UpsertNodes | UpsertEdges | DeleteNodes | DeleteEdges | Expect


class WriteBatch:
    """Writes collected for one all-or-nothing commit; each is validated when added."""

    def __init__(self, registry: SchemaRegistry) -> None:
        self.registry = registry
        self.ops: list[WriteOp] = []

    def upsert_nodes(self, label: str, records: Records, *, source: str | None = None) -> int:
        spec = self.registry.node(label)
        frame = validate_nodes(spec, records, source=source)
        self.ops.append(UpsertNodes(spec, frame))
        return frame.height

    def upsert_edges(self, rel_type: str, records: Records, *, source: str | None = None) -> int:
        spec = self.registry.edge(rel_type)
        frame = validate_edges(spec, records, source=source)
        self.ops.append(UpsertEdges(spec, frame))
        return frame.height

    def expect(
        self, label: str, key: str, field: str, values: Iterable[Any], *, absent_ok: bool = False
    ) -> None:
        """Compare-and-set: commit only if node ``key`` of ``label`` exists and its
        ``field`` is one of ``values`` at commit time; otherwise raise
        ``WriteConflict`` and write nothing. Concurrent batches expecting the same
        node are serialised, so exactly one of two ``pending -> sending`` claims wins.

        With ``absent_ok`` a node that does not exist yet passes too, and the batch
        must create it (two batches creating the same node: one wins)."""
        spec = self.registry.node(label)
        if field not in spec.fields:
            raise SchemaError(f"cannot expect {label}.{field}: not a property")
        wanted = tuple(v.value if hasattr(v, "value") else v for v in values)
        if not wanted:
            raise SchemaError(f"expect {label}.{field} needs at least one value")
        self.ops.append(Expect(spec, str(key), field, wanted, absent_ok))

    def delete_nodes(self, label: str, keys: Iterable[str]) -> None:
        spec = self.registry.node(label)
        self.ops.append(DeleteNodes(spec, tuple(dict.fromkeys(str(k) for k in keys))))

    def delete_edges(self, rel_type: str, records: Records) -> None:
        """Delete edges by identity: src, dst (labels where ambiguous) and merge_on values."""
        spec = self.registry.edge(rel_type)
        frame = _identity_frame(spec, records)
        self.ops.append(DeleteEdges(spec, frame))


def _identity_frame(spec: EdgeSpec, records: Records) -> pl.DataFrame:
    frame = records if isinstance(records, pl.DataFrame) else pl.DataFrame(list(records))
    columns = [c for c in spec.identity if c in frame.columns]
    needed = {"src", "dst", *spec.merge_on}
    if not needed <= set(columns):
        missing = sorted(needed - set(columns))[0]
        raise SchemaError(f"deleting {spec.type} edges needs column {missing!r}")
    frame = frame.select(columns)
    for side, labels in (("src_label", spec.src_labels), ("dst_label", spec.dst_labels)):
        if side not in frame.columns:
            if len(labels) != 1:
                raise SchemaError(f"deleting {spec.type} edges needs {side} ({'|'.join(labels)})")
            frame = frame.with_columns(pl.lit(next(iter(labels))).alias(side))
    schema = spec.frame_schema()
    return frame.select([pl.col(c).cast(schema[c]) for c in spec.identity]).unique()


# ------------------------------------------------------------------ the interface


class GraphStore(ABC):
    """One interface over the embedded store and Neo4j."""

    uri: str
    registry: SchemaRegistry

    # -- writes
    @contextmanager
    def batch(self) -> Iterator[WriteBatch]:
        """Collect writes and commit them together when the block ends without error."""
        pending = WriteBatch(self.registry)
        yield pending
        if pending.ops:
            _check_creates(pending.ops)
            self._apply(pending.ops, chunked=False)

    def upsert_nodes(self, label: str, records: Records, *, source: str | None = None) -> int:
        """Create or replace nodes by key; returns the number of distinct nodes written."""
        pending = WriteBatch(self.registry)
        written = pending.upsert_nodes(label, records, source=source)
        self._apply(pending.ops, chunked=True)
        return written

    def upsert_edges(self, rel_type: str, records: Records, *, source: str | None = None) -> int:
        """Create or replace edges by identity; endpoints must exist."""
        pending = WriteBatch(self.registry)
        written = pending.upsert_edges(rel_type, records, source=source)
        self._apply(pending.ops, chunked=True)
        return written

    def delete_nodes(self, label: str, keys: Iterable[str]) -> int:
        """Delete nodes and every edge touching them; returns how many nodes went."""
        pending = WriteBatch(self.registry)
        pending.delete_nodes(label, keys)
        return self._apply(pending.ops, chunked=False)[0]

    def delete_edges(self, rel_type: str, records: Records) -> int:
        pending = WriteBatch(self.registry)
        pending.delete_edges(rel_type, records)
        return self._apply(pending.ops, chunked=False)[0]

    @abstractmethod
    def _apply(self, ops: Sequence[WriteOp], *, chunked: bool) -> list[int]:
        """Commit ops atomically (or per chunk when ``chunked``); per-op row counts."""

    @abstractmethod
    def ensure_schema(self) -> list[str]:
        """Create what the registry needs (constraints, indexes, tables); say what was done."""

    # -- reads
    @abstractmethod
    def get_nodes(
        self, label: str, keys: Iterable[str] | pl.Series, *, fields: Sequence[str] | None = None
    ) -> pl.DataFrame:
        """The nodes of ``label`` with these keys (missing keys are simply absent),
        sorted by key; with ``fields``, only those properties (and the key), for reads
        that do not need a node's large ones."""

    def names(
        self, label: str, keys: Iterable[str | None] | pl.Series, *, field: str = "name"
    ) -> dict[str, str]:
        """Key -> ``field`` (a display name) of the nodes with these keys; missing
        keys and empty keys are left out."""
        wanted = [str(k) for k in keys if k]
        if not wanted:
            return {}
        key = self.registry.node(label).key
        frame = self.get_nodes(label, sorted(set(wanted)), fields=[field])
        return {str(k): str(v) for k, v in zip(frame[key], frame[field], strict=True)}

    def get_node(self, label: str, key: str, *, hint: str | None = None) -> dict[str, Any]:
        """One node's properties; ``NotFound`` (naming the label and key) if absent."""
        found = self.get_nodes(label, [key])
        if found.height == 0:
            spec = self.registry.node(label)
            raise NotFound(f"no {label} with {spec.key} {key!r}", hint=hint)
        return found.row(0, named=True)

    @abstractmethod
    def existing_keys(self, label: str, keys: Iterable[str] | pl.Series) -> set[str]:
        """Which of these keys have a node of ``label`` (keys only: no properties read)."""

    @abstractmethod
    def nodes(
        self,
        label: str,
        where: Mapping[str, Any] | Sequence[Filter] | None = None,
        *,
        limit: int | None = None,
        fields: Sequence[str] | None = None,
    ) -> pl.DataFrame:
        """Nodes of a label matching every filter, sorted by key; with ``fields``, only
        those properties (and the key), for scans that do not need a node's large ones
        (a signal's text, a match's explanation)."""

    @abstractmethod
    def edges(
        self,
        rel_type: str,
        touching: Iterable[str] | None = None,
        *,
        side: Side = "either",
        label: str | None = None,
    ) -> pl.DataFrame:
        """Edges of a type; with ``touching``, only those whose ``side`` end has one of
        these keys (and, with ``label``, that label)."""

    @abstractmethod
    def counts(self) -> GraphCounts:
        """Node count per label and edge count per type, zeros included."""

    @abstractmethod
    def _incident_edges(self, label: str, keys: Sequence[str]) -> list[EdgeRow]:
        """Every registered edge with an end at one of these nodes."""

    @abstractmethod
    def data_version(self) -> str:
        """A token that changes whenever anything is committed to the store (by this
        process or any other), for caches that must see other people's writes."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> GraphStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- shared reads
    def neighborhood(
        self,
        label: str,
        key: str,
        *,
        hops: int = 1,
        max_nodes: int = 500,
        stop_at: Iterable[str] = (),
    ) -> Subgraph:
        """Nodes within ``hops`` of one node, and the edges among them.

        Breadth first; when more than ``max_nodes`` are reachable the farthest ring
        is cut in key order and ``truncated`` is set. Nodes of a ``stop_at`` label
        (other than the start) are kept but not expanded: hubs such as an AM or an
        industry would otherwise pull in half the graph.
        """
        spec = self.registry.node(label)
        if not 1 <= hops <= MAX_HOPS:
            raise SchemaError(f"hops must be between 1 and {MAX_HOPS}, got {hops}")
        if self.get_nodes(label, [key]).height == 0:
            raise NotFound(f"no {label} with {spec.key}={key!r}")
        visited: set[tuple[str, str]] = {(label, key)}
        frontier = {(label, key)}
        edges: dict[tuple[Any, ...], EdgeRow] = {}
        truncated = False
        stops = set(stop_at)
        for _ in range(hops):
            grouped: dict[str, list[str]] = defaultdict(list)
            for node_label, node_key in frontier:
                if node_label in stops and (node_label, node_key) != (label, key):
                    continue
                grouped[node_label].append(node_key)
            found: set[tuple[str, str]] = set()
            for node_label in sorted(grouped):
                for edge in self._incident_edges(node_label, sorted(grouped[node_label])):
                    edges[edge.identity] = edge
                    found.update({(edge.src_label, edge.src), (edge.dst_label, edge.dst)})
            fresh = sorted(found - visited)
            room = max_nodes - len(visited)
            if len(fresh) > room:
                fresh, truncated = fresh[:room], True
            visited.update(fresh)
            frontier = set(fresh)
            if not frontier:
                break
        kept = [
            e
            for _, e in sorted(edges.items(), key=lambda item: tuple(map(str, item[0])))
            if (e.src_label, e.src) in visited and (e.dst_label, e.dst) in visited
        ]
        return Subgraph(self._node_props(visited), kept, truncated)

    def to_networkx(
        self,
        *,
        around: tuple[str, str] | None = None,
        hops: int = 1,
        labels: Iterable[str] | None = None,
        rel_types: Iterable[str] | None = None,
        max_nodes: int = 500,
    ) -> nx.MultiDiGraph:
        """Project a subgraph for analysts: the neighborhood of ``around`` (label, key),
        or every node of ``labels`` with the ``rel_types`` edges among them. Either is
        bounded by ``max_nodes``: a neighborhood is cut, and labels holding more nodes
        than that raise ``GraphTooLarge`` before anything is read."""
        if around is not None:
            return self.neighborhood(
                around[0], around[1], hops=hops, max_nodes=max_nodes
            ).to_networkx()
        wanted_labels = list(labels) if labels is not None else sorted(self.registry.nodes)
        counts = self.counts().nodes
        size = sum(counts.get(node_label, 0) for node_label in wanted_labels)
        if size > max_nodes:
            raise GraphTooLarge(
                f"labels {', '.join(wanted_labels)} hold {size:,} nodes, more than "
                f"max_nodes={max_nodes:,}",
                hint="project a neighborhood (around=...), fewer labels, or raise max_nodes",
                nodes=size,
                max_nodes=max_nodes,
            )
        wanted_types = list(rel_types) if rel_types is not None else sorted(self.registry.edges)
        nodes: dict[tuple[str, str], dict[str, Any]] = {}
        for node_label in wanted_labels:
            spec = self.registry.node(node_label)
            for row in self.nodes(node_label).iter_rows(named=True):
                nodes[(node_label, row[spec.key])] = row
        edges: list[EdgeRow] = []
        for rel_type in wanted_types:
            spec = self.registry.edge(rel_type)
            for row in self.edges(rel_type).iter_rows(named=True):
                edge = edge_row(spec, row)
                if (edge.src_label, edge.src) in nodes and (edge.dst_label, edge.dst) in nodes:
                    edges.append(edge)
        return Subgraph(nodes, edges).to_networkx()

    def _node_props(self, refs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        grouped: dict[str, list[str]] = defaultdict(list)
        for node_label, node_key in refs:
            grouped[node_label].append(node_key)
        out: dict[tuple[str, str], dict[str, Any]] = {}
        for node_label, keys in sorted(grouped.items()):
            spec = self.registry.node(node_label)
            for row in self.get_nodes(node_label, keys).iter_rows(named=True):
                out[(node_label, row[spec.key])] = row
        return out


def wanted_fields(spec: NodeSpec, fields: Sequence[str] | None) -> list[str]:
    """``fields`` checked against the registry, the key first; None: every field."""
    if fields is None:
        return list(spec.fields)
    unknown = [f for f in fields if f not in spec.fields]
    if unknown:
        raise SchemaError(
            f"{spec.label} has no propert{'ies' if len(unknown) > 1 else 'y'} " + ", ".join(unknown)
        )
    return [spec.key, *(f for f in dict.fromkeys(fields) if f != spec.key)]


def ordered_ops(ops: Sequence[WriteOp]) -> list[WriteOp]:
    """Preconditions first, then the writes in the order they were added."""
    return [op for op in ops if isinstance(op, Expect)] + [
        op for op in ops if not isinstance(op, Expect)
    ]


def _check_creates(ops: Sequence[WriteOp]) -> None:
    """An ``absent_ok`` precondition needs the batch to write that node."""
    for op in ops:
        if not isinstance(op, Expect) or not op.absent_ok:
            continue
        written = any(
            isinstance(w, UpsertNodes)
            and w.spec.label == op.spec.label
            and op.key in w.frame.get_column(w.spec.key).to_list()
            for w in ops
        )
        if not written:
            raise SchemaError(
                f"expect {op.spec.label} {op.key!r} with absent_ok needs the batch to write it"
            )


def check_expectation(op: Expect, found: bool, value: Any) -> None:
    if not found and op.absent_ok:
        return
    if not found or value not in op.values:
        raise WriteConflict(
            op.spec.label, op.key, op.field, op.values, value if found else None, found=found
        )


def edge_row(spec: EdgeSpec, row: Mapping[str, Any]) -> EdgeRow:
    props = {name: row.get(name) for name in spec.fields}
    return EdgeRow(
        type=spec.type,
        src_label=row["src_label"],
        src=row["src"],
        dst_label=row["dst_label"],
        dst=row["dst"],
        props=props,
        merge_values=tuple(props[name] for name in spec.merge_on),
    )


def connect(uri: str | None = None, *, settings: Settings | None = None) -> GraphStore:
    """Open the graph store at ``uri`` (default: the TWOLOOP_GRAPH_URI setting).

    ``neo4j://``, ``neo4j+s://``, ``bolt://`` (and ``+s``/``+ssc``) open Neo4j or
    Aura; a directory path (or ``file://`` path) opens the embedded store.
    """
    settings = settings or load_settings()
    target = uri or settings.graph_uri
    scheme, sep, rest = target.partition("://")
    if sep and scheme.lower() in NEO4J_SCHEMES:
        from graph_model.neo4j_store import Neo4jStore

        return Neo4jStore(target, settings=settings, registry=REGISTRY)
    if not sep or scheme.lower() == "file":
        from graph_model.embedded import EmbeddedStore

        path = Path(rest if sep else target).expanduser()
        if path.exists() and not path.is_dir():
            raise UnsupportedStoreURI(target, why=f"{path} is a file, not a store directory")
        return EmbeddedStore(path, settings=settings, registry=REGISTRY)
    raise UnsupportedStoreURI(target)
