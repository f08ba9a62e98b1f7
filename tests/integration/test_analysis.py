"""Issue 16: the analysis API under the Team and Outcomes pages (app.analysis), on
both stores: the funnel by AM, capability, routing rule and metapath; acceptance
by score band; score-model versions; team stats."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from app import analysis
from app.actors import identify
from app.queue import queue_frame
from graph_model.store import GraphStore
from matching.model import activate, load_prior, save_version
from tests.support.analysis_world import (
    APPROVE,
    AUTO,
    ESCALATED,
    SENT_AT,
    activity,
    decided_world,
    open_deal,
)
from tests.support.hand_graph import AS_OF, build

STAGES = ["surfaced", "decided", "drafted", "sent", "replied", "opportunity"]
_world = decided_world
_activity = activity


def _stages(frame: pl.DataFrame, group: str) -> list[int]:
    row = frame.filter(pl.col("group") == group).row(0, named=True)
    return [row[s] for s in STAGES]


def test_the_funnel_by_am_rule_capability_and_metapath(store: GraphStore) -> None:
    _world(store)
    outcomes = analysis.match_outcomes(store)
    assert outcomes["match_id"].to_list() == sorted([APPROVE, AUTO, ESCALATED])
    assert not outcomes["replied"].any() and not outcomes["opportunity"].any()
    # A reply logged without a direction: an email whose subject starts with "Re:".
    _activity(store, "a-reply", SENT_AT + dt.timedelta(days=1), subject="RE: your note")
    # A deal for acme opened after the matches; globex's old win is not an outcome.
    open_deal(store)

    by_am = analysis.funnel(store, by="am")
    assert by_am["group"].to_list() == ["am-1"]
    assert _stages(by_am, "am-1") == [3, 2, 2, 1, 1, 2]
    by_rule = analysis.funnel(store, by="rule")
    assert _stages(by_rule, "senior_contact") == [1, 1, 1, 0, 0, 1]
    assert _stages(by_rule, "normal_account") == [1, 0, 1, 1, 1, 1]
    assert _stages(by_rule, "nobody_to_write_to") == [1, 1, 0, 0, 0, 0]
    by_capability = analysis.funnel(store, by="capability")
    assert _stages(by_capability, "Managed Ingest") == [2, 2, 1, 0, 0, 1]
    assert _stages(by_capability, "Privacy Vault") == [1, 0, 1, 1, 1, 1]
    # Every match counts once under each metapath that gave it evidence.
    by_metapath = analysis.funnel(store, by="metapath")
    outcomes = analysis.match_outcomes(store)
    pairs = outcomes.explode("metapaths")
    assert by_metapath["surfaced"].sum() == pairs.height
    assert _stages(by_metapath, "subsidiary_wins") == [1, 1, 0, 0, 0, 0]  # globex only
    assert _stages(by_metapath, "need_evidence") == [1, 1, 1, 0, 0, 1]  # acme ingest
    assert outcomes.filter(pl.col("match_id") == ESCALATED)["metapaths"].to_list() == [
        ["lookalike_wins", "subsidiary_wins"]
    ]
    # Only the books asked for; an AM without matches has an empty funnel.
    assert analysis.funnel(store, by="am", ams=["am-2"]).is_empty()
    long = analysis.funnel_stages(by_am)
    assert long["stage"].to_list() == STAGES and long["matches"].to_list() == [3, 2, 2, 1, 1, 2]
    with pytest.raises(ValueError, match="unknown grouping"):
        analysis.funnel(store, by="tier")  # type: ignore[arg-type]


def test_acceptance_by_score_band(store: GraphStore) -> None:
    _world(store)
    scores = dict(store.nodes("Match").select("match_id", "score").iter_rows())
    assert scores[ESCALATED] < 0.5 < scores[APPROVE]
    frame = analysis.calibration(store, bands=(0, 0.5, 1))
    expected = pl.DataFrame(
        {
            "band": ["0.00-0.50", "0.50-1.00"],
            "lower": [0.0, 0.5],
            "upper": [0.5, 1.0],
            "decided": [1, 1],
            "accepted": [1, 0],  # validated; the draft was cancelled
            "rejected": [0, 1],
            "acceptance_rate": [1.0, 0.0],
        }
    )
    assert_frame_equal(frame, expected)
    # Five default bands, empty ones with no rate.
    default = analysis.calibration(store)
    assert default.height == 5 and default["decided"].sum() == 2
    assert default["acceptance_rate"].null_count() == 3
    assert analysis.calibration(store, bands=(0, 0.5, 1), ams=["am-2"])["decided"].sum() == 0


def test_learning_versions_with_held_out_metrics(store: GraphStore) -> None:
    build(store)
    assert analysis.learning_versions(store)["model_id"].to_list() == ["prior"]
    for parent, auc in (("prior", 0.71), ("v1", 0.78)):
        held = {"log_loss": 0.6, "auc": 0.65, "accuracy": 0.6}
        save_version(
            store,
            load_prior(),
            trained_on=40,
            metrics={"held_out_before": held, "held_out_after": {**held, "auc": auc}},
            parent=parent,
            now=AS_OF,
        )
    versions = analysis.learning_versions(store)
    assert versions.select("model_id", "active", "parent", "auc_before", "auc_after").rows() == [
        ("prior", False, None, None, None),
        ("v1", False, "prior", 0.65, 0.71),
        ("v2", True, "v1", 0.65, 0.78),
    ]
    activate(store, "prior")
    assert analysis.learning_versions(store)["active"].to_list() == [True, False, False]


def test_team_stats_for_a_manager(store: GraphStore) -> None:
    _world(store)
    now = AS_OF + dt.timedelta(days=1)
    manager = identify(store, "am-3", action="see", item="the team")
    stats = analysis.team_stats(store, manager, now)
    assert stats["am_id"].to_list() == ["am-3", "am-1"]  # their own first, then reports
    am1 = stats.row(1, named=True)
    queue = queue_frame(store, "am-1", now=now)
    assert am1["name"] == "Ada Moss" and am1["queue"] == queue.height > 0
    assert am1["oldest_days"] == pytest.approx(queue["age_days"].max())
    # am-1 validated one match; am-3 cancelled a draft on am-1's book.
    assert (am1["decisions"], am1["validated"], am1["killed"]) == (2, 1, 0)
    assert am1["decisions_per_week"] == pytest.approx(0.5)
    assert (am1["validate_rate"], am1["kill_rate"]) == (1.0, 0.0)
    am3 = stats.row(0, named=True)
    assert (am3["queue"], am3["decisions"], am3["validate_rate"]) == (0, 1, None)
    # Outside the four weeks, nothing counts.
    later = analysis.team_stats(store, manager, AS_OF + dt.timedelta(days=40))
    assert later["decisions"].to_list() == [0, 0]
    # An AM sees only their own row; a director sees the whole line.
    alone = analysis.team_stats(store, identify(store, "am-2", action="x", item="y"), now)
    assert alone["am_id"].to_list() == ["am-2"] and alone["queue"].to_list() == [0]
    director = analysis.team_stats(store, identify(store, "am-4", action="x", item="y"), now)
    assert director["am_id"].to_list() == ["am-4", "am-1", "am-3"]


def test_extractors_agree_on_what_both_read(store: GraphStore) -> None:
    """The rules extractor rereads every signal and records none in ``read_by``; an
    extractor that records what it read (paraphrase) is compared with it there."""
    build(store)
    signal = store.get_node("Signal", "s-hiring")
    store.upsert_nodes("Signal", [{**signal, "read_by": ["paraphrase"]}])
    store.upsert_edges(
        "INDICATES",
        [{"src": "s-hiring", "dst": "pipe", "extractor": "paraphrase", "confidence": 0.7}],
    )
    rows = {
        (a, b): (both, only_a, only_b)
        for a, b, both, only_a, only_b, _ in analysis.extractor_agreement(store).rows()
    }
    assert rows[("paraphrase", "rules")] == (1, 0, 0)
