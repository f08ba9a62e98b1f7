"""A small hand-built graph on which every shipped metapath has known answers.

Capabilities: ``ingest`` (need ``pipe``, integrates with Snowflake, fits Software)
and ``vault`` (need ``privacy``, integrates with Postgres, fits Healthcare).

- acme (Software, Snowflake, owned by am-1): a hiring signal that indicates
  ``pipe`` (twice: rules 0.9 and claude 0.6); Ann (Head of Data) posted about
  ``pipe`` herself; Cat joined from globex, which bought ``vault``; Bob is the CEO.
- globex (Healthcare, owned by am-1): bought ``vault`` (o1, worked by am-1); its
  subsidiary initech bought ``ingest`` (o4).
- initech (Healthcare, Postgres, owned by am-2, subsidiary of globex): bought
  ``ingest`` (o4, worked by am-2), has an open deal for ``vault`` (o2) and lost
  ``vault`` 30 days ago (o3); a meeting 3 days ago.
- umbrella (Software): suppressed and outside the ICP.
"""

from __future__ import annotations

import datetime as dt
import json

from app.agent_loop import run_agent_loop
from drafting.offline import OfflineDrafter
from graph_model.store import GraphStore
from matching.run import run_matching
from routing.policy import load_policy
from routing.sending import SendingConfig, load_sending

AS_OF = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)


def ago(days: float) -> dt.datetime:
    return AS_OF - dt.timedelta(days=days)


def build(store: GraphStore) -> None:
    store.upsert_nodes(
        "Capability",
        [
            {
                "capability_id": "ingest",
                "name": "Managed Ingest",
                "persona_titles": ["Head of Data", "VP Data"],
                "persona_departments": ["Data"],
                "persona_seniorities": ["director", "vp"],
            },
            {
                "capability_id": "vault",
                "name": "Privacy Vault",
                "persona_titles": ["CISO"],
                "persona_departments": ["Security"],
                "persona_seniorities": ["executive"],
            },
        ],
    )
    store.upsert_nodes(
        "Need",
        [
            {"need_id": "pipe", "name": "Pipeline reliability", "phrases": ["pipeline failures"]},
            {"need_id": "privacy", "name": "Privacy compliance", "phrases": ["gdpr"]},
        ],
    )
    store.upsert_nodes(
        "Technology",
        [
            {"technology_id": "snowflake", "name": "Snowflake"},
            {"technology_id": "postgres", "name": "Postgres"},
        ],
    )
    store.upsert_nodes(
        "Industry",
        [
            {"industry_id": "software", "name": "Software"},
            {"industry_id": "healthcare", "name": "Healthcare"},
        ],
    )
    store.upsert_nodes(
        "AccountManager",
        [
            {"am_id": "am-1", "full_name": "Ada Moss", "email": "ada@vendor.example"},
            {"am_id": "am-2", "full_name": "Ben Ode", "email": "ben@vendor.example"},
        ],
    )
    store.upsert_nodes(
        "Account",
        [
            {"account_id": "acme", "name": "Acme", "in_icp": True},
            {"account_id": "globex", "name": "Globex", "in_icp": True},
            {"account_id": "initech", "name": "Initech", "in_icp": True},
            {"account_id": "umbrella", "name": "Umbrella", "in_icp": False, "suppressed": True},
        ],
    )
    store.upsert_nodes(
        "Person",
        [
            {
                "person_id": "ann",
                "full_name": "Ann Lee",
                "email": "ann@acme.example",
                "title": "Head of Data",
                "department": "Data",
                "seniority": "vp",
            },
            {
                "person_id": "bob",
                "full_name": "Bob Ray",
                "email": "bob@acme.example",
                "title": "CEO",
                "seniority": "executive",
            },
            {
                "person_id": "cat",
                "full_name": "Cat Diaz",
                "email": "cat@acme.example",
                "title": "Director of Data Engineering",
                "department": "Data",
                "seniority": "director",
            },
            {
                "person_id": "dan",
                "full_name": "Dan Wu",
                "email": "dan@initech.example",
                "title": "VP Data",
                "department": "Data",
                "seniority": "vp",
                "do_not_contact": True,
            },
        ],
    )
    store.upsert_nodes(
        "Signal",
        [
            {
                "signal_id": "s-hiring",
                "kind": "hiring",
                "occurred_at": ago(10),
                "source": "jobs-feed",
                "title": "Acme is hiring",
                "text": "Help us end pipeline failures.",
                "strength": 0.8,
            },
            {
                "signal_id": "s-post",
                "kind": "social_post",
                "occurred_at": ago(45),
                "source": "social",
                "text": "Pipeline failures again.",
                "strength": 0.5,
            },
            {
                "signal_id": "s-old",
                "kind": "news",
                "occurred_at": ago(400),
                "source": "newswire",
                "text": "Acme's growth.",
            },
        ],
    )
    store.upsert_nodes(
        "Opportunity",
        [
            {
                "opportunity_id": "o1",
                "name": "Globex vault",
                "stage": "Closed Won",
                "status": "won",
                "close_date": dt.date(2025, 6, 1),
            },
            {"opportunity_id": "o2", "name": "Initech vault", "stage": "Demo", "status": "open"},
            {
                "opportunity_id": "o3",
                "name": "Initech vault (lost)",
                "stage": "Closed Lost",
                "status": "lost",
                "close_date": ago(30).date(),
            },
            {
                "opportunity_id": "o4",
                "name": "Initech ingest",
                "stage": "Closed Won",
                "status": "won",
                "close_date": dt.date(2026, 1, 15),
            },
        ],
    )
    store.upsert_nodes(
        "Activity",
        [{"activity_id": "x1", "kind": "meeting", "occurred_at": ago(3), "subject": "QBR"}],
    )
    edges: dict[str, list[dict[str, object]]] = {
        "ADDRESSES": [{"src": "ingest", "dst": "pipe"}, {"src": "vault", "dst": "privacy"}],
        "INTEGRATES_WITH": [
            {"src": "ingest", "dst": "snowflake"},
            {"src": "vault", "dst": "postgres"},
        ],
        "FITS": [{"src": "ingest", "dst": "software"}, {"src": "vault", "dst": "healthcare"}],
        "OWNS": [
            {"src": "am-1", "dst": "acme"},
            {"src": "am-1", "dst": "globex"},
            {"src": "am-2", "dst": "initech"},
            {"src": "am-2", "dst": "umbrella"},
        ],
        "IN_INDUSTRY": [
            {"src": "acme", "dst": "software"},
            {"src": "umbrella", "dst": "software"},
            {"src": "globex", "dst": "healthcare"},
            {"src": "initech", "dst": "healthcare"},
        ],
        "USES": [{"src": "acme", "dst": "snowflake"}, {"src": "initech", "dst": "postgres"}],
        "SUBSIDIARY_OF": [{"src": "initech", "dst": "globex"}],
        "WORKS_AT": [
            {"src": "ann", "dst": "acme"},
            {"src": "bob", "dst": "acme"},
            {"src": "cat", "dst": "acme", "since": ago(30).date()},  # the job change
            {"src": "dan", "dst": "initech"},
        ],
        "PREVIOUSLY_AT": [{"src": "cat", "dst": "globex", "until": ago(30).date()}],
        # At Globex, Cat was the decision maker on the vault deal: a known champion.
        "CHAMPIONED": [
            {"src": "cat", "dst_label": "Opportunity", "dst": "o1", "role": "Decision Maker"}
        ],
        "EMITTED": [
            {"src_label": "Account", "src": "acme", "dst": "s-hiring"},
            {"src_label": "Account", "src": "acme", "dst": "s-old"},
            {"src_label": "Person", "src": "ann", "dst": "s-post"},
        ],
        "INDICATES": [
            {
                "src": "s-hiring",
                "dst": "pipe",
                "extractor": "rules",
                "confidence": 0.9,
                "evidence": "pipeline failures",
            },
            {
                "src": "s-hiring",
                "dst": "pipe",
                "extractor": "claude:test",
                "confidence": 0.6,
                "evidence": "Help us end pipeline failures.",
            },
            {
                "src": "s-post",
                "dst": "pipe",
                "extractor": "rules",
                "confidence": 0.9,
                "evidence": "Pipeline failures again.",
            },
        ],
        "INCLUDES": [
            {"src": "o1", "dst": "vault"},
            {"src": "o2", "dst": "vault"},
            {"src": "o3", "dst": "vault"},
            {"src": "o4", "dst": "ingest"},
        ],
        "FOR": [
            {"src_label": "Opportunity", "src": "o1", "dst": "globex"},
            {"src_label": "Opportunity", "src": "o2", "dst": "initech"},
            {"src_label": "Opportunity", "src": "o3", "dst": "initech"},
            {"src_label": "Opportunity", "src": "o4", "dst": "initech"},
        ],
        "WORKED": [
            {"src_label": "AccountManager", "src": "am-1", "dst": "o1"},
            {"src_label": "AccountManager", "src": "am-2", "dst": "o4"},
        ],
        "ABOUT": [{"src": "x1", "dst": "initech"}],
    }
    for rel_type, rows in edges.items():
        store.upsert_edges(rel_type, rows)


