"""Issue 15 (deliverable 5): who may act in the human loop.

An AM acts on its own book, a manager on its reports' (REPORTS_TO, through any
number of levels), an admin (TWOLOOP_ADMINS) on any, recorded as acting on behalf
of the owner; everyone else is refused (exit 77) before anything is read out or
changed. An edit runs the drafting guard and needs a confirmation to send what
it stops. Every human action leaves a Decision naming actor, role and on-behalf.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from app.actors import authorize, identify, managers
from app.cli import app
from app.decisions import decide
from app.human_loop import (
    approve_draft,
    cancel_draft,
    edit_draft,
    resolve_item,
    settle_send,
    work_queue,
)
from graph_model import connect
from graph_model.errors import DecisionRejected, GuardedEdit, NotAuthorized
from graph_model.store import GraphStore
from matching.run import pair_id, run_matching
from routing.channels.task import add_task
from routing.escalation import detect_escalations
from routing.sending import load_sending
from tests.support.hand_graph import AS_OF, add_managers, build, hand_over

APPROVE = pair_id("acme", "ingest")  # senior_contact: Ann's draft waits for am-1
NOW = ["--now", AS_OF.isoformat()]
# What the issue saw go out after an edit: a payment link, a new address, 90% off.
GUARDED_BODY = (
    "Hi Ann,\n\nPay today at https://pay.evil.example/checkout and write to "
    "billing@evil.example for 90% off the first year.\n\nAda"
)


@pytest.fixture
def graph(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The hand graph with am-1's managers, matched and through one agent batch: a
    draft waits for am-1's approval, an escalation is open, one message is out."""
    graph = str(tmp_path / "graph")
    with connect(graph) as store:
        store.ensure_schema()
        build(store)
        add_managers(store)
        run_matching(store, as_of=AS_OF)
    sending = tmp_path / "sending.yaml"
    sending.write_text(
        Path("routing/sending.yaml")
        .read_text()
        .replace("from_domains: [northwind.example]", "from_domains: [vendor.example]")
        .replace("link_domains: [northwind.example]", "link_domains: [vendor.example]")
    )
    monkeypatch.setenv("TWOLOOP_SENDING_CONFIG", str(sending))
    monkeypatch.delenv("TWOLOOP_SMTP_HOST", raising=False)
    monkeypatch.delenv("TWOLOOP_ADMINS", raising=False)
    ran = CliRunner().invoke(app, ["run", "--graph", graph, *NOW])
    assert ran.exit_code == 0, ran.output
    return graph


def _cli(*args: str) -> Any:
    return CliRunner().invoke(app, [*args, *NOW])


def _items(graph: str) -> dict[str, dict[str, Any]]:
    queue = _cli("queue", "--am", "am-1", "--graph", graph, "--json")
    assert queue.exit_code == 0, queue.output
    return {i["type"].split(":")[0]: i for i in json.loads(queue.stdout)["items"]}


def _unconfirmed(graph: str) -> str:
    """The agent's auto-sent message, as a relay that died mid-send leaves it."""
    with connect(graph) as store:
        (message,) = store.nodes("OutboxMessage").to_dicts()
        store.upsert_nodes(
            "OutboxMessage", [{**message, "status": "unconfirmed", "claimed_at": AS_OF}]
        )
    return message["message_id"]


def _snapshot(graph: str) -> dict[str, Any]:
    with connect(graph) as store:
        return {
            "decisions": store.nodes("Decision").height,
            "messages": sorted(store.nodes("OutboxMessage")["status"].to_list()),
            "drafts": sorted(store.nodes("Draft")["status"].to_list()),
            "matches": sorted(store.nodes("Match")["status"].to_list()),
            "escalations": sorted(store.nodes("Escalation")["status"].to_list()),
        }


