"""Metapaths as data: typed chains of edges from a Capability to an Account.

Declared once, in ``metapaths.yaml``, as Cypher-like patterns over the schema
registry (a path that does not start at a Capability, such as a gate on the
account's own properties, applies to every capability), for example::

    (c:Capability)-[:ADDRESSES]->(n:Need)<-[r:INDICATES]-(s:Signal)<-[:EMITTED]-(a:Account)

Each metapath names its role (``evidence`` feeds the score, ``gate`` blocks a
pair), its conditions (``o.status == won``, ``x.occurred_at within 30d``,
``peer != a``), the pivot where the capability side (evaluated once per run)
meets the account side (evaluated per batch of accounts), optional weight
and recency fields, whether its sum is a share of the pivot's accounts
(``share_of``), and the sentence that explains one path instance.
Everything is checked against the registry when loaded: labels, edge types,
directions, aliases, fields and template placeholders. A wrong metapath file
fails with its file, entry and reason. Adding a metapath is a data change
(plus a test of what it finds).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from graph_model.errors import ConfigFileInvalid
from graph_model.schema import REGISTRY, SchemaRegistry
from graph_model.vocabulary import SignalKind
from graph_model.yamlfile import read_yaml, validate

DEFAULT_FILE = Path(__file__).with_name("metapaths.yaml")

_NODE = re.compile(r"\((?P<alias>[a-z][a-z0-9_]*)(?::(?P<label>[A-Za-z][A-Za-z0-9_]*))?\)")
_EDGE = re.compile(
    r"(?P<left><)?-\[(?P<alias>[a-z][a-z0-9_]*)?:(?P<type>[A-Z][A-Z0-9_]*)\]-(?P<right>>)?"
)
_EDGE_CONDITION = re.compile(
    r"^(?P<alias>[a-z][a-z0-9_]*)\s+(?P<op>has|lacks)\s+(?P<type>[A-Z][A-Z0-9_]*)$"
)
_CONDITION = re.compile(
    r"^(?P<alias>[a-z][a-z0-9_]*)(?:\.(?P<field>[a-z][a-z0-9_]*))?\s*"
    r"(?P<op>==|!=|>=|<=|<|>|within|not in|in)\s*(?P<value>.+)$"
)
PLACEHOLDER = re.compile(r"\{(?P<alias>[a-z][a-z0-9_]*)\.(?P<field>[a-z][a-z0-9_]*)\}")
_DAYS = re.compile(r"^(?P<n>\d+)d$")


@dataclass(frozen=True)
class Hop:
    """One edge of a path: ``src_alias -[TYPE]-> dst_alias`` as stored, walked in path order."""

    edge_type: str
    alias: str | None
    from_alias: str  # the node before it in the path
    to_alias: str  # the node after it
    forward: bool  # True: stored from ``from_alias`` to ``to_alias``


@dataclass(frozen=True)
class Condition:
    alias: str
    field: str | None  # None: compares the node itself (alias != alias)
    op: str
    value: Any  # a literal, a list, days (within), another alias (!=) or an edge type
    # (``p lacks CHAMPIONED``: the node has no outgoing edge of that type)
    # The other side of a comparison of two fields (``a.employees < c.min_employees``,
    # a path of two unconnected nodes only): (alias, field); ``value`` is unused.
    other: tuple[str, str] | None = None


@dataclass(frozen=True)
class Metapath:
    id: str
    role: Literal["evidence", "gate"]
    description: str
    nodes: dict[str, str]  # alias -> label, in path order
    hops: tuple[Hop, ...]
    conditions: tuple[Condition, ...]
    pivot: str | None  # None: the path starts at the account
    weight: tuple[tuple[str, str], ...]
    recency: tuple[str, str] | None
    sentence: str
    # The account alias when the pair's weighted sum is a share: each pivot's sum is
    # divided by the number of accounts it reaches (an industry's size, an AM's book).
    share_of: str | None = None
    # A node alias whose node counts once per (account, capability) pair, however many
    # instances reach it (a signal reaching two needs the capability addresses), and
    # across every metapath that counts the same label (a signal both the account and
    # one of its people emitted): it is credited to the metapath where it weighs most.
    counts_once: str | None = None
    # A gate that blocks the pairs its path does NOT reach: every capability passing
    # the conditions on its node, with every account that reaches some pivot (one
    # with a known industry), except the pairs the path joins.
    unreached: bool = False
    # Half-lives in days of the recency date: per signal kind (with ``default``) when
    # the date is a signal's, else one ``default`` (declared in metapaths.yaml).
    half_lives: tuple[tuple[str, float], ...] = (("default", 120.0),)

    def half_life(self, kind: str | None = None) -> float:
        table = dict(self.half_lives)
        return table.get(kind or "default", table["default"])

    @property
    def pair(self) -> bool:
        """A path of two unconnected nodes ``(c:Capability), (a:Account)``: every pair,
        filtered by conditions that compare the two (the account's size against the
        capability's bounds)."""
        return not self.hops and len(self.nodes) == 2

    @property
    def capability_alias(self) -> str | None:
        first = next(iter(self.nodes))
        return first if self.nodes[first] == "Capability" else None

    @property
    def account_alias(self) -> str:
        return list(self.nodes)[-1]

    @property
    def split_at(self) -> int:
        """How many hops lie on the capability side (before the pivot)."""
        if self.pivot is None:
            return 0
        return list(self.nodes).index(self.pivot)

    @property
    def capability_hops(self) -> tuple[Hop, ...]:
        """Hops from the capability to the pivot, in path order."""
        return self.hops[: self.split_at]

    @property
    def account_hops(self) -> tuple[Hop, ...]:
        """Hops from the pivot to the account, in path order."""
        return self.hops[self.split_at :]

    def side_of(self, alias: str) -> Literal["capability", "account", "pivot"]:
        """Which side of the pivot a node or edge alias lies on."""
        if alias == self.pivot:
            return "pivot"
        order = list(self.nodes)
        if alias in self.nodes:
            at = order.index(alias)
        else:
            at = next(i for i, hop in enumerate(self.hops) if hop.alias == alias)
            at += 1 if at >= self.split_at else 0
        if self.pivot is None:
            return "account"
        return "capability" if at < self.split_at else "account"

    def crossing(self) -> list[Condition]:
        """``x != y`` conditions whose two aliases lie on opposite sides of the pivot."""
        return [
            c
            for c in self.conditions
            if c.field is None
            and c.op == "!="
            and {self.side_of(c.alias), self.side_of(str(c.value))} == {"capability", "account"}
        ]


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    role: Literal["evidence", "gate"]
    description: str
    path: str
    where: list[str] = Field(default_factory=list)
    pivot: str | None = None
    weight: list[str] = Field(default_factory=list)
    recency: str | None = None
    share_of: str | None = None
    counts_once: str | None = None
    unreached: bool = False
    half_life: float | None = Field(default=None, gt=0)
    sentence: str


class _HalfLives(BaseModel):
    model_config = ConfigDict(extra="forbid")

    default: float = Field(default=120.0, gt=0)
    signal_kinds: dict[SignalKind, float] = Field(default_factory=dict)


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")

    half_lives: _HalfLives = Field(default_factory=_HalfLives)
    metapaths: list[_Entry]


def load_metapaths(
    path: Path = DEFAULT_FILE, *, registry: SchemaRegistry = REGISTRY
) -> list[Metapath]:
    """Read and check a metapath file; errors name the file, the entry and the reason."""
    data = validate(_File, read_yaml(path), str(path))
    for kind, days in data.half_lives.signal_kinds.items():
        if days <= 0:
            raise ConfigFileInvalid(
                str(path), f"half_lives.signal_kinds.{kind}", "must be more than 0 days"
            )
    seen: set[str] = set()
    result: list[Metapath] = []
    for i, entry in enumerate(data.metapaths):
        where = f"metapaths.{i}({entry.id})"
        if entry.id in seen:
            raise ConfigFileInvalid(str(path), where, f"duplicate metapath id {entry.id!r}")
        seen.add(entry.id)
        try:
            result.append(_build(entry, registry, data.half_lives))
        except ValueError as exc:
            raise ConfigFileInvalid(str(path), where, str(exc)) from None
    return result


def parse_pattern(pattern: str) -> tuple[dict[str, str], list[Hop], dict[str, str]]:
    """Nodes (alias -> label), hops and edge aliases (alias -> type) of a path pattern."""
    nodes: dict[str, str] = {}
    hops: list[Hop] = []
    edge_aliases: dict[str, str] = {}
    pos = 0
    text = pattern.replace(" ", "")
    previous: str | None = None
    pending: re.Match[str] | None = None
    while pos < len(text):
        node = _NODE.match(text, pos)
        if node:
            alias, label = node["alias"], node["label"]
            if alias in nodes or alias in edge_aliases:
                raise ValueError(f"alias {alias!r} is used twice in the path")
            if label is None:
                raise ValueError(f"node ({alias}) needs a label")
            nodes[alias] = label
            if pending is not None and previous is not None:
                hops.append(_hop(pending, previous, alias))
                pending = None
            elif previous is not None:
                raise ValueError(f"nodes ({previous}) and ({alias}) need an edge between them")
            previous, pos = alias, node.end()
            continue
        edge = _EDGE.match(text, pos)
        if edge and previous is not None and pending is None:
            if bool(edge["left"]) == bool(edge["right"]):
                raise ValueError(f"edge [:{edge['type']}] needs exactly one direction (<- or ->)")
            if edge["alias"]:
                if edge["alias"] in nodes or edge["alias"] in edge_aliases:
                    raise ValueError(f"alias {edge['alias']!r} is used twice in the path")
                edge_aliases[edge["alias"]] = edge["type"]
            pending, pos = edge, edge.end()
            continue
        raise ValueError(f"cannot read the path at {text[pos : pos + 24]!r}")
    if pending is not None or not nodes:
        raise ValueError("the path must start and end with a node")
    return nodes, hops, edge_aliases


def _hop(edge: re.Match[str], from_alias: str, to_alias: str) -> Hop:
    return Hop(
        edge_type=edge["type"],
        alias=edge["alias"],
        from_alias=from_alias,
        to_alias=to_alias,
        forward=bool(edge["right"]),
    )


def _build(entry: _Entry, registry: SchemaRegistry, halves: _HalfLives) -> Metapath:
    if "," in entry.path:
        parts = [parse_pattern(part) for part in entry.path.split(",")]
        if len(parts) != 2 or any(hops or len(found) != 1 for found, hops, _ in parts):
            raise ValueError("a path of unconnected nodes is exactly (c:Capability), (a:Account)")
        nodes = {**parts[0][0], **parts[1][0]}
        if list(nodes.values()) != ["Capability", "Account"]:
            raise ValueError("a path of unconnected nodes is exactly (c:Capability), (a:Account)")
        hops, edge_aliases = [], {}
    else:
        nodes, hops, edge_aliases = parse_pattern(entry.path)
    labels = list(nodes.values())
    if labels[-1] != "Account":
        raise ValueError("the path must end at an (alias:Account) node")
    if "Capability" in labels[1:]:
        raise ValueError("a Capability node can only start the path")
    for alias, label in nodes.items():
        if label not in registry.nodes:
            raise ValueError(f"({alias}:{label}): no such label in the schema")
    for hop in hops:
        if hop.edge_type not in registry.edges:
            raise ValueError(f"[:{hop.edge_type}]: no such edge type in the schema")
        spec = registry.edge(hop.edge_type)
        src, dst = (hop.from_alias, hop.to_alias) if hop.forward else (hop.to_alias, hop.from_alias)
        if (nodes[src], nodes[dst]) not in spec.endpoints:
            raise ValueError(
                f"[:{hop.edge_type}] does not go from {nodes[src]} to {nodes[dst]} "
                f"(allowed: {', '.join(f'{s}->{d}' for s, d in spec.endpoints)})"
            )

    def field_of(ref: str, what: str) -> tuple[str, str]:
        alias, _, name = ref.partition(".")
        if alias in nodes:
            fields = registry.node(nodes[alias]).fields
        elif alias in edge_aliases:
            fields = registry.edge(edge_aliases[alias]).fields
        else:
            raise ValueError(f"{what} {ref!r}: unknown alias {alias!r}")
        if name not in fields:
            raise ValueError(
                f"{what} {ref!r}: {nodes.get(alias) or edge_aliases[alias]} has no field {name!r}"
            )
        return alias, name

    conditions: list[Condition] = []
    for text in entry.where:
        edge = _EDGE_CONDITION.match(text.strip())
        if edge:
            alias, rel = edge["alias"], edge["type"]
            if alias not in nodes:
                raise ValueError(f"condition {text!r}: unknown node alias {alias!r}")
            if rel not in registry.edges:
                raise ValueError(f"condition {text!r}: no such edge type {rel!r}")
            if nodes[alias] not in registry.edge(rel).src_labels:
                raise ValueError(f"condition {text!r}: [:{rel}] does not start at {nodes[alias]}")
            conditions.append(Condition(alias, None, edge["op"], rel))
            continue
        m = _CONDITION.match(text.strip())
        if not m:
            raise ValueError(
                f"condition {text!r}: expected 'alias.field OP value' or 'alias != alias'"
            )
        alias, name, op, raw = m["alias"], m["field"], m["op"], m["value"].strip()
        if name is None:
            if op != "!=" or raw not in nodes or alias not in nodes:
                raise ValueError(f"condition {text!r}: only 'alias != alias' compares two nodes")
            conditions.append(Condition(alias, None, op, raw))
            continue
        field_of(f"{alias}.{name}", "condition")
        ref = re.fullmatch(r"(?P<alias>[a-z][a-z0-9_]*)\.(?P<field>[a-z][a-z0-9_]*)", raw)
        if ref and ref["alias"] in nodes:
            if not hops:
                field_of(raw, "condition")
                conditions.append(Condition(alias, name, op, None, (ref["alias"], ref["field"])))
                continue
            raise ValueError(
                f"condition {text!r}: two fields are compared only on a path of two "
                "unconnected nodes"
            )
        conditions.append(Condition(alias, name, op, _value(op, raw, text)))
    pivot = entry.pivot
    if not hops and len(nodes) == 2:
        if pivot is not None:
            raise ValueError("a path of two unconnected nodes has no pivot")
    elif labels[0] == "Capability":
        if pivot is None or pivot not in nodes or pivot == next(iter(nodes)):
            raise ValueError("pivot must name a node of the path other than the capability")
    elif pivot is not None:
        raise ValueError(
            "a path that does not start at a Capability applies to every capability and has "
            "no pivot"
        )

    def kind_of(alias: str, name: str) -> str:
        spec = registry.node(nodes[alias]) if alias in nodes else registry.edge(edge_aliases[alias])
        return spec.fields[name].kind

    for cond in conditions:
        if (
            cond.op == "within"
            and cond.field is not None
            and kind_of(cond.alias, cond.field) not in ("date", "datetime")
        ):
            raise ValueError(f"condition on {cond.alias}.{cond.field}: 'within' needs a date")
    weight = tuple(field_of(ref, "weight") for ref in entry.weight)
    for alias, name in weight:
        if kind_of(alias, name) not in ("float", "int"):
            raise ValueError(f"weight {alias}.{name} is not a number")
    recency = field_of(entry.recency, "recency") if entry.recency else None
    if recency and kind_of(*recency) not in ("date", "datetime"):
        raise ValueError(f"recency {recency[0]}.{recency[1]} is not a date")
    if entry.half_life is not None and recency is None:
        raise ValueError("half_life needs a recency date")
    table: dict[str, float] = {"default": entry.half_life or halves.default}
    if recency and nodes.get(recency[0]) == "Signal":
        if entry.half_life is not None:
            raise ValueError(
                "a signal's recency decays by its kind (half_lives.signal_kinds), not half_life"
            )
        table |= {str(kind): days for kind, days in halves.signal_kinds.items()}
    for m in PLACEHOLDER.finditer(entry.sentence):
        field_of(f"{m['alias']}.{m['field']}", "sentence placeholder")
    if entry.share_of is not None:
        if entry.role != "evidence" or pivot is None:
            raise ValueError("share_of applies to an evidence path with a pivot")
        if entry.share_of != list(nodes)[-1]:
            raise ValueError(
                f"share_of {entry.share_of!r}: must name the account alias {list(nodes)[-1]!r}"
            )
    if entry.unreached:
        if entry.role != "gate" or pivot is None:
            raise ValueError("unreached applies to a gate from a capability with a pivot")
        ends = {next(iter(nodes)), list(nodes)[-1]}
        for m in PLACEHOLDER.finditer(entry.sentence):
            if m["alias"] not in ends:
                raise ValueError(
                    f"an unreached gate has no path instance: its sentence can name only "
                    f"{' and '.join(sorted(ends))}, not {m['alias']}"
                )
    if entry.counts_once is not None:
        if entry.role != "evidence" or pivot is None:
            raise ValueError("counts_once applies to an evidence path with a pivot")
        if entry.counts_once not in nodes or entry.counts_once == next(iter(nodes)):
            raise ValueError(f"counts_once {entry.counts_once!r}: must name a node of the path")
        order = list(nodes)
        if order.index(entry.counts_once) < order.index(pivot):
            raise ValueError(
                f"counts_once {entry.counts_once!r}: must lie between the pivot and the account"
            )
        if entry.share_of is not None:
            raise ValueError("counts_once and share_of cannot be combined")
    built = Metapath(
        id=entry.id,
        role=entry.role,
        description=entry.description,
        nodes=nodes,
        hops=tuple(hops),
        conditions=tuple(conditions),
        pivot=pivot,
        weight=weight,
        recency=recency,
        sentence=entry.sentence,
        share_of=entry.share_of,
        counts_once=entry.counts_once,
        unreached=entry.unreached,
        half_lives=tuple(table.items()),
    )
    if built.counts_once is not None and built.crossing():
        raise ValueError("counts_once cannot be combined with an 'x != y' across the pivot")
    if len(built.crossing()) > 1:
        raise ValueError("at most one 'x != y' condition may compare the two sides of the pivot")
    return built


def _value(op: str, raw: str, text: str) -> Any:
    if op == "within":
        m = _DAYS.match(raw)
        if not m:
            raise ValueError(f"condition {text!r}: 'within' takes days, like 30d")
        return int(m["n"])
    if op in ("in", "not in"):
        items = [v.strip() for v in raw.strip("[]").split(",") if v.strip()]
        if not items:
            raise ValueError(f"condition {text!r}: 'in' takes a list like [a, b]")
        return [_literal(v) for v in items]
    return _literal(raw)


def _literal(raw: str) -> Any:
    if raw in ("true", "false"):
        return raw == "true"
    try:
        return float(raw) if "." in raw else int(raw)
    except ValueError:
        return raw.strip("'\"")
