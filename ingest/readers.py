"""Read source files into all-text polars frames, numbering rows as a person would.

Every value starts as text (types come from the mapping, so a bad value becomes a
quarantined row rather than a failed read). ``__row`` is the 1-based data row in
its file (the header is not a row); ``__file`` is the file's path as configured.
A JSONL line that is not JSON becomes a bad row, not a failed file.
"""

from __future__ import annotations

import glob
import json
from collections.abc import Sequence
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
    paths: list[Path],
    fmt: str | None,
    shown: dict[Path, str] | None = None,
    columns: Sequence[str] | None = None,
) -> tuple[pl.DataFrame, list[BadRow]]:
    """Read every file into one frame; ``columns`` limits the keys read from JSONL."""
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
            frame, rows = _read_jsonl(path, name, columns)
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


def _read_jsonl(
    path: Path, name: str, columns: Sequence[str] | None
) -> tuple[pl.DataFrame, list[BadRow]]:
    """Rows are lines, numbered as in the file (blank lines are skipped, not renumbered).

    ``columns`` are the keys to read (the mapping's); other keys are not read. Without
    them the keys are found in the file. polars streams the lines and decodes them
    with every value as text; a line that cannot be a JSON object (cut off, not
    braced) is set aside unparsed. If polars refuses a line (a nested value, a broken
    line) the file is decoded again in chunks of 200k and only a refused chunk is read
    line by line in Python; a file that is not UTF-8 is read line by line, lossily.
    """
    lines = (
        pl.scan_lines(path, name="line", row_index_name=ROW, row_index_offset=1)
        .with_columns(pl.col("line").str.strip_chars())
        .filter(pl.col("line").str.len_bytes() > 0)
    )
    braced = pl.col("line").str.starts_with("{") & pl.col("line").str.ends_with("}")
    try:
        unbraced = lines.filter(~braced).collect(engine="streaming")
    except pl.exceptions.ComputeError:  # not UTF-8
        return _read_jsonl_lines(path, name, columns)
    bad = [_bad_line(name, row, line) for row, line in unbraced.iter_rows()]
    good = lines.filter(braced)
    keys = list(columns) if columns is not None else _keys_in(good)
    decode = pl.col("line").str.json_decode(pl.Struct({k: pl.String for k in keys}))
    try:
        frame = good.select(ROW, decode).unnest("line").collect(engine="streaming")
    except pl.exceptions.PolarsError:
        frames: list[pl.DataFrame] = []
        for chunk in good.collect(engine="streaming").iter_slices(_JSONL_CHUNK):
            try:
                frames.append(chunk.select(ROW, decode).unnest("line"))
            except pl.exceptions.PolarsError:
                pairs = [(row, line.encode()) for row, line in chunk.iter_rows()]
                part, rows = _parse_lines(pairs, name, keys)
                frames.append(part.select(ROW, *keys))
                bad.extend(rows)
        frame = pl.concat(frames)
        bad.sort(key=lambda b: b.row)
    if not frame.get_column(ROW).is_sorted():
        frame = frame.sort(ROW)
    return frame.rechunk(), bad  # streaming leaves ~1k chunks; later joins prefer one


def _keys_in(lines: pl.LazyFrame) -> list[str]:
    """Every object key that appears in the lines (a key-shaped string before a colon;
    a false find inside a text value only adds an empty column)."""
    found = (
        lines.select(pl.col("line").str.extract_all(r'"((?:[^"\\]|\\.)*)"\s*:').alias("k"))
        .explode("k")
        .unique()
        .collect(engine="streaming")
    )
    keys: set[str] = set()
    for found_key in found.get_column("k").drop_nulls().to_list():
        try:
            keys.add(json.loads(found_key[: found_key.rindex(":")].strip()))
        except json.JSONDecodeError:
            continue
    return sorted(keys)


def _bad_line(name: str, row: int, line: str) -> BadRow:
    try:
        value = json.loads(line)
    except json.JSONDecodeError as exc:
        return BadRow(name, row, f"is not valid JSON ({exc.msg})", line[:500])
    kind = "an array" if isinstance(value, list) else f"a {type(value).__name__}"
    return BadRow(name, row, f"is not a JSON object (it is {kind})", line[:500])


def _parse_lines(
    pairs: list[tuple[int, bytes]], name: str, keys: list[str] | None
) -> tuple[pl.DataFrame, list[BadRow]]:
    """The slow, exact path: each line through ``json`` (nested values kept as JSON text)."""
    records: list[dict[str, str | None]] = []
    rows: list[int] = []
    bad: list[BadRow] = []
    for row, raw in pairs:
        text = raw.decode("utf-8", errors="replace").strip()
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            bad.append(_bad_line(name, row, text))
            continue
        if not isinstance(value, dict):
            bad.append(_bad_line(name, row, text))
            continue
        records.append({k: _text(value.get(k)) for k in (keys if keys is not None else value)})
        rows.append(row)
    names = keys if keys is not None else list(dict.fromkeys(k for r in records for k in r))
    frame = pl.DataFrame(records, schema={k: pl.String for k in names})
    return frame.with_columns(pl.Series(ROW, rows, dtype=pl.UInt32)), bad


def _read_jsonl_lines(
    path: Path, name: str, columns: Sequence[str] | None
) -> tuple[pl.DataFrame, list[BadRow]]:
    with path.open("rb") as handle:
        pairs = [(n, raw.strip()) for n, raw in enumerate(handle, start=1) if raw.strip()]
    frame, bad = _parse_lines(pairs, name, list(columns) if columns is not None else None)
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
