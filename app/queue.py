"""An AM's work as one frame: every kind of item, best first, with its filters.

The console's queue page lays this out and nothing else decides what is in it.
One row per item:

- ``match``: an open match (proposed, or deferred and due), with its current
  route (action, rule, reason) or ``unrouted`` before the agent loop ran;
- ``draft``: a draft waiting for approval;
- ``escalation``: an open escalation, with its question;
- ``task``: an open task (voice note, LinkedIn, call, research);
- ``unconfirmed_send``: a message a relay could not confirm.

Best first means: what blocks automation or a send comes first (escalations,
unconfirmed sends), then drafts and tasks, then matches by score; within a
kind, oldest first except matches (highest score first). Each item has an age
and a stale flag (``TWOLOOP_CONSOLE_STALE_DAYS``).

Who sees what is the human-loop API's rule (``app.actors``): an AM their own
book, a manager their reports' books, an admin any.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import polars as pl

from app.actors import Actor, act_on, identify
from graph_model.errors import DecisionRejected
from graph_model.store import Filter, GraphStore

KINDS = ("escalation", "unconfirmed_send", "draft", "task", "match")
_KIND_ORDER = {kind: i for i, kind in enumerate(KINDS)}
STATUSES = ("open", "deferred", "validated", "killed")
_MATCH_FIELDS = (
    "account_id",
    "capability_id",
    "score",
    "weak",
    "status",
    "defer_until",
    "explanation",
    "created_at",
)
_ROUTE_FIELDS = ("match_id", "action", "kind", "rule", "reason", "routed_at", "current")

QUEUE_SCHEMA: dict[str, pl.DataType] = {
    "item": pl.String(),
    "kind": pl.String(),
    "am_id": pl.String(),
    "match_id": pl.String(),
    "account_id": pl.String(),
    "account": pl.String(),
    "tier": pl.String(),
    "capability_id": pl.String(),
    "capability": pl.String(),
    "score": pl.Float64(),
    "action": pl.String(),
    "rule": pl.String(),
    "reason": pl.String(),
    "weak": pl.Boolean(),
    "status": pl.String(),
    "what": pl.String(),
    "since": pl.Datetime("us", "UTC"),
}


@dataclass(frozen=True)
class QueueFilter:
    """What the queue shows. Empty tuples mean any; ``status`` is about matches
    (``open`` is what waits for a decision; other items are always open)."""

    actions: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    tiers: tuple[str, ...] = ()
    capabilities: tuple[str, ...] = ()
    min_score: float = 0.0
    min_age_days: float = 0.0
    status: str = "open"
    stale_only: bool = False

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> QueueFilter:
        raw = json.loads(text)
        for name in ("actions", "kinds", "tiers", "capabilities"):
            raw[name] = tuple(raw.get(name) or ())
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in raw.items() if k in known})


@dataclass
class QueueOptions:
    """What the filters can choose from in a frame."""

    actions: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    tiers: list[str] = field(default_factory=list)
    capabilities: list[str] = field(default_factory=list)


def books(store: GraphStore, actor: Actor) -> list[str]:
    """The AMs whose queues ``actor`` may see: their own, their reports' (at any
    depth), or every AM for an admin. Their own first."""
    ams = store.nodes("AccountManager")["am_id"].to_list()
    if actor.admin:
        visible = ams
    else:
        below = reports(store, actor.am_id, ams) if actor.am_id else set()
        visible = [am for am in ams if am == actor.am_id or am in below]
    return sorted(visible, key=lambda am: (am != actor.am_id, am))


def reports(store: GraphStore, am_id: str, ams: list[str]) -> set[str]:
    """Everyone who reports to ``am_id``, directly or through their managers: the
    AMs whose ``app.actors.managers`` include ``am_id``. One read of the AMs' lines
    (REPORTS_TO), not one per AM: on Neo4j that was 100 round trips for 100 AMs."""
    lines = store.edges("REPORTS_TO", touching=ams, side="source", label="AccountManager")
    lines = lines.filter(pl.col("dst_label") == "AccountManager")
    reports_of: dict[str, list[str]] = {}
    for report, manager in lines.select("src", "dst").iter_rows():
        reports_of.setdefault(manager, []).append(report)
    found: set[str] = set()
    level = [am_id]
    while level:
        below = [r for m in level for r in reports_of.get(m, ()) if r not in found and r != am_id]
        found.update(below)
        level = below
    return found


def queue_frame(
    store: GraphStore,
    actor: str | Actor,
    *,
    now: dt.datetime,
    of: Sequence[str] | None = None,
    status: str = "open",
    stale_days: int = 14,
) -> pl.DataFrame:
    """Every item waiting in the queues of ``of`` (default: the actor's own), best
    first, with ``age_days`` and ``stale``. Refused (``NotAuthorized``) for a book
    the actor may not see."""
    if not isinstance(actor, Actor):
        actor = identify(store, actor, action="see", item="a queue")
    ams = list(of) if of else ([actor.am_id] if actor.am_id else [])
    if not ams:
        raise DecisionRejected(
            f"{actor.id} is an admin, not an account manager, and has no queue of their own",
            hint="choose whose queue to see",
        )
    for am in ams:
        store.get_node("AccountManager", am)
        act_on(store, actor, action="see", item=f"the queue of {am}", owner=am)
    if status not in STATUSES:
        raise DecisionRejected(f"unknown status {status!r} (one of {', '.join(STATUSES)})")
    parts = [_matches(store, ams, now=now, status=status)]
    if status == "open":
        parts += [
            _drafts(store, ams),
            _escalations(store, ams),
            _tasks(store, ams),
            _unconfirmed(store, ams),
        ]
    frame = pl.concat([p.select(list(QUEUE_SCHEMA)) for p in parts], how="vertical")
    # A match whose route already made a draft, escalation or task shows up as that.
    taken = frame.filter(pl.col("kind") != "match")["match_id"].drop_nulls()
    frame = frame.filter((pl.col("kind") != "match") | ~pl.col("match_id").is_in(taken.implode()))
    frame = _names(store, frame)
    age = (pl.lit(now.astimezone(dt.UTC)) - pl.col("since")).dt.total_seconds() / 86400.0
    return (
        frame.with_columns(
            age.clip(lower_bound=0).alias("age_days"),
            pl.col("kind").replace_strict(_KIND_ORDER, return_dtype=pl.Int8).alias("__order"),
        )
        .with_columns((pl.col("age_days") > stale_days).alias("stale"))
        .sort(
            ["__order", "score", "since", "item"],
            descending=[False, True, False, False],
            nulls_last=True,
        )
        .drop("__order")
    )


def apply_filter(frame: pl.DataFrame, wanted: QueueFilter) -> pl.DataFrame:
    """The rows of a queue frame that ``wanted`` lets through, in the same order."""
    keep = pl.lit(True)
    for column, values in (
        ("action", wanted.actions),
        ("kind", wanted.kinds),
        ("tier", wanted.tiers),
        ("capability", wanted.capabilities),
    ):
        if values:
            keep &= pl.col(column).is_in(list(values))
    if wanted.min_score > 0:
        keep &= pl.col("score").fill_null(0.0) >= wanted.min_score
    if wanted.min_age_days > 0:
        keep &= pl.col("age_days") >= wanted.min_age_days
    if wanted.stale_only:
        keep &= pl.col("stale")
    return frame.filter(keep)


def options(frame: pl.DataFrame) -> QueueOptions:
    def values(column: str) -> list[str]:
        return sorted(v for v in frame[column].unique().to_list() if v)

    return QueueOptions(
        actions=values("action"),
        kinds=[k for k in KINDS if k in set(frame["kind"].to_list())],
        tiers=values("tier"),
        capabilities=values("capability"),
    )


def page(frame: pl.DataFrame, number: int, size: int) -> pl.DataFrame:
    """Rows of page ``number`` (from 1) of ``size`` rows; past the end, the last page."""
    pages = max(1, -(-frame.height // size))
    number = min(max(1, number), pages)
    return frame.slice((number - 1) * size, size)


# ---------------------------------------------------------------- saved views


def view_id(owner: str, name: str) -> str:
    return "v-" + hashlib.sha1(f"{owner}\x1f{name.strip()}".encode()).hexdigest()[:16]


def save_view(
    store: GraphStore, actor: Actor, name: str, wanted: QueueFilter, *, now: dt.datetime
) -> str:
    """Keep ``wanted`` under ``name`` for the actor (the same name replaces it)."""
    if not name.strip():
        raise DecisionRejected("a saved view needs a name")
    key = view_id(actor.id, name)
    store.upsert_nodes(
        "SavedView",
        [
            {
                "view_id": key,
                "owner": actor.id,
                "name": name.strip(),
                "filters": wanted.to_json(),
                "saved_at": now,
            }
        ],
    )
    return key


def saved_views(store: GraphStore, actor: Actor) -> dict[str, QueueFilter]:
    """The actor's saved views by name, in name order."""
    rows = store.nodes("SavedView", [Filter("owner", "eq", actor.id)]).sort("name")
    return {r["name"]: QueueFilter.from_json(r["filters"]) for r in rows.iter_rows(named=True)}


def delete_view(store: GraphStore, actor: Actor, name: str) -> None:
    store.delete_nodes("SavedView", [view_id(actor.id, name)])


# ---------------------------------------------------------------- the parts


def _empty() -> pl.DataFrame:
    return pl.DataFrame(schema=QUEUE_SCHEMA)


def _frame(rows: Iterable[dict[str, Any]]) -> pl.DataFrame:
    rows = list(rows)
    if not rows:
        return _empty()
    return pl.DataFrame(
        [{name: row.get(name) for name in QUEUE_SCHEMA} for row in rows], schema=QUEUE_SCHEMA
    )


def _matches(store: GraphStore, ams: list[str], *, now: dt.datetime, status: str) -> pl.DataFrame:
    assigned = store.edges("ASSIGNED_TO", touching=ams, side="target", label="AccountManager")
    assigned = assigned.filter(pl.col("src_label") == "Match")
    if assigned.is_empty():
        return _empty()
    # Only what a queue row shows: a match's evidence and features are the bulk of it.
    matches = store.get_nodes("Match", assigned["src"], fields=_MATCH_FIELDS)
    today = now.astimezone(dt.UTC).date()
    due = pl.col("defer_until").fill_null(today) <= today
    wanted = {
        "open": (pl.col("status") == "proposed") | ((pl.col("status") == "deferred") & due),
        "deferred": (pl.col("status") == "deferred") & ~due,
        "validated": pl.col("status") == "validated",
        "killed": pl.col("status") == "killed",
    }[status]
    matches = matches.filter(wanted)
    if matches.is_empty():
        return _empty()
    owner = assigned.select(pl.col("src").alias("match_id"), pl.col("dst").alias("am_id"))
    routes = _current_routes(store, matches["match_id"])
    return (
        matches.join(owner.unique("match_id"), on="match_id", how="left")
        .join(routes, on="match_id", how="left")
        .select(
            pl.col("match_id").alias("item"),
            pl.lit("match").alias("kind"),
            "am_id",
            "match_id",
            "account_id",
            pl.lit(None, pl.String).alias("account"),
            pl.lit(None, pl.String).alias("tier"),
            "capability_id",
            pl.lit(None, pl.String).alias("capability"),
            pl.col("score").cast(pl.Float64),
            pl.col("action").fill_null("unrouted"),
            "rule",
            pl.col("route_reason").alias("reason"),
            pl.col("weak").fill_null(False),
            "status",
            pl.col("explanation").alias("what"),
            pl.col("created_at").dt.convert_time_zone("UTC").alias("since"),
        )
    )


def _current_routes(store: GraphStore, match_ids: pl.Series) -> pl.DataFrame:
    empty = pl.DataFrame(
        schema={
            "match_id": pl.String,
            "action": pl.String,
            "rule": pl.String,
            "route_reason": pl.String,
        }
    )
    edges = store.edges("ROUTES", touching=match_ids, side="target", label="Match")
    if edges.is_empty():
        return empty
    routes = store.get_nodes("Route", edges["src"], fields=_ROUTE_FIELDS).filter(
        pl.col("current").fill_null(True)
    )
    if routes.is_empty():
        return empty
    action = pl.when(pl.col("kind").is_not_null()).then(
        pl.concat_str([pl.col("action"), pl.lit(":"), pl.col("kind")])
    )
    return (
        routes.sort("routed_at")
        .unique("match_id", keep="last")
        .select(
            "match_id",
            action.otherwise(pl.col("action")).alias("action"),
            "rule",
            pl.col("reason").alias("route_reason"),
        )
    )


def _match_of(store: GraphStore, match_ids: list[str]) -> dict[str, dict[str, Any]]:
    if not match_ids:
        return {}
    rows = store.get_nodes("Match", match_ids)
    return {r["match_id"]: r for r in rows.iter_rows(named=True)}


def _drafts(store: GraphStore, ams: list[str]) -> pl.DataFrame:
    drafts = store.nodes("Draft", [Filter("am_id", "in", ams), Filter("status", "eq", "pending")])
    matches = _match_of(store, drafts["match_id"].to_list() if drafts.height else [])
    rows = []
    for d in drafts.iter_rows(named=True):
        m = matches.get(d["match_id"], {})
        holds = "; ".join(d.get("holds") or ())
        rows.append(
            {
                "item": d["draft_id"],
                "kind": "draft",
                "am_id": d["am_id"],
                "match_id": d["match_id"],
                "account_id": m.get("account_id"),
                "capability_id": m.get("capability_id"),
                "score": m.get("score"),
                "action": "approve",
                "rule": None,
                "reason": holds or "waiting for approval",
                "weak": m.get("weak"),
                "status": d["status"],
                "what": d["subject"],
                "since": d["created_at"],
            }
        )
    return _frame(rows)


def _escalations(store: GraphStore, ams: list[str]) -> pl.DataFrame:
    found = store.nodes("Escalation", [Filter("am_id", "in", ams), Filter("status", "eq", "open")])
    matches = _match_of(
        store, [m for m in found["match_id"].to_list() if m] if found.height else []
    )
    rows = []
    for e in found.iter_rows(named=True):
        m = matches.get(e["match_id"] or "", {})
        rows.append(
            {
                "item": e["escalation_id"],
                "kind": "escalation",
                "am_id": e["am_id"],
                "match_id": e["match_id"],
                "account_id": e["account_id"],
                "capability_id": m.get("capability_id"),
                "score": m.get("score"),
                "action": f"escalate:{e['kind']}",
                "rule": e["trigger"],
                "reason": e["question"],
                "weak": m.get("weak"),
                "status": e["status"],
                "what": e["question"],
                "since": e["opened_at"],
            }
        )
    return _frame(rows)


def _tasks(store: GraphStore, ams: list[str]) -> pl.DataFrame:
    found = store.nodes("Task", [Filter("am_id", "in", ams), Filter("status", "eq", "open")])
    matches = _match_of(
        store, [m for m in found["match_id"].to_list() if m] if found.height else []
    )
    rows = []
    for t in found.iter_rows(named=True):
        m = matches.get(t["match_id"] or "", {})
        rows.append(
            {
                "item": t["task_id"],
                "kind": "task",
                "am_id": t["am_id"],
                "match_id": t["match_id"],
                "account_id": t["account_id"],
                "capability_id": m.get("capability_id"),
                "score": m.get("score"),
                "action": f"task:{t['kind']}",
                "rule": None,
                "reason": t["title"],
                "weak": m.get("weak"),
                "status": t["status"],
                "what": t["title"],
                "since": t["created_at"],
            }
        )
    return _frame(rows)


def _unconfirmed(store: GraphStore, ams: list[str]) -> pl.DataFrame:
    found = store.nodes(
        "OutboxMessage", [Filter("am_id", "in", ams), Filter("status", "eq", "unconfirmed")]
    )
    rows = []
    for m in found.iter_rows(named=True):
        rows.append(
            {
                "item": m["message_id"],
                "kind": "unconfirmed_send",
                "am_id": m["am_id"],
                "match_id": m.get("match_id"),
                "account_id": m["account_id"],
                "action": "settle",
                "reason": m.get("note") or "the relay could not confirm this send",
                "status": m["status"],
                "what": f"did '{m['subject']}' reach {m['to_address']}?",
                "since": m["claimed_at"] or m["created_at"],
            }
        )
    return _frame(rows)


def _names(store: GraphStore, frame: pl.DataFrame) -> pl.DataFrame:
    if frame.is_empty():
        return frame
    accounts = store.get_nodes(
        "Account", frame["account_id"].drop_nulls().unique(), fields=["name", "tier"]
    ).select(
        "account_id",
        pl.col("name").alias("__account"),
        pl.col("tier").cast(pl.String).alias("__tier"),
    )
    capabilities = store.get_nodes(
        "Capability", frame["capability_id"].drop_nulls().unique(), fields=["name"]
    ).select("capability_id", pl.col("name").alias("__capability"))
    return (
        frame.join(accounts, on="account_id", how="left")
        .join(capabilities, on="capability_id", how="left")
        .with_columns(
            pl.col("__account").fill_null(pl.col("account_id")).alias("account"),
            pl.col("__tier").fill_null("none").alias("tier"),
            pl.col("__capability").fill_null(pl.col("capability_id")).alias("capability"),
        )
        .drop("__account", "__tier", "__capability")
    )
