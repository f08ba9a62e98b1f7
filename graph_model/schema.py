"""The schema registry: every node label and edge type, declared once.

A node label is a pydantic model registered with ``@node_type(label, key=...)``;
an edge type is a model registered with ``@edge_type(type, endpoints=...)``.
Stores, validation, Neo4j constraints, the docs and the CLI all read
``REGISTRY``. Labels, types and property names are checked against
``IDENTIFIER_PATTERN`` at registration, so nothing else can become a Cypher
identifier.
"""

from __future__ import annotations

import datetime as dt
import re
import types
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Literal, TypeVar

import annotated_types
import polars as pl
from pydantic import AwareDatetime, BaseModel, ConfigDict, StringConstraints

from graph_model.errors import IdentifierRejected, SchemaError

IDENTIFIER_PATTERN = re.compile(r"\A[A-Za-z][A-Za-z0-9_]{0,62}\Z")

# Reserved columns of every edge table: which nodes the edge joins.
EDGE_ENDPOINT_COLUMNS = ("src_label", "src", "dst_label", "dst")

Key = Annotated[str, StringConstraints(min_length=1, max_length=1024)]
# A key compared without case (addresses): trimmed and lower-cased on every write.
LowerKey = Annotated[
    str, StringConstraints(min_length=1, max_length=1024, strip_whitespace=True, to_lower=True)
]

FieldKind = Literal["str", "int", "float", "bool", "datetime", "date", "list_str"]

UTC_DATETIME = pl.Datetime("us", "UTC")
_DTYPES: dict[str, pl.DataType] = {
    "str": pl.String(),
    "int": pl.Int64(),
    "float": pl.Float64(),
    "bool": pl.Boolean(),
    "datetime": UTC_DATETIME,
    "date": pl.Date(),
    "list_str": pl.List(pl.String()),
}


def check_identifier(name: str) -> str:
    if not isinstance(name, str) or not IDENTIFIER_PATTERN.match(name):
        raise IdentifierRejected(str(name), "must match " + IDENTIFIER_PATTERN.pattern)
    return name


class NodeModel(BaseModel):
    """Base of every node label's model."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class EdgeModel(BaseModel):
    """Base of every edge type's model: the endpoints plus the edge's own properties.

    ``src_label``/``dst_label`` may be left out when the type allows only one
    label on that side.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    src: Key
    dst: Key
    src_label: str | None = None
    dst_label: str | None = None


@dataclass(frozen=True)
class FieldSpec:
    name: str
    kind: FieldKind
    required: bool
    default: Any = None
    enum: tuple[str, ...] | None = None
    ge: float | None = None
    le: float | None = None
    description: str = ""
    # Text trimmed and lower-cased on write (``StringConstraints`` on the model).
    strip: bool = False
    lower_case: bool = False

    @property
    def dtype(self) -> pl.DataType:
        return _DTYPES[self.kind]

    def type_text(self) -> str:
        base = f"one of {'|'.join(self.enum)}" if self.enum else self.kind
        if self.lower_case:
            base += ", lower-cased"
        bounds = []
        if self.ge is not None:
            bounds.append(f">= {self.ge:g}")
        if self.le is not None:
            bounds.append(f"<= {self.le:g}")
        return base + (f" ({', '.join(bounds)})" if bounds else "")


@dataclass(frozen=True)
class NodeSpec:
    label: str
    key: str
    model: type[NodeModel]
    fields: dict[str, FieldSpec]
    indexed: tuple[str, ...] = ()
    description: str = ""

    @property
    def identity(self) -> tuple[str, ...]:
        return (self.key,)

    def frame_schema(self) -> dict[str, pl.DataType]:
        return {name: f.dtype for name, f in self.fields.items()}


@dataclass(frozen=True)
class EdgeSpec:
    type: str
    model: type[EdgeModel]
    fields: dict[str, FieldSpec]  # the edge's own properties, endpoints excluded
    endpoints: tuple[tuple[str, str], ...]
    merge_on: tuple[str, ...] = ()
    description: str = ""

    @property
    def src_labels(self) -> tuple[str, ...]:
        return tuple(sorted({s for s, _ in self.endpoints}))

    @property
    def dst_labels(self) -> tuple[str, ...]:
        return tuple(sorted({d for _, d in self.endpoints}))

    @property
    def identity(self) -> tuple[str, ...]:
        """Columns that make two rows the same edge (MERGE semantics)."""
        return (*EDGE_ENDPOINT_COLUMNS, *self.merge_on)

    def frame_schema(self) -> dict[str, pl.DataType]:
        schema: dict[str, pl.DataType] = {c: pl.String() for c in EDGE_ENDPOINT_COLUMNS}
        schema.update({name: f.dtype for name, f in self.fields.items()})
        return schema


