"""The decisions API and learning from it, on both stores: decisions move matches and
are stored with what the AM saw; learn refits toward what AMs decide, versions the
result, and the next run uses it; rollback returns to an earlier version."""

from __future__ import annotations

import datetime as dt
import random

import polars as pl
import pytest

from app.decisions import decide
from graph_model.errors import DecisionConflict, DecisionRejected, NotAuthorized, TooFewLabels
from graph_model.store import GraphStore, NotFound
from matching.learn import learn
from matching.model import ModelVersionNotFound, activate, model_versions
from matching.read import top_matches
from matching.run import pair_id, run_matching
from tests.support.hand_graph import AS_OF, add_managers, build, synthetic_match

NOW = AS_OF + dt.timedelta(hours=1)


def test_decisions_move_the_match_and_keep_what_the_am_saw(store: GraphStore) -> None:
    build(store)
    add_managers(store)
    run_matching(store, as_of=AS_OF)
    ingest, vault = pair_id("acme", "ingest"), pair_id("acme", "vault")
    seen = store.get_nodes("Match", [ingest]).row(0, named=True)

    record = decide(store, ingest, "validate", actor="am-1", now=NOW)
    assert record.status == "validated"
    stored = store.get_nodes("Decision", [record.decision_id]).row(0, named=True)
    assert stored["kind"] == "validate" and stored["decided_at"] == NOW
    assert stored["features"] == seen["features"] and stored["score"] == seen["score"]
    assert stored["model_version"] == "prior"
    on = store.edges("DECIDED_ON", touching=[record.decision_id], side="source")
    by = store.edges("DECIDED_BY", touching=[record.decision_id], side="source")
    assert on["dst"].to_list() == [ingest] and by["dst"].to_list() == ["am-1"]
    assert (stored["actor"], stored["role"], stored["on_behalf_of"]) == ("am-1", "am", "am-1")
    assert store.get_nodes("Match", [ingest])["status"].to_list() == ["validated"]

    # am-2 may not act on am-1's book: refused before anything about the match is said.
    with pytest.raises(NotAuthorized) as refused:
        decide(store, ingest, "kill", actor="am-2", reason="dup", now=NOW)
    assert str(refused.value) == (
        f"am-2 may not kill {ingest}: its owner is am-1 and am-2 is neither am-1's manager "
        "nor an admin; nothing was changed"
    )
    assert refused.value.exit_code == 77
    # A second decision on a decided match, by someone who may decide it (am-1's
    # manager), is a conflict, and changes nothing.
    with pytest.raises(DecisionConflict, match=r"already validated \(validate by am-1 at"):
        decide(store, ingest, "kill", actor="am-3", reason="dup", now=NOW)
    assert store.nodes("Decision").height == 1

    with pytest.raises(DecisionRejected, match="a kill needs a reason"):
        decide(store, vault, "kill", actor="am-1", reason="  ", now=NOW)
    with pytest.raises(DecisionRejected, match="not in the future"):
        decide(store, vault, "defer", actor="am-1", defer_until=NOW.date(), now=NOW)
    with pytest.raises(NotFound, match="no Match with match_id 'm-nope'"):
        decide(store, "m-nope", "validate", actor="am-1", now=NOW)
    with pytest.raises(NotAuthorized, match="am-9 is neither an account manager nor an admin"):
        decide(store, vault, "validate", actor="am-9", now=NOW)

    # Deferred: out of the queue until the date, then back; a rerun keeps the deferral.
    back = NOW.date() + dt.timedelta(days=7)
    decide(store, vault, "defer", actor="am-1", defer_until=back, now=NOW)
    assert vault not in [m["match_id"] for m in top_matches(store, "am-1", today=NOW.date())]
    run_matching(store, as_of=AS_OF)
    again = store.get_nodes("Match", [vault]).row(0, named=True)
    assert (again["status"], again["defer_until"]) == ("deferred", back)
    assert vault in [m["match_id"] for m in top_matches(store, "am-1", today=back)]
    # Decided again once it is back: a kill from the fixed list of reasons, with words.
    with pytest.raises(DecisionRejected, match="unknown reason code 'budget'"):
        decide(store, vault, "kill", actor="am-1", reason_code="budget", now=NOW)
    killed = decide(
        store,
        vault,
        "kill",
        actor="am-1",
        reason="budget frozen",
        reason_code="bad_timing",
        now=NOW,
    )
    assert store.get_nodes("Match", [vault])["status"].to_list() == ["killed"]
    stored = store.get_nodes("Decision", [killed.decision_id]).row(0, named=True)
    assert (stored["reason_code"], stored["reason"]) == ("bad_timing", "budget frozen")


