"""Issue 16: what the console lays out, on both stores: the queue frame and its
filters and saved views, the why panel, decisions on what was seen, and bulk
decisions."""

from __future__ import annotations

import datetime as dt
import math
from concurrent.futures import ThreadPoolExecutor

import polars as pl
import pytest

from app.actors import identify
from app.decisions import REASON_CODES, MatchChanged, decide, decide_many
from app.queue import (
    QueueFilter,
    apply_filter,
    books,
    delete_view,
    page,
    queue_frame,
    save_view,
    saved_views,
)
from app.why import graph_elements, match_why
from graph_model.errors import DecisionConflict, DecisionRejected, NotAuthorized
from graph_model.store import GraphStore
from matching.run import pair_id
from tests.support.hand_graph import AS_OF, add_managers, build, hand_over

NOW = AS_OF + dt.timedelta(hours=1)
ACME_INGEST = pair_id("acme", "ingest")


@pytest.fixture
def world(store: GraphStore) -> GraphStore:
    """The hand graph with am-1's managers, matched, and one stored agent batch
    (no channel: nothing is sent)."""
    build(store)
    add_managers(store)
    hand_over(store)
    return store


def _open_matches(store: GraphStore, am: str) -> list[str]:
    """The AM's open matches, with or without a draft waiting, best first."""
    frame = queue_frame(store, am, now=NOW).filter(pl.col("match_id").is_not_null())
    ids = frame.sort("score", descending=True)["match_id"].unique(maintain_order=True)
    found = store.get_nodes("Match", ids).filter(pl.col("status") == "proposed")
    return [m for m in ids.to_list() if m in set(found["match_id"].to_list())]


def test_the_queue_holds_every_kind_best_first_with_names_routes_and_age(
    world: GraphStore,
) -> None:
    frame = queue_frame(world, "am-1", now=NOW + dt.timedelta(days=20), stale_days=14)
    assert frame.height > 0
    kinds = frame["kind"].to_list()
    # Blocking items first, matches last, by score.
    order = {"escalation": 0, "unconfirmed_send": 1, "draft": 2, "task": 3, "match": 4}
    assert [order[k] for k in kinds] == sorted(order[k] for k in kinds)
    matches = frame.filter(pl.col("kind") == "match")
    assert matches["score"].to_list() == sorted(matches["score"].to_list(), reverse=True)
    # Names, not ids; every match has a route from the stored batch.
    assert not frame.filter(pl.col("account") == pl.col("account_id")).height
    assert matches.filter(pl.col("action") == "unrouted").is_empty()
    assert matches["rule"].null_count() == 0
    # An escalation's rule is a rule's name or what raised it, never a record's id.
    escalations = frame.filter(pl.col("kind") == "escalation")
    assert escalations.height and not escalations["rule"].str.contains(":").any()
    # 20 days on, everything is stale at 14 days, and nothing at 30.
    assert frame["stale"].all()
    assert not queue_frame(world, "am-1", now=NOW, stale_days=30)["stale"].any()
    # A match that already has a draft or escalation shows up as that, once.
    taken = frame.filter(pl.col("kind") != "match")["match_id"].drop_nulls()
    assert taken.len() > 0
    assert not matches["match_id"].is_in(taken.implode()).any()


def test_an_am_sees_only_their_book_a_manager_their_reports(world: GraphStore) -> None:
    assert set(queue_frame(world, "am-1", now=NOW)["am_id"]) == {"am-1"}
    with pytest.raises(NotAuthorized):
        queue_frame(world, "am-2", now=NOW, of=["am-1"])
    assert books(world, identify(world, "am-3", action="see", item="q")) == ["am-3", "am-1"]
    assert books(world, identify(world, "am-2", action="see", item="q")) == ["am-2"]
    mine = queue_frame(world, "am-1", now=NOW)
    as_manager = queue_frame(world, "am-4", now=NOW, of=["am-1"])
    assert as_manager["item"].to_list() == mine["item"].to_list()


