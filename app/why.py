"""Why a match is in an AM's queue: everything the why panel shows, in one read.

- every evidence path as its sentence, with the date and source of what it rests
  on (a signal's date, source and address; a deal's close date), its metapath
  and weight;
- the score's parts: the model's bias and each metapath's contribution to the
  logit (weight x log1p of the weighted sum), so the parts add up to the score;
- the runner-up capabilities for the same account;
- the contact chosen and why; the current route (action, rule, reason);
- the decisions already taken on the match, with actor and time;
- the neighbourhood of the account along the match's paths, as nodes and edges
  for an interactive graph;
- ``seen``: the match's state as read, for ``app.decisions.decide(seen=...)``,
  which refuses a decision on a match that changed since.

Reading it is an action on the match's book: an actor who may not act on the
match's owner is refused (``NotAuthorized``) before anything is read.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from app.actors import Actor, act_on, match_owner
from graph_model.store import GraphStore
from matching.metapaths import Metapath, load_metapaths
from matching.model import PRIOR_VERSION, ScoreModelSpec, load_prior, transform
from matching.read import describe_matches
from routing.route import current_routes

RUNNER_UPS = 5
# What a path node reads as, per label: its display name field.
_NAME_FIELD = {"Person": "full_name", "AccountManager": "full_name", "Opportunity": "name"}
_DATED = {"Signal": "occurred_at", "Opportunity": "close_date", "Activity": "occurred_at"}


@dataclass(frozen=True)
class Evidence:
    sentence: str
    metapath: str
    weight: float
    date: str | None
    source: str | None
    url: str | None


@dataclass(frozen=True)
class GraphNode:
    id: str
    label: str
    name: str
    key: str


@dataclass(frozen=True)
class GraphEdge:
    id: str
    source: str
    target: str
    type: str


@dataclass
class MatchWhy:
    match_id: str
    account_id: str
    account: str
    capability_id: str
    capability: str
    am_id: str | None
    score: float
    weak: bool
    status: str
    defer_until: dt.date | None
    explanation: str
    model_version: str
    batch_id: str
    evidence: list[Evidence]
    score_parts: list[dict[str, Any]]
    runner_ups: list[dict[str, Any]]
    contact: dict[str, Any] | None
    route: dict[str, Any] | None
    decisions: list[dict[str, Any]]
    nodes: list[GraphNode] = field(default_factory=list)
    edges: list[GraphEdge] = field(default_factory=list)

    @property
    def seen(self) -> dict[str, Any]:
        """The state the actor decides on (``app.decisions.decide(seen=...)``)."""
        return {"status": self.status, "batch_id": self.batch_id, "score": self.score}


def match_why(store: GraphStore, match_id: str, *, actor: str | Actor) -> MatchWhy:
    """The why panel of one match, for an actor who may see its owner's book."""
    owner = match_owner(store, match_id)
    store.get_node("Match", match_id, hint="the queue lists the matches you may open")
    act_on(store, actor, action="see", item=match_id, owner=owner)
    (row,) = describe_matches(store, store.get_nodes("Match", [match_id]))
    metapaths = {m.id: m for m in load_metapaths()}
    paths: list[dict[str, Any]] = row["paths"]
    labelled = [(p, metapaths.get(p["metapath"])) for p in paths]
    props = _node_props(store, labelled)
    evidence = [
        _evidence(sentence, path, mp, props)
        for sentence, (path, mp) in zip(row["evidence"], labelled, strict=False)
    ]
    nodes, edges = _graph(labelled, props, row)
    return MatchWhy(
        match_id=match_id,
        account_id=row["account_id"],
        account=row["account"] or row["account_id"],
        capability_id=row["capability_id"],
        capability=row["capability"] or row["capability_id"],
        am_id=row["am_id"],
        score=float(row["score"]),
        weak=bool(row["weak"]),
        status=str(row["status"]),
        defer_until=row["defer_until"],
        explanation=row["explanation"] or "",
        model_version=row["model_version"],
        batch_id=row["batch_id"],
        evidence=evidence,
        score_parts=score_parts(store, row["model_version"], row["features"]),
        runner_ups=_runner_ups(store, row["account_id"], match_id),
        contact=_contact(store, row["contact"]),
        route=_route(store, match_id),
        decisions=_decisions(store, match_id),
        nodes=nodes,
        edges=edges,
    )


