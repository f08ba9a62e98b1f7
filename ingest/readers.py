"""Read source files into all-text polars frames, numbering rows as a person would.

Every value starts as text (types come from the mapping, so a bad value becomes a
quarantined row rather than a failed read). ``__row`` is the 1-based data row in
its file (the header is not a row); ``__file`` is the file's path as configured.
A JSONL line that is not JSON becomes a bad row, not a failed file.

Text is UTF-8 unless the source declares an ``encoding``: polars reads UTF-8 files
directly and refuses invalid bytes; a declared encoding is decoded here, in chunks,
and handed to polars as UTF-8. A file that cannot be read fails with what is wrong
and where (the byte offset and line of a byte that is not UTF-8, the line of a quote
that never closes); that search runs only after polars has refused the file.
"""

from __future__ import annotations

import codecs
import csv
import glob
import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from graph_model.errors import IngestFailed

ROW = "__row"
FILE = "__file"
_JSONL_CHUNK = 200_000
_DECODE_CHUNK = 1 << 20
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_SEPARATORS = {",": "`,`", ";": "`;`", "\t": "tab", "|": "`|`"}


@dataclass(frozen=True)
class BadRow:
    file: str
    row: int
    reason: str
    record: str  # the line, cut to 500 characters for the quarantine file
    content: str = ""  # the whole line (what the quarantine remembers it by)


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
    *,
    encoding: str | None = None,
    delimiter: str | None = None,
) -> tuple[pl.DataFrame, list[BadRow]]:
    """Read every file into one frame; ``columns`` limits the keys read from JSONL.

    ``encoding`` (CSV, JSONL; default UTF-8) is a Python codec name; ``delimiter``
    (CSV; default ``,``) one character. Raises ``IngestFailed`` naming the file and,
    where it can, the line (and byte offset) that stopped the read.
    """
    frames: list[pl.DataFrame] = []
    bad: list[BadRow] = []
    for path in paths:
        name = (shown or {}).get(path, str(path))
        kind = format_of(path, fmt)
        _check_is_a_file(path, name, kind)
        if kind == "csv":
            frame = _read_csv(path, name, encoding, delimiter or ",")
        elif kind == "jsonl":
            frame, rows = _read_jsonl(path, name, columns, encoding)
            bad.extend(rows)
        else:
            frame = _read_parquet(path, name)
        frames.append(frame.with_columns(pl.lit(name).alias(FILE)))
    if not frames:
        return pl.DataFrame(schema={ROW: pl.UInt32, FILE: pl.String}), bad
    return pl.concat(frames, how="diagonal_relaxed"), bad


def delimiter_hint(columns: Sequence[str], delimiter: str | None) -> str | None:
    """A hint when a CSV header came out as one column holding another separator."""
    names = [c for c in columns if c not in (ROW, FILE)]
    if len(names) != 1:
        return None
    for sep, shown in _SEPARATORS.items():
        if sep != (delimiter or ",") and sep in names[0]:
            option = '"\\t"' if sep == "\t" else f"'{sep}'"
            return f"the header looks {shown}-separated: set `delimiter: {option}` on the source"
    return None


def jsonl_keys(path: Path, encoding: str | None, lines: int = 1000) -> list[str]:
    """The keys of the objects on the first ``lines`` non-blank lines of a JSONL file."""
    keys: set[str] = set()
    with path.open(encoding=encoding or "utf-8-sig", errors="replace") as handle:
        seen = 0
        for raw in handle:
            line = raw.strip().lstrip("\ufeff")
            if seen >= lines:
                break
            if not line:
                continue
            seen += 1
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(value, dict):
                keys.update(value)
    return sorted(keys)


def _check_is_a_file(path: Path, name: str, kind: str) -> None:
    if path.is_dir():
        raise IngestFailed(
            f"{name}: is a directory, not a file", hint=f"use a glob like {name}/*.{kind}"
        )
    if not path.is_file():
        raise IngestFailed(f"{name}: file not found")
    # A CSV export always has its header; an empty JSONL file is a feed's quiet hour
    # (the run report warns about a file without rows).
    if path.stat().st_size == 0 and kind != "jsonl":
        raise IngestFailed(f"{name}: file is empty (0 bytes)")


