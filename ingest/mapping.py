"""Mappings: declarative rules from a file's columns to graph nodes and edges.

A mapping (YAML, validated here) says which columns a file has, which nodes and
edges each row becomes, and how each value is computed: a column, a template,
a constant, a hash or a case table, then a chain of transforms (trim, lower,
date formats, value maps, domains, lookups, fuzzy reconciliation...). The
built-in Salesforce, HubSpot, org-chart and signal readers are mappings under
``ingest/mappings``; a team with another CRM writes one more file, no code.

Compilation happens against the actual frame: transforms that depend on data
(public-suffix lookups, fuzzy reconciliation, store lookups) evaluate the
distinct values once and become a ``replace`` expression, so a million-row file
costs one pass per column. Every transform that can fail on a value reports a
problem expression instead of raising; the pipeline turns problems into
quarantined rows that name the file, the row and the column.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import polars as pl
from polars_hash import NonCryptographicHashingNameSpace
from pydantic import BaseModel, ConfigDict, Field, model_validator

from graph_model.errors import ConfigFileInvalid
from graph_model.schema import REGISTRY, UTC_DATETIME, FieldSpec
from graph_model.yamlfile import read_yaml, validate
from ingest.normalise import compact_key, company_key, domain_of, email_key
from ingest.resolve import FuzzyThresholds, reconcile

BUILTIN_DIR = Path(__file__).with_name("mappings")

# ------------------------------------------------------------------ the model


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Case(_Strict):
    """``when`` every listed column equals (case-insensitively) one of the values."""

    when: dict[str, Any]
    value: Any


class ValueSpec(_Strict):
    """How one value is computed. A bare string in YAML means ``{column: that}``."""

    column: str | None = None
    template: str | None = None
    const: str | int | float | bool | None = None
    hash: list[str] | None = None
    cases: list[Case] | None = None
    transforms: list[str | dict[str, Any]] = Field(default_factory=list)
    default: Any = None
    # Used where this value comes out empty (e.g. an id column, else a lookup by email).
    otherwise: ValueSpec | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"column": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _one_source(self) -> ValueSpec:
        sources = [
            n
            for n in ("column", "template", "const", "hash", "cases")
            if getattr(self, n) is not None
        ]
        if len(sources) != 1:
            raise ValueError(
                "give exactly one of column, template, const, hash, cases"
                + (f" (got {', '.join(sources)})" if sources else "")
            )
        return self

    def columns(self) -> list[str]:
        own = self._own_columns()
        return own + (self.otherwise.columns() if self.otherwise is not None else [])

    def _own_columns(self) -> list[str]:
        if self.column is not None:
            return [self.column]
        if self.template is not None:
            return _TEMPLATE_FIELD.findall(self.template)
        if self.hash is not None:
            return list(self.hash)
        if self.cases is not None:
            return sorted({c for case in self.cases for c in case.when})
        return []

    def describe(self) -> str:
        """The source column(s) a problem with this value should name."""
        cols = self._own_columns()
        if not cols and self.otherwise is not None:
            return self.otherwise.describe()
        if self.otherwise is not None and self.otherwise.column is not None:
            cols = [*cols, self.otherwise.column]
        if self.hash is not None:
            return "(hash of the row)"
        return "+".join(cols) if cols else "(constant)"


class ColumnDoc(_Strict):
    description: str = ""
    required: bool = True

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"description": data} if isinstance(data, str) else data


class NodeRule(_Strict):
    label: str
    key: ValueSpec
    properties: dict[str, ValueSpec] = Field(default_factory=dict)
    # A row whose key is empty simply makes no such node (e.g. a blank Industry).
    optional: bool = False
    # People: rows sharing this property (normalised email) are one person.
    dedupe_on: str | None = None


class Endpoint(_Strict):
    label: str
    key: ValueSpec


class EdgeRule(_Strict):
    type: str
    src: Endpoint
    dst: Endpoint
    properties: dict[str, ValueSpec] = Field(default_factory=dict)
    # A row with an empty endpoint key makes no such edge (e.g. no ParentId).
    optional: bool = False
    # An endpoint that exists nowhere: reject the row (default) or just skip the edge
    # (e.g. a task's WhoId that names a lead, not a contact).
    on_missing: Literal["reject", "skip"] = "reject"
    # Delete this edge instead of writing it (a job change ends WORKS_AT).
    delete: bool = False


class Join(_Strict):
    """Columns from a second file, matched on a key (Product2 names for line items)."""

    file: str  # the name the ingest config gives the file under the source's ``join_files``
    keys: dict[str, str]  # {column here: column there}
    columns: dict[str, str]  # {column there: name here}


class SourceMapping(_Strict):
    name: str
    description: str = ""
    format: Literal["csv", "jsonl", "parquet"] | None = None
    columns: dict[str, ColumnDoc] = Field(default_factory=dict)
    # Column whose value orders rows for incremental runs (a datetime).
    watermark: str | None = None
    # Time zone for datetimes written without an offset; without it they are rejected.
    timezone: str | None = None
    joins: list[Join] = Field(default_factory=list)
    nodes: list[NodeRule] = Field(default_factory=list)
    edges: list[EdgeRule] = Field(default_factory=list)
    # Each row must make at least one edge of one of these types, e.g. a signal must
    # belong to an account or a person.
    require_any_edge: list[str] = Field(default_factory=list)
    require_any_edge_reason: str = "belongs to nothing in the graph"

    def referenced_columns(self) -> set[str]:
        cols: set[str] = set()
        for rule in self.nodes:
            for spec in (rule.key, *rule.properties.values()):
                cols.update(spec.columns())
        for edge in self.edges:
            for spec in (edge.src.key, edge.dst.key, *edge.properties.values()):
                cols.update(spec.columns())
        if self.watermark:
            cols.add(self.watermark)
        for join in self.joins:
            cols.update(join.keys)
            cols.difference_update(join.columns.values())
        return cols

    def property_like(self, column: str, present: set[str]) -> str | None:
        """A note for a column this mapping does not read whose name is a property of
        a node or edge it writes (``TimeZone__c`` -> ``AccountManager.timezone``):
        which column that property is read from, or that it is not mapped."""
        wanted = _plain_name(column)
        rules: list[tuple[str, dict[str, FieldSpec], dict[str, ValueSpec]]] = []
        for rule in self.nodes:
            node = REGISTRY.node(rule.label)
            rules.append((rule.label, node.fields, {node.key: rule.key, **rule.properties}))
        rules += [(e.type, REGISTRY.edge(e.type).fields, e.properties) for e in self.edges]
        for owner, fields, mapped in rules:
            for prop in fields:
                if _plain_name(prop) != wanted:
                    continue
                value = mapped.get(prop)
                if value is None:
                    return (
                        f"{owner} has a property {prop}: map {column} to it in a mapping to load it"
                    )
                if not value.columns():
                    return f"{owner}.{prop} is set by the mapping"
                lacks = [c for c in value.columns() if c not in present]
                note = f"{owner}.{prop} is read from {value.describe()}"
                return note + (", which the file lacks" if lacks else "")
        return None


def _plain_name(name: str) -> str:
    """A column or property name without case, separators or Salesforce's ``__c``."""
    name = name.lower()
    return re.sub(r"[^a-z0-9]", "", name.removesuffix("__c"))