def score_parts(
    store: GraphStore, model_version: str, features: dict[str, dict[str, float]]
) -> list[dict[str, Any]]:
    """The logit's parts under the model that scored the match: the bias, then each
    metapath's weight x log1p(weighted sum), largest first; they sum to the logit."""
    spec = _model(store, model_version)
    parts = [
        {
            "part": name,
            "paths": int(value.get("n", 0)),
            "weighted_sum": float(value.get("w", 0.0)),
            "weight": spec.weights.get(name, 0.0),
            "contribution": spec.weights.get(name, 0.0) * transform(float(value.get("w", 0.0))),
        }
        for name, value in features.items()
    ]
    parts.sort(key=lambda p: -abs(p["contribution"]))
    bias = {"part": "bias", "paths": 0, "weighted_sum": 0.0, "weight": 1.0}
    return [{**bias, "contribution": spec.bias}, *parts]


def _model(store: GraphStore, version: str) -> ScoreModelSpec:
    if version and version != PRIOR_VERSION:
        stored = store.get_nodes("ScoreModel", [version])
        if stored.height:
            return ScoreModelSpec.from_json(stored["weights"][0])
    return load_prior()


def _node_props(
    store: GraphStore, labelled: list[tuple[dict[str, Any], Metapath | None]]
) -> dict[tuple[str, str], dict[str, Any]]:
    wanted: dict[str, set[str]] = {}
    for path, mp in labelled:
        if mp is None:
            continue
        for alias, key in path["nodes"].items():
            label = mp.nodes.get(alias)
            if label:
                wanted.setdefault(label, set()).add(str(key))
    props: dict[tuple[str, str], dict[str, Any]] = {}
    for label, keys in wanted.items():
        frame = store.get_nodes(label, sorted(keys))
        key = store.registry.node(label).key
        for r in frame.iter_rows(named=True):
            props[(label, str(r[key]))] = r
    return props


def _evidence(
    sentence: str,
    path: dict[str, Any],
    mp: Metapath | None,
    props: dict[tuple[str, str], dict[str, Any]],
) -> Evidence:
    date = source = url = None
    if mp is not None:
        # The dated thing the path rests on: a signal first, else a deal or activity.
        for label in ("Signal", "Activity", "Opportunity"):
            for alias, node_label in mp.nodes.items():
                if node_label != label or alias not in path["nodes"]:
                    continue
                found = props.get((label, str(path["nodes"][alias])))
                if not found:
                    continue
                when = found.get(_DATED[label])
                date = when.date().isoformat() if isinstance(when, dt.datetime) else when
                date = str(date) if date is not None else None
                source = found.get("source") or ("CRM" if label == "Opportunity" else None)
                url = found.get("url")
                break
            if date or source:
                break
    return Evidence(
        sentence=sentence,
        metapath=path["metapath"],
        weight=float(path.get("weight") or 0.0),
        date=date,
        source=source,
        url=url,
    )


def _name(label: str, props: dict[str, Any] | None, key: str) -> str:
    if not props:
        return key
    value = props.get(_NAME_FIELD.get(label, "name")) or props.get("name") or props.get("title")
    return str(value) if value else key


def _graph(
    labelled: list[tuple[dict[str, Any], Metapath | None]],
    props: dict[tuple[str, str], dict[str, Any]],
    row: dict[str, Any],
) -> tuple[list[GraphNode], list[GraphEdge]]:
    """The account's neighbourhood along the match's paths: each path's nodes and
    the typed edges between them, each once."""
    nodes: dict[str, GraphNode] = {}
    edges: dict[str, GraphEdge] = {}
    for path, mp in labelled:
        if mp is None:
            continue
        ids: dict[str, str] = {}
        for alias, key in path["nodes"].items():
            label = mp.nodes.get(alias)
            if not label:
                continue
            node_id = f"{label}:{key}"
            ids[alias] = node_id
            nodes.setdefault(
                node_id,
                GraphNode(
                    node_id, label, _name(label, props.get((label, str(key))), str(key)), str(key)
                ),
            )
        for hop in mp.hops:
            if hop.from_alias not in ids or hop.to_alias not in ids:
                continue
            src, dst = (
                (ids[hop.from_alias], ids[hop.to_alias])
                if hop.forward
                else (ids[hop.to_alias], ids[hop.from_alias])
            )
            edge_id = f"{src}-{hop.edge_type}-{dst}"
            edges.setdefault(edge_id, GraphEdge(edge_id, src, dst, hop.edge_type))
    contact = row.get("contact")
    account_node = f"Account:{row['account_id']}"
    if contact and account_node in nodes:
        node_id = f"Person:{contact['person_id']}"
        nodes.setdefault(
            node_id,
            GraphNode(
                node_id, "Person", contact.get("name") or contact["person_id"], contact["person_id"]
            ),
        )
        edge_id = f"{node_id}-WORKS_AT-{account_node}"
        edges.setdefault(edge_id, GraphEdge(edge_id, node_id, account_node, "WORKS_AT"))
    return list(nodes.values()), list(edges.values())


