"""Who owns an account, one answer everywhere: assignment, explanations, handoff
packets and escalations all read ``account_owners``.

A CRM can name several owners for one account (an owner column in two exports,
an owner who changed and a stale row), or none (an export of deals with a sales
agent per deal and no owner column). The rule, in order:

1. **An explicit owner column wins** (``OWNS`` edges from the account exports).
   Of several, the one whose record changed last (``since``) counts;
2. then, and for an account with no owner column at all, **the owner of its most
   recent deal** (the AM who ``WORKED`` the deal ``FOR`` it, by close date, else the
   date it was opened),
3. then **the AM with the most deals** for it,
4. then the AM's id, so the choice never depends on the order rows were read.

``link_owners`` (run at the start of every match run) marks the chosen ``OWNS``
edge ``primary`` and writes a ``derived`` one for an account that has only deals;
the ``am_track_record`` metapath reads only the primary owner, so an explanation
never names another owner than the queue.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import polars as pl

from graph_model.changes import journal
from graph_model.store import GraphStore

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass
class OwnerReport:
    accounts: int = 0
    several: int = 0  # accounts whose CRM names more than one owner
    derived: int = 0  # accounts owned by the owner of their deals (no owner column)
    changed: int = 0  # OWNS edges written or removed

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def choose_owners(owns: pl.DataFrame, deals: pl.DataFrame) -> pl.DataFrame:
    """One owner per account (columns account_id, am_id, derived) by the rule above.

    ``owns``: explicit OWNS edges (src AM, dst account, since); ``deals``: account_id,
    am_id, at (the deal's close or open date) per deal an AM worked for the account.
    """
    per_am = deals.group_by("account_id", "am_id").agg(
        pl.col("at").max().alias("__last"), pl.len().alias("__deals")
    )
    explicit = owns.select(
        pl.col("dst").alias("account_id"), pl.col("src").alias("am_id"), "since"
    ).join(per_am, on=["account_id", "am_id"], how="left")
    only_deals = per_am.join(explicit.select("account_id").unique(), on="account_id", how="anti")
    candidates = pl.concat(
        [
            explicit.with_columns(pl.lit(False).alias("derived")),
            only_deals.with_columns(
                pl.lit(None, dtype=explicit.schema["since"]).alias("since"),
                pl.lit(True).alias("derived"),
            ).select(*explicit.columns, "derived"),
        ]
    )
    return (
        candidates.sort(
            ["account_id", "since", "__last", "__deals", "am_id"],
            descending=[False, True, True, True, False],
            nulls_last=True,
        )
        .unique("account_id", keep="first", maintain_order=True)
        .select("account_id", "am_id", "derived")
    )


def _deals(store: GraphStore, accounts: Sequence[str] | None) -> pl.DataFrame:
    schema = {"account_id": pl.String, "am_id": pl.String, "at": pl.Datetime("us", "UTC")}
    deal_for = store.edges("FOR", accounts, side="target", label="Account").filter(
        pl.col("src_label") == "Opportunity"
    )
    if not deal_for.height:
        return pl.DataFrame(schema=schema)
    ids = deal_for["src"].unique().to_list()
    worked = store.edges("WORKED", ids, side="target", label="Opportunity").filter(
        pl.col("src_label") == "AccountManager"
    )
    opps = store.get_nodes("Opportunity", ids).select(
        pl.col("opportunity_id").alias("dst"),
        pl.coalesce(
            pl.col("close_date").cast(pl.Datetime("us")).dt.replace_time_zone("UTC"),
            pl.col("created_at").dt.convert_time_zone("UTC"),
        ).alias("at"),
    )
    return (
        worked.select("src", "dst")
        .join(
            deal_for.select(pl.col("src").alias("dst"), pl.col("dst").alias("account_id")), on="dst"
        )
        .join(opps, on="dst", how="left")
        .select("account_id", pl.col("src").alias("am_id"), "at")
        .cast(schema)  # type: ignore[arg-type]
    )


def account_owners(
    store: GraphStore, accounts: Sequence[str], *, recompute: bool = False
) -> dict[str, str]:
    """The owner of each of these accounts that has one. ``recompute`` decides again
    from the owner columns and the deals the store shows, ignoring the marks
    ``link_owners`` left (a view as of a past date: who owned it then)."""
    if not accounts:
        return {}
    owns = store.edges("OWNS", touching=list(accounts), side="target", label="Account")
    owners: dict[str, str] = {}
    if not recompute:
        marked = owns.filter(pl.col("primary").fill_null(False))
        owners = dict(marked.select("dst", "src").iter_rows())
    explicit = owns.filter(~pl.col("derived").fill_null(False) & ~pl.col("dst").is_in(list(owners)))
    # One owner column, one owner: only several or none need the deals.
    alone = explicit.filter(pl.len().over("dst") == 1)
    owners.update(dict(alone.select("dst", "src").iter_rows()))
    rest = [a for a in dict.fromkeys(accounts) if a not in owners]
    if rest:
        several = explicit.filter(pl.col("dst").is_in(rest))
        chosen = choose_owners(several, _deals(store, rest))
        owners.update(dict(chosen.select("account_id", "am_id").iter_rows()))
    return owners


def link_owners(store: GraphStore, *, now: dt.datetime | None = None) -> OwnerReport:
    """Mark every account's chosen OWNS edge primary, derive owners from deals where
    no owner column gave one, and drop derived edges that no longer hold."""
    report = OwnerReport()
    owns = store.edges("OWNS")
    explicit = owns.filter(~pl.col("derived").fill_null(False))
    chosen = choose_owners(explicit, _deals(store, None))
    report.accounts = chosen.height
    report.several = int((explicit.group_by("dst").len()["len"] > 1).sum())
    report.derived = int(chosen["derived"].sum())
    wanted = chosen.select(
        pl.col("am_id").alias("src"),
        pl.col("account_id").alias("dst"),
        pl.lit(True).alias("primary"),
        pl.col("derived").alias("__derived"),
    )
    # ``primary`` as stored (null until a first run), so a null becomes an explicit false.
    current = owns.select("src", "dst", "since", "primary", pl.col("derived").fill_null(False))
    flags = (
        current.filter(~pl.col("derived"))
        .drop("primary")
        .join(wanted.select("src", "dst", "primary"), on=["src", "dst"], how="left")
        .with_columns(pl.col("primary").fill_null(False))
    )
    update = flags.join(current, on=["src", "dst", "primary"], how="anti", nulls_equal=True).select(
        "src", "dst", "since", "primary", pl.lit(None, dtype=pl.Boolean).alias("derived")
    )
    new_derived = wanted.filter(pl.col("__derived")).select("src", "dst")
    add = new_derived.join(current.filter(pl.col("derived")), on=["src", "dst"], how="anti").select(
        "src",
        "dst",
        pl.lit(None, dtype=owns.schema["since"]).alias("since"),
        pl.lit(True).alias("primary"),
        pl.lit(True).alias("derived"),
    )
    stale = current.filter(pl.col("derived")).join(new_derived, on=["src", "dst"], how="anti")
    if update.height or add.height or stale.height:
        with store.batch() as write:
            if stale.height:
                write.delete_edges("OWNS", stale.select("src", "dst"))
            for frame in (update, add):
                if frame.height:
                    write.upsert_edges("OWNS", frame, source="owners")
            ends = pl.concat(
                [f.select("src", "dst") for f in (update, add, stale.select("src", "dst"))]
            )
            edges = {"OWNS": {side: ends[side].unique().to_list() for side in ("src", "dst")}}
            journal(write, "owners", {"edges": edges}, now=now or dt.datetime.now(dt.UTC))
    report.changed = update.height + add.height + stale.height
    return report
