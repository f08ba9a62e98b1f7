"""The world the analysis API's examples run on (``app.analysis``): the hand graph
(``tests/support/hand_graph.py``) after one agent batch, then am-1's manager cancels
the draft of APPROVE, am-1 validates ESCALATED, AUTO's message goes out at SENT_AT,
Acme replies a day later and opens a deal two days after the matches."""

from __future__ import annotations

import datetime as dt

from app.decisions import decide
from app.human_loop import cancel_draft
from graph_model.store import GraphStore
from matching.run import pair_id
from routing.sending import load_sending
from tests.support.hand_graph import AS_OF, add_managers, build, hand_over

SENDING = load_sending().model_copy(
    update={"from_domains": ["vendor.example"], "link_domains": ["vendor.example"]}
)
APPROVE = pair_id("acme", "ingest")  # senior_contact: a draft waits for am-1
AUTO = pair_id("acme", "vault")  # normal_account: auto-sent
ESCALATED = pair_id("globex", "ingest")  # nobody_to_write_to: escalated
SENT_AT = AS_OF + dt.timedelta(hours=1)


def activity(store: GraphStore, key: str, when: dt.datetime, **fields: object) -> None:
    """An email logged on acme."""
    store.upsert_nodes(
        "Activity", [{"activity_id": key, "kind": "email", "occurred_at": when, **fields}]
    )
    store.upsert_edges("ABOUT", [{"src": key, "dst": "acme"}])


def decided_world(store: GraphStore) -> None:
    """One agent batch on the hand graph, a cancel, a validate and one send; no
    reply or deal yet."""
    build(store)
    add_managers(store)
    hand_over(store, sending=SENDING)
    draft_id = store.nodes("Draft", {"match_id": APPROVE, "status": "pending"})["draft_id"][0]
    cancel_draft(store, draft_id, actor="am-3", now=AS_OF, reason="they just bought a rival")
    decide(store, ESCALATED, "validate", actor="am-1", now=AS_OF)
    (message,) = store.nodes("OutboxMessage").to_dicts()
    store.upsert_nodes("OutboxMessage", [{**message, "status": "sent", "sent_at": SENT_AT}])
    # Inbound before the send, and outbound after it: neither is a reply.
    activity(store, "a-before", AS_OF - dt.timedelta(days=1), direction="inbound")
    activity(store, "a-ours", SENT_AT + dt.timedelta(hours=1), direction="outbound")


def analysis_world(store: GraphStore) -> None:
    """``decided_world``, then acme replies and opens a deal: every funnel stage."""
    decided_world(store)
    activity(store, "a-reply", SENT_AT + dt.timedelta(days=1), subject="RE: your note")
    open_deal(store)


def open_deal(store: GraphStore) -> None:
    """A deal for acme opened two days after the matches."""
    store.upsert_nodes(
        "Opportunity",
        [
            {
                "opportunity_id": "o-new",
                "name": "Acme vault",
                "stage": "Discovery",
                "status": "open",
                "created_at": AS_OF + dt.timedelta(days=2),
            }
        ],
    )
    store.upsert_edges("FOR", [{"src_label": "Opportunity", "src": "o-new", "dst": "acme"}])
