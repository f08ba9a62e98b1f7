"""The team page's numbers: per AM an actor may see, their queue and their
decisions over the last weeks.

Examples run on the test suite's hand-built graph (``tests/support/analysis_world.py``).
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from app.actors import Actor
from app.queue import books, queue_frame
from graph_model.store import Filter, GraphStore

TEAM_SCHEMA: dict[str, pl.DataType] = {
    "am_id": pl.String(),
    "name": pl.String(),
    "queue": pl.Int64(),
    "oldest_days": pl.Float64(),
    "decisions": pl.Int64(),
    "decisions_per_week": pl.Float64(),
    "validated": pl.Int64(),
    "killed": pl.Int64(),
    "validate_rate": pl.Float64(),
    "kill_rate": pl.Float64(),
}


def team_stats(
    store: GraphStore, actor: Actor, now: dt.datetime, *, weeks: int = 4
) -> pl.DataFrame:
    """One row per AM whose book ``actor`` may see (``app.queue.books``: their own,
    their reports' at any depth, everyone's for an admin), the actor's own first:

    - ``queue``: items open in their queue (``app.queue.queue_frame``) and
      ``oldest_days``, the age of the oldest (null when the queue is empty);
    - ``decisions`` over the last ``weeks`` weeks before ``now``: Decisions made by
      the AM (``actor``) or on their book (``on_behalf_of``), and that per week;
    - ``validate_rate`` and ``kill_rate``: of their match decisions in that window
      (validate, defer, kill), the share that validated and that killed (null
      without any).

    >>> from app.actors import identify
    >>> cy = identify(store, "am-3", action="see", item="team")  # am-1's manager
    >>> team_stats(store, cy, AS_OF).select("am_id", "queue", "decisions", "validated").rows()
    [('am-3', 0, 1, 0), ('am-1', 2, 2, 1)]
    """
    ams = books(store, actor)
    if not ams:
        return pl.DataFrame(schema=TEAM_SCHEMA)
    people = store.get_nodes("AccountManager", ams).select(
        "am_id", pl.col("full_name").alias("name")
    )
    queue = queue_frame(store, actor, now=now, of=ams)
    sizes = queue.group_by("am_id").agg(
        pl.len().cast(pl.Int64).alias("queue"), pl.col("age_days").max().alias("oldest_days")
    )
    since = now.astimezone(dt.UTC) - dt.timedelta(weeks=weeks)
    decisions = store.nodes(
        "Decision", [Filter("decided_at", "gte", since), Filter("decided_at", "lte", now)]
    ).filter(pl.col("role").fill_null("am") != "agent")
    # A decision counts for whoever made it and for the book it was made on.
    mine = pl.concat(
        [
            decisions.select("decision_id", "kind", pl.col("actor").alias("am_id")),
            decisions.select("decision_id", "kind", pl.col("on_behalf_of").alias("am_id")),
        ]
    ).unique(["decision_id", "am_id"])
    on_match = pl.col("kind").is_in(["validate", "defer", "kill"])
    work = mine.group_by("am_id").agg(
        pl.len().cast(pl.Int64).alias("decisions"),
        on_match.sum().cast(pl.Int64).alias("__on_match"),
        (pl.col("kind") == "validate").sum().cast(pl.Int64).alias("validated"),
        (pl.col("kind") == "kill").sum().cast(pl.Int64).alias("killed"),
    )
    order = {am: i for i, am in enumerate(ams)}
    share = pl.col("__on_match")
    return (
        pl.DataFrame({"am_id": ams}, schema={"am_id": pl.String})
        .join(people, on="am_id", how="left")
        .join(sizes, on="am_id", how="left")
        .join(work, on="am_id", how="left")
        .with_columns(
            pl.col("queue").fill_null(0),
            pl.col("decisions").fill_null(0),
            pl.col("validated").fill_null(0),
            pl.col("killed").fill_null(0),
            share.fill_null(0),
            pl.col("am_id").replace_strict(order, return_dtype=pl.Int64).alias("__order"),
        )
        .with_columns(
            (pl.col("decisions") / weeks).alias("decisions_per_week"),
            pl.when(share > 0).then(pl.col("validated") / share).alias("validate_rate"),
            pl.when(share > 0).then(pl.col("killed") / share).alias("kill_rate"),
        )
        .sort("__order")
        .select([pl.col(c).cast(t) for c, t in TEAM_SCHEMA.items()])
    )


# ---------------------------------------------------------------- the parts