def load_mapping(path: Path | str) -> SourceMapping:
    """Read and check a mapping file: structure, labels, edge types, properties, transforms."""
    path = Path(path)
    return parse_mapping(read_yaml(path), str(path))


def builtin_mapping(name: str) -> SourceMapping:
    """A shipped reader, e.g. ``salesforce/account`` or ``signals``."""
    path = BUILTIN_DIR / f"{name}.yaml"
    if not re.fullmatch(r"[a-z0-9_]+(/[a-z0-9_]+)?", name) or not path.is_file():
        raise ConfigFileInvalid(
            "reader", name, "no such built-in reader", hint="known: " + ", ".join(builtin_names())
        )
    return load_mapping(path)


def builtin_names() -> list[str]:
    return sorted(
        str(p.relative_to(BUILTIN_DIR).with_suffix("")) for p in BUILTIN_DIR.rglob("*.yaml")
    )


def parse_mapping(data: Any, where: str) -> SourceMapping:
    mapping = validate(SourceMapping, data, where)
    _check_against_registry(mapping, where)
    return mapping


def _check_against_registry(mapping: SourceMapping, where: str) -> None:
    def fail(loc: str, reason: str, hint: str | None = None) -> None:
        raise ConfigFileInvalid(where, loc, reason, hint=hint)

    for i, rule in enumerate(mapping.nodes):
        loc = f"nodes[{i}]"
        if rule.label not in REGISTRY.nodes:
            fail(
                f"{loc}.label",
                f"unknown label {rule.label!r}",
                "known: " + ", ".join(REGISTRY.nodes),
            )
        spec = REGISTRY.node(rule.label)
        for prop in rule.properties:
            if prop == spec.key:
                fail(f"{loc}.properties.{prop}", "the key is set by `key:`, not as a property")
            if prop not in spec.fields:
                fail(
                    f"{loc}.properties.{prop}",
                    f"{rule.label} has no property {prop!r}",
                    "properties: " + ", ".join(spec.fields),
                )
        if rule.dedupe_on is not None and rule.dedupe_on not in rule.properties:
            fail(f"{loc}.dedupe_on", f"{rule.dedupe_on!r} is not one of this rule's properties")
        for name, value in (("key", rule.key), *rule.properties.items()):
            _check_transforms(value, f"{loc}.{name}", fail)
    for t in mapping.require_any_edge:
        if t not in {e.type for e in mapping.edges}:
            fail("require_any_edge", f"{t!r} is not an edge this mapping makes")
    for i, edge in enumerate(mapping.edges):
        loc = f"edges[{i}]"
        if edge.type not in REGISTRY.edges:
            fail(
                f"{loc}.type",
                f"unknown edge type {edge.type!r}",
                "known: " + ", ".join(REGISTRY.edges),
            )
        spec = REGISTRY.edge(edge.type)
        if (edge.src.label, edge.dst.label) not in spec.endpoints:
            pairs = ", ".join(f"{s}->{d}" for s, d in spec.endpoints)
            fail(
                loc, f"{edge.src.label}->{edge.dst.label} is not allowed for {edge.type} ({pairs})"
            )
        for prop in edge.properties:
            if prop not in spec.fields:
                fail(f"{loc}.properties.{prop}", f"{edge.type} has no property {prop!r}")
        for name, value in (
            ("src.key", edge.src.key),
            ("dst.key", edge.dst.key),
            *edge.properties.items(),
        ):
            _check_transforms(value, f"{loc}.{name}", fail)