def _runner_ups(store: GraphStore, account_id: str, match_id: str) -> list[dict[str, Any]]:
    on = store.edges("FOR", touching=[account_id], side="target", label="Account")
    others = on.filter((pl.col("src_label") == "Match") & (pl.col("src") != match_id))
    if others.is_empty():
        return []
    matches = (
        store.get_nodes("Match", others["src"])
        .sort(["score", "match_id"], descending=[True, False])
        .head(RUNNER_UPS)
    )
    names = store.get_nodes("Capability", matches["capability_id"].unique())
    name_of = dict(zip(names["capability_id"], names["name"], strict=True))
    return [
        {
            "match_id": m["match_id"],
            "capability": name_of.get(m["capability_id"], m["capability_id"]),
            "score": m["score"],
            "status": m["status"],
            "explanation": m["explanation"],
        }
        for m in matches.iter_rows(named=True)
    ]


def _contact(store: GraphStore, contact: dict[str, Any] | None) -> dict[str, Any] | None:
    if not contact:
        return None
    person = store.get_nodes("Person", [contact["person_id"]])
    title = person["title"][0] if person.height else None
    return {**contact, "title": title}


def _route(store: GraphStore, match_id: str) -> dict[str, Any] | None:
    fields = ["action", "kind", "rule", "reason", "routed_at", "policy"]
    routes = current_routes(store, [match_id], fields=fields)
    return {k: routes[k][0] for k in fields} if routes.height else None


def _decisions(store: GraphStore, match_id: str) -> list[dict[str, Any]]:
    on = store.edges("DECIDED_ON", touching=[match_id], side="target", label="Match")
    if on.is_empty():
        return []
    rows = store.get_nodes("Decision", on["src"]).sort("decided_at")
    wanted = ("kind", "actor", "role", "on_behalf_of", "decided_at", "reason", "defer_until")
    return [{k: r.get(k) for k in wanted} for r in rows.iter_rows(named=True)]


def graph_elements(why: MatchWhy) -> dict[str, list[dict[str, Any]]]:
    """The evidence graph as Cytoscape.js elements (the component renders names as
    text labels), each node placed in a column by its distance from the capability,
    so the graph reads left to right as the metapaths do and lays out the same way
    every time."""
    position = _layered(why)
    return {
        "nodes": [
            {
                "data": {"id": n.id, "label": n.label, "name": n.name, "key": n.key},
                "position": position[n.id],
            }
            for n in why.nodes
        ],
        "edges": [
            {"data": {"id": e.id, "source": e.source, "target": e.target, "label": e.type}}
            for e in why.edges
        ],
    }


def _layered(why: MatchWhy) -> dict[str, dict[str, float]]:
    """Columns by breadth-first distance from the capability (ignoring direction),
    rows in name order within a column; nodes it cannot reach go in a last column."""
    around: dict[str, set[str]] = {n.id: set() for n in why.nodes}
    for e in why.edges:
        around[e.source].add(e.target)
        around[e.target].add(e.source)
    start = f"Capability:{why.capability_id}"
    depth = {start: 0} if start in around else {}
    frontier = list(depth)
    while frontier:
        following = []
        for node in frontier:
            for other in sorted(around[node]):
                if other not in depth:
                    depth[other] = depth[node] + 1
                    following.append(other)
        frontier = following
    last = max(depth.values(), default=-1) + 1
    names = {n.id: n.name for n in why.nodes}
    columns: dict[int, list[str]] = {}
    for node in sorted(around, key=lambda i: (depth.get(i, last), names[i], i)):
        columns.setdefault(depth.get(node, last), []).append(node)
    placed: dict[str, dict[str, float]] = {}
    for column, nodes in columns.items():
        for row, node in enumerate(nodes):
            placed[node] = {"x": column * 200.0, "y": (row - (len(nodes) - 1) / 2) * 110.0}
    return placed