def add_managers(store: GraphStore) -> None:
    """The sales org above am-1, for the human loop's authorization: Cy (am-3)
    manages am-1, and Dee (am-4, a director) manages Cy. am-2 reports to nobody.
    Not part of ``build``: they own nothing and work no deals."""
    store.upsert_nodes(
        "AccountManager",
        [
            {"am_id": "am-3", "full_name": "Cy Park", "email": "cy@vendor.example"},
            {"am_id": "am-4", "full_name": "Dee Holt", "email": "dee@vendor.example"},
        ],
    )
    store.upsert_edges(
        "REPORTS_TO",
        [
            {
                "src_label": "AccountManager",
                "src": "am-1",
                "dst_label": "AccountManager",
                "dst": "am-3",
            },
            {
                "src_label": "AccountManager",
                "src": "am-3",
                "dst_label": "AccountManager",
                "dst": "am-4",
            },
        ],
    )


def hand_over(store: GraphStore, *, sending: SendingConfig | None = None) -> None:
    """Match the graph as of ``AS_OF`` and run one agent batch on it (the shipped
    policy, the offline drafter, no channel: nothing is sent, messages wait)."""
    run_matching(store, as_of=AS_OF)
    run_agent_loop(
        store,
        policy=load_policy(),
        drafter=OfflineDrafter(),
        sending=sending or load_sending(),
        now=AS_OF,
        min_personalization=0.5,
    )


def synthetic_match(
    i: int, features: dict[str, dict[str, float]], *, created_at: dt.datetime = AS_OF
) -> dict[str, object]:
    """A Match node ``m-syn<i>`` for ``ingest`` at a made-up account ``syn<i>``, with
    these features (what learning reads from the decisions on it)."""
    return {
        "match_id": f"m-syn{i:04d}",
        "account_id": f"syn{i}",
        "capability_id": "ingest",
        "score": 0.5,
        "model_version": "prior",
        "batch_id": "b-syn",
        "created_at": created_at,
        "features": json.dumps(features),
    }