def _check_transforms(spec: ValueSpec, loc: str, fail: Callable[..., None]) -> None:
    if spec.otherwise is not None:
        _check_transforms(spec.otherwise, f"{loc}.otherwise", fail)
    for j, item in enumerate(spec.transforms):
        name, arg = _transform_parts(item)
        if name not in _TRANSFORMS:
            fail(
                f"{loc}.transforms[{j}]",
                f"unknown transform {name!r}",
                "known: " + ", ".join(sorted(_TRANSFORMS)),
            )
        checker = _ARG_CHECKS.get(name)
        if checker is not None:
            problem = checker(arg)
            if problem:
                fail(f"{loc}.transforms[{j}].{name}", problem)


def _transform_parts(item: str | dict[str, Any]) -> tuple[str, Any]:
    if isinstance(item, str):
        return item, None
    if len(item) != 1:
        return "<" + ", ".join(map(str, item)) + ">", None
    ((name, arg),) = item.items()
    return str(name), arg


# ------------------------------------------------------------------ compiling

Kind = Literal["str", "date", "datetime", "list"]


@dataclass
class Problem:
    """Rows where ``bad`` holds are rejected with ``reason`` (an expression, per row)."""

    field: str
    reason: pl.Expr
    bad: pl.Expr


@dataclass
class Compiled:
    expr: pl.Expr
    kind: Kind = "str"
    problems: list[Problem] = field(default_factory=list)


@dataclass
class ReviewItem:
    """An uncertain reconciliation: listed for a person, never merged silently."""

    field: str
    value: str
    candidate: str | None
    score: float
    label: str


@dataclass
class CompileContext:
    """What data-dependent transforms need: the frame, the store's lookups, a review list."""

    frame: pl.DataFrame
    timezone: str | None = None
    # (label, field, values) -> {value: key}; the pipeline answers from the store.
    lookup: Callable[[str, str, list[str]], dict[str, str]] | None = None
    # label -> [(name, key)] of the vocabulary that fuzzy matching reconciles against.
    vocabulary: Callable[[str], list[tuple[str, str]]] | None = None
    thresholds: FuzzyThresholds = field(default_factory=FuzzyThresholds)
    review: list[tuple[pl.Expr, ReviewItem]] = field(default_factory=list)

    def distinct(self, expr: pl.Expr) -> list[str]:
        return self.frame.select(expr.alias("v")).get_column("v").drop_nulls().unique().to_list()