class SchemaRegistry:
    def __init__(self) -> None:
        self.nodes: dict[str, NodeSpec] = {}
        self.edges: dict[str, EdgeSpec] = {}

    def node(self, label: str) -> NodeSpec:
        try:
            return self.nodes[label]
        except (KeyError, TypeError):
            raise SchemaError(
                f"unknown node label {label!r}",
                hint="known labels: " + ", ".join(sorted(self.nodes)),
                label=label,
            ) from None

    def edge(self, rel_type: str) -> EdgeSpec:
        try:
            return self.edges[rel_type]
        except (KeyError, TypeError):
            raise SchemaError(
                f"unknown edge type {rel_type!r}",
                hint="known types: " + ", ".join(sorted(self.edges)),
                rel_type=rel_type,
            ) from None

    def edges_touching(self, label: str) -> list[EdgeSpec]:
        return [
            spec
            for spec in self.edges.values()
            if label in spec.src_labels or label in spec.dst_labels
        ]

    def add_node(self, spec: NodeSpec) -> None:
        if spec.label in self.nodes:
            raise SchemaError(f"node label {spec.label!r} is registered twice")
        self.nodes[spec.label] = spec

    def add_edge(self, spec: EdgeSpec) -> None:
        if spec.type in self.edges:
            raise SchemaError(f"edge type {spec.type!r} is registered twice")
        for src, dst in spec.endpoints:
            for label in (src, dst):
                if label not in self.nodes:
                    raise SchemaError(f"edge {spec.type} names unregistered label {label!r}")
        self.edges[spec.type] = spec


REGISTRY = SchemaRegistry()

N = TypeVar("N", bound=type[NodeModel])
E = TypeVar("E", bound=type[EdgeModel])


def node_type(
    label: str, *, key: str, indexed: Iterable[str] = (), registry: SchemaRegistry = REGISTRY
) -> Callable[[N], N]:
    """Register a node model under ``label`` with ``key`` as its unique key property."""

    def register(model: N) -> N:
        check_identifier(label)
        fields = _field_specs(model, skip=())
        if key not in fields:
            raise SchemaError(f"{label}: key property {key!r} is not a field")
        if fields[key].kind != "str" or not fields[key].required:
            raise SchemaError(f"{label}: key property {key!r} must be a required str")
        for name in indexed:
            if name not in fields:
                raise SchemaError(f"{label}: indexed property {name!r} is not a field")
        registry.add_node(
            NodeSpec(
                label=label,
                key=key,
                model=model,
                fields=fields,
                indexed=tuple(indexed),
                description=_first_line(model.__doc__),
            )
        )
        return model

    return register


def edge_type(
    rel_type: str,
    *,
    endpoints: Iterable[tuple[str, str]],
    merge_on: Iterable[str] = (),
    registry: SchemaRegistry = REGISTRY,
) -> Callable[[E], E]:
    """Register an edge model; ``endpoints`` lists the allowed (source, target) labels.

    ``merge_on`` names edge properties that are part of the edge's identity, so
    two edges of this type between the same nodes can coexist when they differ
    there (for example INDICATES from two extractors).
    """

    def register(model: E) -> E:
        check_identifier(rel_type)
        fields = _field_specs(model, skip=EDGE_ENDPOINT_COLUMNS)
        for name in merge_on:
            if name not in fields or not fields[name].required:
                raise SchemaError(f"{rel_type}: merge_on {name!r} must be a required property")
        registry.add_edge(
            EdgeSpec(
                type=rel_type,
                model=model,
                fields=fields,
                endpoints=tuple(endpoints),
                merge_on=tuple(merge_on),
                description=_first_line(model.__doc__),
            )
        )
        return model

    return register


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().splitlines()[0] if doc and doc.strip() else ""


def _field_specs(model: type[BaseModel], skip: Iterable[str]) -> dict[str, FieldSpec]:
    skipped = set(skip)
    specs: dict[str, FieldSpec] = {}
    for name, info in model.model_fields.items():
        if name in skipped:
            continue
        check_identifier(name)
        kind, enum = _kind_of(model.__name__, name, info.annotation)
        ge = le = None
        strip = lower_case = False
        for meta in info.metadata:
            if isinstance(meta, StringConstraints):
                strip, lower_case = bool(meta.strip_whitespace), bool(meta.to_lower)
            elif isinstance(meta, annotated_types.Ge):
                ge = float(typing.cast(float, meta.ge))
            elif isinstance(meta, annotated_types.Le):
                le = float(typing.cast(float, meta.le))
        default = None if info.is_required() else info.get_default(call_default_factory=True)
        if isinstance(default, StrEnum):
            default = default.value
        specs[name] = FieldSpec(
            name=name,
            kind=kind,
            required=info.is_required() and not _is_optional(info.annotation),
            default=default,
            enum=enum,
            ge=ge,
            le=le,
            description=info.description or "",
            strip=strip,
            lower_case=lower_case,
        )
    return specs


def _is_optional(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    return origin in (typing.Union, types.UnionType) and type(None) in typing.get_args(annotation)


def _kind_of(model: str, name: str, annotation: Any) -> tuple[FieldKind, tuple[str, ...] | None]:
    if _is_optional(annotation):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) != 1:
            raise SchemaError(f"{model}.{name}: unions other than X | None are not supported")
        annotation = args[0]
    if typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    if annotation is AwareDatetime or annotation is dt.datetime:
        if annotation is dt.datetime:
            raise SchemaError(f"{model}.{name}: use AwareDatetime (time zones are required)")
        return "datetime", None
    if isinstance(annotation, type) and issubclass(annotation, StrEnum):
        return "str", tuple(member.value for member in annotation)
    simple: dict[Any, FieldKind] = {
        str: "str",
        int: "int",
        float: "float",
        bool: "bool",
        dt.date: "date",
    }
    if annotation in simple:
        return simple[annotation], None
    if typing.get_origin(annotation) is list and typing.get_args(annotation) == (str,):
        return "list_str", None
    raise SchemaError(f"{model}.{name}: type {annotation!r} has no graph representation")
