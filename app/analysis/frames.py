"""The product's records as frames with their joins already made.

Each function reads one kind of record and joins what an analyst would otherwise
look up: the account's and capability's names, the owning AM, the match a draft
or a decision is about. ``ams`` keeps the records of those AMs' books (the
match's assignee; for accounts, the primary owner). Works on both stores.

Examples run on the test suite's hand-built graph after one agent batch
(``tests/support/analysis_world.py``); ``tests/integration/test_analysis_examples.py``
runs them on the embedded store and on Neo4j.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import polars as pl

from app.analysis.outcomes import match_metapaths
from graph_model.store import Filter, GraphStore, NotFound
from matching.owners import account_owners
from routing.route import current_routes

ACCOUNT_FIELDS = (
    "account_id",
    "name",
    "tier",
    "relationship",
    "employees",
    "country",
    "in_icp",
    "suppressed",
)


def accounts(
    store: GraphStore, *, ams: Sequence[str] | None = None, tiers: Sequence[str] | None = None
) -> pl.DataFrame:
    """One row per account: its fields, industry, owner (``am_id``, ``am``: the one
    owner rule of ``matching.owners``), and how many deals it has open, won and
    lost, and how many signals it emitted.

    >>> frame = accounts(store)
    >>> frame.select("account_id", "industry", "am_id", "won").rows()
    [('acme', 'Software', 'am-1', 0), ('globex', 'Healthcare', 'am-1', 1),
     ('initech', 'Healthcare', 'am-2', 1), ('umbrella', 'Software', 'am-2', 0)]
    >>> accounts(store, ams=["am-2"])["name"].to_list()
    ['Initech', 'Umbrella']
    """
    where = [Filter("tier", "in", list(tiers))] if tiers is not None else None
    frame = store.nodes("Account", where)
    if ams is not None:
        owned = store.edges("OWNS", touching=list(ams), side="source", label="AccountManager")
        frame = frame.filter(pl.col("account_id").is_in(owned["dst"].unique().implode()))
    ids = frame["account_id"].to_list()
    owners = account_owners(store, ids)
    if ams is not None:
        ids = [a for a in ids if owners.get(a) in set(ams)]
        frame = frame.filter(pl.col("account_id").is_in(ids))
    owner_frame = pl.DataFrame(
        {"account_id": ids, "am_id": [owners.get(a) for a in ids]},
        schema={"account_id": pl.String, "am_id": pl.String},
    )
    am_names = store.names("AccountManager", owner_frame["am_id"], field="full_name")
    industry = store.edges("IN_INDUSTRY", touching=ids, side="source", label="Account")
    industry_names = store.names("Industry", industry["dst"])
    industries = industry.select(
        pl.col("src").alias("account_id"),
        pl.col("dst").replace_strict(industry_names, default=pl.col("dst")).alias("industry"),
    ).unique("account_id", keep="first")
    deals = _deal_counts(store, ids)
    emitted = store.edges("EMITTED", touching=ids, side="source", label="Account")
    signals = emitted.group_by(pl.col("src").alias("account_id")).agg(
        pl.len().cast(pl.Int64).alias("signals")
    )
    counts = ["open", "won", "lost", "signals"]
    return (
        frame.select([c for c in ACCOUNT_FIELDS if c in frame.columns])
        .join(industries, on="account_id", how="left")
        .join(
            owner_frame.with_columns(
                pl.col("am_id").replace_strict(am_names, default=None).alias("am")
            ),
            on="account_id",
            how="left",
        )
        .join(deals, on="account_id", how="left")
        .join(signals, on="account_id", how="left")
        .with_columns(pl.col(c).fill_null(0) for c in counts)
        .sort("account_id")
    )


def matches(
    store: GraphStore, *, ams: Sequence[str] | None = None, status: str | None = None
) -> pl.DataFrame:
    """One row per match: account and capability (ids and names), the AM whose queue
    it is in, score, status, the evidence metapaths that contributed, the contact
    chosen and its current route (action, rule and the written reason).

    >>> frame = matches(store)
    >>> frame.select("account", "capability", "action").sort("account", "capability").rows()
    [('Acme', 'Managed Ingest', 'approve'), ('Acme', 'Privacy Vault', 'auto_send'),
     ('Globex', 'Managed Ingest', 'escalate')]
    >>> matches(store, status="validated")["account"].to_list()
    ['Globex']
    """
    found = _match_nodes(store, ams)
    if status is not None:
        found = found.filter(pl.col("status") == status)
    ids = found["match_id"].to_list()
    contacts = store.edges("CONTACT", touching=ids, side="source", label="Match").select(
        pl.col("src").alias("match_id"), pl.col("dst").alias("contact_id")
    )
    contacts = contacts.unique("match_id", keep="first")
    routes = current_routes(store, ids, fields=["action", "rule", "reason"])
    frame = (
        found.with_columns(
            pl.Series("metapaths", [match_metapaths(f) for f in found["features"].to_list()])
            if found.height
            else pl.lit(None, dtype=pl.List(pl.String)).alias("metapaths")
        )
        .drop("features")
        .join(contacts, on="match_id", how="left")
        .join(routes, on="match_id", how="left")
    )
    return _named(store, frame).sort("match_id")


def routes(
    store: GraphStore, *, ams: Sequence[str] | None = None, current: bool = True
) -> pl.DataFrame:
    """The routing decisions: per match its current route (``current=False``: every
    route ever stored, for how a match's action changed), with the match's account,
    capability and AM.

    >>> routes(store).group_by("action").len().sort("action").rows()
    [('approve', 1), ('auto_send', 1), ('escalate', 1)]
    """
    found = _match_nodes(store, ams).select("match_id", "account_id", "capability_id", "am_id")
    ids = found["match_id"].to_list()
    if current:
        stored = current_routes(store, ids)
    else:
        edges = store.edges("ROUTES", touching=ids, side="target", label="Match")
        stored = store.get_nodes("Route", edges["src"])
    columns = ["route_id", "match_id", "action", "kind", "rule", "reason", "score", "routed_at"]
    stored = stored.select([c for c in columns if c in stored.columns])
    return _named(store, stored.join(found, on="match_id", how="inner")).sort(
        ["match_id", "routed_at"]
    )


def decisions(
    store: GraphStore,
    *,
    ams: Sequence[str] | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> pl.DataFrame:
    """Every decision a person (or the agent) made, with what it was on
    (``on_label``, ``on_id``) and, when that is a match or a draft, the match with
    its account, capability and AM. ``since``/``until`` bound ``decided_at``.

    >>> frame = decisions(store)
    >>> frame.select("kind", "on_label", "account", "actor").sort("kind").rows()
    [('cancel', 'Draft', 'Acme', 'am-3'), ('validate', 'Match', 'Globex', 'am-1')]
    """
    where: list[Filter] = []
    if since is not None:
        where.append(Filter("decided_at", "gte", since))
    if until is not None:
        where.append(Filter("decided_at", "lte", until))
    found = store.nodes("Decision", where or None).drop("features", strict=False)
    on = store.edges("DECIDED_ON", touching=found["decision_id"], side="source").select(
        pl.col("src").alias("decision_id"),
        pl.col("dst_label").alias("on_label"),
        pl.col("dst").alias("on_id"),
    )
    frame = found.join(on.unique("decision_id", keep="first"), on="decision_id", how="left")
    drafts = store.get_nodes(
        "Draft", frame.filter(pl.col("on_label") == "Draft")["on_id"].unique(), fields=["match_id"]
    ).select(pl.col("draft_id").alias("on_id"), pl.col("match_id").alias("__draft_match"))
    frame = frame.join(drafts, on="on_id", how="left").with_columns(
        pl.when(pl.col("on_label") == "Match")
        .then(pl.col("on_id"))
        .otherwise(pl.col("__draft_match"))
        .alias("match_id")
    )
    return _with_match(store, frame.drop("__draft_match"), ams).sort(["decided_at", "decision_id"])


def drafts(store: GraphStore, *, ams: Sequence[str] | None = None) -> pl.DataFrame:
    """Every draft (its status, drafter, grounding and personalization, the contact
    it is for) with its match's account, capability and AM; bodies left out.

    >>> drafts(store).select("account", "capability", "status").sort("capability").rows()
    [('Acme', 'Managed Ingest', 'cancelled'), ('Acme', 'Privacy Vault', 'approved')]
    """
    found = store.nodes("Draft").drop("body", "original_body", "claims", strict=False)
    return _with_match(store, found, ams, own_am=True).sort("draft_id")


def sends(store: GraphStore, *, ams: Sequence[str] | None = None) -> pl.DataFrame:
    """Every outbox message (status, channel, when it was created and sent, who
    released it) with its match's account, capability and AM; bodies left out.

    >>> sends(store).select("account", "capability", "status").rows()
    [('Acme', 'Privacy Vault', 'sent')]
    """
    found = store.nodes("OutboxMessage").drop("body", "headers", strict=False)
    return _with_match(store, found.drop("account_id"), ams, own_am=True).sort("message_id")


def known_am(store: GraphStore, am: str | None) -> str | None:
    """``am`` when it is an AccountManager in the graph (None stays None), else a
    ``NotFound`` naming some AMs that are: a notebook's ``am`` parameter is checked
    before anything is computed for nobody.

    >>> known_am(store, "am-1")
    'am-1'
    >>> known_am(store, "am-9")
    Traceback (most recent call last):
    ...
    graph_model.store.NotFound: no AccountManager 'am-9' in the graph...
    """
    if am is None or am == "":
        return None
    if store.get_nodes("AccountManager", [am], fields=["full_name"]).height:
        return am
    some = store.nodes("AccountManager", limit=8)["am_id"].to_list()
    raise NotFound(
        f"no AccountManager {am!r} in the graph",
        hint="AMs: " + ", ".join(some) + (", ..." if len(some) == 8 else ""),
    )


def known_account(store: GraphStore, account: str | None) -> str | None:
    """``account`` when it is an Account in the graph (None stays None), else a
    ``NotFound`` naming it.

    >>> known_account(store, "acme")
    'acme'
    """
    if account is None or account == "":
        return None
    if store.get_nodes("Account", [account], fields=["name"]).height:
        return account
    raise NotFound(f"no Account {account!r} in the graph", hint="account ids, not names")


def moment(text: str | dt.date | None, *, name: str = "date") -> dt.datetime | None:
    """A notebook's date parameter as a UTC datetime: an ISO date (the start of that
    day) or datetime (UTC when it names no zone); None stays None. A value that is
    neither raises ``ValueError`` naming the parameter (``name``).

    >>> moment("2026-11-20")
    datetime.datetime(2026, 11, 20, 0, 0, tzinfo=datetime.timezone.utc)
    >>> moment("yesterday", name="since")
    Traceback (most recent call last):
    ...
    ValueError: since='yesterday' is not an ISO date (2026-11-20) or datetime
    """
    if text is None or text == "":
        return None
    if isinstance(text, dt.datetime):
        value = text
    elif isinstance(text, dt.date):
        value = dt.datetime(text.year, text.month, text.day)
    else:
        try:
            value = dt.datetime.fromisoformat(str(text).strip())
        except ValueError:
            raise ValueError(
                f"{name}={text!r} is not an ISO date (2026-11-20) or datetime"
            ) from None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def data_now(store: GraphStore) -> dt.datetime | None:
    """The graph's own "now": the latest match, decision or send it records, so an
    analysis of a sample or a restored backup is as of its data, not the wall clock.
    None for a graph with none of them.

    >>> data_now(store) == SENT_AT
    True
    """
    latest: list[dt.datetime] = []
    for label, column in (
        ("Match", "created_at"),
        ("Decision", "decided_at"),
        ("OutboxMessage", "sent_at"),
    ):
        # One column, not every match's explanation and features.
        frame = store.nodes(label, fields=[column])
        if frame.height and frame[column].drop_nulls().len():
            value = frame[column].max()
            if isinstance(value, dt.datetime):
                latest.append(value.astimezone(dt.UTC))
    return max(latest) if latest else None


# ---------------------------------------------------------------- the parts


def _match_nodes(store: GraphStore, ams: Sequence[str] | None) -> pl.DataFrame:
    assigned = store.edges(
        "ASSIGNED_TO",
        touching=list(ams) if ams is not None else None,
        side="target",
        label="AccountManager",
    ).filter(pl.col("src_label") == "Match")
    owners = assigned.select(pl.col("src").alias("match_id"), pl.col("dst").alias("am_id"))
    owners = owners.unique("match_id", keep="first")
    found = (
        store.get_nodes("Match", owners["match_id"]) if ams is not None else store.nodes("Match")
    )
    columns = [
        "match_id",
        "account_id",
        "capability_id",
        "score",
        "status",
        "weak",
        "model_version",
        "created_at",
        "features",
    ]
    return found.select(columns).join(owners, on="match_id", how="left")


def _with_match(
    store: GraphStore, frame: pl.DataFrame, ams: Sequence[str] | None, *, own_am: bool = False
) -> pl.DataFrame:
    """``frame`` (with a ``match_id``) joined to its match's account, capability and
    AM; with ``ams``, only the rows on those AMs' matches."""
    ids = frame["match_id"].drop_nulls().unique()
    found = store.get_nodes("Match", ids, fields=["account_id", "capability_id"])
    assigned = store.edges("ASSIGNED_TO", touching=ids, side="source", label="Match")
    found = found.join(
        assigned.select(pl.col("src").alias("match_id"), pl.col("dst").alias("__am")).unique(
            "match_id", keep="first"
        ),
        on="match_id",
        how="left",
    )
    if own_am and "am_id" in frame.columns:
        frame = frame.join(found, on="match_id", how="left").with_columns(
            pl.col("am_id").fill_null(pl.col("__am"))
        )
    else:
        frame = frame.join(found, on="match_id", how="left").rename({"__am": "am_id"})
    frame = frame.drop("__am", strict=False)
    if ams is not None:
        frame = frame.filter(pl.col("am_id").is_in(list(ams)))
    return _named(store, frame)


