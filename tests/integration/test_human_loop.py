"""The human loop: queue, edits that teach style notes, cancels that teach the
ranking, Tier A voice notes with a task and an alert, and the CLI end to end."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from app.agent_loop import run_agent_loop
from app.cli import app
from app.human_loop import cancel_draft, edit_draft, resolve_item, work_queue
from drafting.offline import OfflineDrafter
from drafting.style import MAX_NOTES, record_style
from graph_model import connect
from graph_model.errors import DecisionConflict, DecisionRejected
from graph_model.store import GraphStore
from matching.learn import labelled_decisions
from matching.run import pair_id, run_matching
from routing.channels.webhook import WebhookChannel
from routing.policy import load_policy
from routing.sending import load_sending
from tests.support.hand_graph import AS_OF, add_managers, build
from tests.support.servers import free_port, webhook_server

SENDING = load_sending().model_copy(
    update={"from_domains": ["vendor.example"], "link_domains": ["vendor.example"]}
)
APPROVE = pair_id("acme", "ingest")


def _loop(store: GraphStore, **extra: Any) -> Any:
    return run_agent_loop(
        store,
        policy=load_policy(),
        drafter=OfflineDrafter(),
        sending=SENDING,
        now=extra.pop("now", AS_OF),
        min_personalization=0.5,
        **extra,
    )


def test_an_edit_sends_the_edit_and_teaches_the_next_draft(store: GraphStore) -> None:
    build(store)
    run_matching(store, as_of=AS_OF)
    _loop(store)
    draft = store.nodes("Draft", {"match_id": APPROVE}).row(0, named=True)
    edited = "Hello Ann,\n\nAcme's hiring points to pipeline reliability.\n\nBest, Ada"
    result = edit_draft(
        store, draft["draft_id"], actor="am-1", now=AS_OF, sending=SENDING, body=edited
    )
    message = store.get_nodes("OutboxMessage", [result["message_id"]]).row(0, named=True)
    assert message["body"].startswith(edited) and message["released_by"] == "am-1"
    stored = store.get_nodes("Draft", [draft["draft_id"]]).row(0, named=True)
    assert stored["status"] == "edited" and stored["original_body"] == draft["body"]
    notes = {n["rule"]: n["text"] for n in store.nodes("StyleNote", {"am_id": "am-1"}).to_dicts()}
    assert notes["greeting"] == "Opens with: Hello {first_name},"
    assert notes["sign_off"] == "Signs off with: Best, {am_first_name}"
    stored_notes = store.nodes("StyleNote", {"am_id": "am-1"}).height
    assert store.edges("STYLE_OF", touching=["am-1"], side="target").height == stored_notes
    with pytest.raises(DecisionConflict, match="already edited"):
        edit_draft(store, draft["draft_id"], actor="am-1", now=AS_OF, sending=SENDING, body="x")
    # The next drafts of am-1 follow the notes: a new match for Cat at acme.
    store.upsert_nodes(
        "Need", [{"need_id": "privacy", "name": "Privacy compliance", "phrases": ["gdpr"]}]
    )
    build_more = store.get_nodes("Match", [pair_id("acme", "vault")]).row(0, named=True)
    store.delete_nodes(
        "Draft", [d for d in store.nodes("Draft", {"match_id": build_more["match_id"]})["draft_id"]]
    )
    store.delete_nodes(
        "OutboxMessage",
        store.nodes("OutboxMessage", {"match_id": build_more["match_id"]})["message_id"].to_list(),
    )
    _loop(store)
    redrafted = store.nodes("Draft", {"match_id": build_more["match_id"]}).row(0, named=True)
    assert redrafted["body"].startswith("Hello Cat,") and redrafted["body"].endswith("Best, Ada")


def test_many_edits_stay_compact(embedded_store: GraphStore) -> None:
    store = embedded_store
    build(store)
    for i in range(12):
        with store.batch() as write:
            note = [("avoids", f'Cuts sentences like: "line {i}"')]
            record_style(write, store, "am-1", note, now=AS_OF + dt.timedelta(minutes=i))
    with store.batch() as write:
        again = [("avoids", 'Cuts sentences like: "line 11"')]
        record_style(write, store, "am-1", again, now=AS_OF + dt.timedelta(hours=1))
    notes = store.nodes("StyleNote", {"am_id": "am-1"})
    assert notes.height == MAX_NOTES
    assert notes.sort("support")["text"][-1] == 'Cuts sentences like: "line 11"'
    assert store.edges("STYLE_OF", touching=["am-1"], side="target").height == MAX_NOTES


def test_a_cancel_kills_the_match_and_labels_it(store: GraphStore) -> None:
    build(store)
    run_matching(store, as_of=AS_OF)
    _loop(store)
    draft_id = store.nodes("Draft", {"match_id": APPROVE})["draft_id"][0]
    with pytest.raises(DecisionRejected):
        cancel_draft(store, draft_id, actor="am-1", now=AS_OF, reason=" ")
    with pytest.raises(DecisionRejected, match="unknown reason code 'price'"):
        cancel_draft(store, draft_id, actor="am-1", now=AS_OF, reason_code="price")
    result = cancel_draft(
        store,
        draft_id,
        actor="am-1",
        now=AS_OF,
        reason="they just bought a competitor",
        reason_code="competitor",
    )
    assert store.get_nodes("Match", [APPROVE])["status"].to_list() == ["killed"]
    decision = store.get_nodes("Decision", [result["decision_id"]]).row(0, named=True)
    assert (decision["reason_code"], decision["reason"]) == (
        "competitor",
        "they just bought a competitor",
    )
    labels = labelled_decisions(store)
    assert labels.filter(labels["match_id"] == APPROVE)["label"].to_list() == [0]
    assert store.nodes("OutboxMessage", {"draft_id": draft_id}).height == 0


def test_tier_a_gets_a_voice_note_task_a_packet_and_an_alert(store: GraphStore) -> None:
    build(store)
    acme = store.get_nodes("Account", ["acme"]).row(0, named=True)
    store.upsert_nodes("Account", [{**acme, "tier": "A"}])
    run_matching(store, as_of=AS_OF)
    with webhook_server() as hook:
        report = _loop(store, alerts=WebhookChannel(hook.url))
        assert report.actions.get("escalate:voice_note") == 2
        assert report.alerts == 3  # two voice notes, one custom message (globex)
        assert any("Voice note" in p["text"] or "voice note" in p["text"] for p in hook.posts)
    tasks = store.nodes("Task", {"kind": "voice_note"})
    assert tasks.height == 2 and all("QUESTION:" in b for b in tasks["body"].to_list())
    queue = work_queue(store, "am-1", now=AS_OF + dt.timedelta(days=1))
    kinds = [i["type"] for i in queue]
    assert kinds.count("task:voice_note") == 2 and kinds.count("escalation:voice_note") == 2
    assert all(i["age"] == "1d 0h" for i in queue)
    task_id = tasks["task_id"][0]
    resolve_item(store, task_id, actor="am-1", now=AS_OF, answer="recorded and sent from my phone")
    assert store.get_nodes("Task", [task_id])["status"].to_list() == ["done"]
    with pytest.raises(DecisionConflict):
        resolve_item(store, task_id, actor="am-1", now=AS_OF, answer="again")
    # Non-blocking: other automation on the account goes on (nothing waits).
    assert "wait:escalation_resolved" not in _loop(store).actions


def _graph(tmp_path: Path) -> str:
    graph = str(tmp_path / "graph")
    with connect(graph) as store:
        store.ensure_schema()
        build(store)
        add_managers(store)
        run_matching(store, as_of=AS_OF)
    return graph


def test_the_loops_from_the_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    graph = _graph(tmp_path)
    sending = tmp_path / "sending.yaml"
    sending.write_text(
        (Path("routing/sending.yaml").read_text()).replace(
            "from_domains: [northwind.example]", "from_domains: [vendor.example]"
        )
    )
    monkeypatch.setenv("TWOLOOP_SENDING_CONFIG", str(sending))
    monkeypatch.delenv("TWOLOOP_SMTP_HOST", raising=False)
    runner = CliRunner()
    now = ["--now", AS_OF.isoformat()]
    dry = runner.invoke(app, ["run", "--dry-run", "--graph", graph, "--json", *now])
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout)["actions"] == {
        "approve": 1,
        "auto_send": 1,
        "escalate:custom_message": 1,
    }
    real = runner.invoke(app, ["run", "--graph", graph, *now])
    assert real.exit_code == 0, real.output
    assert "no TWOLOOP_SMTP_HOST" in real.output and "[normal_account]" in real.output
    again = runner.invoke(app, ["run", "--graph", graph, "--json", *now])
    assert json.loads(again.stdout)["released"] == 0
    queue = runner.invoke(app, ["queue", "--am", "am-1", "--graph", graph, "--json", *now])
    items = json.loads(queue.stdout)["items"]
    approval = next(i for i in items if i["type"] == "approval")
    approved = runner.invoke(
        app, ["approve", approval["item"], "--am", "am-1", "--graph", graph, "--json", *now]
    )
    assert approved.exit_code == 0, approved.output
    assert json.loads(approved.stdout)["message_id"].startswith("msg-")
    # am-2 may not act on am-1's book, and is not told who approved it.
    refused = runner.invoke(
        app, ["approve", approval["item"], "--am", "am-2", "--graph", graph, *now]
    )
    assert refused.exit_code == 77 and "already approved" not in refused.output
    assert "its owner is am-1 and am-2 is neither am-1's manager nor an admin" in refused.output
    # am-1's manager may, and approving again is a conflict naming who approved.
    conflict = runner.invoke(
        app, ["approve", approval["item"], "--am", "am-3", "--graph", graph, *now]
    )
    assert conflict.exit_code == 5 and "already approved (approve by am-1" in conflict.output
    escalation = next(i for i in items if i["type"].startswith("escalation"))
    resolved = runner.invoke(
        app,
        [
            "resolve",
            escalation["item"],
            "--am",
            "am-1",
            "--answer",
            "Ben knows their CTO; he writes.",
            "--graph",
            graph,
        ],
    )
    assert resolved.exit_code == 0, resolved.output
    relay = runner.invoke(app, ["relay", "--graph", graph])
    assert relay.exit_code == 2 and "TWOLOOP_SMTP_HOST" in relay.output
    bad = runner.invoke(app, ["run", "--graph", graph, "--now", "2026-11-20T12:00"])
    assert bad.exit_code == 2 and "time zone" in bad.output


def test_relay_exits_non_zero_when_smtp_takes_nothing_and_sends_are_settled_explicitly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    graph = _graph(tmp_path)
    sending = tmp_path / "sending.yaml"
    sending.write_text(
        Path("routing/sending.yaml")
        .read_text()
        .replace("from_domains: [northwind.example]", "from_domains: [vendor.example]")
    )
    monkeypatch.setenv("TWOLOOP_SENDING_CONFIG", str(sending))
    monkeypatch.setenv("TWOLOOP_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("TWOLOOP_SMTP_PORT", str(free_port()))  # nobody listens there
    monkeypatch.setenv("TWOLOOP_SMTP_STARTTLS", "false")
    runner = CliRunner()
    now = ["--now", AS_OF.isoformat()]
    run = runner.invoke(app, ["run", "--graph", graph, *now])
    assert run.exit_code == 3 and "could not be handed to SMTP" in run.output
    later = ["--now", (AS_OF + dt.timedelta(minutes=6)).isoformat()]
    relay = runner.invoke(app, ["relay", "--graph", graph, "--json", *later])
    assert relay.exit_code == 3, relay.output
    assert "could not be handed to SMTP" in relay.output
    with connect(graph) as store:
        (message,) = store.nodes("OutboxMessage").to_dicts()
        assert message["status"] == "pending" and message["not_before"] is not None
        store.upsert_nodes(
            "OutboxMessage", [{**message, "status": "unconfirmed", "claimed_at": AS_OF}]
        )
    mid = message["message_id"]
    words = runner.invoke(
        app, ["resolve", mid, "--am", "am-1", "--answer", "Yes, it went out", "--graph", graph]
    )
    assert words.exit_code == 2 and "say what happened with --sent, --not-sent" in words.output
    settled = runner.invoke(
        app, ["resolve", mid, "--am", "am-1", "--not-sent", "--graph", graph, "--json", *now]
    )
    assert settled.exit_code == 0, settled.output
    assert json.loads(settled.stdout)["status"] == "pending"