_TEMPLATE_FIELD = re.compile(r"\{([^{}]+)\}")


def _got(raw: pl.Expr) -> pl.Expr:
    shown = raw.cast(pl.String).str.slice(0, 60)
    return pl.concat_str([pl.lit(" (got '"), shown, pl.lit("')")], ignore_nulls=True)


def compile_value(spec: ValueSpec, ctx: CompileContext) -> Compiled:
    name = spec.describe()
    if spec.column is not None:
        current = Compiled(_blank_to_null(pl.col(spec.column).cast(pl.String).str.strip_chars()))
    elif spec.template is not None:
        parts: list[pl.Expr] = []
        pos = 0
        for m in _TEMPLATE_FIELD.finditer(spec.template):
            if m.start() > pos:
                parts.append(pl.lit(spec.template[pos : m.start()]))
            parts.append(pl.col(m.group(1)).cast(pl.String).str.strip_chars().fill_null(""))
            pos = m.end()
        if pos < len(spec.template):
            parts.append(pl.lit(spec.template[pos:]))
        joined = pl.concat_str(parts).str.replace_all(r"\s+", " ").str.strip_chars()
        current = Compiled(_blank_to_null(joined))
    elif spec.hash is not None:
        joined = pl.concat_str(
            [pl.col(c).cast(pl.String).fill_null("") for c in spec.hash], separator="\x1f"
        )
        current = Compiled(_sha1_id(joined))
    elif spec.cases is not None:
        expr: pl.Expr = pl.lit(None if spec.default is None else str(spec.default), pl.String)
        for case in reversed(spec.cases):
            cond = pl.lit(True)
            for col, want in case.when.items():
                cond = cond & _matches(col, want)
            expr = pl.when(cond).then(pl.lit(str(case.value))).otherwise(expr)
        current = Compiled(expr)
    else:
        current = Compiled(pl.lit(None if spec.const is None else str(spec.const), pl.String))
        if isinstance(spec.const, bool):
            current = Compiled(pl.lit(str(spec.const).lower()))
    for item in spec.transforms:
        tname, arg = _transform_parts(item)
        current = _TRANSFORMS[tname](current, arg, name, ctx)
    if spec.default is not None and spec.cases is None and current.kind == "str":
        current.expr = current.expr.fill_null(pl.lit(str(spec.default)))
    if spec.otherwise is not None:
        alt = compile_value(spec.otherwise, ctx)
        if alt.kind != current.kind:
            raise ConfigFileInvalid(
                "mapping", name, f"otherwise: gives a {alt.kind}, the value is a {current.kind}"
            )
        first_empty = current.expr.is_null()
        current = Compiled(
            pl.coalesce([current.expr, alt.expr]),
            current.kind,
            [
                *current.problems,
                *(Problem(p.field, p.reason, p.bad & first_empty) for p in alt.problems),
            ],
        )
    return current


