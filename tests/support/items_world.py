"""A small world with one of every item the console's items page shows, on the hand
graph: for am-1 a draft waiting for approval (acme / ingest), an open escalation
(globex: nobody fits the buyer personas), a research task and an unconfirmed send;
for am-2 a call task."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from graph_model.store import GraphStore
from routing.channels.task import add_task
from routing.sending import load_sending
from tests.support.hand_graph import AS_OF, add_managers, build, hand_over

SENDING = load_sending().model_copy(
    update={"from_domains": ["vendor.example"], "link_domains": ["vendor.example"]}
)


@dataclass(frozen=True)
class ItemIds:
    draft: str
    escalation: str
    task: str
    message: str
    other_task: str  # am-2's


def items_world(store: GraphStore) -> ItemIds:
    build(store)
    add_managers(store)
    hand_over(store, sending=SENDING)
    # The auto-sent message: a relay claimed it and could not say whether it went out.
    (message,) = store.nodes("OutboxMessage", {"am_id": "am-1"}).to_dicts()
    store.upsert_nodes(
        "OutboxMessage",
        [{**message, "status": "unconfirmed", "claimed_at": AS_OF, "note": "SMTP timed out"}],
    )
    with store.batch() as write:
        mine = add_task(
            write,
            kind="research",
            am_id="am-1",
            account_id="acme",
            title="Research Acme's data team",
            body="Who runs the pipelines at Acme?",
            now=AS_OF,
        )
        other = add_task(
            write,
            kind="call",
            am_id="am-2",
            account_id="initech",
            title="Call Initech about the vault renewal",
            body="Dan asked for a call.",
            now=AS_OF,
        )
    (draft,) = store.nodes("Draft", {"am_id": "am-1", "status": "pending"})["draft_id"]
    (escalation,) = store.nodes("Escalation", {"am_id": "am-1"})["escalation_id"]
    return ItemIds(
        draft=draft,
        escalation=escalation,
        task=mine["task_id"],
        message=message["message_id"],
        other_task=other["task_id"],
    )


def sending_file(directory: Path) -> Path:
    """The shipped sending rules with the hand graph's sender domain."""
    path = directory / "sending.yaml"
    path.write_text(
        Path("routing/sending.yaml")
        .read_text()
        .replace("from_domains: [northwind.example]", "from_domains: [vendor.example]")
    )
    return path
