"""What the routing policy looks at, per match, read from the graph.

One row per Match with the ``ROUTING_FIELDS``: the match's own score, weakness
and features (intent, champion, background only), the account's tier,
relationship, open deals and open escalation, and the contact chosen for it.
The draft's grounding and personalization are null until a draft exists.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import polars as pl

from graph_model.store import Filter, GraphStore
from matching.model import active_model, load_prior
from routing.escalation import open_escalations
from routing.policy import ROUTING_FIELDS, Policy, Rule

SENIOR = ("vp", "executive")
INTENT_PATHS = ("need_evidence", "buyer_priority", "site_visit", "site_visit_person")


def routing_frame(
    store: GraphStore,
    matches: pl.DataFrame,
    *,
    unstored_escalations: Mapping[str, str] | None = None,
) -> pl.DataFrame:
    """``matches`` (Match nodes) with one column per routing field.
    ``unstored_escalations`` (account id -> kind) counts escalations a dry run
    found but did not store, as if they were open."""
    if matches.is_empty():
        return matches.with_columns(
            pl.lit(None).alias(name) for name in ROUTING_FIELDS if name not in matches.columns
        )
    background = set(active_model(store, load_prior()).background)
    accounts = store.get_nodes("Account", matches["account_id"].unique()).select(
        "account_id",
        pl.col("tier").fill_null("none").alias("tier"),
        "relationship",
    )
    opps = store.edges(
        "FOR", touching=matches["account_id"].unique(), side="target", label="Account"
    ).filter(pl.col("src_label") == "Opportunity")
    open_accounts: set[str] = set()
    if opps.height:
        status = store.get_nodes("Opportunity", opps["src"].unique()).select(
            pl.col("opportunity_id").alias("src"), "status"
        )
        open_accounts = set(
            opps.join(status, on="src").filter(pl.col("status") == "open")["dst"].to_list()
        )
    contacts = store.edges("CONTACT", touching=matches["match_id"], side="source", label="Match")
    people = (
        store.get_nodes("Person", contacts["dst"].unique()).select(
            pl.col("person_id").alias("dst"), "seniority"
        )
        if contacts.height
        else pl.DataFrame(schema={"dst": pl.String, "seniority": pl.String})
    )
    chosen = contacts.select(pl.col("src").alias("match_id"), "dst").join(
        people, on="dst", how="left"
    )
    intent, champion, background_only = [], [], []
    for text in matches["features"].to_list():
        features = json.loads(text or "{}")
        intent.append(sum(float(features.get(m, {}).get("w", 0.0)) for m in INTENT_PATHS))
        champion.append(any(m.startswith("champion_") for m in features))
        background_only.append(bool(features) and set(features) <= background)
    escalations = open_escalations(store, matches["account_id"].unique().to_list())
    extra = pl.DataFrame(
        {
            "account_id": list((unstored_escalations or {}).keys()),
            "escalation": list((unstored_escalations or {}).values()),
        },
        schema={"account_id": pl.String, "escalation": pl.String},
    )
    escalated = pl.concat(
        [
            escalations.sort(["opened_at", "escalation_id"])
            .group_by("account_id", maintain_order=True)
            .agg(pl.col("kind").first().cast(pl.String).alias("escalation")),
            extra,
        ]
    ).unique("account_id", keep="first")
    return (
        matches.with_columns(
            pl.Series("intent", intent, dtype=pl.Float64),
            pl.Series("champion", champion, dtype=pl.Boolean),
            pl.Series("background_only", background_only, dtype=pl.Boolean),
            pl.col("account_id").is_in(sorted(open_accounts)).alias("open_deal"),
        )
        .join(accounts, on="account_id", how="left")
        .join(chosen, on="match_id", how="left")
        .with_columns(
            pl.col("dst").is_not_null().alias("contact_found"),
            pl.col("seniority").is_in(list(SENIOR)).fill_null(False).alias("contact_senior"),
        )
        .drop("dst", "seniority")
        .join(escalated, on="account_id", how="left")
        .with_columns(
            pl.col("escalation").is_not_null().alias("escalated"),
            # Known once a draft exists (``with_draft_checks``).
            pl.lit(None, dtype=pl.Boolean).alias("grounded"),
            pl.lit(None, dtype=pl.Float64).alias("personalization"),
        )
    )


def current_matches(store: GraphStore, *, am: str | None = None) -> pl.DataFrame:
    """Matches still waiting for a route: proposed ones (of one AM's accounts)."""
    matches = store.nodes("Match", [Filter("status", "eq", "proposed")])
    if am is not None and matches.height:
        owned = store.edges(
            "ASSIGNED_TO", touching=[am], side="target", label="AccountManager"
        ).filter(pl.col("src_label") == "Match")
        matches = matches.filter(pl.col("match_id").is_in(owned["src"].implode()))
    return matches


def routed(frame: pl.DataFrame, policy: Policy) -> Iterator[tuple[dict[str, Any], Rule, str]]:
    """Each row of a routing frame with the rule that fires on it and its reason."""
    for row in frame.iter_rows(named=True):
        rule, why = policy.route({name: row.get(name) for name in ROUTING_FIELDS})
        yield row, rule, why
