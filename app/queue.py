"""An AM's work as one frame: every kind of item, best first, with its filters.

The console's queue page lays this out and nothing else decides what is in it.
One row per item:

- ``match``: an open match (proposed, or deferred and due), with its current
  route (action, rule, reason) or ``unrouted`` before the agent loop ran;
- ``draft``: a draft waiting for approval;
- ``escalation``: an open escalation, with its question;
- ``task``: an open task (voice note, LinkedIn, call, research, post a comment);
- ``unconfirmed_send``: a message a relay could not confirm;
- ``reply``: a reply to one of our sends that waits for the AM, with what it says;
- ``play``: a play run the AM should know about: one that waits (a follow-up in
  N business days unless they reply) or left them something to read (a research
  summary, an alert). Drafts, escalations and tasks a play made show as
  themselves, with the play as their rule and its reason.

Best first means: what blocks automation or a send comes first (escalations,
unconfirmed sends), then replies, drafts and tasks, then plays, then matches by
score; within a
kind, oldest first except matches (highest score first). Each item has an age
and a stale flag (``TWOLOOP_CONSOLE_STALE_DAYS``).

Who sees what is the human-loop API's rule (``app.actors``): an AM their own
book, a manager their reports' books, an admin any.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import polars as pl

from app.actors import Actor, see_books
from graph_model.errors import DecisionRejected
from graph_model.store import Filter, GraphStore
from routing.route import current_routes

KINDS = ("escalation", "unconfirmed_send", "reply", "draft", "task", "play", "match")
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
    actor, ams = see_books(store, actor, of)
    if status not in STATUSES:
        raise DecisionRejected(f"unknown status {status!r} (one of {', '.join(STATUSES)})")
    parts = [_matches(store, ams, now=now, status=status)]
    if status == "open":
        parts.append(_open_items(store, ams, now))
    frame = pl.concat([p.cast(QUEUE_SCHEMA) for p in parts], how="vertical")  # type: ignore[arg-type]
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
    routes = current_routes(store, match_ids, fields=["action", "kind", "rule", "reason"])
    action = pl.when(pl.col("kind").is_not_null()).then(
        pl.concat_str([pl.col("action"), pl.lit(":"), pl.col("kind")])
    )
    return routes.select(
        "match_id",
        action.otherwise(pl.col("action")).cast(pl.String).alias("action"),
        "rule",
        pl.col("reason").alias("route_reason"),
    )


def _open_items(store: GraphStore, ams: list[str], now: dt.datetime) -> pl.DataFrame:
    """Pending drafts, open escalations and tasks, unconfirmed sends of these AMs,
    each with its match's account, capability, score and weakness when it has one."""
    mine = Filter("am_id", "in", ams)

    def waiting(label: str, status: str) -> pl.DataFrame:
        return store.nodes(label, [mine, Filter("status", "eq", status)])

    none = pl.lit(None, pl.String)
    drafts = waiting("Draft", "pending").select(
        pl.col("draft_id").alias("item"),
        pl.lit("draft").alias("kind"),
        "am_id",
        "match_id",
        none.alias("account_id"),
        pl.lit("approve").alias("action"),
        none.alias("rule"),
        pl.col("holds")
        .list.join("; ")
        .replace("", None)
        .fill_null("waiting for approval")
        .alias("reason"),
        "status",
        pl.col("subject").alias("what"),
        pl.col("created_at").alias("since"),
    )
    escalations = waiting("Escalation", "open").select(
        pl.col("escalation_id").alias("item"),
        pl.lit("escalation").alias("kind"),
        "am_id",
        "match_id",
        "account_id",
        pl.concat_str(pl.lit("escalate:"), pl.col("kind")).alias("action"),
        # A routing rule's name; otherwise what raised it (the id is on its page).
        pl.when(pl.col("trigger").str.starts_with("route:"))
        .then(pl.col("trigger").str.strip_prefix("route:"))
        .otherwise(pl.concat_str(pl.lit("raised by "), pl.col("trigger").str.extract(r"^([^:]+)")))
        .alias("rule"),
        pl.col("question").alias("reason"),
        "status",
        pl.col("question").alias("what"),
        pl.col("opened_at").alias("since"),
    )
    tasks = waiting("Task", "open").select(
        pl.col("task_id").alias("item"),
        pl.lit("task").alias("kind"),
        "am_id",
        "match_id",
        "account_id",
        pl.concat_str(pl.lit("task:"), pl.col("kind")).alias("action"),
        none.alias("rule"),
        pl.col("title").alias("reason"),
        "status",
        pl.col("title").alias("what"),
        pl.col("created_at").alias("since"),
    )
    sends = waiting("OutboxMessage", "unconfirmed").select(
        pl.col("message_id").alias("item"),
        pl.lit("unconfirmed_send").alias("kind"),
        "am_id",
        none.alias("match_id"),
        "account_id",
        pl.lit("settle").alias("action"),
        none.alias("rule"),
        pl.col("note").fill_null("the relay could not confirm this send").alias("reason"),
        "status",
        pl.concat_str(
            pl.lit("did '"),
            pl.col("subject"),
            pl.lit("' reach "),
            pl.col("to_address"),
            pl.lit("?"),
        ).alias("what"),
        pl.coalesce("claimed_at", "created_at").alias("since"),
    )
    replies = waiting("Reply", "open").select(
        pl.col("reply_id").alias("item"),
        pl.lit("reply").alias("kind"),
        "am_id",
        "match_id",
        "account_id",
        pl.concat_str(pl.lit("reply:"), pl.col("classification").cast(pl.String)).alias("action"),
        pl.lit("reply").alias("rule"),
        pl.concat_str(
            pl.lit("replied: "),
            pl.col("classification").cast(pl.String).str.replace_all("_", " "),
            pl.when(pl.col("rationale") != "")
            .then(pl.concat_str(pl.lit(" ("), pl.col("rationale"), pl.lit(")")))
            .otherwise(pl.lit("")),
        ).alias("reason"),
        "status",
        pl.col("subject").fill_null("(no subject)").alias("what"),
        pl.col("received_at").alias("since"),
    )
    parts = [
        part.with_columns(
            pl.col("status").cast(pl.String), pl.col("since").dt.convert_time_zone("UTC")
        )
        for part in (drafts, escalations, tasks, sends, replies, _play_runs(store, mine, now))
    ]
    items = _with_plays(store, pl.concat(parts, how="vertical_relaxed"))
    linked = items["match_id"].drop_nulls().unique()
    matches = store.get_nodes(
        "Match", linked, fields=["account_id", "capability_id", "score", "weak"]
    ).rename({"account_id": "__account_id"})
    return items.join(matches, on="match_id", how="left").select(
        "item",
        "kind",
        "am_id",
        "match_id",
        pl.coalesce("account_id", "__account_id").alias("account_id"),
        none.alias("account"),
        none.alias("tier"),
        "capability_id",
        none.alias("capability"),
        pl.col("score").cast(pl.Float64),
        "action",
        "rule",
        "reason",
        "weak",
        "status",
        "what",
        "since",
    )