def cast_to_field(value: Compiled, spec: FieldSpec, name: str, ctx: CompileContext) -> Compiled:
    """Turn a compiled text value into the property's type, with a problem per bad value."""
    raw = value.expr
    kind = spec.kind
    if kind == "str":
        if value.kind == "list":
            return Compiled(raw.list.join(", "), "str", value.problems)
        return Compiled(raw.cast(pl.String), "str", value.problems)
    if kind == "list_str":
        if value.kind == "list":
            return Compiled(raw, "list", value.problems)
        return Compiled(
            pl.when(raw.is_null())
            .then(pl.lit([], pl.List(pl.String)))
            .otherwise(pl.concat_list([raw.cast(pl.String)])),
            "list",
            value.problems,
        )
    if kind == "datetime":
        if value.kind != "datetime":
            value = _to_datetime(value, None, name, ctx)
        return value
    if kind == "date":
        if value.kind == "datetime":
            return Compiled(raw.dt.date(), "date", value.problems)
        if value.kind != "date":
            value = _to_date(value, None, name, ctx)
        return value
    problems = list(value.problems)
    text = raw.cast(pl.String)
    if kind == "int":
        number = text.cast(pl.Float64, strict=False)
        typed = pl.when(number == number.floor()).then(number).cast(pl.Int64, strict=False)
        problems.append(
            Problem(
                name,
                pl.lit("is not a whole number") + _got(text),
                text.is_not_null() & typed.is_null(),
            )
        )
        return Compiled(typed, "str", problems)
    if kind == "float":
        typed = text.cast(pl.Float64, strict=False)
        problems.append(
            Problem(
                name, pl.lit("is not a number") + _got(text), text.is_not_null() & typed.is_null()
            )
        )
        return Compiled(typed, "str", problems)
    # bool
    low = text.str.to_lowercase()
    typed = (
        pl.when(low.is_in(["true", "t", "yes", "y", "1"]))
        .then(pl.lit(True))
        .when(low.is_in(["false", "f", "no", "n", "0"]))
        .then(pl.lit(False))
        .otherwise(pl.lit(None, pl.Boolean))
    )
    problems.append(
        Problem(
            name, pl.lit("is not true/false") + _got(text), text.is_not_null() & typed.is_null()
        )
    )
    return Compiled(typed, "str", problems)


def _blank_to_null(expr: pl.Expr) -> pl.Expr:
    # One reference to ``expr``: a when/then would repeat it, and transforms nest.
    return expr.replace("", None)


def _matches(col: str, want: Any) -> pl.Expr:
    text = pl.col(col).cast(pl.String).str.strip_chars().str.to_lowercase()
    if want is None:
        return text.is_null() | (text == "")
    values = want if isinstance(want, list) else [want]
    return text.is_in([str(v).lower() for v in values]).fill_null(False)


def _sha1_id(text: pl.Expr) -> pl.Expr:
    """The first 20 hex digits of the SHA-1 of the UTF-8 text: the same ids as
    ``hashlib.sha1(text.encode()).hexdigest()[:20]``, computed in polars (a plugin),
    stable across polars versions unlike polars' own hash."""
    return NonCryptographicHashingNameSpace(text).sha1().str.slice(0, 20)


# ------------------------------------------------------------------ transforms

TransformFn = Callable[[Compiled, Any, str, CompileContext], Compiled]


def _text(fn: Callable[[pl.Expr], pl.Expr]) -> TransformFn:
    def apply(value: Compiled, _arg: Any, _name: str, _ctx: CompileContext) -> Compiled:
        return Compiled(_blank_to_null(fn(value.expr.cast(pl.String))), value.kind, value.problems)

    return apply


def _email(value: Compiled, _arg: Any, name: str, _ctx: CompileContext) -> Compiled:
    raw = value.expr.cast(pl.String)
    key = email_key(raw)
    problems = [
        *value.problems,
        Problem(
            name, pl.lit("is not an email address") + _got(raw), raw.is_not_null() & key.is_null()
        ),
    ]
    return Compiled(key, "str", problems)


def _replace_distinct(
    value: Compiled, ctx: CompileContext, fn: Callable[[list[str]], dict[str, str | None]]
) -> pl.Expr:
    """Map each distinct value once (``fn`` sees each value once) and join the answers
    back as a new column of ``ctx.frame``: a join, because ``replace_strict`` with a
    data-sized table (100k+ keys) is orders of magnitude slower."""
    source = f"__m{len(ctx.frame.columns)}_in"
    target = f"__m{len(ctx.frame.columns)}"
    values = ctx.frame.select(value.expr.cast(pl.String).alias(source))
    mapping = fn(values.get_column(source).drop_nulls().unique().to_list())
    table = pl.DataFrame(
        {source: list(mapping), target: list(mapping.values())},
        schema={source: pl.String, target: pl.String},
    )
    # Only the one column is joined: a join gathers every column of its left side.
    mapped = values.join(table, on=source, how="left", maintain_order="left")
    ctx.frame = ctx.frame.with_columns(mapped.get_column(target))
    return pl.col(target)


def _domain(value: Compiled, _arg: Any, _name: str, ctx: CompileContext) -> Compiled:
    def lookup(values: list[str]) -> dict[str, str | None]:
        domains = domain_of(pl.Series("v", values, dtype=pl.String)).to_list()
        return dict(zip(values, domains, strict=True))

    # Lower-cased first (as host_of would), so case variants are looked up once.
    lowered = Compiled(value.expr.cast(pl.String).str.to_lowercase(), value.kind)
    return Compiled(_replace_distinct(lowered, ctx, lookup), "str", value.problems)


