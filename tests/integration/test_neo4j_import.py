"""The bulk path for first loads: an embedded graph written as importer files,
imported into a fresh Neo4j by neo4j-admin, reads back identical."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from graph_model import connect
from graph_model.neo4j_import import ImportFileError, write_import_files
from graph_model.schema import REGISTRY
from graph_model.store import GraphStore
from tests.conftest import REPO, load_neo4jctl

AWKWARD_TEXT = 'He said "we\'re hiring", then left;\nline two, with a comma\u2014and\tstuff'


def _world_with_awkward_values(store: GraphStore, tmp_path: Path) -> None:
    from ingest.pipeline import Ingestor
    from ingest.sample import write_sample

    write_sample(tmp_path / "world", accounts=60, seed=11)
    from ingest.config import load_config

    report = Ingestor(store, load_config(tmp_path / "world" / "ingest.yaml")).run()
    assert report.ok, [s.error for s in report.sources]
    when = dt.datetime(2026, 11, 2, 10, 30, 15, 123456, tzinfo=dt.UTC)
    store.upsert_nodes(
        "Signal",
        [
            {
                "signal_id": "sig-awkward",
                "kind": "news",
                "occurred_at": when,
                "source": "",
                "title": "Quotes, commas and newlines",
                "text": AWKWARD_TEXT,
                "strength": 0.25,
            }
        ],
    )
    store.upsert_nodes("Need", [{"need_id": "need-silent", "name": "Silent", "phrases": []}])
    account = store.nodes("Account", limit=1)["account_id"][0]
    store.upsert_edges("EMITTED", [{"src": account, "dst": "sig-awkward", "src_label": "Account"}])


def _same(table: str, got: pl.DataFrame, want: pl.DataFrame, order: list[str]) -> None:
    try:
        assert_frame_equal(got.sort(order), want.sort(order), check_column_order=False)
    except AssertionError as exc:
        raise AssertionError(f"{table}: {exc}") from exc


def test_an_embedded_graph_imported_by_neo4j_admin_reads_back_identical(
    tmp_path: Path,
) -> None:
    embedded = connect(str(tmp_path / "graph"))
    embedded.ensure_schema()
    _world_with_awkward_values(embedded, tmp_path)
    files = write_import_files(embedded, tmp_path / "import")
    assert (tmp_path / "import" / "import.args").is_file()
    assert files.nodes["Signal"] == embedded.counts().nodes["Signal"]

    ctl = load_neo4jctl()
    home = REPO / ".twoloop" / "neo4j" / f"import-test-{os.getpid()}"
    try:
        server = ctl.import_files(home, tmp_path / "import", watch_pid=os.getpid())
        with connect(server.uri) as imported:
            imported.ensure_schema()
            assert imported.counts() == embedded.counts()
            for label, spec in REGISTRY.nodes.items():
                _same(label, imported.nodes(label), embedded.nodes(label), [spec.key])
            for rel_type in REGISTRY.edges:
                want = embedded.edges(rel_type)
                _same(rel_type, imported.edges(rel_type), want, want.columns)
            awkward = imported.get_nodes("Signal", ["sig-awkward"]).row(0, named=True)
            assert awkward["text"] == AWKWARD_TEXT and awkward["source"] == ""
            # The imported database takes incremental MERGE writes like any other.
            imported.upsert_nodes("Technology", [{"technology_id": "tech-new", "name": "New Tech"}])
            assert (
                imported.counts().nodes["Technology"] == embedded.counts().nodes["Technology"] + 1
            )
    finally:
        ctl.stop(home)
        shutil.rmtree(home, ignore_errors=True)
    embedded.close()


def test_a_list_value_holding_the_array_delimiter_is_refused_with_its_row(
    tmp_path: Path,
) -> None:
    store = connect(str(tmp_path / "graph"))
    store.ensure_schema()
    store.upsert_nodes(
        "Need",
        [
            {"need_id": "need-a", "name": "A", "phrases": ["fine"]},
            {"need_id": "need-b", "name": "B", "phrases": ["ok", "bad\x1fvalue"]},
        ],
    )
    with pytest.raises(ImportFileError, match=r"nodes/Need: field 'phrases' of row 2"):
        write_import_files(store, tmp_path / "import")
    store.close()


def test_the_importer_refuses_a_directory_without_files(tmp_path: Path) -> None:
    ctl = load_neo4jctl()
    with pytest.raises(ctl.Neo4jToolError, match=r"import\.args not found"):
        ctl.import_files(tmp_path / "home", tmp_path / "nothing")