@pytest.mark.parametrize(
    "command",
    [
        "approve",
        "edit",
        "cancel",
        "kill",
        "decide",
        "resolve",
        "settle --sent",
        "settle --sent as NOBODY",
        "settle --cancel",
    ],
)
def test_another_books_items_are_refused_from_the_command_line(graph: str, command: str) -> None:
    """Issue 15: AM B approved and edited AM A's drafts, and `resolve msg-... --am
    NOBODY --sent` marked an undelivered message sent."""
    items = _items(graph)
    draft, escalation = items["approval"]["item"], items["escalation"]["item"]
    message = _unconfirmed(graph)
    before = _snapshot(graph)
    actor = "NOBODY" if command.endswith("NOBODY") else "am-2"
    args, item = {
        "approve": (["approve", draft], draft),
        "edit": (["edit", draft, "--subject", "Mine now"], draft),
        "cancel": (["cancel", draft, "--reason", "not mine but who cares"], draft),
        "kill": (["kill", APPROVE, "--reason", "not mine but who cares"], APPROVE),
        "decide": (["decide", "validate", APPROVE], APPROVE),
        "resolve": (["resolve", escalation, "--answer", "done"], escalation),
        "settle --sent": (["resolve", message, "--sent"], message),
        "settle --sent as NOBODY": (["resolve", message, "--sent"], message),
        "settle --cancel": (["resolve", message, "--cancel"], message),
    }[command]
    result = CliRunner().invoke(app, [*args, "--am", actor, "--graph", graph, *NOW])
    assert result.exit_code == 77, result.output
    line = " ".join(result.output.split())
    if actor == "NOBODY":
        assert "NOBODY is neither an account manager nor an admin (TWOLOOP_ADMINS)" in line
    else:
        assert "its owner is am-1 and am-2 is neither am-1's manager nor an admin" in line
    assert item in line
    assert _snapshot(graph) == before
    with connect(graph) as store:
        assert store.get_node("OutboxMessage", message)["status"] == "unconfirmed"


def test_a_guarded_edit_needs_a_confirmation_and_records_it(graph: str, tmp_path: Path) -> None:
    """Issue 15: an edited body with a payment link, a new address and a 90% discount
    went to the outbox; `edit` did not run the draft guard."""
    draft = _items(graph)["approval"]["item"]
    body = tmp_path / "body.txt"
    body.write_text(GUARDED_BODY)
    args = ["edit", draft, "--am", "am-1", "--body-file", str(body), "--graph", graph]
    refused = _cli(*args)
    assert refused.exit_code == 2, refused.output
    line = " ".join(refused.output.split())
    for finding in (
        "link outside the allowlist: pay.evil.example",
        "an email address the draft must not carry: billing@evil.example",
        "a discount or free offer: '90% off'",
        "--confirm",
    ):
        assert finding in line
    with connect(graph) as store:
        assert store.nodes("OutboxMessage", {"draft_id": draft}).height == 0
        assert store.get_node("Draft", draft)["status"] == "pending"
        assert store.nodes("Decision").height == 0
    sent = _cli(*args, "--confirm", "--json")
    assert sent.exit_code == 0, sent.output
    result = json.loads(sent.stdout)
    with connect(graph) as store:
        message = store.get_node("OutboxMessage", result["message_id"])
        assert message["body"].startswith(GUARDED_BODY)
        decision = store.get_node("Decision", result["decision_id"])
        assert (decision["kind"], decision["actor"], decision["role"]) == ("edit", "am-1", "am")
        assert decision["on_behalf_of"] == "am-1"
        assert sorted(decision["confirmed_findings"]) == [
            "a discount or free offer: '90% off'",
            "an email address the draft must not carry: billing@evil.example",
            "link outside the allowlist: pay.evil.example",
        ]
        stored = store.get_node("Draft", draft)
        assert (
            stored["status"] == "edited" and stored["violations"] == decision["confirmed_findings"]
        )


def test_a_clean_edit_goes_out_without_a_confirmation(graph: str, tmp_path: Path) -> None:
    draft = _items(graph)["approval"]["item"]
    body = tmp_path / "body.txt"
    body.write_text("Hello Ann,\n\nShort note: see vendor.example/ingest.\n\nBest, Ada")
    edited = _cli("edit", draft, "--am", "am-1", "--body-file", str(body), "--graph", graph)
    assert edited.exit_code == 0, edited.output
    with connect(graph) as store:
        (decision,) = store.nodes("Decision").to_dicts()
        assert decision["confirmed_findings"] == []


def test_a_manager_acts_from_the_command_line_and_says_for_whom(graph: str) -> None:
    items = _items(graph)
    # A manager (and their director) may look at a report's queue; am-2 may not.
    theirs = _cli("queue", "--am", "am-4", "--for", "am-1", "--graph", graph, "--json")
    assert theirs.exit_code == 0, theirs.output
    assert {i["item"] for i in json.loads(theirs.stdout)["items"]} == {
        i["item"] for i in items.values()
    }
    peeking = _cli("queue", "--as", "am-2", "--for", "am-1", "--graph", graph)
    assert peeking.exit_code == 77 and "am-2 may not see the queue of am-1" in peeking.output
    approved = _cli("approve", items["approval"]["item"], "--as", "am-3", "--graph", graph)
    assert approved.exit_code == 0, approved.output
    assert "by am-3 (manager, for am-1)" in " ".join(approved.output.split())
    later = ["--now", (AS_OF + dt.timedelta(hours=1)).isoformat()]
    again = CliRunner().invoke(
        app, ["approve", items["approval"]["item"], "--am", "am-4", "--graph", graph, *later]
    )
    assert again.exit_code == 5
    assert "already approved (approve by am-3 as manager of am-1 at" in again.output