def _slug(expr: pl.Expr) -> pl.Expr:
    return expr.str.to_lowercase().str.replace_all(r"[^\p{L}\p{N}]+", "-").str.strip_chars("-")


_SENIORITY_RULES = (
    (
        "executive",
        r"\b(chief|ceo|cto|cfo|coo|cio|cmo|cro|ciso|cdo|founder|co-founder|president|owner|partner)\b",
    ),
    ("vp", r"\b(vp|svp|evp|avp|vice president)\b"),
    ("director", r"\b(director|head of|head)\b"),
    ("manager", r"\b(manager|lead|supervisor|principal)\b"),
)


def _seniority(value: Compiled, _arg: Any, _name: str, _ctx: CompileContext) -> Compiled:
    title = value.expr.cast(pl.String).str.to_lowercase()
    expr: pl.Expr = (
        pl.when(title.is_not_null()).then(pl.lit("individual")).otherwise(pl.lit(None, pl.String))
    )
    for level, pattern in reversed(_SENIORITY_RULES):
        expr = pl.when(title.str.contains(pattern)).then(pl.lit(level)).otherwise(expr)
    return Compiled(expr, "str", value.problems)


def _number(value: Compiled, _arg: Any, _name: str, _ctx: CompileContext) -> Compiled:
    cleaned = value.expr.cast(pl.String).str.replace_all(r"[\s,$€£¥]", "")
    return Compiled(_blank_to_null(cleaned), "str", value.problems)


def _map(value: Compiled, arg: Any, name: str, _ctx: CompileContext) -> Compiled:
    table: dict[str, Any] = (
        arg["values"] if "values" in arg else {k: v for k, v in arg.items() if k != "other"}
    )
    other = arg.get("other", "keep")
    low = value.expr.cast(pl.String).str.to_lowercase()
    keys = [str(k).lower() for k in table]
    vals = [None if v is None else str(v) for v in table.values()]
    problems = list(value.problems)
    # Values not in the table take the default (an expression, so ``low`` is used once).
    default: pl.Expr = pl.lit(None, pl.String)
    if other == "keep":
        default = value.expr.cast(pl.String)
    elif other == "reject":
        problems.append(
            Problem(
                name,
                pl.lit("is not one of " + ", ".join(map(str, table))) + _got(value.expr),
                value.expr.is_not_null() & ~low.is_in(keys).fill_null(False),
            )
        )
    elif other != "null":
        default = pl.lit(str(other))
    expr = low.replace_strict(keys, vals, default=default, return_dtype=pl.String)
    return Compiled(expr, "str", problems)


def _split(value: Compiled, arg: Any, _name: str, _ctx: CompileContext) -> Compiled:
    sep = str(arg)
    parts = (
        value.expr.cast(pl.String)
        .str.split(sep)
        .list.eval(
            pl.element()
            .str.strip_chars()
            .filter(pl.element().str.strip_chars().str.len_chars() > 0)
        )
    )
    return Compiled(
        pl.when(value.expr.is_null()).then(pl.lit([], pl.List(pl.String))).otherwise(parts),
        "list",
        value.problems,
    )


def _formats(arg: Any) -> list[str]:
    if arg is None:
        return []
    return [arg] if isinstance(arg, str) else [str(a) for a in arg]


_ISO_AWARE = ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z"]
_ISO_NAIVE = [
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
]


def _to_datetime(value: Compiled, arg: Any, name: str, ctx: CompileContext) -> Compiled:
    raw = value.expr.cast(pl.String)
    text = raw.str.replace(r"(?i)z$", "+00:00")
    options: dict[str, Any] = arg if isinstance(arg, dict) else {"formats": arg}
    tz = options.get("timezone") or ctx.timezone
    custom = _formats(options.get("formats"))
    attempts: list[pl.Expr] = []
    for fmt in custom or _ISO_AWARE:
        if "%z" in fmt or "%:z" in fmt:
            attempts.append(
                text.str.to_datetime(fmt, time_zone="UTC", strict=False).cast(UTC_DATETIME)
            )
        elif tz:
            attempts.append(_naive(text, fmt, tz))
    if not custom and tz:
        attempts.extend(_naive(text, fmt, tz) for fmt in _ISO_NAIVE)
    typed = pl.coalesce(attempts) if attempts else pl.lit(None, UTC_DATETIME)
    hint = "is not a datetime with a time zone" if not tz else "is not a datetime"
    if custom:
        hint += " in format " + " or ".join(custom)
    problems = [
        *value.problems,
        Problem(name, pl.lit(hint) + _got(raw), raw.is_not_null() & typed.is_null()),
    ]
    return Compiled(typed, "datetime", problems)


