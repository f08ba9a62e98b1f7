"""Records in, typed polars frames out, or a ``RecordRejected`` that names the field.

Two ways in, one shape out:

- records (mappings or model instances) are validated row by row by the
  label's pydantic model (pydantic's lax mode: ``"5"`` is accepted for an int);
- polars frames are checked in bulk: columns must already carry the model's
  types (``Int64``, ``String``, time-zone-aware ``Datetime``...), then required,
  enum and range rules are checked as expressions.

Both return a frame with exactly the spec's columns in registry order, datetimes
in UTC, rows deduplicated on identity (the last one wins, as sequential MERGEs
would).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import polars as pl
from pydantic import BaseModel, ValidationError

from graph_model.errors import RecordRejected
from graph_model.schema import (
    EDGE_ENDPOINT_COLUMNS,
    UTC_DATETIME,
    EdgeSpec,
    FieldSpec,
    NodeSpec,
)

Records = pl.DataFrame | Iterable[Mapping[str, Any] | BaseModel]

_MAX_KEY_LENGTH = 1024


def validate_nodes(spec: NodeSpec, records: Records, *, source: str | None = None) -> pl.DataFrame:
    if isinstance(records, pl.DataFrame):
        frame = _check_frame(spec.label, spec.key, spec.fields, records, source, reserved=())
    else:
        frame = _frame_from_records(
            spec.label, spec.key, spec.model, spec.fields, records, source, reserved=()
        )
    return frame.unique(subset=list(spec.identity), keep="last", maintain_order=True)


def validate_edges(spec: EdgeSpec, records: Records, *, source: str | None = None) -> pl.DataFrame:
    if isinstance(records, pl.DataFrame):
        frame = _check_frame(
            spec.type, "src", spec.fields, records, source, reserved=EDGE_ENDPOINT_COLUMNS
        )
    else:
        frame = _frame_from_records(
            spec.type,
            "src",
            spec.model,
            spec.fields,
            records,
            source,
            reserved=EDGE_ENDPOINT_COLUMNS,
        )
    frame = _check_endpoints(spec, frame, source)
    return frame.unique(subset=list(spec.identity), keep="last", maintain_order=True)


def empty_frame(schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
    return pl.DataFrame(schema=dict(schema))


# ------------------------------------------------------------------ records


def _frame_from_records(
    name: str,
    key_field: str,
    model: type[BaseModel],
    fields: Mapping[str, FieldSpec],
    records: Iterable[Mapping[str, Any] | BaseModel],
    source: str | None,
    *,
    reserved: tuple[str, ...],
) -> pl.DataFrame:
    rows: list[dict[str, Any]] = []
    for i, record in enumerate(records):
        if isinstance(record, model):
            instance = record
        elif isinstance(record, BaseModel):
            raise RecordRejected(
                label=name,
                key=None,
                field="*",
                reason=f"is a {type(record).__name__}, expected {model.__name__}",
                row=i,
                source=source,
            )
        else:
            try:
                instance = model.model_validate(record)
            except ValidationError as exc:
                raise _rejected(name, record.get(key_field), exc, i, source) from None
        rows.append(instance.model_dump())
    schema: dict[str, pl.DataType] = {c: pl.String() for c in reserved}
    schema.update({n: f.dtype for n, f in fields.items()})
    if not rows:
        return empty_frame(schema)
    return pl.DataFrame(rows, schema=schema).select(list(schema))


def _rejected(
    name: str, key: Any, exc: ValidationError, row: int, source: str | None
) -> RecordRejected:
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or "*"
    kind = err["type"]
    if kind == "missing":
        reason = "is required"
    elif kind == "extra_forbidden":
        reason = f"is not a property of {name}"
    else:
        shown = repr(err.get("input"))
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        reason = f"{err['msg'].lower()} (got {shown})"
    return RecordRejected(
        label=name,
        key=None if key is None else str(key),
        field=field,
        reason=reason,
        row=row,
        source=source,
    )


# ------------------------------------------------------------------ frames


def _check_frame(
    name: str,
    key_field: str,
    fields: Mapping[str, FieldSpec],
    frame: pl.DataFrame,
    source: str | None,
    *,
    reserved: tuple[str, ...],
) -> pl.DataFrame:
    known = set(fields) | set(reserved)
    for column in frame.columns:
        if column not in known:
            raise RecordRejected(
                label=name,
                key=None,
                field=column,
                reason=f"is not a property of {name}",
                source=source,
            )

    def reject(field: str, reason: str, bad: pl.Expr, on: pl.DataFrame = frame) -> None:
        key = (
            pl.col(key_field).cast(pl.String)
            if key_field in on.columns
            else pl.lit(None, pl.String).alias(key_field)
        )
        located = on.with_row_index("__row").filter(bad).select("__row", key).head(1)
        row, key = located.row(0) if located.height else (None, None)
        raise RecordRejected(
            label=name, key=key, field=field, reason=reason, row=row, source=source
        )

    columns: list[pl.Expr] = []
    for column in reserved:
        if column in frame.columns:
            if frame.schema[column] not in (pl.String(), pl.Null()):
                raise RecordRejected(
                    label=name,
                    key=None,
                    field=column,
                    reason=f"must be text, the column is {frame.schema[column]}",
                    source=source,
                )
            columns.append(pl.col(column).cast(pl.String))
        else:
            columns.append(pl.lit(None, pl.String).alias(column))
    for field_name, spec in fields.items():
        if field_name not in frame.columns:
            if spec.required:
                reject(field_name, "is required but the column is missing", pl.lit(True))
            columns.append(default_literal(spec).alias(field_name))
            continue
        columns.append(_cast(name, spec, frame.schema[field_name], source).alias(field_name))
    typed = frame.select(columns)

    checks = _row_checks(fields, ("src", "dst") if reserved else (key_field,))
    if checks and typed.height:
        failed = typed.select(
            [bad.fill_null(False).any().alias(str(i)) for i, (_, _, bad) in enumerate(checks)]
        ).row(0)
        for hit, (field_name, reason, bad) in zip(failed, checks, strict=True):
            if hit:
                reject(field_name, reason, bad.fill_null(False), on=typed)
    return typed


def _row_checks(
    fields: Mapping[str, FieldSpec], key_columns: tuple[str, ...]
) -> list[tuple[str, str, pl.Expr]]:
    """(field, reason, bad-row expression) for every rule a typed frame must satisfy."""
    checks: list[tuple[str, str, pl.Expr]] = []
    for column in key_columns:
        col = pl.col(column)
        checks.append((column, "is required", col.is_null()))
        checks.append((column, "must not be empty", col.str.len_chars() == 0))
        checks.append(
            (
                column,
                f"must be at most {_MAX_KEY_LENGTH} characters",
                col.str.len_chars() > _MAX_KEY_LENGTH,
            )
        )
    for field_name, spec in fields.items():
        col = pl.col(field_name)
        if spec.required:
            checks.append((field_name, "is required", col.is_null()))
        if spec.enum is not None:
            checks.append(
                (
                    field_name,
                    f"must be one of {', '.join(spec.enum)}",
                    col.is_not_null() & ~col.is_in(list(spec.enum)),
                )
            )
        if spec.ge is not None:
            checks.append((field_name, f"must be >= {spec.ge:g}", col < spec.ge))
        if spec.le is not None:
            checks.append((field_name, f"must be <= {spec.le:g}", col > spec.le))
    return checks


ROW_PROBLEM_SCHEMA = {"__row": pl.UInt32, "field": pl.String, "reason": pl.String}


def row_problems(
    spec: NodeSpec | EdgeSpec, typed: pl.DataFrame, row: str = "__row"
) -> pl.DataFrame:
    """Every row of an already-typed frame that breaks a rule, with its first problem.

    ``typed`` has the spec's columns with the spec's dtypes (what ingest builds) and a
    ``row`` column; the result has one row per bad row: ``__row``, ``field``, ``reason``.
    This is the bulk, non-raising form of the checks ``validate_nodes`` applies.
    """
    key_columns = ("src", "dst") if isinstance(spec, EdgeSpec) else (spec.key,)
    checks = [
        (f, r, e)
        for f, r, e in _row_checks(spec.fields, key_columns)
        if all(c in typed.columns for c in e.meta.root_names())
    ]
    if not checks or not typed.height:
        return pl.DataFrame(schema=ROW_PROBLEM_SCHEMA)
    # The bad rows first (one pass of masks), then their first problem's words.
    bad_rows = typed.filter(pl.any_horizontal([bad.fill_null(False) for _f, _r, bad in checks]))
    if not bad_rows.height:
        return pl.DataFrame(schema=ROW_PROBLEM_SCHEMA)
    field_expr = pl.lit(None, pl.String)
    reason_expr = pl.lit(None, pl.String)
    for field_name, reason, bad in reversed(checks):
        hit = bad.fill_null(False)
        field_expr = pl.when(hit).then(pl.lit(field_name)).otherwise(field_expr)
        reason_expr = pl.when(hit).then(pl.lit(reason)).otherwise(reason_expr)
    return bad_rows.select(
        pl.col(row).cast(pl.UInt32).alias("__row"),
        field_expr.alias("field"),
        reason_expr.alias("reason"),
    )


def default_literal(spec: FieldSpec) -> pl.Expr:
    if spec.kind == "list_str":
        return pl.lit([] if spec.default is None else list(spec.default), dtype=spec.dtype)
    return pl.lit(spec.default, dtype=spec.dtype)


_NUMERIC = (
    pl.Int8,
    pl.Int16,
    pl.Int32,
    pl.Int64,
    pl.UInt8,
    pl.UInt16,
    pl.UInt32,
    pl.UInt64,
)


def _cast(name: str, spec: FieldSpec, dtype: pl.DataType, source: str | None) -> pl.Expr:
    col = pl.col(spec.name)
    if dtype == pl.Null():
        return col.cast(spec.dtype)

    def wrong(expected: str) -> RecordRejected:
        return RecordRejected(
            label=name,
            key=None,
            field=spec.name,
            reason=f"must be {expected}, the column is {dtype}",
            source=source,
        )

    if spec.kind == "datetime":
        if not isinstance(dtype, pl.Datetime):
            raise wrong("a time-zone-aware datetime")
        if dtype.time_zone is None:
            raise wrong("a time-zone-aware datetime (naive datetimes are ambiguous)")
        return col.dt.convert_time_zone("UTC").cast(UTC_DATETIME)
    if spec.kind == "date":
        if dtype != pl.Date():
            raise wrong("a date")
        return col
    if spec.kind == "str":
        if dtype not in (pl.String(), pl.Categorical()) and not isinstance(dtype, pl.Enum):
            raise wrong("text")
        text = col.cast(pl.String)
        text = text.str.strip_chars() if spec.strip else text
        return text.str.to_lowercase() if spec.lower_case else text
    if spec.kind == "int":
        if not isinstance(dtype, _NUMERIC):
            raise wrong("an integer")
        return col.cast(pl.Int64)
    if spec.kind == "float":
        if not (isinstance(dtype, (*_NUMERIC, pl.Float32, pl.Float64))):
            raise wrong("a number")
        return col.cast(pl.Float64)
    if spec.kind == "bool":
        if dtype != pl.Boolean():
            raise wrong("a boolean")
        return col
    # list_str
    if not (isinstance(dtype, pl.List) and dtype.inner in (pl.String(), pl.Null())):
        raise wrong("a list of text")
    # A list is never null: an absent list is empty (Neo4j's importer cannot tell
    # the two apart, and no reader of the graph needs to).
    return col.cast(spec.dtype).fill_null(pl.lit([], dtype=spec.dtype))


# ------------------------------------------------------------------ endpoints


def _check_endpoints(spec: EdgeSpec, frame: pl.DataFrame, source: str | None) -> pl.DataFrame:
    fills: list[pl.Expr] = []
    for side, labels in (("src_label", spec.src_labels), ("dst_label", spec.dst_labels)):
        if len(labels) == 1:
            fills.append(pl.col(side).fill_null(labels[0]))
        else:
            missing = frame.with_row_index("__row").filter(pl.col(side).is_null()).head(1)
            if missing.height:
                raise RecordRejected(
                    label=spec.type,
                    key=missing["src"][0],
                    field=side,
                    reason=f"is required: {spec.type} allows {', '.join(labels)} on this side",
                    row=missing["__row"][0],
                    source=source,
                )
    if fills:
        frame = frame.with_columns(fills)
    allowed = pl.DataFrame(
        {"src_label": [s for s, _ in spec.endpoints], "dst_label": [d for _, d in spec.endpoints]}
    )
    bad = (
        frame.with_row_index("__row")
        .join(allowed, on=["src_label", "dst_label"], how="anti")
        .head(1)
    )
    if bad.height:
        pairs = ", ".join(f"{s}->{d}" for s, d in spec.endpoints)
        raise RecordRejected(
            label=spec.type,
            key=bad["src"][0],
            field="src_label/dst_label",
            reason=f"{bad['src_label'][0]}->{bad['dst_label'][0]} is not allowed (allowed: "
            f"{pairs})",
            row=bad["__row"][0],
            source=source,
        )
    return frame