def test_a_kill_may_give_only_a_reason_code(store: GraphStore) -> None:
    build(store)
    run_matching(store, as_of=AS_OF)
    ingest = pair_id("acme", "ingest")
    with pytest.raises(DecisionRejected, match="a validate takes no reason code"):
        decide(store, ingest, "validate", actor="am-1", reason_code="competitor", now=NOW)
    record = decide(store, ingest, "kill", actor="am-1", reason_code="competitor", now=NOW)
    assert record.reason_code == "competitor" and record.reason is None
    stored = store.get_nodes("Decision", [record.decision_id]).row(0, named=True)
    assert (stored["reason_code"], stored["reason"]) == ("competitor", None)


def _synthetic_matches(store: GraphStore, n: int, seed: int = 3) -> list[tuple[str, int]]:
    """Matches whose features say one thing and whose AM says another: AMs here
    value technology fit far more than the prior does, and need evidence less."""
    rng = random.Random(seed)
    rows, truth = [], []
    for i in range(n):
        need = rng.choice([0.0, 0.0, 0.3, 0.8, 1.5])
        tech = rng.choice([0.0, 1.0, 2.0])
        features = {}
        if need:
            features["need_evidence"] = {"n": 1, "w": need}
        if tech:
            features["tech_fit"] = {"n": int(tech), "w": tech}
        z = -2.0 + 0.5 * need + 3.0 * tech + rng.gauss(0, 0.3)
        row = synthetic_match(i, features)
        rows.append(row)
        mid = str(row["match_id"])
        truth.append((mid, 1 if z > 0 else 0))
    store.upsert_nodes("Match", rows)
    # The first 20 are am-1's, the rest am-2's: each AM decides on their own book.
    store.upsert_edges(
        "ASSIGNED_TO",
        [
            {"src_label": "Match", "src": mid, "dst": "am-1" if i < 20 else "am-2"}
            for i, (mid, _) in enumerate(truth)
        ],
    )
    return truth


def test_learning_refits_versions_and_rolls_back(store: GraphStore) -> None:
    build(store)
    truth = _synthetic_matches(store, 120)
    for mid, label in truth[:20]:
        decide(store, mid, "validate" if label else "kill", actor="am-1", reason="sim", now=NOW)
    with pytest.raises(TooFewLabels, match=r"validated and \d+ killed matches; learning needs"):
        learn(store, now=NOW)

    later = NOW + dt.timedelta(minutes=1)
    for i, (mid, label) in enumerate(truth[20:]):
        if i % 10 == 0:  # defers carry no label
            back = later.date() + dt.timedelta(days=30)
            decide(store, mid, "defer", actor="am-2", defer_until=back, now=later)
            continue
        decide(store, mid, "validate" if label else "kill", actor="am-2", reason="sim", now=later)

    report = learn(store, now=later)
    assert report.version == "v1" and report.parent == "prior"
    assert report.labels == 110 and report.held_out > 10
    # It learned what these AMs value, and predicts their held-out decisions better.
    assert report.weights_after["tech_fit"] > report.weights_before["tech_fit"] + 1.0
    assert report.weights_after["need_evidence"] < report.weights_before["need_evidence"]
    assert report.after["log_loss"] < report.before["log_loss"]
    assert report.after["auc"] >= report.before["auc"]
    # Features it has no labels for stay at the prior.
    assert report.weights_after["champion_move"] == pytest.approx(
        report.weights_before["champion_move"], abs=1e-6
    )
    versions = model_versions(store)
    assert versions.select("model_id", "active").rows() == [("v1", True)]

    run = run_matching(store, as_of=AS_OF)
    assert run.model_version == "v1"
    hand = store.nodes("Match", {"account_id": ["acme", "globex"]})
    assert set(hand["model_version"]) == {"v1"}

    second = learn(store, now=later + dt.timedelta(minutes=1), strength=50.0)
    assert (second.version, second.parent) == ("v2", "v1")
    assert activate(store, None) == "v1"
    assert activate(store, "prior") == "prior"
    assert run_matching(store, as_of=AS_OF).model_version == "prior"
    assert activate(store, "v2") == "v2"
    assert model_versions(store).filter(pl.col("active"))["model_id"].to_list() == ["v2"]
    with pytest.raises(ModelVersionNotFound, match="no score model 'v7'"):
        activate(store, "v7")
