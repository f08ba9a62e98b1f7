"""Source readers: every value as text, rows numbered as in the file, bad lines set aside."""

from __future__ import annotations

import hashlib
from pathlib import Path

import polars as pl

from ingest import readers
from ingest.mapping import _sha1_id
from ingest.readers import ROW, read_files

LINES = [
    '{"kind": "news", "strength": 0.5, "flag": true, "n": 3}',
    "",
    '  {"kind": "hiring", "extra": "x"}  ',
    '{"kind": "news", "account_id": ',  # cut off
    "[1, 2]",
    '{"kind": "funding", "text": "say \\"hi\\": now"}',
]


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_jsonl_rows_keep_their_line_numbers_and_bad_lines_are_set_aside(tmp_path: Path) -> None:
    path = _write(tmp_path / "s.jsonl", LINES)
    frame, bad = read_files([path], None, {path: "s.jsonl"}, ["kind", "strength", "flag", "n"])
    assert frame.sort(ROW).select(ROW, "kind", "strength", "flag", "n").rows() == [
        (1, "news", "0.5", "true", "3"),
        (3, "hiring", None, None, None),
        (6, "funding", None, None, None),
    ]
    assert "extra" not in frame.columns  # only the keys asked for
    assert [(b.file, b.row) for b in bad] == [("s.jsonl", 4), ("s.jsonl", 5)]
    assert bad[0].reason.startswith("is not valid JSON")
    assert bad[1].reason == "is not a JSON object (it is an array)"


def test_jsonl_keys_are_found_when_not_given(tmp_path: Path) -> None:
    path = _write(tmp_path / "s.jsonl", LINES)
    frame, _ = read_files([path], None)
    assert {"kind", "strength", "flag", "n", "extra", "text"} <= set(frame.columns)
    assert frame.filter(pl.col(ROW) == 6)["text"].item() == 'say "hi": now'


def test_a_chunk_polars_refuses_is_read_line_by_line(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(readers, "_JSONL_CHUNK", 2)
    lines = [
        '{"kind": "a", "meta": {"x": 1}}',  # nested: kept as JSON text
        '{"kind": "b", bad}',  # braced but broken
        '{"kind": "c"}',
        '{"kind": "d"}',
    ]
    path = _write(tmp_path / "s.jsonl", lines)
    frame, bad = read_files([path], None, None, ["kind", "meta"])
    assert frame.sort(ROW).select(ROW, "kind", "meta").rows() == [
        (1, "a", '{"x": 1}'),
        (3, "c", None),
        (4, "d", None),
    ]
    assert [(b.row, b.reason.split(" (")[0]) for b in bad] == [(2, "is not valid JSON")]


def test_a_file_that_is_not_utf8_is_read_lossily_line_by_line(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_bytes(b'{"kind": "caf\xe9"}\n\n{"kind": "ok"}\nnot json\n')
    frame, bad = read_files([path], None, None, ["kind"])
    assert frame.sort(ROW).select(ROW, "kind").rows() == [(1, "caf\ufffd"), (3, "ok")]
    assert [b.row for b in bad] == [4]


def test_hashed_ids_are_the_sha1_of_the_text() -> None:
    texts = ["abc", "", "caf\u00e9\x1fx", None]
    got = pl.DataFrame({"t": texts}).select(_sha1_id(pl.col("t")))["t"].to_list()
    want = [None if t is None else hashlib.sha1(t.encode()).hexdigest()[:20] for t in texts]
    assert got == want
