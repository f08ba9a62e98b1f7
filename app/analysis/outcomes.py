"""What became of the matches: the console's outcomes page and the notebooks.

Pure reads over a GraphStore (the embedded store and Neo4j alike) returning polars
frames; nothing here writes or renders. Every text column is data from the graph:
a page shows it as text (``app.console.text``), a notebook as a frame.

- ``match_outcomes``: one row per match, with its owner, current route, decisions,
  drafts, sends and outcomes joined;
- ``funnel``: those rows counted per stage, grouped by AM, capability, routing rule
  or metapath;
- ``calibration``: how often AMs accept a match, by score band;
- ``acceptance``: how often AMs accept a match, by AM, capability, rule or metapath;

The score model's versions are in ``versions``, the team page's numbers in ``team``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Literal

import polars as pl

from graph_model.store import Filter, GraphStore
from matching.learn import NEGATIVE, POSITIVE
from routing.route import current_routes

GroupBy = Literal["am", "capability", "rule", "metapath"]
GROUPS: dict[str, str] = {
    "am": "AM",
    "capability": "capability",
    "rule": "routing rule",
    "metapath": "metapath",
}
STAGES = ("surfaced", "decided", "drafted", "sent", "replied", "opportunity")
# Decisions a person makes about a match, directly or through its draft.
MATCH_DECISIONS = ("validate", "defer", "kill", "approve", "edit", "cancel")
DEFAULT_BANDS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
NO_RULE = "unrouted"
NO_METAPATH = "(none)"

OUTCOME_SCHEMA: dict[str, pl.DataType] = {
    "match_id": pl.String(),
    "am_id": pl.String(),
    "account_id": pl.String(),
    "capability_id": pl.String(),
    "capability": pl.String(),
    "score": pl.Float64(),
    "status": pl.String(),
    "created_at": pl.Datetime("us", "UTC"),
    "rule": pl.String(),
    "metapaths": pl.List(pl.String()),
    "decision": pl.String(),
    "decided": pl.Boolean(),
    "drafted": pl.Boolean(),
    "sent_at": pl.Datetime("us", "UTC"),
    "sent": pl.Boolean(),
    "replied": pl.Boolean(),
    "opportunity": pl.Boolean(),
}


def match_outcomes(
    store: GraphStore,
    *,
    ams: Sequence[str] | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> pl.DataFrame:
    """One row per stored match (of the AMs in ``ams``, default every match) and what
    became of it: owner, capability, current routing rule, the metapaths that
    contributed evidence, the latest human decision, and the stage flags of
    ``funnel`` (``decided``, ``drafted``, ``sent``, ``replied``, ``opportunity``).
    ``since``/``until`` keep the matches created in that span.

    >>> rows = match_outcomes(store, ams=["am-1"])
    >>> sent = rows.filter(pl.col("sent"))
    >>> sent.select("account_id", "capability", "replied", "opportunity").rows()
    [('acme', 'Privacy Vault', True, True)]
    """
    matches = _matches(store, ams)
    if since is not None:
        matches = matches.filter(pl.col("created_at") >= since)
    if until is not None:
        matches = matches.filter(pl.col("created_at") <= until)
    if matches.is_empty():
        return pl.DataFrame(schema=OUTCOME_SCHEMA)
    ids = matches["match_id"].to_list()
    accounts = matches["account_id"].unique().to_list()
    capabilities = store.get_nodes("Capability", matches["capability_id"].unique()).select(
        "capability_id", pl.col("name").alias("capability")
    )
    sends = _first_sends(store, ids)
    matches = matches.with_columns(
        pl.Series("metapaths", [match_metapaths(f) for f in matches["features"].to_list()])
    )
    frame = (
        matches.join(capabilities, on="capability_id", how="left")
        .join(_current_rules(store, ids), on="match_id", how="left")
        .join(_latest_decisions(store, ids), on="match_id", how="left")
        .join(_drafted(store, ids), on="match_id", how="left")
        .join(sends, on="match_id", how="left")
        .with_columns(
            pl.col("capability").fill_null(pl.col("capability_id")),
            pl.col("rule").fill_null(NO_RULE),
            pl.col("decision").is_not_null().alias("decided"),
            pl.col("drafted").fill_null(False),
            pl.col("sent_at").is_not_null().alias("sent"),
        )
    )
    replies = _replies(store, accounts)
    replied = (
        frame.filter(pl.col("sent"))
        .select("match_id", "account_id", "sent_at")
        .join(replies, on="account_id", how="inner")
        .filter(pl.col("replied_at") >= pl.col("sent_at"))
        .select("match_id")
        .unique()
        .with_columns(pl.lit(True).alias("replied"))
    )
    opportunities = _opportunities(store, accounts)
    opened = pl.col("opened_at")
    closes = pl.col("close_date")
    after_match = pl.when(opened.is_not_null()).then(opened >= pl.col("created_at"))
    # Without a creation time, a deal still open or won that closes on or after the
    # match's day counts.
    after_match = after_match.otherwise(
        closes.is_not_null()
        & (closes >= pl.col("created_at").dt.date())
        & pl.col("deal_status").is_in(["open", "won"])
    )
    opportunity = (
        frame.select("match_id", "account_id", "created_at")
        .join(opportunities, on="account_id", how="inner")
        .filter(after_match.fill_null(False))
        .select("match_id")
        .unique()
        .with_columns(pl.lit(True).alias("opportunity"))
    )
    frame = (
        frame.join(replied, on="match_id", how="left")
        .join(opportunity, on="match_id", how="left")
        .with_columns(pl.col("replied").fill_null(False), pl.col("opportunity").fill_null(False))
    )
    return frame.select([pl.col(c).cast(t) for c, t in OUTCOME_SCHEMA.items()]).sort("match_id")


def funnel(
    store: GraphStore,
    *,
    by: GroupBy = "am",
    ams: Sequence[str] | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> pl.DataFrame:
    """Per group, how many matches reached each stage, in order:

    - ``surfaced``: every stored match;
    - ``decided``: a person validated, deferred or killed it (directly, or by
      approving, editing or cancelling its draft);
    - ``drafted``: a draft was written for it (whatever became of the draft);
    - ``sent``: one of its outbox messages was sent (``sent_at``);
    - ``replied``: after the first send, an inbound Activity was logged on the
      account (ABOUT): ``direction`` inbound, or, where the CRM does not say the
      direction, an email whose subject starts with ``Re:``;
    - ``opportunity``: an Opportunity FOR the account was opened (``created_at``) at
      or after the match was created; a deal without a creation time counts when it
      is open or won and its close date is on or after the match's day.

    ``replied`` and ``opportunity`` are outcomes of the account after the match, not
    proof the match caused them. ``by`` groups by ``am`` (the owner), ``capability``
    (its name), ``rule`` (the current route's rule, ``unrouted`` before routing) or
    ``metapath``: a match counts once under every evidence metapath that contributed
    to its score (``(none)`` if none did), so the groups of ``metapath`` overlap.
    Groups come largest first. ``ams`` keeps the matches of those AMs only,
    ``since``/``until`` those created in that span.

    >>> funnel(store, by="rule").rows()  # group, surfaced, decided, ..., opportunity
    [('nobody_to_write_to', 1, 1, 0, 0, 0, 0), ('normal_account', 1, 0, 1, 1, 1, 1),
     ('senior_contact', 1, 1, 1, 0, 0, 1)]
    """
    rows = _grouped(match_outcomes(store, ams=ams, since=since, until=until), by)
    counts = [pl.len().alias("surfaced").cast(pl.Int64)] + [
        pl.col(stage).sum().cast(pl.Int64).alias(stage) for stage in STAGES[1:]
    ]
    if rows.is_empty():
        return pl.DataFrame(schema={"group": pl.String, **dict.fromkeys(STAGES, pl.Int64)})
    return rows.group_by("group").agg(counts).sort(["surfaced", "group"], descending=[True, False])


def funnel_stages(frame: pl.DataFrame) -> pl.DataFrame:
    """A ``funnel`` frame in long form (group, stage, matches) for a chart, stages in
    funnel order.

    >>> funnel_stages(funnel(store, by="am")).select("stage", "matches").rows()
    [('surfaced', 3), ('decided', 2), ('drafted', 2), ('sent', 1), ('replied', 1),
     ('opportunity', 2)]
    """
    long = frame.unpivot(
        index="group", on=list(STAGES), variable_name="stage", value_name="matches"
    )
    order = {stage: i for i, stage in enumerate(STAGES)}
    return long.with_columns(
        pl.col("stage").replace_strict(order, return_dtype=pl.Int8).alias("step")
    ).sort(["step", "group"])


def calibration(
    store: GraphStore,
    bands: Sequence[float] = DEFAULT_BANDS,
    *,
    ams: Sequence[str] | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> pl.DataFrame:
    """How often people accept a match, by the score they saw.

    Each match counts once, by its latest labelling decision: validate, approve and
    edit accept it; kill and cancel reject it; a defer says nothing. The score is the
    one stored on that decision (what the AM saw), else the match's. Bands are
    ``[lower, upper)`` from consecutive ``bands`` (the last one includes its upper
    edge); every band is listed, ``acceptance_rate`` is null where nothing was
    decided. A calibrated score has rates that rise with the band. ``since``/``until``
    keep the decisions made in that span.

    >>> calibration(store, bands=(0, 0.5, 1)).select("band", "decided", "acceptance_rate").rows()
    [('0.00-0.50', 1, 1.0), ('0.50-1.00', 1, 0.0)]
    """
    edges = sorted(set(float(b) for b in bands))
    if len(edges) < 2:
        raise ValueError("calibration needs at least two band edges, e.g. (0, 0.5, 1)")
    labels = _labels(store, ams, since, until)
    lowers, uppers = edges[:-1], edges[1:]
    names = [f"{lo:.2f}-{hi:.2f}" for lo, hi in zip(lowers, uppers, strict=True)]
    bands_frame = pl.DataFrame(
        {"band": names, "lower": lowers, "upper": uppers, "index": list(range(len(names)))},
        schema={"band": pl.String, "lower": pl.Float64, "upper": pl.Float64, "index": pl.Int64},
    )
    scored = labels.filter(
        (pl.col("score") >= edges[0]) & (pl.col("score") <= edges[-1])
    ).with_columns(
        # Index of the band: how many inner edges the score reaches.
        pl.sum_horizontal([(pl.col("score") >= e).cast(pl.Int64) for e in edges[1:-1]])
        .cast(pl.Int64)
        .alias("index")
    )
    counts = scored.group_by("index").agg(
        pl.len().cast(pl.Int64).alias("decided"),
        pl.col("accepted").sum().cast(pl.Int64).alias("accepted"),
    )
    return (
        bands_frame.join(counts, on="index", how="left")
        .with_columns(pl.col("decided").fill_null(0), pl.col("accepted").fill_null(0))
        .with_columns((pl.col("decided") - pl.col("accepted")).alias("rejected"))
        .with_columns(
            pl.when(pl.col("decided") > 0)
            .then(pl.col("accepted") / pl.col("decided"))
            .otherwise(None)
            .alias("acceptance_rate")
        )
        .sort("index")
        .select("band", "lower", "upper", "decided", "accepted", "rejected", "acceptance_rate")
    )


def acceptance(
    store: GraphStore,
    *,
    by: GroupBy = "metapath",
    ams: Sequence[str] | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> pl.DataFrame:
    """Per group, how the people who decided took the matches: each match counts once,
    by its latest labelling decision (validate, approve and edit accept it; kill and
    cancel reject it; a defer says nothing). ``by`` groups as ``funnel`` does
    (``metapath`` groups overlap: a match counts under each metapath that
    contributed). ``acceptance_rate`` is accepted over decided; groups with no
    labelled match are left out; largest first. ``since``/``until`` keep the
    decisions made in that span (whenever the match was surfaced).

    >>> acceptance(store, by="am").rows()
    [('am-1', 2, 1, 1, 0.5)]
    """
    labels = _labels(store, ams, since, until).select("match_id", "accepted")
    rows = _grouped(match_outcomes(store, ams=ams).join(labels, on="match_id"), by)
    schema = {
        "group": pl.String,
        "decided": pl.Int64,
        "accepted": pl.Int64,
        "rejected": pl.Int64,
        "acceptance_rate": pl.Float64,
    }
    if rows.is_empty():
        return pl.DataFrame(schema=schema)
    return (
        rows.group_by("group")
        .agg(
            pl.len().cast(pl.Int64).alias("decided"),
            pl.col("accepted").sum().cast(pl.Int64).alias("accepted"),
        )
        .with_columns(
            (pl.col("decided") - pl.col("accepted")).alias("rejected"),
            (pl.col("accepted") / pl.col("decided")).alias("acceptance_rate"),
        )
        .sort(["decided", "group"], descending=[True, False])
        .select(list(schema))
    )


def _grouped(rows: pl.DataFrame, by: str) -> pl.DataFrame:
    """``match_outcomes`` rows with a ``group`` column for ``by``; by metapath, one row
    per (match, contributing metapath)."""
    if by not in GROUPS:
        raise ValueError(f"unknown grouping {by!r} (one of {', '.join(GROUPS)})")
    column = {"am": "am_id", "capability": "capability", "rule": "rule", "metapath": "metapaths"}
    if by == "metapath":
        rows = rows.with_columns(
            pl.when(pl.col("metapaths").list.len() > 0)
            .then(pl.col("metapaths"))
            .otherwise(pl.lit([NO_METAPATH]))
        ).explode("metapaths")
    return rows.with_columns(
        pl.col(column[by]).fill_null("(nobody)").cast(pl.String).alias("group")
    )


def _matches(store: GraphStore, ams: Sequence[str] | None) -> pl.DataFrame:
    owners = store.edges("ASSIGNED_TO").filter(pl.col("src_label") == "Match")
    owners = owners.select(pl.col("src").alias("match_id"), pl.col("dst").alias("am_id"))
    owners = owners.unique("match_id", keep="first")
    if ams is not None:
        owners = owners.filter(pl.col("am_id").is_in(list(ams)))
        matches = store.get_nodes("Match", owners["match_id"])
    else:
        matches = store.nodes("Match")
    columns = ["match_id", "account_id", "capability_id", "score", "status", "created_at"]
    return matches.select(*columns, "features").join(owners, on="match_id", how="left")


def match_metapaths(features: str | None) -> list[str]:
    """The evidence metapaths that contributed to a match (a count or weight above 0),
    from its stored ``features``.

    >>> match_metapaths('{"need_evidence": {"n": 2}, "lookalike_wins": {"n": 0}}')
    ['need_evidence']
    """
    found = json.loads(features or "{}")
    return sorted(
        name
        for name, part in found.items()
        if isinstance(part, dict) and ((part.get("n") or 0) > 0 or (part.get("w") or 0) > 0)
    )


def _current_rules(store: GraphStore, ids: list[str]) -> pl.DataFrame:
    return current_routes(store, ids, fields=["rule"])


def _decided_on_matches(store: GraphStore, kinds: Sequence[str]) -> pl.DataFrame:
    """Decisions of ``kinds`` with the match each is on (decision_id, match_id, kind,
    decided_at, score, on_behalf_of)."""
    decisions = store.nodes("Decision", {"kind": list(kinds)})
    schema = {
        "decision_id": pl.String,
        "match_id": pl.String,
        "kind": pl.String,
        "decided_at": pl.Datetime("us", "UTC"),
        "score": pl.Float64,
    }
    if decisions.is_empty():
        return pl.DataFrame(schema=schema)
    on = store.edges("DECIDED_ON", touching=decisions["decision_id"], side="source")
    on = on.filter(pl.col("dst_label") == "Match").select(
        pl.col("src").alias("decision_id"), pl.col("dst").alias("match_id")
    )
    return decisions.join(on, on="decision_id", how="inner").select(
        "decision_id",
        "match_id",
        pl.col("kind").cast(pl.String),
        pl.col("decided_at").dt.convert_time_zone("UTC"),
        pl.col("score").cast(pl.Float64),
    )


def _latest_decisions(store: GraphStore, ids: list[str]) -> pl.DataFrame:
    found = _decided_on_matches(store, MATCH_DECISIONS).filter(pl.col("match_id").is_in(ids))
    return (
        found.sort(["match_id", "decided_at", "decision_id"])
        .group_by("match_id", maintain_order=True)
        .last()
        .select("match_id", pl.col("kind").alias("decision"))
    )


def _labels(
    store: GraphStore,
    ams: Sequence[str] | None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> pl.DataFrame:
    """match_id, score, accepted: each match's latest labelling decision (of those
    made within ``since``/``until``)."""
    found = _decided_on_matches(store, [*POSITIVE, *NEGATIVE])
    if since is not None:
        found = found.filter(pl.col("decided_at") >= since)
    if until is not None:
        found = found.filter(pl.col("decided_at") <= until)
    if ams is not None:
        owned = _matches(store, ams)["match_id"]
        found = found.filter(pl.col("match_id").is_in(owned.implode()))
    if found.is_empty():
        return pl.DataFrame(
            schema={"match_id": pl.String, "score": pl.Float64, "accepted": pl.Int64}
        )
    latest = (
        found.sort(["match_id", "decided_at", "decision_id"])
        .group_by("match_id", maintain_order=True)
        .last()
    )
    matches = store.get_nodes("Match", latest["match_id"]).select(
        "match_id", pl.col("score").alias("__match_score")
    )
    return (
        latest.join(matches, on="match_id", how="left")
        .select(
            "match_id",
            pl.col("score").fill_null(pl.col("__match_score")).cast(pl.Float64),
            pl.col("kind").is_in(POSITIVE).cast(pl.Int64).alias("accepted"),
        )
        .drop_nulls("score")
    )


def _drafted(store: GraphStore, ids: list[str]) -> pl.DataFrame:
    drafts = store.nodes("Draft", [Filter("match_id", "in", ids)])
    return drafts.select("match_id").unique().with_columns(pl.lit(True).alias("drafted"))


def _first_sends(store: GraphStore, ids: list[str]) -> pl.DataFrame:
    sent = store.nodes(
        "OutboxMessage", [Filter("match_id", "in", ids), Filter("sent_at", "not_null")]
    )
    return sent.group_by("match_id").agg(
        pl.col("sent_at").min().dt.convert_time_zone("UTC").alias("sent_at")
    )


def _replies(store: GraphStore, accounts: list[str]) -> pl.DataFrame:
    """account_id, replied_at: inbound activities on these accounts."""
    empty = pl.DataFrame(schema={"account_id": pl.String, "replied_at": pl.Datetime("us", "UTC")})
    about = store.edges("ABOUT", touching=accounts, side="target", label="Account")
    if about.is_empty():
        return empty
    activities = store.get_nodes("Activity", about["src"].unique())
    direction = pl.col("direction").cast(pl.String)
    inbound = (direction == "inbound").fill_null(False) | (
        direction.is_null()
        & (pl.col("kind").cast(pl.String) == "email")
        & pl.col("subject")
        .fill_null("")
        .str.strip_chars()
        .str.to_lowercase()
        .str.starts_with("re:")
    )
    return (
        activities.filter(inbound)
        .join(
            about.select(pl.col("src").alias("activity_id"), pl.col("dst").alias("account_id")),
            on="activity_id",
            how="inner",
        )
        .select("account_id", pl.col("occurred_at").dt.convert_time_zone("UTC").alias("replied_at"))
    )


def _opportunities(store: GraphStore, accounts: list[str]) -> pl.DataFrame:
    """account_id, opened_at, close_date, deal_status of the deals FOR these accounts."""
    empty = pl.DataFrame(
        schema={
            "account_id": pl.String,
            "opened_at": pl.Datetime("us", "UTC"),
            "close_date": pl.Date,
            "deal_status": pl.String,
        }
    )
    edges = store.edges("FOR", touching=accounts, side="target", label="Account")
    edges = edges.filter(pl.col("src_label") == "Opportunity")
    if edges.is_empty():
        return empty
    deals = store.get_nodes("Opportunity", edges["src"].unique())
    return deals.join(
        edges.select(pl.col("src").alias("opportunity_id"), pl.col("dst").alias("account_id")),
        on="opportunity_id",
        how="inner",
    ).select(
        "account_id",
        pl.col("created_at").dt.convert_time_zone("UTC").alias("opened_at"),
        "close_date",
        pl.col("status").cast(pl.String).alias("deal_status"),
    )
