"""Learning does not flood the queue, and learns only from what was decided by its
as-of time, on both stores: the refit's threshold is recalibrated on held-out
decisions, both queues are reported with their share of dated current evidence,
and a refit that would surface more than 1.5x the matches is refused unless forced."""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path

import pytest

from app.decisions import decide
from graph_model import connect
from graph_model.store import GraphStore
from matching.learn import learn
from matching.model import model_versions
from matching.run import run_matching
from tests.integration.test_cli import run
from tests.support.hand_graph import AS_OF, build, synthetic_match

NOW = AS_OF + dt.timedelta(hours=1)


def _decided(store: GraphStore, n: int, *, now: dt.datetime, first: int = 0, seed: int = 5) -> None:
    """``n`` matches AMs decided at ``now``: those resting on industry fit alone are
    mostly validated, those with a little need evidence mostly killed."""
    rng = random.Random(seed + first)
    rows, labels = [], []
    for i in range(first, first + n):
        industry = i % 2 == 0
        features = (
            {"industry_fit": {"n": 1, "w": 1.0}}
            if industry
            else {"need_evidence": {"n": 1, "w": 0.3}}
        )
        row = synthetic_match(i, features, created_at=now - dt.timedelta(minutes=5))
        rows.append(row)
        mid = str(row["match_id"])
        labels.append((mid, rng.random() < (0.85 if industry else 0.25)))
    store.upsert_nodes("Match", rows)
    store.upsert_edges(
        "ASSIGNED_TO", [{"src_label": "Match", "src": mid, "dst": "am-1"} for mid, _ in labels]
    )
    for mid, good in labels:
        decide(store, mid, "validate" if good else "kill", actor="am-1", reason="sim", now=now)


def _software_book(store: GraphStore, n: int) -> None:
    """``n`` more Software accounts of am-1's with nothing but industry fit for ``ingest``."""
    store.upsert_nodes(
        "Account", [{"account_id": f"sw{i:02d}", "name": f"Soft {i}"} for i in range(n)]
    )
    store.upsert_edges("IN_INDUSTRY", [{"src": f"sw{i:02d}", "dst": "software"} for i in range(n)])
    store.upsert_edges("OWNS", [{"src": "am-1", "dst": f"sw{i:02d}"} for i in range(n)])


def test_a_refit_that_floods_the_queue_is_refused_unless_forced(store: GraphStore) -> None:
    build(store)
    _software_book(store, 30)
    run_matching(store, as_of=AS_OF)
    _decided(store, 120, now=NOW)

    report = learn(store, now=NOW)
    assert report.weights_after["industry_fit"] > report.weights_before["industry_fit"] + 1.0
    before, after = report.queue_before, report.queue_after
    assert after["surfaced"] > 1.5 * before["surfaced"] > 0
    # Industry fit is not current evidence: the share falls.
    assert after["current_share"] < before["current_share"]
    assert before["with_current_evidence"] == after["with_current_evidence"] > 0
    assert report.refused is not None and "1.5x" in report.refused
    assert report.version == report.parent == "prior"
    assert model_versions(store).is_empty()

    forced = learn(store, now=NOW, force=True)
    assert forced.refused is None and forced.version == "v1"
    assert any(note.startswith("forced:") for note in forced.notes)
    assert model_versions(store)["model_id"].to_list() == ["v1"]


def test_the_threshold_is_recalibrated_and_both_queues_are_reported(store: GraphStore) -> None:
    build(store)
    run_matching(store, as_of=AS_OF)
    _decided(store, 120, now=NOW)
    report = learn(store, now=NOW, save=False)
    assert report.refused is None
    assert report.threshold_before == 0.1
    assert report.precision_before is not None and report.precision_after is not None
    assert report.precision_after >= report.precision_before
    assert report.threshold_after >= 0.1
    for queue in (report.queue_before, report.queue_after):
        assert set(queue) == {"surfaced", "with_current_evidence", "current_share"}
    # The hand graph's queue: acme's two matches rest on a recent signal and a recent move.
    assert report.queue_before["surfaced"] >= 2
    assert report.queue_before["with_current_evidence"] >= 2


def test_learning_as_of_a_time_ignores_later_decisions(store: GraphStore) -> None:
    build(store)
    _decided(store, 60, now=NOW)
    later = NOW + dt.timedelta(days=2)
    _decided(store, 60, now=later, first=60)
    assert learn(store, now=later, save=False).labels == 120
    then = learn(store, as_of=NOW + dt.timedelta(hours=1), save=False)
    assert then.labels == 60 and then.as_of is not None
    with pytest.raises(Exception, match="too few decisions"):
        learn(store, as_of=NOW - dt.timedelta(hours=1), save=False)


def test_the_command_refuses_a_flood_and_reports_both_queues(tmp_path: Path) -> None:
    graph = tmp_path / "graph"
    with connect(str(graph)) as store:
        store.ensure_schema()
        build(store)
        _software_book(store, 30)
        run_matching(store, as_of=AS_OF)
        _decided(store, 120, now=NOW)
    env = {"TWOLOOP_GRAPH_URI": str(graph)}
    refused = run(["learn", "--json"], tmp_path, env=env, check=False)
    assert refused.returncode == 6
    payload = json.loads(refused.stdout)
    assert payload["stored"] is False and "1.5x" in payload["refused"]
    assert payload["queue_after"]["surfaced"] > payload["queue_before"]["surfaced"]
    table = run(["learn", "--dry-run"], tmp_path, env=env, check=False)
    assert table.returncode == 6 and "refused:" in table.stderr
    assert "share with dated current evidence" in table.stdout
    forced = run(["learn", "--force", "--json"], tmp_path, env=env)
    assert json.loads(forced.stdout)["stored"] is True
