"""Give every proposed match its route and store it.

A route is a Route node linked to its match (ROUTES): the action, the rule id,
the reason sentence, the policy's digest and the match's run and score as
routed. Its id is derived from the match, the match's run and the policy, so
routing again after nothing changed writes nothing; a new match run or a new
policy gives a new route, which becomes the match's current one (older ones are
kept, marked not current), in one commit per call.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import polars as pl

from graph_model.store import GraphStore
from matching.asof import as_of_view
from routing.context import current_matches, routed, routing_frame
from routing.policy import Policy, Rule


@dataclass
class RouteReport:
    policy: str
    digest: str
    matches: int = 0
    written: int = 0
    unchanged: int = 0
    actions: dict[str, int] = field(default_factory=dict)
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def route_id(match_id: str, batch_id: str, digest: str) -> str:
    text = "\x1f".join([match_id, batch_id, digest])
    return "r-" + hashlib.sha1(text.encode()).hexdigest()[:20]


def route_matches(
    store: GraphStore,
    policy: Policy,
    *,
    now: dt.datetime,
    am: str | None = None,
    dry_run: bool = False,
) -> RouteReport:
    """Route the proposed matches (of one AM's accounts, with ``am``), reading the graph
    as it was known at ``now`` (matching.asof)."""
    known = as_of_view(store, now)
    frame = routing_frame(known, current_matches(known, am=am))
    report = RouteReport(policy=policy.path, digest=policy.digest, dry_run=dry_run)
    store_routes(store, list(routed(frame, policy)), policy, now=now, report=report)
    return report


def store_routes(
    store: GraphStore,
    decided: list[tuple[dict[str, Any], Rule, str]],
    policy: Policy,
    *,
    now: dt.datetime,
    report: RouteReport,
) -> pl.DataFrame:
    """Write the routes of routed matches (unless ``report.dry_run``); count them in
    ``report``. Returns every route record, written or already known."""
    report.matches = len(decided)
    schema = store.registry.node("Route").frame_schema()
    if not decided:
        return pl.DataFrame(schema=schema)
    routes: list[dict[str, Any]] = []
    actions: Counter[str] = Counter()
    for row, rule, why in decided:
        actions[rule.label] += 1
        routes.append(
            {
                "route_id": route_id(row["match_id"], row["batch_id"], policy.digest),
                "match_id": row["match_id"],
                "action": rule.action,
                "kind": rule.kind,
                "rule": rule.id,
                "reason": why,
                "policy": policy.digest,
                "batch_id": row["batch_id"],
                "score": row["score"],
                "routed_at": now,
                "current": True,
            }
        )
    report.actions = dict(sorted(actions.items(), key=lambda kv: (-kv[1], kv[0])))
    new = pl.DataFrame(routes, schema=schema)
    existing = store.nodes("Route", {"match_id": new["match_id"].to_list()})
    known = existing.filter(pl.col("route_id").is_in(new["route_id"].implode()))
    # A known route whose action, rule and reason are unchanged is left as it is.
    same = new.join(
        known.select("route_id", "action", "rule", "reason"),
        on=["route_id", "action", "rule", "reason"],
        how="semi",
    )
    fresh = new.filter(~pl.col("route_id").is_in(same["route_id"].implode()))
    report.written = fresh.height
    report.unchanged = new.height - fresh.height
    if report.dry_run or fresh.is_empty():
        return new
    # The routes they replace: the current ones of the same matches.
    replaced = existing.filter(
        pl.col("current")
        & pl.col("match_id").is_in(fresh["match_id"].implode())
        & ~pl.col("route_id").is_in(fresh["route_id"].implode())
    )
    with store.batch() as write:
        if replaced.height:
            write.upsert_nodes("Route", replaced.with_columns(pl.lit(False).alias("current")))
        write.upsert_nodes("Route", fresh)
        write.upsert_edges(
            "ROUTES", fresh.select(pl.col("route_id").alias("src"), pl.col("match_id").alias("dst"))
        )
    return new


def current_routes(
    store: GraphStore, match_ids: Sequence[str] | pl.Series, *, fields: Sequence[str] | None = None
) -> pl.DataFrame:
    """Each match's current route (the latest one routing marked current; a route
    stored before routes were marked counts as current), one row per match that has
    one; with ``fields``, only those properties and ``match_id``."""
    edges = store.edges("ROUTES", touching=match_ids, side="target", label="Match")
    wanted = None if fields is None else list(dict.fromkeys(["match_id", *fields]))
    read = None if wanted is None else list(dict.fromkeys([*wanted, "current", "routed_at"]))
    routes = store.get_nodes("Route", edges["src"], fields=read)
    current = (
        routes.filter(pl.col("current").fill_null(True))
        .sort("routed_at")
        .unique("match_id", keep="last", maintain_order=True)
    )
    return current if wanted is None else current.select(wanted)