# ---------------------------------------------------------------- the API, on both stores

SENDING = load_sending().model_copy(
    update={"from_domains": ["vendor.example"], "link_domains": ["vendor.example"]}
)
AUTO = pair_id("acme", "vault")  # normal_account: auto-sent to Cat


def _handed_over(store: GraphStore) -> dict[str, str]:
    """The hand graph with am-1's managers after one agent batch: am-1's pending draft,
    open escalation and the auto-sent message (no relay ran)."""
    build(store)
    add_managers(store)
    hand_over(store, sending=SENDING)
    (escalation,) = store.nodes("Escalation").to_dicts()
    (message,) = store.nodes("OutboxMessage")["message_id"].to_list()
    return {
        "draft": store.nodes("Draft", {"match_id": APPROVE})["draft_id"][0],
        "escalation": escalation["escalation_id"],
        "escalated_match": escalation["match_id"],  # globex: no rule fits, a person writes
        "message": message,
    }


def _who(store: GraphStore, decision_id: str) -> tuple[Any, ...]:
    decision = store.get_node("Decision", decision_id)
    by = store.edges("DECIDED_BY", touching=[decision_id], side="source")["dst"].to_list()
    return decision["actor"], decision["role"], decision["on_behalf_of"], by


def test_a_manager_and_a_director_act_for_their_reports(store: GraphStore) -> None:
    items = _handed_over(store)
    approved = approve_draft(store, items["draft"], actor="am-3", now=AS_OF, sending=SENDING)
    assert (approved["by"], approved["role"], approved["on_behalf_of"]) == (
        "am-3",
        "manager",
        "am-1",
    )
    assert _who(store, approved["decision_id"]) == ("am-3", "manager", "am-1", ["am-3"])
    message = store.get_node("OutboxMessage", approved["message_id"])
    assert (message["released_by"], message["released_role"]) == ("am-3", "manager")
    assert message["released_on_behalf_of"] == "am-1"
    # A director: am-1 reports to am-3, who reports to am-4.
    resolved = resolve_item(
        store, items["escalation"], actor="am-4", now=AS_OF, answer="I call their CFO."
    )
    assert _who(store, resolved["decision_id"]) == ("am-4", "manager", "am-1", ["am-4"])
    # Managing runs down the chart, never up: am-1 may not act on am-3's book.
    with pytest.raises(NotAuthorized, match="its owner is am-3 and am-1 is neither"):
        authorize(
            store, identify(store, "am-1", action="x", item="y"), action="x", item="y", owner="am-3"
        )
    # A loop in the org chart ends the walk up (am-4 -> am-1 -> am-3 -> am-4).
    store.upsert_edges(
        "REPORTS_TO",
        [
            {
                "src_label": "AccountManager",
                "src": "am-4",
                "dst_label": "AccountManager",
                "dst": "am-1",
            }
        ],
    )
    assert managers(store, "am-1") == {"am-3", "am-4"}


