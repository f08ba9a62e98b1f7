"""Read source files into all-text polars frames, numbering rows as a person would.

Every value starts as text (types come from the mapping, so a bad value becomes a
quarantined row rather than a failed read). ``__row`` is the 1-based data row in
its file (the header is not a row); ``__file`` is the file's path as configured.
A JSONL line that is not JSON becomes a bad row, not a failed file.
"""

from __future__ import annotations

import glob
import io
import json
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from graph_model.errors import IngestFailed

ROW = "__row"
FILE = "__file"
_JSONL_CHUNK = 200_000


@dataclass(frozen=True)
class BadRow:
    file: str
    row: int
    reason: str
    record: str


def expand(pattern: Path) -> list[Path]:
    if any(ch in str(pattern) for ch in "*?["):
        return [Path(p) for p in sorted(glob.glob(str(pattern)))]
    return [pattern]


def format_of(path: Path, declared: str | None) -> str:
    if declared:
        return declared
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix == ".parquet":
        return "parquet"
    return "csv"


def read_files(
    paths: list[Path], fmt: str | None, shown: dict[Path, str] | None = None
) -> tuple[pl.DataFrame, list[BadRow]]:
    frames: list[pl.DataFrame] = []
    bad: list[BadRow] = []
    for path in paths:
        name = (shown or {}).get(path, str(path))
        if not path.is_file():
            raise IngestFailed(f"{name}: file not found")
        kind = format_of(path, fmt)
        if kind == "csv":
            frame = _read_csv(path, name)
        elif kind == "jsonl":
            frame, rows = _read_jsonl(path, name)
            bad.extend(rows)
        else:
            frame = _read_parquet(path, name)
        frames.append(frame.with_columns(pl.lit(name).alias(FILE)))
    if not frames:
        return pl.DataFrame(schema={ROW: pl.UInt32, FILE: pl.String}), bad
    return pl.concat(frames, how="diagonal_relaxed"), bad


def _read_csv(path: Path, name: str) -> pl.DataFrame:
    try:
        frame = pl.read_csv(
            path,
            infer_schema=False,
            encoding="utf8-lossy",
            raise_if_empty=False,
        )
    except pl.exceptions.PolarsError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise IngestFailed(f"{name}: not a readable CSV file: {first}") from None
    frame = frame.rename({c: c.lstrip("\ufeff").strip() for c in frame.columns})
    return frame.with_row_index(ROW, offset=1)


def _read_parquet(path: Path, name: str) -> pl.DataFrame:
    try:
        frame = pl.read_parquet(path)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise IngestFailed(f"{name}: not a readable Parquet file: {exc}") from None
    return _all_text(frame).with_row_index(ROW, offset=1)


def _read_jsonl(path: Path, name: str) -> tuple[pl.DataFrame, list[BadRow]]:
    """Lines in chunks: polars parses each chunk; only a chunk that polars refuses is
    checked line by line. Lines that cannot be a JSON object (cut off, not braced)
    are set aside without parsing. Rows are numbered by non-blank lines."""
    frames: list[pl.DataFrame] = []
    bad: list[BadRow] = []
    lines: list[bytes] = []
    numbers: list[int] = []
    number = 0

    def reject(line: bytes, row: int) -> None:
        text = line.decode("utf-8", errors="replace").strip()
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            bad.append(BadRow(name, row, f"is not valid JSON ({exc.msg})", text[:500]))
            return
        if not isinstance(value, dict):
            bad.append(BadRow(name, row, "is not a JSON object", text[:500]))

    def parse(chunk: list[bytes]) -> pl.DataFrame:
        return pl.read_ndjson(io.BytesIO(b"\n".join(chunk)), infer_schema_length=None)

    def flush() -> None:
        if not lines:
            return
        try:
            frame = parse(lines)
            rows = numbers
        except pl.exceptions.PolarsError:
            good: list[bytes] = []
            rows = []
            for line, row in zip(lines, numbers, strict=True):
                try:
                    ok = isinstance(json.loads(line), dict)
                except json.JSONDecodeError:
                    ok = False
                if ok:
                    good.append(line)
                    rows.append(row)
                else:
                    reject(line, row)
            frame = parse(good) if good else pl.DataFrame()
        if frame.height:
            frames.append(_all_text(frame).with_columns(pl.Series(ROW, rows, dtype=pl.UInt32)))
        lines.clear()
        numbers.clear()

    with path.open("rb") as handle:
        for raw in handle:
            line = raw.strip()
            if not line:
                continue
            number += 1
            if not (line.startswith(b"{") and line.endswith(b"}")):
                reject(line, number)
                continue
            lines.append(line)
            numbers.append(number)
            if len(lines) >= _JSONL_CHUNK:
                flush()
    flush()
    if not frames:
        return pl.DataFrame({ROW: pl.Series([], dtype=pl.UInt32)}), bad
    frame = pl.concat(frames, how="diagonal_relaxed")
    return frame.select(ROW, pl.exclude(ROW)), bad


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(value, ensure_ascii=False)


def _all_text(frame: pl.DataFrame) -> pl.DataFrame:
    exprs: list[pl.Expr] = []
    for name, dtype in frame.schema.items():
        col = pl.col(name)
        if name == ROW or dtype == pl.String():
            exprs.append(col)
        elif dtype == pl.Boolean():
            exprs.append(
                pl.when(col).then(pl.lit("true")).when(~col).then(pl.lit("false")).alias(name)
            )
        elif isinstance(dtype, (pl.Struct, pl.List, pl.Array)):
            exprs.append(
                col.map_elements(
                    lambda v: json.dumps(v, ensure_ascii=False, default=str),
                    return_dtype=pl.String,
                ).alias(name)
            )
        elif isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
            exprs.append(col.dt.to_string("%Y-%m-%dT%H:%M:%S%.f%:z").alias(name))
        else:
            exprs.append(col.cast(pl.String).alias(name))
    return frame.select(exprs)