def _naive(text: pl.Expr, fmt: str, tz: str) -> pl.Expr:
    parsed = text.str.to_datetime(fmt, strict=False, time_unit="us")
    return (
        parsed.dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null")
        .dt.convert_time_zone("UTC")
        .cast(UTC_DATETIME)
    )


def _to_date(value: Compiled, arg: Any, name: str, _ctx: CompileContext) -> Compiled:
    raw = value.expr.cast(pl.String)
    formats = _formats(arg.get("formats") if isinstance(arg, dict) else arg) or ["%Y-%m-%d"]
    attempts = [raw.str.to_date(fmt, strict=False) for fmt in formats]
    if "%Y-%m-%d" in formats:
        # An ISO timestamp in a date column: its date part.
        attempts.append(raw.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False))
    typed = pl.coalesce(attempts)
    problems = [
        *value.problems,
        Problem(
            name,
            pl.lit("is not a date in format " + " or ".join(formats)) + _got(raw),
            raw.is_not_null() & typed.is_null(),
        ),
    ]
    return Compiled(typed, "date", problems)


def _replace(value: Compiled, arg: Any, _name: str, _ctx: CompileContext) -> Compiled:
    expr = value.expr.cast(pl.String)
    for old, new in dict(arg).items():
        expr = expr.str.replace_all(str(old), "" if new is None else str(new), literal=True)
    return Compiled(_blank_to_null(expr), value.kind, value.problems)


def _prefix(value: Compiled, arg: Any, _name: str, _ctx: CompileContext) -> Compiled:
    return Compiled(
        pl.concat_str([pl.lit(str(arg)), value.expr.cast(pl.String)]), value.kind, value.problems
    )


def _lookup(value: Compiled, arg: Any, name: str, ctx: CompileContext) -> Compiled:
    label, prop = str(arg["label"]), str(arg["field"])
    if ctx.lookup is None:
        raise ConfigFileInvalid("mapping", name, "lookup needs a store")
    lookup = ctx.lookup

    def find(values: list[str]) -> dict[str, str | None]:
        found = lookup(label, prop, values)
        return {v: found.get(v) for v in values}

    keyed = _replace_distinct(value, ctx, find)
    problems = [
        *value.problems,
        Problem(
            name,
            pl.lit(f"matches no {label} by {prop}") + _got(value.expr),
            value.expr.is_not_null() & keyed.is_null(),
        ),
    ]
    return Compiled(keyed, "str", problems)


def _resolve(value: Compiled, arg: Any, name: str, ctx: CompileContext) -> Compiled:
    """Reconcile names against a label's vocabulary (catalog names, names in the graph).

    exact and confident fuzzy matches become the vocabulary entry; near misses
    become null and go to the review list; names with no candidate are new
    entries (``unmatched: new``, the default) or rejected (``unmatched: reject``).
    """
    options = arg if isinstance(arg, dict) else {"label": arg}
    label = str(options["label"])
    output = options.get("output", "key")
    unmatched = options.get("unmatched", "new")
    vocab = ctx.vocabulary(label) if ctx.vocabulary is not None else []
    key_of = {n: k for n, k in vocab}
    distinct = ctx.distinct(value.expr)
    result = reconcile(distinct, [n for n, _ in vocab], ctx.thresholds)
    names: list[str] = []
    keys: list[str | None] = []
    canon: list[str | None] = []
    review_names: list[str] = []
    rejected: list[str] = []
    for row in result.iter_rows(named=True):
        names.append(row["name"])
        if row["resolution"] in ("exact", "merged"):
            canon.append(row["canonical"])
            keys.append(key_of[row["canonical"]])
        elif row["resolution"] == "review":
            canon.append(None)
            keys.append(None)
            review_names.append(row["name"])
            ctx.review.append(
                (
                    value.expr == row["name"],
                    ReviewItem(name, row["name"], row["candidate"], row["score"], label),
                )
            )
        elif unmatched == "reject":
            canon.append(None)
            keys.append(None)
            rejected.append(row["name"])
        else:
            canon.append(row["name"])
            slug = pl.select(_slug(pl.lit(row["name"]))).item()
            keys.append(slug or None)
    out = keys if output == "key" else canon
    expr = value.expr.replace_strict(names, out, default=None, return_dtype=pl.String)
    problems = list(value.problems)
    if review_names and unmatched == "reject":
        # Where a value must resolve, a near miss is not guessed: the row waits for a person.
        best = {r["name"]: (r["candidate"], r["score"]) for r in result.iter_rows(named=True)}
        for review_name in review_names:
            candidate, score = best[review_name]
            problems.append(
                Problem(
                    name,
                    pl.lit(
                        f"is not certainly a known {label}: could be {candidate!r} "
                        f"(score {score:.0f}), listed for review"
                    )
                    + _got(value.expr),
                    value.expr == review_name,
                )
            )
    if rejected:
        problems.append(
            Problem(
                name,
                pl.lit(f"is not a known {label}") + _got(value.expr),
                value.expr.is_in(rejected),
            )
        )
    return Compiled(expr, "str", problems)


