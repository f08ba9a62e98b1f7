"""Source readers: every value as text, rows numbered as in the file, bad lines set aside."""

from __future__ import annotations

import hashlib
from pathlib import Path

import polars as pl
import pytest

from graph_model.errors import ConfigFileInvalid, IngestFailed
from ingest import readers
from ingest.config import SourceConfig, load_config
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


def test_hashed_ids_are_the_sha1_of_the_text() -> None:
    texts = ["abc", "", "caf\u00e9\x1fx", None]
    got = pl.DataFrame({"t": texts}).select(_sha1_id(pl.col("t")))["t"].to_list()
    want = [None if t is None else hashlib.sha1(t.encode()).hexdigest()[:20] for t in texts]
    assert got == want


# ------------------------------------------------------------------ bad input, named

SUGGEST = "set `encoding:` on the source, e.g. `encoding: cp1252` or `encoding: latin-1`"


def _failure(path: Path, **options: object) -> str:
    with pytest.raises(IngestFailed) as caught:
        read_files([path], None, {path: f"in/{path.name}"}, **options)  # type: ignore[arg-type]
    return str(caught.value)


@pytest.mark.parametrize(
    ("name", "data", "where"),
    [
        # "Id,Name\n" is 8 bytes, "1,Ok\n" 5, "2,M" 3: the \xfc is byte 16, on line 3
        ("User.csv", "Id,Name\n1,Ok\n2,Müller\n".encode("latin-1"), "line 3, byte offset 16: 0xFC"),
        ("Head.csv", "Id,Straße\n1,x\n".encode("latin-1"), "line 1, byte offset 7: 0xDF"),
        ("s.jsonl", b'{"kind": "ok"}\n{"kind": "caf\xe9"}\n', "line 2, byte offset 28: 0xE9"),
    ],
)
def test_input_that_is_not_utf8_fails_naming_the_byte_and_line(
    tmp_path: Path, name: str, data: bytes, where: str
) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    assert _failure(path) == f"in/{name}: {where} is not UTF-8 ({SUGGEST})"


def test_a_utf16_file_is_recognised_by_its_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes("Id\tName\n1\tMüller\n".encode("utf-16"))
    assert _failure(path) == (
        "in/export.csv: line 1, byte offset 0: 0xFF is not UTF-8 "
        "(the file starts with a UTF-16 byte-order mark: set `encoding: utf-16` on the source)"
    )
    frame, _ = read_files([path], None, encoding="utf-16", delimiter="\t")
    assert frame.select(ROW, "Id", "Name").rows() == [(1, "1", "Müller")]


@pytest.mark.parametrize(
    ("encoding", "text"),
    [("latin-1", "Müller"), ("cp1252", "Müller – 5 €"), ("utf-8", "Müller"), ("utf-8-sig", "Ü")],
)
def test_a_declared_encoding_reads_the_text(tmp_path: Path, encoding: str, text: str) -> None:
    csv_path = tmp_path / "a.csv"
    csv_path.write_bytes(f'Id,Name\n1,"{text}, K"\n2,x\n'.encode(encoding))
    frame, _ = read_files([csv_path], None, encoding=encoding)
    assert frame.columns[:3] == [ROW, "Id", "Name"]
    assert frame["Name"].to_list() == [f"{text}, K", "x"]
    jsonl_path = tmp_path / "a.jsonl"
    jsonl_path.write_bytes(f'{{"kind": "{text}"}}\n\n{{"kind": "b"}}\n'.encode(encoding))
    frame, bad = read_files([jsonl_path], None, None, ["kind"], encoding=encoding)
    assert frame.select(ROW, "kind").rows() == [(1, text), (3, "b")] and not bad


