"""The hand graph with the events each default play reacts to (and near misses).

On top of ``hand_graph`` handed over as of ``AS_OF`` (Friday 2026-11-20, noon):

- acme is Tier A; it visited our pricing page twice this week (and a blog page);
  Bob (its CEO) accepted a connection request; Ann posted about pipeline failures
  (a need ``ingest`` addresses). The message to Cat (auto-sent) went out at AS_OF.
- globex is Tier B and visited the pricing page twice too (the play wants Tier A).
- initech (am-2's): Rita (at globex) referred Ivy there; Rita was on a call with am-2
  in the spring; umbrella was referred by a stranger (not in anyone's network).
"""

from __future__ import annotations

import dataclasses

from graph_model.store import Filter, GraphStore
from routing.plays import PlayBook, load_plays
from tests.support.hand_graph import AS_OF, ago, build, hand_over
from tests.support.items_world import SENDING

PRICING = "https://vendor.example/pricing"


def plays_world(store: GraphStore) -> None:
    build(store)
    hand_over(store, sending=SENDING)
    store.upsert_nodes(
        "Account",
        [
            {**row, "tier": tier}
            for row, tier in zip(
                store.get_nodes("Account", ["acme", "globex", "initech"]).to_dicts(),
                ["A", "B", "B"],
                strict=True,
            )
        ],
    )
    signals = [
        ("v1", "acme", "web_visit", ago(3), PRICING, "Pricing"),
        ("v2", "acme", "web_visit", ago(1), PRICING + "?plan=team", "Pricing"),
        ("v3", "acme", "web_visit", ago(2), "https://vendor.example/blog/etl", "Blog"),
        ("g1", "globex", "web_visit", ago(4), PRICING, "Pricing"),
        ("g2", "globex", "web_visit", ago(2), PRICING, "Pricing"),
        ("p2", "ann", "social_post", ago(1), "https://social.example/ann/1", None),
    ]
    with store.batch() as write:
        write.upsert_nodes(
            "Signal",
            [
                {
                    "signal_id": sid,
                    "kind": kind,
                    "occurred_at": at,
                    "source": "web" if kind == "web_visit" else "social",
                    "url": url,
                    "title": title,
                    "text": "Our pipeline failures cost us a week again."
                    if kind == "social_post"
                    else "",
                }
                for sid, _, kind, at, url, title in signals
            ],
        )
        write.upsert_edges(
            "EMITTED",
            [
                {"src_label": "Person" if who == "ann" else "Account", "src": who, "dst": sid}
                for sid, who, *_ in signals
            ],
        )
        write.upsert_edges(
            "INDICATES",
            [
                {
                    "src": "p2",
                    "dst": "pipe",
                    "extractor": "rules",
                    "confidence": 0.9,
                    "evidence": "pipeline failures",
                }
            ],
        )
        write.upsert_nodes(
            "Person",
            [
                {"person_id": "rita", "full_name": "Rita Ray", "email": "rita@globex.example"},
                {"person_id": "stan", "full_name": "Stan Gere", "email": "stan@elsewhere.example"},
                {"person_id": "ivy", "full_name": "Ivy Nolan", "email": "ivy@initech.example"},
            ],
        )
        write.upsert_edges(
            "WORKS_AT", [{"src": "rita", "dst": "globex"}, {"src": "ivy", "dst": "initech"}]
        )
        activities = [
            (
                "x-rita",
                "call",
                None,
                ago(200),
                "globex",
                [("Person", "rita"), ("AccountManager", "am-2")],
            ),
            ("c1", "connection", "inbound", ago(2), "acme", [("Person", "bob")]),
            (
                "ref1",
                "referral",
                "inbound",
                ago(1),
                "initech",
                [("Person", "rita"), ("Person", "ivy")],
            ),
            ("ref2", "referral", "inbound", ago(1), "umbrella", [("Person", "stan")]),
        ]
        write.upsert_nodes(
            "Activity",
            [
                {
                    "activity_id": aid,
                    "kind": kind,
                    "direction": direction,
                    "occurred_at": at,
                    "subject": f"{kind} ({aid})",
                }
                for aid, kind, direction, at, *_ in activities
            ],
        )
        write.upsert_edges(
            "ABOUT", [{"src": aid, "dst": acc} for aid, _, _, _, acc, _ in activities]
        )
        write.upsert_edges(
            "INVOLVED",
            [
                {"src": aid, "dst_label": label, "dst": key}
                for aid, *_, who in activities
                for label, key in who
            ],
        )
    # The relay sent the message to Cat at AS_OF.
    (message,) = store.nodes("OutboxMessage", [Filter("person_id", "eq", "cat")]).to_dicts()
    store.upsert_nodes(
        "OutboxMessage", [{**message, "status": "sent", "sent_at": AS_OF, "attempts": 1}]
    )


def only(play_id: str, book: PlayBook | None = None) -> PlayBook:
    """The shipped plays with only ``play_id`` switched on."""
    book = book or load_plays()
    return dataclasses.replace(book, plays=(book.get(play_id),))
