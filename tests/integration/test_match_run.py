"""A full match run on both stores: identical results, idempotent reruns, decisions kept,
stale proposals removed; the queue and explain read it back."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from graph_model import connect
from graph_model.store import GraphStore, NotFound
from ingest.config import load_config
from ingest.pipeline import Ingestor
from ingest.sample import AS_OF, write_sample
from matching.extract import RulesExtractor, needs_from_frame
from matching.indicates import run_extraction
from matching.read import explain_pair, top_matches
from matching.run import Matcher, pair_id, run_matching
from tests.support.hand_graph import AS_OF as HAND_AS_OF
from tests.support.hand_graph import build

# Stored-match columns that must agree across stores and reruns (all of them).
MATCH_COLUMNS = [
    "match_id",
    "account_id",
    "capability_id",
    "score",
    "model_version",
    "batch_id",
    "created_at",
    "as_of",
    "status",
    "defer_until",
    "weak",
    "explanation",
    "evidence",
    "evidence_paths",
    "features",
]


def _sample_graph(store: GraphStore, world: Path) -> None:
    if not (world / "ingest.yaml").exists():
        write_sample(world, accounts=120, seed=11, signals_per_account=10)
    report = Ingestor(store, load_config(world / "ingest.yaml")).run()
    assert report.ok, [s.error for s in report.sources]
    run_extraction(store, RulesExtractor(needs_from_frame(store.nodes("Need"))))


def _snapshot(store: GraphStore) -> dict[str, pl.DataFrame]:
    out = {"Match": store.nodes("Match").select(MATCH_COLUMNS).sort("match_id")}
    for rel in ("FOR", "OFFERS", "ASSIGNED_TO", "CONTACT"):
        frame = store.edges(rel)
        out[rel] = frame.filter(pl.col("src_label") == "Match").sort(frame.columns)
    return out


def test_a_full_run_is_identical_on_both_stores(neo4j_store: GraphStore, tmp_path: Path) -> None:
    world = tmp_path / "world"
    embedded = connect(str(tmp_path / "graph"))
    embedded.ensure_schema()
    snapshots = []
    for store in (embedded, neo4j_store):
        _sample_graph(store, world)
        # Several batches, so batches (which could run on separate workers) are covered.
        report = run_matching(store, as_of=AS_OF, batch_size=50)
        assert report.batches == 3 and report.surfaced > 20
        snapshots.append((report, _snapshot(store)))
    (r1, s1), (r2, s2) = snapshots
    assert {k: v for k, v in r1.as_dict().items() if k != "seconds"} == {
        k: v for k, v in r2.as_dict().items() if k != "seconds"
    }
    for name in s1:
        assert s1[name].equals(s2[name]), name
    matches = s1["Match"]
    # Every surfaced match has at least one evidence sentence and a recorded path.
    assert matches.filter(pl.col("evidence").list.len() == 0).height == 0
    assert matches.filter(pl.col("evidence_paths") == "[]").height == 0
    embedded.close()


def test_reruns_are_idempotent_keep_decisions_and_drop_stale_proposals(
    store: GraphStore,
) -> None:
    build(store)
    first = run_matching(store, as_of=HAND_AS_OF)
    assert first.surfaced == 3 and first.written == 3
    before = _snapshot(store)
    again = run_matching(store, as_of=HAND_AS_OF)
    assert again.batch_ids == first.batch_ids
    after = _snapshot(store)
    for name in before:
        assert before[name].equals(after[name]), name

    # An AM killed one match; evidence for another disappears (the signal's need
    # link goes away), so that proposal is stale.
    killed = pair_id("acme", "vault")
    row = store.get_nodes("Match", [killed]).to_dicts()[0]
    store.upsert_nodes("Match", [{**row, "status": "killed"}])
    store.delete_nodes("Opportunity", ["o4"])  # globex's subsidiary never bought ingest
    third = run_matching(store, as_of=HAND_AS_OF)
    stored = store.nodes("Match")
    assert set(stored["match_id"]) == {pair_id("acme", "ingest"), killed}
    assert stored.filter(pl.col("match_id") == killed)["status"].to_list() == ["killed"]
    assert third.removed == 1
    # The killed match is not in the queue; the other one is, with its contact.
    queue = top_matches(store, "am-1", today=HAND_AS_OF.date())
    assert [m["match_id"] for m in queue] == [pair_id("acme", "ingest")]
    assert queue[0]["contact"]["person_id"] == "ann"
    assert queue[0]["evidence"][0].startswith("Acme: hiring on 2026-11-10")


def test_explain_reads_the_stored_match_or_evaluates_live(store: GraphStore) -> None:
    build(store)
    run_matching(store, as_of=HAND_AS_OF)
    stored = explain_pair(store, "acme", "ingest")
    assert stored["source"] == "stored" and stored["contact"]["person_id"] == "ann"
    live = explain_pair(store, "acme", "ingest", as_of=HAND_AS_OF)
    assert live["source"] == "live"
    assert live["score"] == stored["score"]
    assert live["explanation"] == stored["explanation"]
    assert live["evidence"] == stored["evidence"]
    gated = explain_pair(store, "globex", "vault")
    assert gated["source"] == "live" and not gated["surfaced"]
    assert gated["explanation"].startswith("Not surfaced: blocked by already_bought")
    with pytest.raises(NotFound, match="no Account 'nope'"):
        explain_pair(store, "nope", "ingest")
    with pytest.raises(NotFound, match="no Account with account_id 'nope'"):
        run_matching(store, as_of=HAND_AS_OF, accounts=["acme", "nope"])


def test_the_matcher_scores_with_the_model_it_is_given(embedded_store: GraphStore) -> None:
    build(embedded_store)
    base = Matcher(embedded_store, as_of=HAND_AS_OF)
    louder = base.model.model_copy(
        update={"version": "test", "weights": {**base.model.weights, "industry_fit": 6.0}}
    )
    scored, _ = Matcher(embedded_store, as_of=HAND_AS_OF, model=louder).score(["umbrella"])
    before, _ = base.score(["umbrella"])
    assert scored["score"][0] > before["score"][0]
