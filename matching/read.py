"""Reading matches back: an AM's queue, and the explanation of one pair."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import polars as pl

from graph_model.store import GraphStore, NotFound
from matching.run import Matcher, pair_id

QUEUE_STATUSES = ("proposed", "deferred")


def top_matches(
    store: GraphStore, am_id: str, *, limit: int = 10, today: dt.date | None = None
) -> list[dict[str, Any]]:
    """The AM's open matches, best first: proposed ones, and deferred ones whose date
    has come. Each with account and capability names and the suggested contact."""
    store.get_node("AccountManager", am_id)
    today = today or dt.datetime.now(dt.UTC).date()
    assigned = store.edges(
        "ASSIGNED_TO", touching=[am_id], side="target", label="AccountManager"
    ).filter(pl.col("src_label") == "Match")
    if assigned.height == 0:
        return []
    matches = store.get_nodes("Match", assigned["src"].to_list()).filter(
        (pl.col("status") == "proposed")
        | ((pl.col("status") == "deferred") & (pl.col("defer_until").fill_null(today) <= today))
    )
    matches = matches.sort(["score", "match_id"], descending=[True, False]).head(limit)
    return describe_matches(store, matches)


def explain_pair(
    store: GraphStore, account_id: str, capability_id: str, *, as_of: dt.datetime | None = None
) -> dict[str, Any]:
    """The stored match of a pair, or (when none is stored, or ``as_of`` is given) a live
    evaluation that says why the pair is or is not surfaced."""
    for label, key in (("Account", account_id), ("Capability", capability_id)):
        if store.get_nodes(label, [key]).height == 0:
            raise NotFound(f"no {label} {key!r}")
    if as_of is None:
        stored = store.get_nodes("Match", [pair_id(account_id, capability_id)])
        if stored.height:
            (row,) = describe_matches(store, stored)
            return {"source": "stored", **row}
        as_of = dt.datetime.now(dt.UTC)
    matcher = Matcher(store, as_of=as_of)
    scored, instances = matcher.score([account_id])
    hit = scored.filter(pl.col("capability_id") == capability_id)
    base: dict[str, Any] = {
        "source": "live",
        "account_id": account_id,
        "capability_id": capability_id,
        "as_of": as_of,
        "model_version": matcher.model.version,
    }
    if hit.height == 0:
        gates = instances.filter(
            (pl.col("role") == "gate")
            & (pl.col("capability_id").is_null() | (pl.col("capability_id") == capability_id))
        )
        blocked = sorted(set(gates["metapath"].to_list()))
        why = (
            f"blocked by {', '.join(blocked)}; and no evidence path reaches this pair"
            if blocked
            else "no evidence path reaches this pair"
        )
        return {**base, "surfaced": False, "score": None, "explanation": f"Not surfaced: {why}."}
    row = hit.row(0, named=True)
    return {
        **base,
        "surfaced": row["surfaced"],
        "score": row["score"],
        "weak": row["weak"],
        "gates": row["gates"],
        **matcher.explain(hit.head(1), instances),
    }


def describe_matches(store: GraphStore, matches: pl.DataFrame) -> list[dict[str, Any]]:
    """Match nodes as an AM reads them: names, owner, evidence sentences with their
    paths, features and the suggested contact."""
    if matches.height == 0:
        return []
    ids = matches["match_id"].to_list()
    accounts = store.names("Account", matches["account_id"])
    capabilities = store.names("Capability", matches["capability_id"])
    contact = store.edges("CONTACT", touching=ids, side="source", label="Match")
    people = store.names("Person", contact["dst"], field="full_name") if contact.height else {}
    contact_of = {r["src"]: r for r in contact.iter_rows(named=True)}
    owners = store.edges("ASSIGNED_TO", touching=ids, side="source", label="Match")
    owner_of = dict(owners.select("src", "dst").iter_rows())
    out = []
    for row in matches.iter_rows(named=True):
        c = contact_of.get(row["match_id"])
        out.append(
            {
                "match_id": row["match_id"],
                "account_id": row["account_id"],
                "account": accounts.get(row["account_id"]),
                "capability_id": row["capability_id"],
                "capability": capabilities.get(row["capability_id"]),
                "am_id": owner_of.get(row["match_id"]),
                "score": row["score"],
                "weak": row["weak"],
                "status": row["status"],
                "defer_until": row["defer_until"],
                "explanation": row["explanation"],
                "evidence": row["evidence"],
                "paths": json.loads(row["evidence_paths"]),
                "features": json.loads(row["features"]),
                "contact": (
                    {"person_id": c["dst"], "name": people.get(c["dst"]), "reason": c["reason"]}
                    if c
                    else None
                ),
                "model_version": row["model_version"],
                "batch_id": row["batch_id"],
                "as_of": row["as_of"],
            }
        )
    return out
