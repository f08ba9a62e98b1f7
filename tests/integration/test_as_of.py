"""``--as-of`` reads no future, on both stores: a deal won or lost later, a later
signal, a later job change and later decisions do not exist as of an earlier time;
``match explain --as-of`` agrees with ``match run --as-of``."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from graph_model.errors import StoreError
from graph_model.store import GraphStore
from matching.asof import as_of_view
from matching.evaluate import Evaluator, PathResult
from matching.metapaths import load_metapaths
from matching.model import load_prior
from matching.read import explain_pair
from matching.run import Matcher, pair_id, run_matching
from routing.policy import load_policy
from routing.route import current_routes, route_matches
from tests.support.hand_graph import AS_OF, ago, build

ACCOUNTS = ["acme", "globex", "initech", "umbrella"]
# Before initech won ``ingest`` (o4 closed 2026-01-15) and acme won ``vault`` (o5).
BEFORE_WINS = dt.datetime(2025, 12, 1, 12, 0, tzinfo=dt.UTC)


def _results(store: GraphStore, as_of: dt.datetime) -> dict[str, PathResult]:
    metapaths = load_metapaths()
    evaluator = Evaluator(store, metapaths, load_prior(metapaths=metapaths), as_of=as_of)
    return {r.metapath.id: r for r in evaluator.evaluate(ACCOUNTS)}


def _reached(result: PathResult) -> set[tuple[str, ...]]:
    cols = [c for c in ("account_id", "capability_id") if c in result.pairs.columns]
    return {tuple(row) for row in result.pairs.select(cols).iter_rows()}


def _add_won_deal_created_before(store: GraphStore) -> None:
    """o5: acme bought ``vault``, opened 2025-10-01 and won 2026-03-01."""
    store.upsert_nodes(
        "Opportunity",
        [
            {
                "opportunity_id": "o5",
                "name": "Acme vault",
                "stage": "Closed Won",
                "status": "won",
                "close_date": dt.date(2026, 3, 1),
                "created_at": dt.datetime(2025, 10, 1, tzinfo=dt.UTC),
            }
        ],
    )
    store.upsert_edges("INCLUDES", [{"src": "o5", "dst": "vault"}])
    store.upsert_edges("FOR", [{"src_label": "Opportunity", "src": "o5", "dst": "acme"}])


def test_a_deal_won_later_neither_gates_nor_counts_as_a_win(store: GraphStore) -> None:
    build(store)
    _add_won_deal_created_before(store)
    now = _results(store, AS_OF)
    assert ("initech", "ingest") in _reached(now["already_bought"])
    assert ("globex", "ingest") in _reached(now["lookalike_wins"])
    assert ("globex", "ingest") in _reached(now["subsidiary_wins"])
    assert ("acme", "vault") in _reached(now["already_bought"])

    then = _results(store, BEFORE_WINS)
    assert ("initech", "ingest") not in _reached(then["already_bought"])
    assert ("globex", "ingest") not in _reached(then["lookalike_wins"])
    assert ("globex", "ingest") not in _reached(then["subsidiary_wins"])
    assert ("initech", "ingest") not in _reached(then["am_track_record"])
    # A deal created before and won after the as-of time was still open then; one
    # with no creation date (o4) did not exist yet.
    assert ("acme", "vault") not in _reached(then["already_bought"])
    assert ("acme", "vault") in _reached(then["open_deal"])
    assert ("initech", "ingest") not in _reached(then["open_deal"])
    opportunities = as_of_view(store, BEFORE_WINS).nodes("Opportunity", {"status": "won"})
    assert opportunities["opportunity_id"].to_list() == ["o1"]
    # A narrower read applies the same rule: o5 was still open then.
    narrow = as_of_view(store, BEFORE_WINS).nodes("Opportunity", fields=["status"])
    assert narrow.columns == ["opportunity_id", "status"]
    assert narrow.filter(pl.col("opportunity_id") == "o5")["status"].to_list() == ["open"]


def test_a_loss_recorded_later_does_not_gate(store: GraphStore) -> None:
    build(store)
    assert ("initech", "vault") in _reached(_results(store, AS_OF)["recent_loss"])
    # o3 was lost 30 days before AS_OF: 40 days before, nothing was lost yet.
    assert ("initech", "vault") not in _reached(_results(store, ago(40))["recent_loss"])


def test_a_later_signal_is_not_evidence(store: GraphStore) -> None:
    build(store)
    now = _results(store, AS_OF)
    assert ("acme", "ingest") in _reached(now["need_evidence"])
    # The hiring signal came 10 days before AS_OF; Ann's post 45 days before.
    then = _results(store, ago(20))
    assert ("acme", "ingest") not in _reached(then["need_evidence"])
    assert ("acme", "ingest") in _reached(then["buyer_priority"])
    view = as_of_view(store, ago(20))
    assert view.edges("EMITTED", ["acme"], side="source")["dst"].to_list() == ["s-old"]
    known = view.nodes("Signal", fields=["kind"])
    assert known.columns == ["signal_id", "kind"]
    assert known["signal_id"].to_list() == view.nodes("Signal")["signal_id"].to_list()
    assert view.edges("INDICATES")["src"].unique().to_list() == ["s-post"]


def test_a_later_job_change_credits_no_champion(store: GraphStore) -> None:
    build(store)
    # Cat (the decision maker on Globex's vault deal) left Globex 30 days before
    # AS_OF: 40 days before, she was still there, and championed nothing at Acme.
    assert ("acme", "vault") in _reached(_results(store, AS_OF)["champion_deal"])
    assert ("acme", "vault") not in _reached(_results(store, ago(40))["champion_deal"])
    view = as_of_view(store, ago(40))
    at_globex = view.edges("WORKS_AT", ["globex"], side="target", label="Account")
    assert at_globex["src"].to_list() == ["cat"]
    assert view.edges("PREVIOUSLY_AT").is_empty()


def test_a_job_started_later_does_not_exist(store: GraphStore) -> None:
    build(store)
    store.upsert_edges("WORKS_AT", [{"src": "ann", "dst": "acme", "since": ago(5).date()}])
    works = as_of_view(store, ago(20)).edges("WORKS_AT", ["acme"], side="target")
    assert sorted(works["src"].to_list()) == ["bob", "cat"]


def test_explain_as_of_agrees_with_match_run_as_of(store: GraphStore) -> None:
    build(store)
    # acme bought ``ingest`` 5 days before AS_OF (o6, no creation date): 20 days
    # before, the deal did not exist and the pair was worth surfacing.
    store.upsert_nodes(
        "Opportunity",
        [
            {
                "opportunity_id": "o6",
                "name": "Acme ingest",
                "stage": "Closed Won",
                "status": "won",
                "close_date": ago(5).date(),
            }
        ],
    )
    store.upsert_edges("INCLUDES", [{"src": "o6", "dst": "ingest"}])
    store.upsert_edges("FOR", [{"src_label": "Opportunity", "src": "o6", "dst": "acme"}])
    then = ago(20)
    run_matching(store, as_of=then)
    stored = store.nodes("Match")
    assert pair_id("acme", "ingest") in stored["match_id"].to_list()
    for row in stored.iter_rows(named=True):
        live = explain_pair(store, row["account_id"], row["capability_id"], as_of=then)
        assert live["surfaced"] and live["score"] == row["score"], row["match_id"]
        assert live["explanation"] == row["explanation"]
        assert live["evidence"] == row["evidence"]
    # The hiring signal (10 days before AS_OF) is not part of the case as of then.
    (acme,) = stored.filter(pl.col("match_id") == pair_id("acme", "ingest")).iter_rows(named=True)
    assert not any("hiring" in line for line in acme["evidence"])
    # The whole book scored as of then gives the same pairs as one account at a time.
    whole, _ = Matcher(store, as_of=then).score(ACCOUNTS)
    for account in ACCOUNTS:
        alone, _ = Matcher(store, as_of=then).score([account])
        mine = whole.filter(pl.col("account_id") == account)
        assert alone.select("capability_id", "score", "gates").equals(
            mine.select("capability_id", "score", "gates")
        )


def test_the_view_is_read_only(store: GraphStore) -> None:
    build(store)
    with pytest.raises(StoreError, match="cannot write through a view"):
        as_of_view(store, AS_OF).upsert_nodes("Industry", [{"industry_id": "x", "name": "X"}])


def test_routing_reads_the_graph_as_of_its_time(store: GraphStore) -> None:
    build(store)
    run_matching(store, as_of=AS_OF)
    # A deal with acme opened 60 days before AS_OF and won 5 days after it: routing
    # at AS_OF sees it open, so the owner approves anything sent to acme.
    store.upsert_nodes(
        "Opportunity",
        [
            {
                "opportunity_id": "o7",
                "name": "Acme vault renewal",
                "stage": "Closed Won",
                "status": "won",
                "close_date": (AS_OF + dt.timedelta(days=5)).date(),
                "created_at": ago(60),
            }
        ],
    )
    store.upsert_edges("INCLUDES", [{"src": "o7", "dst": "vault"}])
    store.upsert_edges("FOR", [{"src_label": "Opportunity", "src": "o7", "dst": "acme"}])
    route_matches(store, load_policy(), now=AS_OF)
    routes = current_routes(store, [pair_id("acme", "ingest")])
    assert routes["rule"].to_list() == ["open_deal"]
