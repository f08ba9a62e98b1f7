"""Escalation triggers on a matched graph, on both stores: a trigger opens a
blocking escalation with its handoff packet, the account's matches wait, an
opt-out suppresses the person, reruns open nothing, and a resolve (once) lets
automation go on."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest

from app.human_loop import resolve_escalation
from graph_model.errors import DecisionConflict, DecisionRejected, NotAuthorized
from graph_model.store import GraphStore
from matching.run import pair_id, run_matching
from routing.context import current_matches, routing_frame
from routing.escalation import detect_escalations, open_escalations
from routing.policy import load_policy
from routing.simulate import simulate
from tests.support.hand_graph import AS_OF, add_managers, ago, build


def _reply(store: GraphStore, activity_id: str, text: str, *, person: str = "ann") -> None:
    store.upsert_nodes(
        "Activity",
        [
            {
                "activity_id": activity_id,
                "kind": "email",
                "direction": "inbound",
                "occurred_at": ago(1),
                "subject": "Re: your note",
                "summary": text,
            }
        ],
    )
    store.upsert_edges("ABOUT", [{"src": activity_id, "dst": "acme"}])
    store.upsert_edges("INVOLVED", [{"src": activity_id, "dst_label": "Person", "dst": person}])


def test_a_pricing_dispute_stops_automation_until_resolved(store: GraphStore) -> None:
    build(store)
    add_managers(store)
    run_matching(store, as_of=AS_OF)
    _reply(store, "r1", "Before anything else: the last invoice is wrong, we were overcharged.")
    report = detect_escalations(store, now=AS_OF)
    assert (report.opened, report.by_kind) == (1, {"pricing_dispute": 1})
    (escalation,) = open_escalations(store).to_dicts()
    assert escalation["account_id"] == "acme" and escalation["am_id"] == "am-1"
    assert escalation["trigger"] == "activity:r1" and "overcharged" in escalation["excerpt"]
    assert escalation["question"].startswith("Acme")
    packet = json.loads(escalation["packet"])
    assert packet["account"]["account_id"] == "acme"
    assert {p["person_id"] for p in packet["people"]} >= {"ann", "bob", "cat"}
    assert {e["match_id"] for e in packet["evidence"]} == {
        pair_id("acme", "ingest"),
        pair_id("acme", "vault"),
    }
    assert all(e["evidence"] and e["paths"] for e in packet["evidence"])
    assert any("overcharged" in h["text"] for h in packet["history"])
    assert packet["question"] == escalation["question"]
    queued = store.edges("ASSIGNED_TO", touching=["am-1"], side="target", label="AccountManager")
    assert escalation["escalation_id"] in queued["src"].to_list()

    # Every acme match waits; globex is untouched.
    result = simulate(store, load_policy())
    waiting = [r for r in result["rules"] if r["rule"] == "account_escalated"]
    assert waiting and waiting[0]["matches"] == 2
    frame = routing_frame(store, current_matches(store))
    assert frame.filter(pl.col("account_id") == "acme")["escalation"].to_list() == [
        "pricing_dispute",
        "pricing_dispute",
    ]

    # Running again opens nothing new.
    again = detect_escalations(store, now=AS_OF)
    assert (again.opened, again.already_known) == (0, 1)

    with pytest.raises(DecisionRejected):
        resolve_escalation(
            store, escalation["escalation_id"], actor="am-1", resolution=" ", now=AS_OF
        )
    done = resolve_escalation(
        store,
        escalation["escalation_id"],
        actor="am-1",
        resolution="Credit note sent; pricing unchanged.",
        now=AS_OF,
    )
    assert done["status"] == "resolved"
    assert open_escalations(store).height == 0
    assert "account_escalated" not in {
        r["rule"] for r in simulate(store, load_policy())["rules"] if r["matches"]
    }
    # am-2 may not act on am-1's escalation (and is not told who resolved it); am-1's
    # director may, and finds it resolved.
    with pytest.raises(NotAuthorized, match="its owner is am-1 and am-2 is neither"):
        resolve_escalation(
            store, escalation["escalation_id"], actor="am-2", resolution="me too", now=AS_OF
        )
    with pytest.raises(DecisionConflict, match="already resolved by am-1"):
        resolve_escalation(
            store, escalation["escalation_id"], actor="am-4", resolution="me too", now=AS_OF
        )
    # A resolved trigger never reopens.
    assert detect_escalations(store, now=AS_OF + dt.timedelta(hours=1)).opened == 0
    decisions = store.edges("DECIDED_ON", touching=[escalation["escalation_id"]], side="target")
    assert decisions.height == 1


def test_an_opt_out_suppresses_the_person_for_good(store: GraphStore) -> None:
    build(store)
    _reply(store, "r2", "STOP", person="cat")
    report = detect_escalations(store, now=AS_OF)
    assert report.by_kind == {"opt_out": 1}
    assert report.suppressed == ["cat@acme.example"]
    cat = store.get_nodes("Person", ["cat"]).row(0, named=True)
    assert cat["do_not_contact"] is True and cat["full_name"]  # the rest kept
    assert store.get_nodes("Suppression", ["cat@acme.example"]).height == 1
    (escalation,) = open_escalations(store).to_dicts()
    assert escalation["question"].startswith("Cat")


def test_old_texts_and_dry_runs_open_nothing(store: GraphStore) -> None:
    build(store)
    _reply(store, "r3", "Our lawyers will be in touch.")
    late = AS_OF + dt.timedelta(days=200)
    assert detect_escalations(store, now=late).hits == 0
    dry = detect_escalations(store, now=AS_OF, dry_run=True)
    assert dry.opened == 1 and dry.escalations[0]["kind"] == "legal_review"
    assert store.nodes("Escalation").height == 0