def _named(store: GraphStore, frame: pl.DataFrame) -> pl.DataFrame:
    """Display names beside the ids a frame has: account, capability, am, contact."""
    for column, label, field, name in (
        ("account_id", "Account", "name", "account"),
        ("capability_id", "Capability", "name", "capability"),
        ("am_id", "AccountManager", "full_name", "am"),
        ("contact_id", "Person", "full_name", "contact"),
    ):
        if column not in frame.columns:
            continue
        names = store.names(label, frame[column].drop_nulls().unique(), field=field)
        frame = frame.with_columns(
            pl.col(column).replace_strict(names, default=None, return_dtype=pl.String).alias(name)
        )
    return frame


def _deal_counts(store: GraphStore, accounts: Sequence[str]) -> pl.DataFrame:
    edges = store.edges("FOR", touching=list(accounts), side="target", label="Account")
    edges = edges.filter(pl.col("src_label") == "Opportunity")
    status = store.get_nodes("Opportunity", edges["src"].unique(), fields=["status"])
    joined = edges.select(
        pl.col("src").alias("opportunity_id"), pl.col("dst").alias("account_id")
    ).join(status, on="opportunity_id", how="inner")
    return joined.group_by("account_id").agg(
        (pl.col("status") == s).sum().cast(pl.Int64).alias(s) for s in ("open", "won", "lost")
    )
