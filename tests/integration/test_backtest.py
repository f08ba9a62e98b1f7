"""``twoloop backtest`` end to end: on a HubSpot CRM export read by the built-in
readers (both stores) and on the sample world; it ranks as of the cut-off, scores
against later wins and validations, and writes nothing."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest

from app.decisions import decide
from graph_model.store import GraphStore
from ingest.config import load_config
from ingest.pipeline import Ingestor
from matching.asof import as_of_view
from matching.backtest import backtest, popularity_scores, relevant_pairs
from matching.run import pair_id, run_matching
from tests.integration.test_cli import run
from tests.support.hand_graph import AS_OF, build

CRM = Path(__file__).resolve().parents[1] / "data" / "crm_export"
CUTOFF = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
HORIZON = dt.timedelta(days=90)


def _crm(store: GraphStore) -> None:
    report = Ingestor(store, load_config(CRM / "ingest.yaml")).run()
    assert report.ok, [s.error for s in report.sources]


def test_a_backtest_on_a_crm_export(store: GraphStore) -> None:
    _crm(store)
    before = store.counts().as_dict()
    report = backtest(store, cutoff=CUTOFF, horizon=HORIZON)
    assert store.counts().as_dict() == before  # nothing written

    # Won within (2026-01-01, 2026-04-01]: not 8111 (September), not the loss.
    relevant = relevant_pairs(store, CUTOFF, CUTOFF + HORIZON)
    assert relevant.rows() == [
        ("9104", "managed-ingest"),
        ("9105", "dq-monitor"),
        ("9204", "gtx-pro"),
        ("9205", "managed-ingest"),
    ]
    # 10 accounts x 3 capabilities, less the 6 bought before and the open deal; the
    # loss recorded after the cut-off blocks nothing.
    assert (report.accounts, report.candidates, report.relevant) == (10, 23, 4)
    assert report.relevant_blocked == 0
    assert [(r.am_id, r.candidates, r.relevant) for r in report.ams] == [
        ("am-1", 12, 2),
        ("am-2", 11, 2),
    ]
    # Popularity as of the cut-off: Software accounts won ingest twice and DQ once,
    # Financial Services GTX twice and DQ once; later wins do not count.
    then = as_of_view(store, CUTOFF)
    pairs = pl.DataFrame(
        [
            ("9104", "managed-ingest"),
            ("9205", "managed-ingest"),
            ("9204", "gtx-pro"),
            ("9105", "dq-monitor"),
            ("9104", "gtx-pro"),
        ],
        schema={"account_id": pl.String, "capability_id": pl.String},
        orient="row",
    )
    assert popularity_scores(then, pairs) == {
        ("9104", "managed-ingest"): 2.0,
        ("9204", "gtx-pro"): 2.0,
        ("9105", "dq-monitor"): 1.0,
    }
    # Each AM's first relevant pair is among the popular ones, in the top five.
    assert [r.popularity["hit5"] for r in report.ams] == [1.0, 1.0]
    for method in ("twoloop", "popularity"):
        mean = report.mean[method]
        assert mean["hit5"] is not None and 0.0 <= mean["hit5"] <= 1.0
        assert mean["ndcg10"] is not None and 0.0 < mean["ndcg10"] <= 1.0
    assert report.model_version == "prior"


def test_a_validation_after_the_cutoff_is_relevant_and_nothing_is_written(
    embedded_store: GraphStore,
) -> None:
    store = embedded_store
    build(store)
    run_matching(store, as_of=AS_OF)
    decide(store, pair_id("acme", "ingest"), "validate", actor="am-1", now=AS_OF)
    matches = store.nodes("Match").sort("match_id")
    cutoff = AS_OF - dt.timedelta(days=1)
    relevant = relevant_pairs(store, cutoff, cutoff + dt.timedelta(days=30))
    assert relevant.rows() == [("acme", "ingest")]
    report = backtest(store, cutoff=cutoff, horizon=dt.timedelta(days=30))
    assert report.relevant == 1
    assert store.nodes("Match").sort("match_id").equals(matches)
    (am1,) = [r for r in report.ams if r.am_id == "am-1"]
    # acme's hiring and Ann's post are the strongest evidence as of the cut-off.
    assert am1.twoloop == {"hit5": 1.0, "ndcg10": 1.0}
    # Counting wins only, the validation is not something to find.
    wins_only = relevant_pairs(store, cutoff, cutoff + dt.timedelta(days=30), validations=False)
    assert wins_only.is_empty()
    assert (
        backtest(store, cutoff=cutoff, horizon=dt.timedelta(days=30), validations=False).relevant
        == 0
    )


def test_the_command_on_the_crm_export_and_the_sample_world(tmp_path: Path) -> None:
    env = {"TWOLOOP_GRAPH_URI": str(tmp_path / "crm")}
    run(["ingest", "run", "--config", str(CRM / "ingest.yaml")], tmp_path, env=env)
    out = run(
        ["backtest", "--cutoff", "2026-01-01", "--horizon", "90d", "--json"], tmp_path, env=env
    )
    payload = json.loads(out.stdout)
    assert payload["relevant"] == 4 and [a["am_id"] for a in payload["ams"]] == ["am-1", "am-2"]
    assert set(payload["mean"]) == {"twoloop", "popularity"}
    table = run(["backtest", "--cutoff", "2026-01-01"], tmp_path, env=env).stdout
    assert "popularity NDCG@10" in table and "Maya Chen (am-1)" in table and "mean" in table
    bad = run(
        ["backtest", "--cutoff", "2026-01-01", "--horizon", "soon"], tmp_path, env=env, check=False
    )
    assert bad.returncode == 2 and "not a number of days" in bad.stderr

    env = {"TWOLOOP_GRAPH_URI": str(tmp_path / "sample")}
    run(["sample", "--out", "world", "--accounts", "80", "--seed", "7"], tmp_path, env=env)
    run(["ingest", "run", "--config", "world/ingest.yaml"], tmp_path, env=env)
    run(["match", "extract", "--extractor", "rules"], tmp_path, env=env)
    out = run(
        ["backtest", "--cutoff", "2025-11-20", "--horizon", "180d", "--json"], tmp_path, env=env
    )
    payload = json.loads(out.stdout)
    assert payload["relevant"] > 0 and payload["ams"]
    stats = json.loads(run(["graph", "stats", "--json"], tmp_path, env=env).stdout)
    assert stats["nodes"].get("Match", 0) == 0  # ranked in memory


@pytest.mark.parametrize("horizon", ["0d", "3m"])
def test_bad_horizons_are_refused(horizon: str, tmp_path: Path) -> None:
    proc = run(["backtest", "--cutoff", "2026-01-01", "--horizon", horizon], tmp_path, check=False)
    assert proc.returncode == 2