def test_filters_and_pages(world: GraphStore) -> None:
    frame = queue_frame(world, "am-1", now=NOW)
    only_matches = apply_filter(frame, QueueFilter(kinds=("match",)))
    assert set(only_matches["kind"]) == {"match"}
    high = apply_filter(frame, QueueFilter(min_score=0.5))
    assert (high["score"] >= 0.5).all()
    an_action = frame["action"][0]
    assert set(apply_filter(frame, QueueFilter(actions=(an_action,)))["action"]) == {an_action}
    assert apply_filter(frame, QueueFilter(min_age_days=365)).is_empty()
    assert page(frame, 1, 2)["item"].to_list() == frame["item"].to_list()[:2]
    last = (frame.height - 1) // 2 * 2
    assert page(frame, 99, 2)["item"].to_list() == frame["item"].to_list()[last:]


def test_saved_views_belong_to_one_person(world: GraphStore) -> None:
    ada = identify(world, "am-1", action="see", item="q")
    ben = identify(world, "am-2", action="see", item="q")
    wanted = QueueFilter(kinds=("match",), min_score=0.4, capabilities=("Vault",))
    save_view(world, ada, "strong matches", wanted, now=NOW)
    save_view(world, ada, "strong matches", wanted, now=NOW)  # replaces, not a second one
    assert saved_views(world, ada) == {"strong matches": wanted}
    assert saved_views(world, ben) == {}
    delete_view(world, ada, "strong matches")
    assert saved_views(world, ada) == {}


def test_the_why_panel_tells_evidence_parts_runner_ups_contact_and_graph(
    world: GraphStore,
) -> None:
    match_id = _open_matches(world, "am-1")[0]
    why = match_why(world, match_id, actor="am-1")
    assert why.evidence and all(e.sentence for e in why.evidence)
    # The parts add up to the score's logit.
    z = sum(p["contribution"] for p in why.score_parts)
    assert 1 / (1 + math.exp(-z)) == pytest.approx(why.score, abs=1e-3)
    assert why.score_parts[0]["part"] == "bias"
    assert why.route is not None and why.route["rule"]
    elements = graph_elements(why)
    ids = {n["data"]["id"] for n in elements["nodes"]}
    assert f"Account:{why.account_id}" in ids and f"Capability:{why.capability_id}" in ids
    assert all(e["data"]["source"] in ids and e["data"]["target"] in ids for e in elements["edges"])
    dated = [e for e in why.evidence if e.metapath in ("need_evidence", "buyer_priority")]
    assert all(e.date and e.source for e in dated)
    # Runner-ups are the account's other matches, best first.
    scores = [r["score"] for r in why.runner_ups]
    assert scores == sorted(scores, reverse=True)
    with pytest.raises(NotAuthorized):
        match_why(world, match_id, actor="am-2")


def test_a_decision_on_a_match_that_changed_since_it_was_seen_is_refused(
    world: GraphStore,
) -> None:
    match_id = _open_matches(world, "am-1")[0]
    seen = match_why(world, match_id, actor="am-1").seen
    # Someone else (am-1's manager) decides meanwhile.
    decide(
        world,
        match_id,
        "defer",
        actor="am-3",
        defer_until=NOW.date() + dt.timedelta(days=5),
        now=NOW,
    )
    with pytest.raises(MatchChanged, match=r"status went from proposed to deferred.*am-3"):
        decide(world, match_id, "validate", actor="am-1", seen=seen, now=NOW)
    # A new run rescoring it is a change too.
    other = _open_matches(world, "am-1")[0]
    seen = match_why(world, other, actor="am-1").seen
    row = world.get_node("Match", other)
    world.upsert_nodes("Match", [{**row, "batch_id": "b-newer", "score": 0.2}])
    with pytest.raises(MatchChanged, match="rescored it from"):
        decide(world, other, "kill", actor="am-1", reason_code="no_need", seen=seen, now=NOW)
    assert world.get_node("Match", other)["status"] == "proposed"
    # Seen as it is, the decision goes through, with its reason code.
    seen = match_why(world, other, actor="am-1").seen
    record = decide(world, other, "kill", actor="am-1", reason_code="no_need", seen=seen, now=NOW)
    assert world.get_node("Decision", record.decision_id)["reason_code"] == "no_need"