def test_an_admin_acts_on_any_book_on_behalf_of_its_owner(
    store: GraphStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    items = _handed_over(store)
    with pytest.raises(NotAuthorized, match=r"ops@vendor\.example is neither an account manager"):
        approve_draft(store, items["draft"], actor="ops@vendor.example", now=AS_OF, sending=SENDING)
    monkeypatch.setenv("TWOLOOP_ADMINS", " OPS@vendor.example, am-2 ")
    approved = approve_draft(
        store, items["draft"], actor="ops@vendor.example", now=AS_OF, sending=SENDING
    )
    # Not an AccountManager: named by the decision, with no DECIDED_BY edge.
    assert _who(store, approved["decision_id"]) == ("ops@vendor.example", "admin", "am-1", [])
    message = store.get_node("OutboxMessage", approved["message_id"])
    assert (message["released_role"], message["released_on_behalf_of"]) == ("admin", "am-1")
    # An AM who is an admin acts as admin on others' books, and is DECIDED_BY.
    resolved = resolve_item(store, items["escalation"], actor="am-2", now=AS_OF, answer="On it.")
    assert _who(store, resolved["decision_id"]) == ("am-2", "admin", "am-1", ["am-2"])
    # An admin with no book of their own says whose queue to see.
    with pytest.raises(DecisionRejected, match="has no queue of their own"):
        work_queue(store, "ops@vendor.example", now=AS_OF)
    queue = work_queue(store, "ops@vendor.example", now=AS_OF, of="am-1")
    assert [i["item"] for i in queue] == []  # everything of am-1 was handled above


def test_an_escalation_nobody_owns_only_an_admin_resolves(
    store: GraphStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    build(store)
    add_managers(store)
    store.upsert_nodes("Account", [{"account_id": "hooli", "name": "Hooli"}])  # no owner
    store.upsert_nodes(
        "Activity",
        [
            {
                "activity_id": "r9",
                "kind": "email",
                "direction": "inbound",
                "occurred_at": AS_OF - dt.timedelta(days=1),
                "subject": "Invoice",
                "summary": "The last invoice is wrong, we were overcharged.",
            }
        ],
    )
    store.upsert_edges("ABOUT", [{"src": "r9", "dst": "hooli"}])
    assert detect_escalations(store, now=AS_OF).opened == 1
    (escalation,) = store.nodes("Escalation").to_dicts()
    assert escalation["am_id"] is None
    eid = escalation["escalation_id"]
    for actor in ("am-1", "am-4"):
        with pytest.raises(NotAuthorized) as refused:
            resolve_item(store, eid, actor=actor, now=AS_OF, answer="mine")
        assert str(refused.value) == (
            f"{actor} may not resolve {eid}: it has no owner, and only an admin "
            "(TWOLOOP_ADMINS) may act on it; nothing was changed"
        )
    assert store.get_node("Escalation", eid)["status"] == "open"
    monkeypatch.setenv("TWOLOOP_ADMINS", "root")
    done = resolve_item(store, eid, actor="root", now=AS_OF, answer="Billing fixed it.")
    assert _who(store, done["decision_id"]) == ("root", "admin", None, [])
    assert store.get_node("Escalation", eid)["resolved_by"] == "root"


def test_a_guarded_edit_is_refused_until_confirmed(store: GraphStore) -> None:
    items = _handed_over(store)
    notes = store.nodes("StyleNote").height
    with pytest.raises(GuardedEdit) as refused:
        edit_draft(
            store, items["draft"], actor="am-3", now=AS_OF, sending=SENDING, body=GUARDED_BODY
        )
    assert refused.value.exit_code == 2 and len(refused.value.findings) == 3
    assert store.nodes("OutboxMessage", {"draft_id": items["draft"]}).height == 0
    assert store.get_node("Draft", items["draft"])["status"] == "pending"
    # A stranger is refused before the guard says anything about the edit.
    with pytest.raises(NotAuthorized):
        edit_draft(
            store, items["draft"], actor="am-2", now=AS_OF, sending=SENDING, body=GUARDED_BODY
        )
    sent = edit_draft(
        store,
        items["draft"],
        actor="am-3",
        now=AS_OF,
        sending=SENDING,
        body=GUARDED_BODY,
        confirm=True,
    )
    decision = store.get_node("Decision", sent["decision_id"])
    assert decision["confirmed_findings"] == refused.value.findings == sent["confirmed_findings"]
    assert (decision["actor"], decision["role"], decision["on_behalf_of"]) == (
        "am-3",
        "manager",
        "am-1",
    )
    message = store.get_node("OutboxMessage", sent["message_id"])
    assert message["body"].startswith(GUARDED_BODY) and message["released_role"] == "manager"
    # The draft says what went out, and a manager's edit is not am-1's style.
    draft = store.get_node("Draft", items["draft"])
    assert draft["violations"] == refused.value.findings and not draft["grounded"]
    assert store.nodes("StyleNote").height == notes


def test_every_human_action_leaves_a_decision_naming_who_acted(
    store: GraphStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    items = _handed_over(store)
    monkeypatch.setenv("TWOLOOP_ADMINS", "root")
    pending = store.get_node("Draft", items["draft"])
    # Two more pending drafts of the same match, to edit and cancel.
    store.upsert_nodes(
        "Draft", [{**pending, "draft_id": "dr-edit"}, {**pending, "draft_id": "dr-cancel"}]
    )
    with store.batch() as write:
        task = add_task(
            write,
            kind="research",
            am_id="am-1",
            account_id="acme",
            title="Research Acme",
            body="",
            now=AS_OF,
        )
    message = store.get_node("OutboxMessage", items["message"])
    store.upsert_nodes("OutboxMessage", [{**message, "status": "unconfirmed", "claimed_at": AS_OF}])
    with pytest.raises(NotAuthorized, match="NOBODY is neither"):
        settle_send(store, items["message"], "sent", actor="NOBODY", now=AS_OF)
    with pytest.raises(NotAuthorized, match="its owner is am-1"):
        settle_send(store, items["message"], "sent", actor="am-2", now=AS_OF)
    assert store.get_node("OutboxMessage", items["message"])["status"] == "unconfirmed"
    later = AS_OF + dt.timedelta(hours=1)
    done = [
        decide(
            store,
            items["escalated_match"],
            "defer",
            actor="am-1",
            defer_until=later.date() + dt.timedelta(days=9),
            now=AS_OF,
        ).decision_id,
        decide(
            store, items["escalated_match"], "kill", actor="am-3", reason="no budget", now=later
        ).decision_id,
        decide(store, AUTO, "validate", actor="root", now=later).decision_id,
        edit_draft(store, "dr-edit", actor="am-1", now=AS_OF, sending=SENDING, subject="Re: data")[
            "decision_id"
        ],
        approve_draft(store, items["draft"], actor="am-4", now=AS_OF, sending=SENDING)[
            "decision_id"
        ],
        cancel_draft(store, "dr-cancel", actor="root", now=AS_OF, reason="one is enough")[
            "decision_id"
        ],
        resolve_item(store, items["escalation"], actor="am-1", now=AS_OF, answer="Done.")[
            "decision_id"
        ],
        resolve_item(store, task["task_id"], actor="am-3", now=AS_OF, answer="Read up.")[
            "decision_id"
        ],
        settle_send(
            store, items["message"], "sent", actor="am-1", now=AS_OF, note="in my sent folder"
        )["decision_id"],
    ]
    decisions = store.nodes("Decision")
    assert sorted(decisions["decision_id"].to_list()) == sorted(done)
    on = store.edges("DECIDED_ON", touching=done, side="source")
    seen = {
        (row["kind"], row["actor"], row["role"], row["on_behalf_of"])
        for row in decisions.iter_rows(named=True)
    }
    assert seen == {
        ("defer", "am-1", "am", "am-1"),
        ("kill", "am-3", "manager", "am-1"),
        ("validate", "root", "admin", "am-1"),
        ("edit", "am-1", "am", "am-1"),
        ("approve", "am-4", "manager", "am-1"),
        ("cancel", "root", "admin", "am-1"),
        ("resolve", "am-1", "am", "am-1"),
        ("resolve", "am-3", "manager", "am-1"),
        ("settle", "am-1", "am", "am-1"),
    }
    assert set(on["dst_label"].to_list()) == {
        "Match",
        "Draft",
        "Escalation",
        "Task",
        "OutboxMessage",
    }
    settled = decisions.filter(decisions["kind"] == "settle").row(0, named=True)
    assert settled["reason"] == "sent: in my sent folder"
    assert "settled as sent by am-1" in store.get_node("OutboxMessage", items["message"])["note"]


def test_kill_and_cancel_take_a_reason_code_from_the_command_line(graph: str) -> None:
    queue = json.loads(_cli("queue", "--am", "am-1", "--graph", graph, "--json").stdout)
    draft = next(i["item"] for i in queue["items"] if i["type"] == "approval")
    unknown = _cli("cancel", draft, "--am", "am-1", "--reason-code", "vibes", "--graph", graph)
    assert unknown.exit_code == 2 and "unknown reason code 'vibes'" in unknown.output
    cancelled = _cli(
        "cancel", draft, "--am", "am-1", "--reason-code", "competitor", "--graph", graph, "--json"
    )
    assert cancelled.exit_code == 0, cancelled.output
    with connect(graph) as store:
        decision = store.nodes("Decision", {"kind": "cancel"}).row(0, named=True)
        assert (decision["reason_code"], decision["reason"]) == ("competitor", None)
        match = store.nodes("Match", {"status": "proposed"})["match_id"][0]
    no_reason = _cli("kill", match, "--am", "am-1", "--graph", graph)
    assert no_reason.exit_code == 2 and "a kill needs a reason" in no_reason.output
    killed = _cli("kill", match, "--am", "am-1", "--reason-code", "bad_timing", "--graph", graph)
    assert killed.exit_code == 0, killed.output
    with connect(graph) as store:
        assert store.nodes("Decision", {"kind": "kill"})["reason_code"].to_list() == ["bad_timing"]
