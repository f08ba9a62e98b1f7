"""Routing on a matched hand-built graph: the routing fields read from the graph,
`policy simulate`, stored routes (idempotent, superseded by a new policy) on both
stores, and the CLI's JSON."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
from typer.testing import CliRunner

from app.cli import app
from graph_model import connect
from graph_model.store import GraphStore
from matching.run import pair_id, run_matching
from routing.context import current_matches, routing_frame
from routing.policy import load_policy
from routing.route import route_matches
from routing.simulate import simulate
from tests.support.hand_graph import AS_OF, build


def test_routing_fields_come_from_the_graph(store: GraphStore) -> None:
    build(store)
    run_matching(store, as_of=AS_OF)
    frame = routing_frame(store, current_matches(store))
    rows = {(r["account_id"], r["capability_id"]): r for r in frame.iter_rows(named=True)}
    assert set(rows) == {("acme", "ingest"), ("acme", "vault"), ("globex", "ingest")}
    ingest = rows[("acme", "ingest")]
    # Ann (a VP) raised the need; hiring and her post are intent.
    assert ingest["contact_found"] and ingest["contact_senior"]
    assert ingest["intent"] > 0.5 and not ingest["champion"]
    vault = rows[("acme", "vault")]
    # Cat (a director) bought vault at globex: a champion, no stated need.
    assert vault["champion"] and vault["contact_found"] and not vault["contact_senior"]
    assert vault["intent"] == 0.0
    assert not rows[("globex", "ingest")]["contact_found"]  # nobody works at globex
    for row in rows.values():
        assert (row["tier"], row["relationship"], row["open_deal"]) == ("none", "prospect", False)

    result = simulate(store, load_policy())
    by_rule = {r["rule"]: r for r in result["rules"]}
    assert result["matches"] == 3
    assert by_rule["senior_contact"]["matches"] == 1
    assert by_rule["senior_contact"]["example"]["match_id"] == pair_id("acme", "ingest")
    assert by_rule["normal_account"]["example"]["match_id"] == pair_id("acme", "vault")
    assert by_rule["nobody_to_write_to"]["example"]["match_id"] == pair_id("globex", "ingest")
    assert result["actions"] == {"approve": 1, "auto_send": 1, "escalate:custom_message": 1}
    assert sum(r["matches"] for r in result["rules"]) == 3
    # One AM's matches only: am-1 owns acme and globex, am-2 none of these.
    assert simulate(store, load_policy(), am="am-2")["matches"] == 0


def test_policy_commands_print_json_and_refuse_a_bad_file(tmp_path: Path) -> None:
    graph = str(tmp_path / "graph")
    with connect(graph) as store:
        store.ensure_schema()
        build(store)
        run_matching(store, as_of=AS_OF)
    runner = CliRunner()
    checked = runner.invoke(app, ["policy", "check", "--fields", "--json"])
    assert checked.exit_code == 0, checked.output
    payload = json.loads(checked.stdout)
    assert payload["ok"] and payload["rules"][-1] == {
        "rule": "default",
        "action": "escalate",
        "kind": "custom_message",
        "when": [],
    }
    assert "intent" in payload["fields"]
    simulated = runner.invoke(app, ["policy", "simulate", "--graph", graph, "--json"])
    assert simulated.exit_code == 0, simulated.output
    assert json.loads(simulated.stdout)["matches"] == 3

    routed = runner.invoke(app, ["route", "--graph", graph, "--json"])
    assert routed.exit_code == 0, routed.output
    assert json.loads(routed.stdout)["written"] == 3
    again = runner.invoke(app, ["route", "--graph", graph, "--json"])
    assert json.loads(again.stdout)["unchanged"] == 3

    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "rules:\n  - id: only\n    when: [weak == true]\n    action: skip\n    reason: r\n"
    )
    refused = runner.invoke(app, ["policy", "check", "--policy", str(bad)])
    assert refused.exit_code != 0
    assert "the last rule must have no conditions" in refused.output
    assert str(bad) in refused.output.replace("\n", "")


def test_routes_are_stored_once_and_a_new_policy_supersedes_them(
    store: GraphStore, tmp_path: Path
) -> None:
    build(store)
    run_matching(store, as_of=AS_OF)
    policy = load_policy()
    now = dt.datetime(2026, 11, 21, 9, tzinfo=dt.UTC)
    dry = route_matches(store, policy, now=now, dry_run=True)
    assert (dry.matches, dry.written) == (3, 3) and store.nodes("Route").height == 0

    first = route_matches(store, policy, now=now)
    assert (first.written, first.unchanged) == (3, 0)
    routes = store.nodes("Route")
    by_match = {r["match_id"]: r for r in routes.iter_rows(named=True)}
    vault = by_match[pair_id("acme", "vault")]
    assert (vault["action"], vault["rule"], vault["current"]) == (
        "auto_send",
        "normal_account",
        True,
    )
    assert vault["reason"].startswith("a prospect within guardrails (score ")
    assert vault["policy"] == policy.digest and vault["routed_at"] == now
    nobody = by_match[pair_id("globex", "ingest")]
    assert (nobody["action"], nobody["kind"]) == ("escalate", "custom_message")
    edges = store.edges("ROUTES", touching=routes["route_id"], side="source", label="Route")
    assert sorted(edges["dst"].to_list()) == sorted(by_match)

    # Rerun, and a rerun of the match run with the same as-of: nothing new.
    assert route_matches(store, policy, now=now).written == 0
    run_matching(store, as_of=AS_OF)
    assert route_matches(store, policy, now=now).unchanged == 3

    # Another policy: new routes become current, the old ones are kept.
    stricter = tmp_path / "stricter.yaml"
    stricter.write_text(
        "rules:\n  - id: everything_to_a_person\n    action: approve\n"
        "    reason: the owner approves everything for now\n"
    )
    second = route_matches(store, load_policy(stricter), now=now + dt.timedelta(hours=1))
    assert second.written == 3 and second.actions == {"approve": 3}
    routes = store.nodes("Route")
    assert routes.height == 6
    current = routes.filter(pl.col("current"))
    assert set(current["rule"]) == {"everything_to_a_person"}
    assert current["match_id"].n_unique() == 3