def _play_runs(store: GraphStore, mine: Filter, now: dt.datetime) -> pl.DataFrame:
    """Play runs that wait on time, or left the AM something to read."""
    runs = store.nodes("PlayRun", [mine, Filter("status", "in", ["waiting", "needs_am"])])
    runs = runs.filter((pl.col("status") == "waiting") | (pl.col("waiting_for") == "read"))
    whats = [play_waits(r, now) for r in runs.iter_rows(named=True)]
    return runs.select(
        pl.col("run_id").alias("item"),
        pl.lit("play").alias("kind"),
        "am_id",
        "match_id",
        "account_id",
        pl.when(pl.col("status") == "waiting")
        .then(pl.lit("play:wait"))
        .otherwise(pl.lit("play:read"))
        .alias("action"),
        pl.concat_str(pl.lit("play:"), pl.col("play_id")).alias("rule"),
        "reason",
        "status",
        pl.Series("what", whats, dtype=pl.String),
        pl.col("fired_at").alias("since"),
    )


def _with_plays(store: GraphStore, items: pl.DataFrame) -> pl.DataFrame:
    """Drafts, escalations and tasks a play made: the play is their rule, its reason
    theirs (the item's own words stay in ``what``)."""
    if items.is_empty():
        return items
    made = plays_of_items(
        store,
        drafts=items.filter(pl.col("kind") == "draft")["item"].to_list(),
        tasks=items.filter(pl.col("kind") == "task")["item"].to_list(),
        escalations=items.filter(pl.col("kind") == "escalation")["item"].to_list(),
    )
    if not made:
        return items
    rule = {i: "play:" + p.play_id for i, p in made.items()}
    reason = {i: p.reason for i, p in made.items()}
    return items.with_columns(
        pl.col("item")
        .replace_strict(rule, default=pl.col("rule"), return_dtype=pl.String)
        .alias("rule"),
        pl.col("item")
        .replace_strict(reason, default=pl.col("reason"), return_dtype=pl.String)
        .alias("reason"),
    )