def _read_csv(path: Path, name: str, encoding: str | None, delimiter: str) -> pl.DataFrame:
    source = _as_utf8(path, name, encoding)
    try:
        frame = pl.read_csv(
            source if isinstance(source, Path) else io.BytesIO(source),
            infer_schema=False,
            encoding="utf8",
            separator=delimiter,
            raise_if_empty=False,
        )
    except pl.exceptions.PolarsError as exc:
        raise _csv_failure(path, source, name, encoding, delimiter, exc) from None
    if isinstance(source, Path) and any("\ufffd" in c for c in frame.columns):
        _check_utf8(path, name, encoding)  # polars reads the header lossily
    frame = frame.rename({c: c.lstrip("\ufeff").strip() for c in frame.columns})
    return frame.with_row_index(ROW, offset=1)


# ------------------------------------------------------------------ encodings


def _is_utf8(encoding: str | None) -> bool:
    return encoding is None or codecs.lookup(encoding).name in ("utf-8", "utf-8-sig")


def _as_utf8(path: Path, name: str, encoding: str | None) -> Path | bytes:
    """The file itself when it is meant to be UTF-8 (polars checks it), else its text
    decoded from ``encoding`` in chunks and encoded as UTF-8."""
    if _is_utf8(encoding):
        return path
    assert encoding is not None
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    out = io.BytesIO()
    offset, line = 0, 1
    with path.open("rb") as handle:
        while True:
            chunk = handle.read(_DECODE_CHUNK)
            state = decoder.getstate()
            try:
                text = decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                held = len(state[0])  # bytes the decoder kept from the last chunk
                # the text before the bad byte, decoded again from the same state
                before = codecs.getincrementaldecoder(encoding)(errors="replace")
                before.setstate(state)
                head = before.decode(exc.object[held : exc.start])
                at = offset - held + exc.start
                raise _not_decodable(
                    name, line + head.count("\n"), at, exc.object[exc.start], encoding
                ) from None
            out.write(text.encode())
            line += text.count("\n")
            offset += len(chunk)
            if not chunk:
                return out.getvalue()


def _first_bad_utf8(path: Path) -> tuple[int, int, int] | None:
    """(byte offset, line, byte) of the first byte that is not UTF-8, if any."""
    offset, line, carry = 0, 1, b""
    with path.open("rb") as handle:
        while chunk := handle.read(_DECODE_CHUNK):
            data = carry + chunk
            try:
                data.decode("utf-8")
                good = len(data)
            except UnicodeDecodeError as exc:
                if exc.end < len(data) or exc.reason != "unexpected end of data":
                    return (
                        offset + exc.start,
                        line + data.count(b"\n", 0, exc.start),
                        data[exc.start],
                    )
                good = exc.start  # a character cut by the chunk's end: finish it next time
            carry = data[good:]
            line += data.count(b"\n", 0, good)
            offset += good
    return (offset, line, carry[0]) if carry else None


def _check_utf8(path: Path, name: str, encoding: str | None) -> None:
    found = _first_bad_utf8(path)
    if found is None:
        return
    offset, line, byte = found
    if encoding is not None:
        raise _not_decodable(name, line, offset, byte, "UTF-8")
    with path.open("rb") as handle:
        utf16 = handle.read(2) in _UTF16_BOMS
    hint = (
        "the file starts with a UTF-16 byte-order mark: set `encoding: utf-16` on the source"
        if utf16
        else "set `encoding:` on the source, e.g. `encoding: cp1252` or `encoding: latin-1`"
    )
    raise IngestFailed(
        f"{name}: line {line}, byte offset {offset}: 0x{byte:02X} is not UTF-8", hint=hint
    )


def _not_decodable(name: str, line: int, offset: int, byte: int, encoding: str) -> IngestFailed:
    return IngestFailed(
        f"{name}: line {line}, byte offset {offset}: 0x{byte:02X} is not {encoding}",
        hint="check the source's `encoding:`",
    )