_TRANSFORMS: dict[str, TransformFn] = {
    "trim": _text(lambda e: e.str.strip_chars()),
    "lower": _text(lambda e: e.str.to_lowercase()),
    "upper": _text(lambda e: e.str.to_uppercase()),
    "title": _text(lambda e: e.str.to_titlecase()),
    "squash": _text(lambda e: e.str.replace_all(r"\s+", " ").str.strip_chars()),
    "company_key": _text(company_key),
    "compact": _text(compact_key),
    "slug": _text(_slug),
    "email": _email,
    "domain": _domain,
    "seniority": _seniority,
    "number": _number,
    "map": _map,
    "split": _split,
    "date": _to_date,
    "datetime": _to_datetime,
    "prefix": _prefix,
    "replace": _replace,
    "lookup": _lookup,
    "resolve": _resolve,
}


def _needs_mapping(arg: Any) -> str | None:
    if not isinstance(arg, dict) or not arg:
        return "needs a table of values, e.g. {Customer: customer, other: keep}"
    other = arg.get("other", "keep")
    if not isinstance(other, str):
        return "other: must be keep, null, reject or a value"
    return None


def _needs_keys(*keys: str) -> Callable[[Any], str | None]:
    def check(arg: Any) -> str | None:
        if not isinstance(arg, dict) or any(k not in arg for k in keys):
            return "needs " + ", ".join(keys)
        label = arg.get("label")
        if label is not None and label not in REGISTRY.nodes:
            return f"unknown label {label!r}"
        if (
            "field" in arg
            and label in REGISTRY.nodes
            and arg["field"] not in REGISTRY.node(label).fields
        ):
            return f"{label} has no property {arg['field']!r}"
        return None

    return check


def _needs_resolve(arg: Any) -> str | None:
    label = arg.get("label") if isinstance(arg, dict) else arg
    if label not in REGISTRY.nodes:
        return f"needs a known label (got {label!r})"
    if isinstance(arg, dict):
        if arg.get("output", "key") not in ("key", "name"):
            return "output: must be key or name"
        if arg.get("unmatched", "new") not in ("new", "reject"):
            return "unmatched: must be new or reject"
    return None


_ARG_CHECKS: dict[str, Callable[[Any], str | None]] = {
    "map": _needs_mapping,
    "split": lambda a: None if isinstance(a, str) and a else "needs a separator",
    "prefix": lambda a: None if isinstance(a, str) else "needs text",
    "replace": lambda a: None if isinstance(a, dict) and a else "needs {old: new, ...}",
    "lookup": _needs_keys("label", "field"),
    "resolve": _needs_resolve,
}


__all__ = [
    "BUILTIN_DIR",
    "CompileContext",
    "Compiled",
    "EdgeRule",
    "NodeRule",
    "Problem",
    "ReviewItem",
    "SourceMapping",
    "ValueSpec",
    "builtin_mapping",
    "builtin_names",
    "cast_to_field",
    "compile_value",
    "load_mapping",
    "parse_mapping",
]