@dataclass(frozen=True)
class PlayOf:
    """The play run that made an item: its id, its play and why it fired."""

    run_id: str
    play_id: str
    reason: str


def plays_of_items(
    store: GraphStore,
    *,
    drafts: Sequence[str] = (),
    tasks: Sequence[str] = (),
    escalations: Sequence[str] = (),
) -> dict[str, PlayOf]:
    """The play run each of these items was made by (drafts and tasks carry
    ``play_run_id``, a play's escalation the trigger ``play:<run>``), by item id;
    items no play made are left out. One read per label."""
    run_ids: dict[str, str] = {}
    for label, keys, prop in (
        ("Draft", drafts, "play_run_id"),
        ("Task", tasks, "play_run_id"),
        ("Escalation", escalations, "trigger"),
    ):
        if not keys:
            continue
        rows = store.get_nodes(label, list(keys), fields=[prop])
        key = store.registry.node(label).key
        for item, value in zip(rows[key].to_list(), rows[prop].to_list(), strict=True):
            if value and (prop != "trigger" or value.startswith("play:")):
                run_ids[item] = value.removeprefix("play:")
    if not run_ids:
        return {}
    runs = store.get_nodes("PlayRun", sorted(set(run_ids.values())), fields=["play_id", "reason"])
    by_run = {r["run_id"]: r for r in runs.iter_rows(named=True)}
    return {
        item: PlayOf(run_id=run, play_id=by_run[run]["play_id"], reason=by_run[run]["reason"])
        for item, run in run_ids.items()
        if run in by_run
    }


def play_waits(run: dict[str, Any], now: dt.datetime | None = None) -> str:
    """What a waiting or to-read play run means for the AM, in words: when its next
    step runs, or what it left them to read."""
    log = _log(run)
    if run["status"] == "waiting" and run.get("wait_until") is not None:
        when = f"{run['wait_until']:%a %d %b}"
        if now is not None and run["wait_until"] <= now:
            return f"next step due since {when} (at the loop's next run), unless a stop holds"
        return f"next step on {when}, unless a stop condition holds"
    said = [str(e.get("text", "")) for e in log if e.get("kind") == "alert"]
    research = [e for e in log if e.get("kind") == "research"]
    return " ".join(said) or ("a research summary to read" if research else "done: read it")


def _log(run: dict[str, Any]) -> list[dict[str, Any]]:
    try:
        log = json.loads(run.get("log") or "[]")
    except json.JSONDecodeError:
        return []
    return [e for e in log if isinstance(e, dict)] if isinstance(log, list) else []


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