# ------------------------------------------------------------------ CSV failures


def _csv_failure(
    path: Path,
    source: Path | bytes,
    name: str,
    encoding: str | None,
    delimiter: str,
    exc: Exception,
) -> IngestFailed:
    """Why polars refused a CSV file, as precisely as a second look can tell."""
    if isinstance(source, Path):
        _check_utf8(path, name, encoding)
    line = _unclosed_quote_line(source)
    if line is not None:
        return IngestFailed(
            f"{name}: line {line}: a quoted field opened here is never closed",
            hint='close it, and double a quote that is part of the text: ""',
        )
    ragged = _first_ragged_line(source, delimiter)
    if ragged is not None:
        line, header = ragged
        return IngestFailed(
            f"{name}: line {line} has more fields than the header",
            hint=delimiter_hint(header, delimiter),
        )
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return IngestFailed(f"{name}: not a readable CSV file: {first}")


def _lines(source: Path | bytes) -> Iterator[bytes]:
    if isinstance(source, bytes):
        yield from io.BytesIO(source)
        return
    with source.open("rb") as handle:
        yield from handle


def _unclosed_quote_line(source: Path | bytes) -> int | None:
    """The line of a quote that is still open at the end of the file. polars opens a
    quoted field at any quote, not only at the start of a field, so this does too."""
    opened: int | None = None
    for number, raw in enumerate(_lines(source), start=1):
        if raw.count(b'"') % 2:
            opened = number if opened is None else None
    return opened


def _first_ragged_line(source: Path | bytes, delimiter: str) -> tuple[int, list[str]] | None:
    """The first line with more fields than the header, and the header."""
    text = io.TextIOWrapper(
        io.BytesIO(source) if isinstance(source, bytes) else source.open("rb"),
        encoding="utf-8-sig",
        errors="replace",
        newline="",
    )
    with text:
        reader = csv.reader(text, delimiter=delimiter)
        header = next(reader, None)
        if header is None:
            return None
        start = reader.line_num + 1
        for record in reader:
            if len(record) > len(header):
                return start, header
            start = reader.line_num + 1
    return None


def _read_parquet(path: Path, name: str) -> pl.DataFrame:
    try:
        frame = pl.read_parquet(path)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise IngestFailed(f"{name}: not a readable Parquet file: {exc}") from None
    return _all_text(frame).with_row_index(ROW, offset=1)


def _read_jsonl(
    path: Path, name: str, columns: Sequence[str] | None, encoding: str | None
) -> tuple[pl.DataFrame, list[BadRow]]:
    """Rows are lines, numbered as in the file (blank lines are skipped, not renumbered).

    ``columns`` are the keys to read (the mapping's); other keys are not read. Without
    them the keys are found in the file. polars streams the lines and decodes them
    with every value as text; a line that cannot be a JSON object (cut off, not
    braced) is set aside unparsed. If polars refuses a line (a nested value, a broken
    line) the file is decoded again in chunks of 200k and only a refused chunk is read
    line by line in Python.
    """
    source = _as_utf8(path, name, encoding)
    lines = (
        pl.scan_lines(
            source if isinstance(source, Path) else io.BytesIO(source),
            name="line",
            row_index_name=ROW,
            row_index_offset=1,
        )
        .with_columns(pl.col("line").str.strip_chars().str.strip_chars_start("\ufeff"))
        .filter(pl.col("line").str.len_bytes() > 0)
    )
    braced = pl.col("line").str.starts_with("{") & pl.col("line").str.ends_with("}")
    try:
        unbraced = lines.filter(~braced).collect(engine="streaming")
    except pl.exceptions.ComputeError as exc:
        if isinstance(source, Path):
            _check_utf8(path, name, encoding)
        raise IngestFailed(f"{name}: not a readable JSONL file: {exc}") from None
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
        return BadRow(name, row, f"is not valid JSON ({exc.msg})", line[:500], line)
    kind = "an array" if isinstance(value, list) else f"a {type(value).__name__}"
    return BadRow(name, row, f"is not a JSON object (it is {kind})", line[:500], line)


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