def test_bulk_kill_decides_each_once_and_reports_the_rest(world: GraphStore) -> None:
    ids = _open_matches(world, "am-1")
    assert len(ids) >= 2
    decide(world, ids[0], "validate", actor="am-1", now=NOW)
    foreign = _open_matches(world, "am-2")
    result = decide_many(
        world,
        [*ids, *foreign[:1]],
        "kill",
        actor="am-1",
        reason_code="bad_timing",
        reason="budget frozen",
        now=NOW,
    )
    assert sorted(result.decided) == sorted(ids[1:])
    assert list(result.conflicts) == [ids[0]]
    assert list(result.refused) == foreign[:1]
    statuses = world.get_nodes("Match", ids[1:])["status"].unique().to_list()
    assert statuses == ["killed"]
    decisions = world.nodes("Decision").filter(pl.col("kind") == "kill")
    assert decisions.height == len(ids) - 1
    assert set(decisions["reason_code"]) == {"bad_timing"}
    assert set(decisions["actor"]) == {"am-1"}
    # Again: nothing is decided twice.
    again = decide_many(world, ids, "kill", actor="am-1", reason_code="bad_timing", now=NOW)
    assert again.decided == [] and len(again.conflicts) == len(ids)
    assert world.nodes("Decision").filter(pl.col("kind") == "kill").height == len(ids) - 1


def test_bulk_defer_needs_a_future_date_and_a_known_reason_code(world: GraphStore) -> None:
    ids = _open_matches(world, "am-1")
    with pytest.raises(DecisionRejected, match="future"):
        decide_many(world, ids, "defer", actor="am-1", defer_until=NOW.date(), now=NOW)
    with pytest.raises(DecisionRejected, match="unknown reason code"):
        decide_many(world, ids, "kill", actor="am-1", reason_code="because", now=NOW)
    assert "other" in REASON_CODES
    result = decide_many(
        world, ids, "defer", actor="am-3", defer_until=NOW.date() + dt.timedelta(days=3), now=NOW
    )
    assert sorted(result.decided) == sorted(ids)
    roles = world.nodes("Decision")["role"].unique().to_list()
    assert roles == ["manager"]
    deferred = world.get_nodes("Match", ids)
    assert set(deferred["status"]) == {"deferred"}
    assert set(deferred["defer_until"]) == {NOW.date() + dt.timedelta(days=3)}
    # Deferred matches are still open; once validated, a second decision conflicts.
    decide(world, ids[0], "validate", actor="am-1", now=NOW)
    with pytest.raises(DecisionConflict, match="already validated"):
        decide(world, ids[0], "kill", actor="am-1", reason_code="other", now=NOW)


def test_two_people_deciding_at_the_same_time_lose_nothing(world: GraphStore) -> None:
    """Point 9: two people in two sessions (threads, as console users are) decide at
    once on one book, one at a time and in bulk, overlapping on one match: every
    match is decided exactly once and nothing is lost."""
    matches = _open_matches(world, "am-1")
    assert len(matches) >= 3
    mine, theirs = matches[:2], matches[1:]  # matches[1] is wanted by both

    def one_by_one() -> list[str]:
        won = []
        for m in mine:
            try:
                decide(world, m, "validate", actor="am-1", now=NOW)
                won.append(m)
            except DecisionConflict:
                pass  # the manager got there first: told, not applied
        return won

    def in_bulk() -> list[str]:
        result = decide_many(world, theirs, "kill", actor="am-3", reason_code="other", now=NOW)
        return result.decided

    with ThreadPoolExecutor(2) as pool:
        ada, cy = pool.submit(one_by_one), pool.submit(in_bulk)
        won = ada.result() + cy.result()
    assert sorted(won) == sorted(matches)
    decided = world.nodes("Decision")
    on = world.edges("DECIDED_ON", touching=decided["decision_id"], side="source")
    per_match = on.group_by("dst").len()
    assert set(per_match["dst"]) == set(matches)
    assert set(per_match["len"]) == {1}
    statuses = dict(world.get_nodes("Match", matches).select("match_id", "status").iter_rows())
    assert statuses[matches[0]] == "validated" and statuses[matches[-1]] == "killed"
