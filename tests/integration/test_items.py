"""The items API on both stores: what waits on a book, each claim's evidence resolved
to what it rests on, and who may read which item."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from app.actors import identify
from app.human_loop import approve_draft
from app.items import book_items, find_item
from drafting.style import record_style
from graph_model.errors import DecisionRejected, NotAuthorized
from graph_model.store import GraphStore, NotFound
from tests.support.hand_graph import AS_OF
from tests.support.items_world import SENDING, items_world


def test_a_book_holds_every_kind_of_item_with_what_each_claim_rests_on(
    store: GraphStore,
) -> None:
    ids = items_world(store)
    with store.batch() as write:
        record_style(write, store, "am-1", [("length", "Keeps emails under 80 words")], now=AS_OF)
    draft = store.get_node("Draft", ids.draft)
    claims = json.loads(draft["claims"])
    claims.append({"text": "Acme grew.", "evidence": ["E1", "E9"]})
    held = "the account name 'Acme <b>' carries markup (<b>): CRM text is untrusted"
    store.upsert_nodes("Draft", [{**draft, "claims": json.dumps(claims), "holds": [held]}])

    book = book_items(store, "am-1")
    assert [d.draft_id for d in book.drafts] == [ids.draft]
    assert [e.escalation_id for e in book.escalations] == [ids.escalation]
    assert [t.task_id for t in book.tasks] == [ids.task]
    assert [m.message_id for m in book.sends] == [ids.message]
    (shown,) = book.drafts
    assert (shown.account, shown.capability, shown.to_address) == (
        "Acme",
        "Managed Ingest",
        "ann@acme.example",
    )
    assert shown.holds == (held,) and shown.violations == ()
    assert shown.style_notes == ("Keeps emails under 80 words",)
    first = shown.claims[0]
    assert first.text == claims[0]["text"] and [e.id for e in first.evidence] == ["E1"]
    signal = next(s for s in first.evidence[0].sources if s.key == "s-hiring")
    assert signal.kind == "signal (hiring)" and signal.source == "jobs-feed"
    assert signal.date == dt.date(2026, 11, 10)
    assert signal.text == "Acme is hiring\nHelp us end pipeline failures."
    # The contact's own post: the signal and the person it rests on.
    post = next(c for c in shown.claims if any(e.metapath == "buyer_priority" for e in c.evidence))
    kinds = {s.kind: s.text for s in post.evidence[0].sources}
    assert kinds["person"] == "Ann Lee, Head of Data" and kinds["signal (social post)"]
    last = shown.claims[-1]
    assert [e.id for e in last.evidence] == ["E1"] and last.unknown == ("E9",)

    (escalation,) = book.escalations
    assert escalation.packet is not None and escalation.packet.question == escalation.question
    assert escalation.packet.account["account_id"] == "globex"
    (message,) = book.sends
    assert message.note == "SMTP timed out" and message.status == "unconfirmed"


def test_an_am_reads_only_their_own_book(
    store: GraphStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = items_world(store)
    other = book_items(store, "am-2")
    assert [t.task_id for t in other.tasks] == [ids.other_task]
    assert not (other.drafts or other.escalations or other.sends)
    with pytest.raises(NotAuthorized, match="am-2 may not see the queue of am-1"):
        book_items(store, "am-2", of="am-1")
    for item in (ids.draft, ids.escalation, ids.task, ids.message):
        with pytest.raises(NotAuthorized, match=f"am-2 may not see {item}"):
            find_item(store, "am-2", item)
    with pytest.raises(NotAuthorized):
        find_item(store, "am-1", ids.other_task)
    # A manager up the chain reads the report's book; an AM outside it does not.
    assert [d.draft_id for d in book_items(store, "am-4", of="am-1").drafts] == [ids.draft]
    assert find_item(store, "am-3", ids.draft).drafts[0].draft_id == ids.draft
    # An admin reads any book and any item, but has no book of their own.
    monkeypatch.setenv("TWOLOOP_ADMINS", "root")
    assert find_item(store, "root", ids.other_task).tasks[0].task_id == ids.other_task
    with pytest.raises(DecisionRejected, match="no queue of their own"):
        book_items(store, "root")
    with pytest.raises(NotFound):
        find_item(store, "am-1", "dr-nope")
    with pytest.raises(NotAuthorized, match="neither an account manager nor an admin"):
        book_items(store, "nobody")


def test_an_item_opened_by_id_shows_its_status_once_decided(store: GraphStore) -> None:
    ids = items_world(store)
    am = identify(store, "am-1", action="see", item="test")
    approve_draft(store, ids.draft, actor=am, now=AS_OF, sending=SENDING)
    assert book_items(store, am).drafts == ()
    book = find_item(store, am, ids.draft)
    assert book.item == ids.draft and [d.status for d in book.drafts] == ["approved"]
    assert not (book.escalations or book.tasks or book.sends)
