"""`policy simulate` on a matched hand-built graph: the routing fields read from
the graph on both stores, and the CLI's JSON."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from app.cli import app
from graph_model import connect
from graph_model.store import GraphStore
from matching.run import pair_id, run_matching
from routing.context import current_matches, routing_frame
from routing.policy import load_policy
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

    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "rules:\n  - id: only\n    when: [weak == true]\n    action: skip\n    reason: r\n"
    )
    refused = runner.invoke(app, ["policy", "check", "--policy", str(bad)])
    assert refused.exit_code != 0
    assert "the last rule must have no conditions" in refused.output
    assert str(bad) in refused.output.replace("\n", "")
