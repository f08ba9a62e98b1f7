"""Parts of the graph as networkx graphs, bounded on purpose.

Every function here reads a bounded part of the graph: one node's neighbourhood,
one account's org chart, the accounts people moved between. None loads the whole
graph: a projection that would exceed ``max_nodes`` raises ``GraphTooLarge``
naming the size and how to narrow it, rather than filling a notebook's memory.
Node ids are ``"<Label>:<key>"`` with ``label``, ``key`` and the node's
properties as attributes (``graph_model.store.Subgraph``). Works on both stores.

Examples run on the test suite's hand-built graph (``tests/support/analysis_world.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import networkx as nx
import polars as pl

from graph_model.errors import GraphTooLarge
from graph_model.store import GraphStore
from matching.owners import account_owners

DEFAULT_MAX_NODES = 5_000


__all__ = [
    "DEFAULT_MAX_NODES",
    "HUBS",
    "PROCESS",
    "GraphTooLarge",
    "communities",
    "job_moves",
    "move_network",
    "moved_champions",
    "neighbourhood",
    "org_chart",
    "schema_graph",
]


# Reached but not walked through: each links to a large part of the graph.
HUBS = ("Account", "AccountManager", "Capability", "Industry", "Need", "Technology")


# The loops' records about a match (its routes, drafts, decisions, messages):
# left out of a picture of what the graph knows unless asked for.
PROCESS = ("Decision", "Draft", "OutboxMessage", "Route", "Task")


def neighbourhood(
    store: GraphStore,
    label: str,
    key: str,
    *,
    hops: int = 2,
    max_nodes: int = 300,
    stop_at: Sequence[str] = HUBS,
    leave_out: Sequence[str] = PROCESS,
) -> nx.MultiDiGraph:
    """The nodes within ``hops`` of one node and the edges among them. Nodes of a
    ``stop_at`` label (``HUBS`` by default: other accounts, AMs, capabilities,
    needs, industries, technologies) are shown but not walked through, so two hops
    from an account reach its people's signals and the needs they indicate, not
    every account of its AM; the farthest ring is cut at ``max_nodes``
    (``graph.graph["truncated"]`` says so). Nodes of a ``leave_out`` label are
    dropped (``PROCESS``: the routes, drafts, decisions and messages about a match).

    >>> graph = neighbourhood(store, "Account", "acme", hops=1)
    >>> sorted({data["label"] for _, data in graph.nodes(data=True)})
    ['Account', 'AccountManager', 'Activity', 'Industry', 'Match', 'Opportunity', 'Person',
     'Signal', 'Technology']
    >>> wide = neighbourhood(store, "Account", "acme", hops=2, stop_at=(), leave_out=())
    >>> neighbourhood(store, "Account", "acme").number_of_nodes() < wide.number_of_nodes()
    True
    """
    sub = store.neighborhood(label, key, hops=hops, max_nodes=max_nodes, stop_at=stop_at)
    graph = sub.to_networkx()
    graph.remove_nodes_from(
        [n for n, node_label in graph.nodes(data="label") if node_label in set(leave_out)]
    )
    graph.graph.update(center=f"{label}:{key}", hops=hops, truncated=sub.truncated)
    return graph


# The product's own records: how the loops run, not what the graph knows.
BOOKKEEPING = (
    "CapWindow",
    "ChangeSet",
    "IngestRun",
    "Lease",
    "LoopRun",
    "QuarantinedRow",
    "SavedView",
    "ScoreModel",
    "ScoredAccount",
    "StyleNote",
    "Suppression",
)


def schema_graph(store: GraphStore, *, bookkeeping: bool = True) -> nx.MultiDiGraph:
    """The schema as a graph: one node per label (``count``: nodes stored) and one
    edge per (source label, type, target label) the registry allows (``count``:
    edges of that type stored, over all its label pairs). ``bookkeeping=False``
    leaves out the labels that record how the loops run (``BOOKKEEPING``).

    >>> graph = schema_graph(store)
    >>> graph.nodes["Account"]["count"], graph.has_edge("Person", "Account")
    (4, True)
    >>> "ChangeSet" in schema_graph(store, bookkeeping=False)
    False
    """
    counts = store.counts()
    graph = nx.MultiDiGraph()
    labels = [n for n in sorted(store.registry.nodes) if bookkeeping or n not in BOOKKEEPING]
    for label in labels:
        graph.add_node(label, label=label, count=counts.nodes.get(label, 0))
    for rel_type in sorted(store.registry.edges):
        spec = store.registry.edge(rel_type)
        for src, dst in spec.endpoints:
            if src not in graph or dst not in graph:
                continue
            graph.add_edge(src, dst, key=rel_type, type=rel_type, count=counts.edges[rel_type])
    return graph


def org_chart(store: GraphStore, account_id: str) -> nx.DiGraph:
    """The people who work at one account (``WORKS_AT``), an edge from each person to
    the one they report to (``REPORTS_TO``), with title, seniority and department.

    >>> chart = org_chart(store, "acme")
    >>> sorted((chart.nodes[n]["full_name"], chart.nodes[n]["seniority"]) for n in chart)
    [('Ann Lee', 'vp'), ('Bob Ray', 'executive'), ('Cat Diaz', 'director')]
    >>> list(chart.edges)  # nobody at Acme has a manager on record
    []
    """
    staff = store.edges("WORKS_AT", touching=[account_id], side="target", label="Account")
    people = store.get_nodes("Person", staff["src"].unique())
    titles = dict(staff.select("src", "title").iter_rows())
    chart = nx.DiGraph(account_id=account_id)
    for row in people.iter_rows(named=True):
        title = titles.get(row["person_id"]) or row.get("title")
        chart.add_node(
            f"Person:{row['person_id']}",
            label="Person",
            key=row["person_id"],
            **{**row, "title": title},
        )
    lines = store.edges("REPORTS_TO", touching=people["person_id"], side="source", label="Person")
    for src, dst in lines.select("src", "dst").iter_rows():
        if chart.has_node(f"Person:{dst}"):
            chart.add_edge(f"Person:{src}", f"Person:{dst}")
    return chart


def job_moves(store: GraphStore) -> pl.DataFrame:
    """One row per person who left an account for another: ``person_id`` (the
    record at the old employer), ``from_account``, ``to_account`` (where they work
    now: their own ``WORKS_AT``, else that of the record they are ``SAME_AS``),
    ``until`` (when they left) and ``title``.

    >>> job_moves(store).select("person_id", "from_account", "to_account").rows()
    [('cat', 'globex', 'acme')]
    """
    previous = store.edges("PREVIOUSLY_AT")
    schema = {
        "person_id": pl.String,
        "from_account": pl.String,
        "to_account": pl.String,
        "until": pl.Date,
        "title": pl.String,
    }
    if previous.is_empty():
        return pl.DataFrame(schema=schema)
    people = previous["src"].unique()
    same = store.edges("SAME_AS", touching=people, side="source", label="Person")
    newer = dict(same.select("src", "dst").iter_rows())
    current = store.edges(
        "WORKS_AT", touching=sorted(set(people.to_list()) | set(newer.values())), side="source"
    )
    works = dict(current.select("src", "dst").iter_rows())
    rows = []
    for row in previous.iter_rows(named=True):
        person = row["src"]
        now_at = works.get(person) or works.get(newer.get(person, ""))
        if now_at and now_at != row["dst"]:
            until = row.get("until")
            rows.append(
                {
                    "person_id": person,
                    "from_account": row["dst"],
                    "to_account": now_at,
                    "until": until,
                    "title": row.get("title"),
                }
            )
    return pl.DataFrame(rows, schema=schema).sort(["person_id", "from_account"])


def move_network(
    store: GraphStore,
    moves: pl.DataFrame | None = None,
    *,
    max_nodes: int = DEFAULT_MAX_NODES,
) -> nx.DiGraph:
    """The job-move network: accounts as nodes (name, industry-free: keep it light),
    an edge from the account people left to the one they joined, ``weight`` the
    number of people and ``people`` their ids. ``moves`` (a ``job_moves`` frame,
    filtered as you like) defaults to every move; more than ``max_nodes`` accounts
    raise ``GraphTooLarge``.

    >>> network = move_network(store)
    >>> list(network.edges(data="weight"))
    [('Account:globex', 'Account:acme', 1)]
    >>> move_network(store, max_nodes=1)
    Traceback (most recent call last):
    ...
    graph_model.errors.GraphTooLarge: the job-move network has 2 accounts, ...
    """
    moves = job_moves(store) if moves is None else moves
    accounts = sorted(set(moves["from_account"].to_list()) | set(moves["to_account"].to_list()))
    if len(accounts) > max_nodes:
        raise GraphTooLarge(
            f"the job-move network has {len(accounts):,} accounts, more than max_nodes="
            f"{max_nodes:,}",
            hint="filter the moves first (job_moves(store).filter(...)) or raise max_nodes",
            nodes=len(accounts),
            max_nodes=max_nodes,
        )
    names = store.names("Account", accounts)
    network = nx.DiGraph()
    for account in accounts:
        network.add_node(
            f"Account:{account}", label="Account", key=account, name=names.get(account, account)
        )
    grouped = moves.group_by("from_account", "to_account").agg(pl.col("person_id"))
    for src, dst, people in grouped.sort("from_account", "to_account").iter_rows():
        network.add_edge(
            f"Account:{src}", f"Account:{dst}", weight=len(people), people=sorted(people)
        )
    return network


def moved_champions(store: GraphStore, *, ams: Sequence[str] | None = None) -> pl.DataFrame:
    """Champions who moved into an account that has not bought what they
    championed: one row per (person, new account, capability), with where they came
    from, how we know they championed it (``source``: a role on a won deal, the CRM's
    champion field, or the job-change record), the new account's owner and the
    match twoloop made for that pair, if any (``match_id``, ``score``, ``status``).
    ``ams`` keeps the new accounts those AMs own.

    >>> moved_champions(store).select("person_id", "to_account", "capability_id", "source").rows()
    [('cat', 'acme', 'vault', 'deal_role')]
    """
    moves = job_moves(store)
    schema: dict[str, Any] = {
        "person_id": pl.String,
        "person": pl.String,
        "from_account": pl.String,
        "to_account": pl.String,
        "to_name": pl.String,
        "capability_id": pl.String,
        "source": pl.String,
        "am_id": pl.String,
        "match_id": pl.String,
        "score": pl.Float64,
        "status": pl.String,
    }
    if moves.is_empty():
        return pl.DataFrame(schema=schema)
    championed = _championed(store, moves)
    if championed.is_empty():
        return pl.DataFrame(schema=schema)
    rows = moves.join(championed, on=["person_id", "from_account"], how="inner")
    bought = _bought(store, rows["to_account"].unique().to_list())
    rows = rows.join(bought, left_on=["to_account", "capability_id"], right_on=KEY_PAIR, how="anti")
    owners = account_owners(store, rows["to_account"].unique().to_list())
    rows = rows.with_columns(
        pl.col("to_account")
        .replace_strict(owners, default=None, return_dtype=pl.String)
        .alias("am_id")
    )
    if ams is not None:
        rows = rows.filter(pl.col("am_id").is_in(list(ams)))
    found = store.nodes("Match", {"account_id": rows["to_account"].unique().to_list()})
    found = found.select(
        pl.col("account_id").alias("to_account"), "capability_id", "match_id", "score", "status"
    )
    people = store.names("Person", rows["person_id"], field="full_name")
    accounts = store.names("Account", rows["to_account"])
    return (
        rows.join(found, on=["to_account", "capability_id"], how="left")
        .with_columns(
            pl.col("person_id")
            .replace_strict(people, default=None, return_dtype=pl.String)
            .alias("person"),
            pl.col("to_account")
            .replace_strict(accounts, default=None, return_dtype=pl.String)
            .alias("to_name"),
        )
        .select([pl.col(c).cast(t) for c, t in schema.items()])
        .unique(["person_id", "to_account", "capability_id"], keep="first")
        .sort(["person_id", "to_account", "capability_id"])
    )


def communities(graph: nx.Graph, *, weight: str = "weight", seed: int = 7) -> pl.DataFrame:
    """Louvain communities of a (small) graph, read as undirected: one row per node
    with its ``community`` (0 is the largest) and the community's ``size``.

    >>> communities(move_network(store)).rows()
    [('Account:acme', 0, 2), ('Account:globex', 0, 2)]
    """
    undirected = nx.Graph(graph.to_undirected()) if graph.is_directed() else nx.Graph(graph)
    found = nx.community.louvain_communities(undirected, weight=weight, seed=seed)
    ordered = sorted(found, key=lambda c: (-len(c), min(c)))
    rows = [(node, i, len(members)) for i, members in enumerate(ordered) for node in members]
    return pl.DataFrame(
        rows, schema={"node": pl.String, "community": pl.Int64, "size": pl.Int64}, orient="row"
    ).sort(["community", "node"])


# ---------------------------------------------------------------- the parts

KEY_PAIR = ["account_id", "capability_id"]


def _championed(store: GraphStore, moves: pl.DataFrame) -> pl.DataFrame:
    """person_id, from_account, capability_id, source: what each mover championed
    at the account they left."""
    people = moves["person_id"].unique()
    rows: list[dict[str, str]] = []
    edges = store.edges("CHAMPIONED", touching=people, side="source", label="Person")
    direct = edges.filter(pl.col("dst_label") == "Capability")
    left = dict(moves.select("person_id", "from_account").iter_rows())
    for person, capability in direct.select("src", "dst").iter_rows():
        rows.append(
            {
                "person_id": person,
                "from_account": left[person],
                "capability_id": capability,
                "source": "declared",
            }
        )
    on_deals = edges.filter(pl.col("dst_label") == "Opportunity")
    if on_deals.height:
        deals = store.get_nodes("Opportunity", on_deals["dst"].unique(), fields=["status"])
        won = set(deals.filter(pl.col("status") == "won")["opportunity_id"].to_list())
        includes = store.edges("INCLUDES", touching=sorted(won), side="source")
        caps = includes.group_by("src").agg(pl.col("dst"))
        by_deal = dict(caps.iter_rows())
        for person, deal in on_deals.select("src", "dst").iter_rows():
            for capability in by_deal.get(deal, []):
                rows.append(
                    {
                        "person_id": person,
                        "from_account": left[person],
                        "capability_id": capability,
                        "source": "deal_role",
                    }
                )
    previous = store.edges("PREVIOUSLY_AT", touching=people, side="source", label="Person")
    for row in previous.iter_rows(named=True):
        for capability in row.get("championed") or []:
            rows.append(
                {
                    "person_id": row["src"],
                    "from_account": row["dst"],
                    "capability_id": capability,
                    "source": "job_change",
                }
            )
    schema = {c: pl.String for c in ("person_id", "from_account", "capability_id", "source")}
    return pl.DataFrame(rows, schema=schema).unique(
        ["person_id", "from_account", "capability_id"], keep="first", maintain_order=True
    )


def _bought(store: GraphStore, accounts: list[str]) -> pl.DataFrame:
    """account_id, capability_id of the won deals of these accounts."""
    edges = store.edges("FOR", touching=accounts, side="target", label="Account")
    edges = edges.filter(pl.col("src_label") == "Opportunity")
    deals = store.get_nodes("Opportunity", edges["src"].unique(), fields=["status"])
    won = deals.filter(pl.col("status") == "won")["opportunity_id"]
    includes = store.edges("INCLUDES", touching=won, side="source")
    return (
        edges.select(pl.col("src").alias("opportunity_id"), pl.col("dst").alias("account_id"))
        .join(
            includes.select(
                pl.col("src").alias("opportunity_id"), pl.col("dst").alias("capability_id")
            ),
            on="opportunity_id",
            how="inner",
        )
        .select(KEY_PAIR)
        .unique()
    )