def test_bytes_the_declared_encoding_lacks_are_named(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes(b"Id,Name\n1,a\x81b\n")  # 0x81 is undefined in cp1252
    assert _failure(path, encoding="cp1252") == (
        "in/a.csv: line 2, byte offset 11: 0x81 is not cp1252 (check the source's `encoding:`)"
    )


def test_a_utf8_byte_order_mark_is_not_part_of_the_data(tmp_path: Path) -> None:
    csv_path = tmp_path / "a.csv"
    csv_path.write_bytes(b"\xef\xbb\xbfId,Name\n1,M\xc3\xbcller\n")
    frame, _ = read_files([csv_path], None)
    assert frame.select("Id", "Name").rows() == [("1", "Müller")]
    jsonl_path = tmp_path / "a.jsonl"
    jsonl_path.write_bytes(b'\xef\xbb\xbf{"kind": "a"}\n{"kind": "b"}\n')
    frame, bad = read_files([jsonl_path], None, None, ["kind"])
    assert frame.select(ROW, "kind").rows() == [(1, "a"), (2, "b")] and not bad


@pytest.mark.parametrize(
    ("lines", "line"),
    [
        (["Id,Name,Note", "1,a,fine", '2,b,"open', "3,c,x", "4,d,y"], 3),
        # a later pair of quotes does not close it
        (["Id,Name,Note", '1,a,"fine"', '2,"b,open', "3,c,x", '4,d,"y"', "5,e,z"], 3),
        # a quoted field over two lines is fine; the one after it is not
        (["Id,Note", '1,"two', 'lines"', '2,"open', "3,x"], 4),
        # a quote inside an unquoted field opens one too, for the CSV parser
        (["Id,Name", '1,5" screen', "2,b"], 2),
    ],
)
def test_an_unclosed_quote_names_the_line_it_opens_on(
    tmp_path: Path, lines: list[str], line: int
) -> None:
    path = _write(tmp_path / "q.csv", lines)
    assert _failure(path) == (
        f"in/q.csv: line {line}: a quoted field opened here is never closed "
        '(close it, and double a quote that is part of the text: "")'
    )


def test_a_wrong_delimiter_gets_a_hint_and_a_declared_one_splits_the_columns(
    tmp_path: Path,
) -> None:
    path = _write(tmp_path / "a.csv", ["Id;Name", "1;Alpha"])
    frame, _ = read_files([path], None)  # one column: the pipeline adds the hint
    assert frame.columns == [ROW, "Id;Name", readers.FILE]
    assert readers.delimiter_hint(frame.columns, None) == (
        "the header looks `;`-separated: set `delimiter: ';'` on the source"
    )
    assert readers.delimiter_hint(["Id", "Name"], None) is None
    # a comma inside a value breaks the read itself
    path = _write(tmp_path / "b.csv", ["Id;Name", "1;Müller, K"])
    assert _failure(path) == (
        "in/b.csv: line 2 has more fields than the header "
        "(the header looks `;`-separated: set `delimiter: ';'` on the source)"
    )
    frame, _ = read_files([path], None, delimiter=";")
    assert frame.select("Id", "Name").rows() == [("1", "Müller, K")]
    tabbed = _write(tmp_path / "t.csv", ["Id\tName", "1\tx"])
    frame, _ = read_files([tabbed], None)
    assert readers.delimiter_hint(frame.columns, None) == (
        'the header looks tab-separated: set `delimiter: "\\t"` on the source'
    )
    frame, _ = read_files([tabbed], None, delimiter="\t")
    assert frame.select("Id", "Name").rows() == [("1", "x")]
    # declared, but the file is comma-separated
    assert readers.delimiter_hint([ROW, "Id,Name"], ";") == (
        "the header looks `,`-separated: set `delimiter: ','` on the source"
    )


def test_an_empty_file_and_a_directory_have_their_own_messages(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_bytes(b"")
    assert _failure(tmp_path / "empty.csv") == "in/empty.csv: file is empty (0 bytes)"
    (tmp_path / "empty.jsonl").write_bytes(b"")  # a feed's quiet hour: no rows, no error
    frame, bad = read_files([tmp_path / "empty.jsonl"], None, columns=["id"])
    assert frame.height == 0 and bad == []
    (tmp_path / "crm").mkdir()
    assert _failure(tmp_path / "crm") == (
        "in/crm: is a directory, not a file (use a glob like in/crm/*.csv)"
    )
    assert _failure(tmp_path / "gone.csv") == "in/gone.csv: file not found"
    header_only = _write(tmp_path / "h.csv", ["Id,Name"])
    frame, _ = read_files([header_only], None)
    assert frame.height == 0 and {"Id", "Name"} <= set(frame.columns)


def test_the_keys_of_jsonl_lines_are_sampled(tmp_path: Path) -> None:
    path = _write(tmp_path / "s.jsonl", LINES)
    assert readers.jsonl_keys(path, None) == ["extra", "flag", "kind", "n", "strength", "text"]
    assert readers.jsonl_keys(path, None, lines=1) == ["flag", "kind", "n", "strength"]


@pytest.mark.parametrize(
    ("option", "where", "reason"),
    [
        ("encoding: klingon", "encoding", "unknown encoding 'klingon'"),
        ("encoding: rot13", "encoding", "unknown encoding 'rot13'"),
        ("delimiter: ';;'", "delimiter", "must be one ASCII character"),
        ("delimiter: '\"'", "delimiter", "must be one ASCII character"),
        ("{format: jsonl, delimiter: ';'}", "delimiter", "only CSV files have a delimiter"),
        ("{format: parquet, encoding: latin-1}", "encoding", "Parquet files carry their own"),
    ],
)
def test_encoding_and_delimiter_are_checked_when_the_config_loads(
    tmp_path: Path, option: str, where: str, reason: str
) -> None:
    extra = option.strip("{}") if option.startswith("{") else option
    (tmp_path / "ingest.yaml").write_text(
        f"sources:\n  - {{name: users, reader: salesforce/user, path: u.csv, {extra}}}\n"
    )
    with pytest.raises(ConfigFileInvalid) as caught:
        load_config(tmp_path / "ingest.yaml")
    assert caught.value.where == f"sources.0.{where}"
    assert reason in caught.value.reason


def test_a_tab_may_be_written_three_ways(tmp_path: Path) -> None:
    for written in ('"\\t"', "'\\t'", "tab"):
        (tmp_path / "ingest.yaml").write_text(
            "sources:\n  - {name: users, reader: salesforce/user, path: u.csv, "
            f"delimiter: {written}}}\n"
        )
        assert load_config(tmp_path / "ingest.yaml").sources[0].delimiter == "\t", written


def test_readme_documents_every_source_option() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme[readme.index("### ingest.yaml") :]
    section = section[: section.index("\n### ", 1)]
    missing = [name for name in SourceConfig.model_fields if f"`{name}`" not in section]
    assert not missing, f"README's ingest.yaml section lacks {missing}"
