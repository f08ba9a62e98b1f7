"""Issue 16: a manager or an admin moves work to another AM's queue (app.reassign),
from the API and the command line, on both stores."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from app.actors import identify, match_owner
from app.cli import app
from app.decisions import decide
from app.queue import queue_frame
from app.reassign import reassign
from graph_model import connect
from graph_model.errors import DecisionConflict, DecisionRejected, NotAuthorized
from graph_model.store import GraphStore
from matching.run import pair_id, run_matching
from routing.sending import load_sending
from tests.support.hand_graph import AS_OF, add_managers, build, hand_over

SENDING = load_sending().model_copy(
    update={"from_domains": ["vendor.example"], "link_domains": ["vendor.example"]}
)
APPROVE = pair_id("acme", "ingest")  # its draft waits for am-1's approval
AUTO = pair_id("acme", "vault")  # auto-sent: decided by the agent, nothing open
ESCALATED = pair_id("globex", "ingest")  # an open escalation for am-1


def _team(store: GraphStore) -> None:
    """The hand graph after one agent batch, with am-5 also reporting to am-3 (so Cy
    manages am-1 and am-5; am-2 reports to nobody)."""
    build(store)
    add_managers(store)
    store.upsert_nodes(
        "AccountManager", [{"am_id": "am-5", "full_name": "Eve Fox", "email": "eve@vendor.example"}]
    )
    store.upsert_edges(
        "REPORTS_TO",
        [
            {
                "src_label": "AccountManager",
                "src": "am-5",
                "dst_label": "AccountManager",
                "dst": "am-3",
            }
        ],
    )
    hand_over(store, sending=SENDING)


def _items(store: GraphStore, am: str) -> set[str]:
    return set(queue_frame(store, am, now=AS_OF)["item"].to_list())


def test_a_manager_moves_a_draft_with_its_match(store: GraphStore) -> None:
    _team(store)
    draft = store.nodes("Draft", {"match_id": APPROVE, "status": "pending"}).row(0, named=True)
    assert draft["draft_id"] in _items(store, "am-1")
    moved = reassign(
        store, draft["draft_id"], "am-5", actor="am-3", now=AS_OF, note="Eve knows Acme"
    )
    assert (moved.by, moved.role, moved.on_behalf_of, moved.to_am) == (
        "am-3",
        "manager",
        "am-1",
        "am-5",
    )
    assert draft["draft_id"] in _items(store, "am-5")
    assert draft["draft_id"] not in _items(store, "am-1")
    # The match travels with its draft: am-1's queue does not get it back as a match.
    assert APPROVE not in _items(store, "am-1")
    assert match_owner(store, APPROVE) == "am-5"
    assert store.get_node("Draft", draft["draft_id"])["am_id"] == "am-5"
    decision = store.get_node("Decision", moved.decision_id)
    assert decision["kind"] == "reassign"
    assert (decision["actor"], decision["role"], decision["on_behalf_of"]) == (
        "am-3",
        "manager",
        "am-1",
    )
    assert (decision["reassigned_to"], decision["reason"]) == ("am-5", "Eve knows Acme")
    on = store.edges("DECIDED_ON", touching=[moved.decision_id], side="source")
    assert on.select("dst_label", "dst").rows() == [("Draft", draft["draft_id"])]
    by = store.edges("DECIDED_BY", touching=[moved.decision_id], side="source")
    assert by["dst"].to_list() == ["am-3"]
    # The new owner acts on it as its owner now; the old one may not.
    with pytest.raises(NotAuthorized):
        decide(store, APPROVE, "kill", actor="am-1", reason="mine", now=AS_OF)


def test_a_manager_moves_a_match_and_its_pending_draft(store: GraphStore) -> None:
    _team(store)
    draft_id = store.nodes("Draft", {"match_id": APPROVE, "status": "pending"})["draft_id"][0]
    moved = reassign(store, APPROVE, "am-5", actor="am-3", now=AS_OF)
    assert sorted(moved.moved) == sorted([APPROVE, draft_id])
    assert match_owner(store, APPROVE) == "am-5"
    assert store.get_node("Draft", draft_id)["am_id"] == "am-5"
    assert draft_id in _items(store, "am-5") and draft_id not in _items(store, "am-1")
    assert store.edges("ASSIGNED_TO", touching=[APPROVE], side="source")["dst"].to_list() == [
        "am-5"
    ]
    # Back again: a second reassignment of the same item is a new decision.
    back = reassign(store, APPROVE, "am-1", actor="am-3", now=AS_OF)
    assert back.decision_id != moved.decision_id and match_owner(store, APPROVE) == "am-1"


def test_an_escalation_moves_with_its_match(store: GraphStore) -> None:
    _team(store)
    (escalation,) = store.nodes("Escalation", {"status": "open"})["escalation_id"].to_list()
    reassign(store, escalation, "am-5", actor="am-4", now=AS_OF)  # a director
    assert escalation in _items(store, "am-5") and escalation not in _items(store, "am-1")
    assert ESCALATED not in _items(store, "am-1") and match_owner(store, ESCALATED) == "am-5"
    edges = store.edges("ASSIGNED_TO", touching=[escalation], side="source")
    assert edges["dst"].to_list() == ["am-5"]


def test_who_may_not_reassign(store: GraphStore, monkeypatch: pytest.MonkeyPatch) -> None:
    _team(store)
    monkeypatch.delenv("TWOLOOP_ADMINS", raising=False)
    draft_id = store.nodes("Draft", {"match_id": APPROVE, "status": "pending"})["draft_id"][0]
    before = store.nodes("Decision").height
    # An AM may not hand their own work to a peer (or to their manager).
    with pytest.raises(NotAuthorized, match="owns it but does not manage am-5"):
        reassign(store, draft_id, "am-5", actor="am-1", now=AS_OF)
    with pytest.raises(NotAuthorized):
        reassign(store, APPROVE, "am-3", actor="am-1", now=AS_OF)
    # Another AM may not touch it at all.
    with pytest.raises(NotAuthorized, match="its owner is am-1 and am-2 is neither"):
        reassign(store, draft_id, "am-2", actor="am-2", now=AS_OF)
    # A manager may not move work onto a book they do not manage.
    with pytest.raises(NotAuthorized, match="its owner is am-2 and am-3 is neither"):
        reassign(store, draft_id, "am-2", actor="am-3", now=AS_OF)
    assert store.nodes("Decision").height == before
    assert store.get_node("Draft", draft_id)["am_id"] == "am-1"
    with pytest.raises(DecisionRejected, match="already in am-1's queue"):
        reassign(store, draft_id, "am-1", actor="am-3", now=AS_OF)
    # An admin may move it anywhere, on behalf of the owner.
    monkeypatch.setenv("TWOLOOP_ADMINS", "ops@vendor.example")
    moved = reassign(store, draft_id, "am-2", actor="ops@vendor.example", now=AS_OF)
    assert (moved.role, moved.on_behalf_of, moved.to_am) == ("admin", "am-1", "am-2")
    assert draft_id in _items(store, "am-2")


def test_a_concurrent_change_is_a_conflict(store: GraphStore) -> None:
    _team(store)
    # am-1 kills the match after the reassigner read it, before their commit.
    killed = _Meanwhile(
        store, lambda: decide(store, APPROVE, "kill", actor="am-1", reason="no", now=AS_OF)
    )
    with pytest.raises(DecisionConflict, match="killed meanwhile"):
        reassign(killed, APPROVE, "am-5", actor="am-3", now=AS_OF)  # type: ignore[arg-type]
    assert killed.done and match_owner(store, APPROVE) == "am-1"
    assert store.nodes("Decision", {"kind": "reassign"}).height == 0
    # Two reassignments from the same state: the second to commit loses.
    (escalation,) = store.nodes("Escalation", {"status": "open"})["escalation_id"].to_list()
    first = _Meanwhile(store, lambda: reassign(store, escalation, "am-5", actor="am-4", now=AS_OF))
    with pytest.raises(DecisionConflict, match="moved to am-5 meanwhile"):
        reassign(first, escalation, "am-3", actor="am-4", now=AS_OF)  # type: ignore[arg-type]
    assert store.get_node("Escalation", escalation)["am_id"] == "am-5"
    assert store.nodes("Decision", {"kind": "reassign"}).height == 1


class _Meanwhile:
    """The store, where someone else's ``change`` commits just before this caller's
    write batch: between its reads and its commit."""

    def __init__(self, store: GraphStore, change: Any) -> None:
        self._store, self._change, self.done = store, change, False

    def batch(self) -> Any:
        if not self.done:
            self.done = True
            self._change()
        return self._store.batch()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def test_reassign_from_the_command_line(tmp_path: Path) -> None:
    graph = str(tmp_path / "graph")
    with connect(graph) as store:
        store.ensure_schema()
        _team(store)
        draft_id = store.nodes("Draft", {"match_id": APPROVE, "status": "pending"})["draft_id"][0]
    runner = CliRunner()
    now = ["--now", AS_OF.isoformat()]
    refused = runner.invoke(
        app, ["reassign", draft_id, "--to", "am-5", "--as", "am-1", "--graph", graph, *now]
    )
    assert refused.exit_code == 77, refused.output
    assert "does not manage am-5" in refused.output and "Traceback" not in refused.output
    args = ["reassign", draft_id, "--to", "am-5", "--as", "am-3", "--note", "cover"]
    moved = runner.invoke(app, [*args, "--graph", graph, "--json", *now])
    assert moved.exit_code == 0, moved.output
    result = json.loads(moved.stdout)
    assert (result["from_am"], result["to_am"], result["role"]) == ("am-1", "am-5", "manager")
    again = runner.invoke(
        app, ["reassign", draft_id, "--to", "am-5", "--as", "am-3", "--graph", graph, *now]
    )
    assert again.exit_code == 2 and "already in am-5's queue" in again.output
    text = runner.invoke(
        app, ["reassign", APPROVE, "--to", "am-1", "--as", "am-3", "--graph", graph, *now]
    )
    assert (
        text.exit_code == 0
        and "reassigned" in text.output
        and "am-3 (manager, for am-5)" in (" ".join(text.output.split()))
    )
    with connect(graph) as store:
        assert identify(store, "am-5", action="x", item="y").am_id == "am-5"
        assert match_owner(store, APPROVE) == "am-1"


def test_a_reassigned_match_stays_with_its_new_am_when_matching_runs_again(
    store: GraphStore,
) -> None:
    """Found while building the team page: a match run rewrote ASSIGNED_TO from
    OWNS, so a rerun gave a reassigned match back to the account's owner."""
    _team(store)
    reassign(store, APPROVE, "am-5", actor="am-3", now=AS_OF)
    run_matching(store, as_of=AS_OF)  # every account, the reassigned match included
    assert match_owner(store, APPROVE) == "am-5"
    assert store.edges("ASSIGNED_TO", touching=[APPROVE], side="source")["dst"].to_list() == [
        "am-5"
    ]
    # The other matches of the account still follow OWNS.
    assert match_owner(store, AUTO) == "am-1"
