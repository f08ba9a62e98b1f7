"""The console's "Drafts and escalations" page, driven with Streamlit's AppTest on the
embedded store in dev sign-in: every action reaches the human-loop API once, errors
are shown (never a traceback), and an AM sees only their own book."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from graph_model import connect
from graph_model.store import GraphStore
from tests.support.console import items_env, open_items, successes
from tests.support.items_world import ItemIds, items_world, sending_file


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, ItemIds]:
    graph = str(tmp_path / "graph")
    with connect(graph) as store:
        store.ensure_schema()
        ids = items_world(store)
    items_env(monkeypatch, graph, sending_file(tmp_path))
    return graph, ids


_open = open_items


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def _keys(at: AppTest) -> set[str]:
    widgets = [*at.button, *at.text_input, *at.text_area, *at.selectbox]
    return {str(w.key) for w in widgets if w.key}


def _body(at: AppTest, draft_id: str) -> str:
    value = at.text_area(key=f"items_body_{draft_id}").value
    assert value is not None
    return value


def _read(graph: str) -> GraphStore:
    return connect(graph)


def test_the_page_lays_out_every_kind_of_item(world: tuple[str, ItemIds]) -> None:
    _, ids = world
    at = _open("am-1")
    assert [t.label for t in at.tabs] == [
        "Drafts",
        "Escalations",
        "Tasks",
        "Unconfirmed sends",
        "Replies",
        "Plays",
    ]
    assert at.text_input(key=f"items_subject_{ids.draft}").value == "Pipeline reliability at Acme"
    assert _body(at, ids.draft).startswith("Hi Ann,")
    assert at.text_input(key=f"items_subject_{ids.draft}").label == "Subject"
    assert at.text_area(key=f"items_body_{ids.draft}").label == "Body"
    assert at.selectbox(key=f"items_reason_{ids.draft}").label == "Reason"
    assert at.text_input(key=f"items_note_{ids.draft}").label == "Note"
    labels = {
        f"items_approve_{ids.draft}": "Approve",
        f"items_send_{ids.draft}": "Send edited",
        f"items_cancel_{ids.draft}": "Cancel draft",
        f"items_resolve_{ids.escalation}": "Resolve",
        f"items_done_{ids.task}": "Done",
        f"items_sent_{ids.message}": "It was sent",
        f"items_resend_{ids.message}": "Not sent: send again",
        f"items_unsend_{ids.message}": "Cancel send",
    }
    for key, text in labels.items():
        assert at.button(key=key).label == text
    assert at.text_area(key=f"items_answer_{ids.escalation}").label == "Answer"
    assert at.text_input(key=f"items_task_note_{ids.task}").label == "Note"
    # No "Send anyway" before the guard stopped an edit.
    assert f"items_anyway_{ids.draft}" not in _keys(at)
    texts = "\n".join(t.value for t in at.text)
    # The evidence a claim rests on: the signal's words, date and source.
    frames = [df.value for df in at.dataframe]
    cells = "\n".join(str(v) for f in frames for col in f.columns for v in f[col].tolist())
    assert "Acme is hiring\nHelp us end pipeline failures." in cells
    assert "2026-11-10" in cells and "jobs-feed" in cells
    assert "Should anyone at Globex hear about Managed Ingest" in texts
    assert "Research Acme's data team" in texts and "SMTP timed out" in texts


def test_approve_puts_exactly_one_message_in_the_outbox(world: tuple[str, ItemIds]) -> None:
    graph, ids = world
    at = _open("am-1")
    at.button(key=f"items_approve_{ids.draft}").click().run()
    _ok(at)
    assert successes(at) == ["Approved: the draft is in the outbox."]
    assert f"items_approve_{ids.draft}" not in _keys(at)
    with _read(graph) as store:
        assert store.get_node("Draft", ids.draft)["status"] == "approved"
        messages = store.nodes("OutboxMessage", {"draft_id": ids.draft})
        assert messages.height == 1 and messages["released_by"][0] == "am-1"


def test_a_decision_made_meanwhile_never_sends_twice(world: tuple[str, ItemIds]) -> None:
    graph, ids = world
    at = _open("am-1")
    other = _open("am-3")  # am-1's manager, in another browser
    assert other.selectbox(key="items_book").value == "am-3"
    other.selectbox(key="items_book").set_value("am-1").run()
    other.button(key=f"items_approve_{ids.draft}").click().run()
    _ok(other)
    # am-1's page reads afresh (the data version moved): the draft is gone from it.
    at.button(key=f"items_approve_{ids.draft}").click().run()
    _ok(at)
    assert f"items_approve_{ids.draft}" not in _keys(at)
    with _read(graph) as store:
        (message,) = store.nodes("OutboxMessage", {"draft_id": ids.draft}).to_dicts()
        assert message["released_by"] == "am-3"


def test_an_edit_the_guard_stops_goes_out_only_after_send_anyway(
    world: tuple[str, ItemIds],
) -> None:
    graph, ids = world
    at = _open("am-1")
    body = _body(at, ids.draft)
    edited = body.replace("Ada", "More at https://evil.example/offer\n\nAda")
    at.text_area(key=f"items_body_{ids.draft}").input(edited)
    at.button(key=f"items_send_{ids.draft}").click().run()
    _ok(at)
    assert "evil.example" in "\n".join(t.value for t in at.text)
    assert "The draft guard stopped this edit. It found:" in [w.value for w in at.warning]
    with _read(graph) as store:
        assert store.nodes("OutboxMessage", {"draft_id": ids.draft}).height == 0
        assert store.get_node("Draft", ids.draft)["status"] == "pending"
    anyway = at.button(key=f"items_anyway_{ids.draft}")
    assert anyway.label == "Send anyway"
    anyway.click().run()
    _ok(at)
    assert successes(at) == ["Sent: the edited draft is in the outbox."]
    with _read(graph) as store:
        (message,) = store.nodes("OutboxMessage", {"draft_id": ids.draft}).to_dicts()
        assert message["body"].startswith(edited.strip())
        assert store.get_node("Draft", ids.draft)["status"] == "edited"
        (decision,) = store.nodes("Decision", {"kind": "edit"}).to_dicts()
        assert any("evil.example" in f for f in decision["confirmed_findings"])


def test_an_edit_changed_after_the_guard_stopped_it_is_checked_again(
    world: tuple[str, ItemIds],
) -> None:
    graph, ids = world
    at = _open("am-1")
    body = _body(at, ids.draft)
    at.text_area(key=f"items_body_{ids.draft}").input(body + "\nPrice is $5 per seat.")
    at.button(key=f"items_send_{ids.draft}").click().run()
    assert f"items_anyway_{ids.draft}" in _keys(at)
    at.text_area(key=f"items_body_{ids.draft}").input(body + "\nPrice is $9 per seat.").run()
    _ok(at)
    assert f"items_anyway_{ids.draft}" not in _keys(at)
    with _read(graph) as store:
        assert store.nodes("OutboxMessage", {"draft_id": ids.draft}).height == 0


def test_cancel_stores_the_reason_code_and_the_note(world: tuple[str, ItemIds]) -> None:
    graph, ids = world
    at = _open("am-1")
    at.selectbox(key=f"items_reason_{ids.draft}").set_value("competitor")
    at.text_input(key=f"items_note_{ids.draft}").input("They signed with a rival")
    at.button(key=f"items_cancel_{ids.draft}").click().run()
    _ok(at)
    with _read(graph) as store:
        assert store.get_node("Draft", ids.draft)["status"] == "cancelled"
        (decision,) = store.nodes("Decision", {"kind": "cancel"}).to_dicts()
        assert (decision["reason_code"], decision["reason"]) == (
            "competitor",
            "They signed with a rival",
        )
        assert store.nodes("OutboxMessage", {"draft_id": ids.draft}).height == 0


def test_resolve_an_escalation_with_an_answer(world: tuple[str, ItemIds]) -> None:
    graph, ids = world
    at = _open("am-1")
    at.button(key=f"items_resolve_{ids.escalation}").click().run()
    _ok(at)
    assert "resolving needs the answer" in at.error[0].value.replace("\\", "")
    at.text_area(key=f"items_answer_{ids.escalation}").input("Ben knows their CTO; he writes.")
    at.button(key=f"items_resolve_{ids.escalation}").click().run()
    _ok(at)
    assert f"items_resolve_{ids.escalation}" not in _keys(at)
    with _read(graph) as store:
        escalation = store.get_node("Escalation", ids.escalation)
        assert escalation["status"] == "resolved" and escalation["resolved_by"] == "am-1"
        assert escalation["resolution"] == "Ben knows their CTO; he writes."


def test_a_task_is_done_with_a_note(world: tuple[str, ItemIds]) -> None:
    graph, ids = world
    at = _open("am-1")
    at.text_input(key=f"items_task_note_{ids.task}").input("Ann runs them; noted in the CRM")
    at.button(key=f"items_done_{ids.task}").click().run()
    _ok(at)
    with _read(graph) as store:
        task = store.get_node("Task", ids.task)
        assert task["status"] == "done" and task["body"].endswith("Ann runs them; noted in the CRM")


@pytest.mark.parametrize(
    ("button", "status"),
    [("items_sent_", "sent"), ("items_resend_", "pending"), ("items_unsend_", "cancelled")],
)
def test_an_unconfirmed_send_is_settled_explicitly(
    world: tuple[str, ItemIds], button: str, status: str
) -> None:
    graph, ids = world
    at = _open("am-1")
    at.button(key=button + ids.message).click().run()
    _ok(at)
    with _read(graph) as store:
        assert store.get_node("OutboxMessage", ids.message)["status"] == status
        assert store.nodes("Decision", {"kind": "settle"}).height == 1


def test_an_am_sees_none_of_another_ams_items(world: tuple[str, ItemIds]) -> None:
    _, ids = world
    at = _open("am-2")
    keys = _keys(at)
    assert f"items_done_{ids.other_task}" in keys
    assert "items_book" not in keys  # am-2 sees only their own book
    mine = (ids.draft, ids.escalation, ids.task, ids.message)
    assert not [k for k in keys if any(k.endswith(i) for i in mine)]
    shown = "\n".join(t.value for t in at.text)
    assert "Acme" not in shown and "Globex" not in shown
    for item in mine:
        direct = _open("am-2", item=item)
        (error,) = direct.error
        assert f"am-2 may not see {item}" in error.value.replace("\\", "")
        assert not [k for k in _keys(direct) if k.endswith(item)]


def test_an_item_opens_directly_by_its_id(world: tuple[str, ItemIds]) -> None:
    _, ids = world
    at = _open("am-1", item=ids.escalation)
    keys = _keys(at)
    assert f"items_resolve_{ids.escalation}" in keys
    assert f"items_approve_{ids.draft}" not in keys and f"items_done_{ids.task}" not in keys
    at.button(key="items_show_all").click().run()
    _ok(at)
    assert "item" not in at.query_params
    assert f"items_approve_{ids.draft}" in _keys(at)


def test_graph_text_is_never_rendered_as_markdown(world: tuple[str, ItemIds]) -> None:
    graph, ids = world
    payload = "**Acme** [click](https://evil.example) <img src=x onerror=alert(1)>"
    with _read(graph) as store:
        for label, key in (("Account", "acme"), ("Account", "globex")):
            store.upsert_nodes(label, [{**store.get_node(label, key), "name": payload}])
        draft = store.get_node("Draft", ids.draft)
        store.upsert_nodes("Draft", [{**draft, "subject": payload}])
    at = _open("am-1")
    rendered = [*at.markdown, *at.caption, *at.success, *at.warning, *at.info, *at.error]
    assert not [e.value for e in rendered if "evil.example" in e.value]
    assert payload in "\n".join(t.value for t in at.text)
    assert at.text_input(key=f"items_subject_{ids.draft}").value == payload
