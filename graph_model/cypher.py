"""Cypher text, built only from fixed fragments and registry identifiers.

Nothing from data becomes Cypher syntax: values travel as parameters, and the
only non-literal text that enters a query is a label, relationship type or
property name that (1) is registered in the schema registry and (2) matches
``IDENTIFIER_PATTERN`` here again, then is backtick-quoted. ``ident`` is the
single place where a checked ``str`` becomes a ``LiteralString``; pyright
enforces the driver's ``LiteralString`` query type everywhere else.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import LiteralString, cast

from graph_model.errors import IdentifierRejected
from graph_model.schema import IDENTIFIER_PATTERN, EdgeSpec, FieldSpec, NodeSpec, SchemaRegistry
from graph_model.store import Filter

TWOLOOP_SCHEMA_PREFIX = "twoloop_"


def ident(name: str, *, allowed: Collection[str]) -> LiteralString:
    """Quote a registry identifier for Cypher; anything else is rejected."""
    if name not in allowed:
        raise IdentifierRejected(name, "not in the schema registry")
    if not IDENTIFIER_PATTERN.match(name):
        raise IdentifierRejected(name, "does not match " + IDENTIFIER_PATTERN.pattern)
    return cast(LiteralString, "`" + name + "`")


class Cypher:
    """Query texts for one schema registry."""

    def __init__(self, registry: SchemaRegistry) -> None:
        self.registry = registry

    def label(self, label: str) -> LiteralString:
        return ident(label, allowed=self.registry.nodes)

    def rel(self, rel_type: str) -> LiteralString:
        return ident(rel_type, allowed=self.registry.edges)

    def prop(self, fields: Collection[str], name: str) -> LiteralString:
        return ident(name, allowed=fields)

    def key(self, spec: NodeSpec) -> LiteralString:
        return self.prop(spec.fields, spec.key)

    # ---------------------------------------------------------- schema

    def unique_constraint(self, spec: NodeSpec) -> tuple[str, LiteralString]:
        name = f"twoloop_{spec.label}_key"
        query = (
            "CREATE CONSTRAINT "
            + ident(name, allowed={name})
            + " IF NOT EXISTS FOR (n:"
            + self.label(spec.label)
            + ") REQUIRE n."
            + self.key(spec)
            + " IS UNIQUE"
        )
        return name, query

    def drop_schema(self, name: str, *, constraint: bool) -> LiteralString:
        """Drop one of our own (``twoloop_``-named) constraints or indexes."""
        if not name.startswith(TWOLOOP_SCHEMA_PREFIX):
            raise IdentifierRejected(name, "only twoloop_* schema objects are dropped")
        kind: LiteralString = "CONSTRAINT " if constraint else "INDEX "
        return "DROP " + kind + ident(name, allowed={name}) + " IF EXISTS"

    def property_index(self, spec: NodeSpec, field: str) -> tuple[str, LiteralString]:
        name = f"twoloop_{spec.label}_{field}"
        query = (
            "CREATE INDEX "
            + ident(name, allowed={name})
            + " IF NOT EXISTS FOR (n:"
            + self.label(spec.label)
            + ") ON (n."
            + self.prop(spec.fields, field)
            + ")"
        )
        return name, query

    # ---------------------------------------------------------- writes

    def merge_nodes(self, spec: NodeSpec) -> LiteralString:
        return (
            "UNWIND $rows AS row MERGE (n:"
            + self.label(spec.label)
            + " {"
            + self.key(spec)
            + ": row."
            + self.key(spec)
            + "}) SET n = row"
            + self._temporal_sets("n", "row", spec.fields)
            + " RETURN count(*) AS written"
        )

    def merge_edges(self, spec: EdgeSpec, src: NodeSpec, dst: NodeSpec) -> LiteralString:
        merge_props: LiteralString = ""
        if spec.merge_on:
            parts: list[LiteralString] = [
                self.prop(spec.fields, m) + ": row.props." + self.prop(spec.fields, m)
                for m in spec.merge_on
            ]
            merge_props = " {" + ", ".join(parts) + "}"
        return (
            "UNWIND $rows AS row "
            "MATCH (a:" + self.label(src.label) + " {" + self.key(src) + ": row.src}) "
            "MATCH (b:" + self.label(dst.label) + " {" + self.key(dst) + ": row.dst}) "
            "MERGE (a)-[r:" + self.rel(spec.type) + merge_props + "]->(b) "
            "SET r = row.props" + self._temporal_sets("r", "row.props", spec.fields) + " "
            "RETURN count(*) AS written"
        )

    def _temporal_sets(
        self, var: LiteralString, source: LiteralString, fields: dict[str, FieldSpec]
    ) -> LiteralString:
        """Temporal properties travel as ISO-8601 text (the driver encodes native
        datetimes ~10x slower) and become DATETIME/DATE values here."""
        sets: list[LiteralString] = []
        for name, field in fields.items():
            function = _TEMPORAL.get(field.kind)
            if function is not None:
                prop = self.prop(fields, name)
                sets.append(var + "." + prop + " = " + function + "(" + source + "." + prop + ")")
        return (" SET " + ", ".join(sets)) if sets else ""

    # Every data write ends by counting itself here, as its last statement, so the
    # node's lock is held only while the transaction commits and no lock cycle can
    # form. Concurrent first writes may MERGE two such nodes: readers sum them.
    BUMP_VERSION: LiteralString = (
        "MERGE (v:TwoloopDataVersion {id: 'data'}) SET v.n = coalesce(v.n, 0) + 1"
    )
    READ_VERSION: LiteralString = "MATCH (v:TwoloopDataVersion) RETURN coalesce(sum(v.n), 0) AS n"

    def locked_value(self, spec: NodeSpec, field: str) -> LiteralString:
        """One node's property, read after taking the node's write lock (a throwaway
        SET), so a concurrent compare-and-set waits for ours and then sees its result."""
        return (
            "MATCH (n:"
            + self.label(spec.label)
            + " {"
            + self.key(spec)
            + ": $key}) SET n.twoloop_lock = true REMOVE n.twoloop_lock RETURN n."
            + self.prop(spec.fields, field)
            + " AS value"
        )

    def reserved_value(self, spec: NodeSpec, field: str) -> LiteralString:
        """Like ``locked_value`` for a node that may not exist yet: MERGE reserves the
        key (the uniqueness constraint makes a concurrent MERGE of it wait for our
        commit), and ``created`` says whether it was absent. The batch then writes
        the node's properties in the same transaction."""
        return (
            "MERGE (n:"
            + self.label(spec.label)
            + " {"
            + self.key(spec)
            + ": $key}) ON CREATE SET n.twoloop_new = true"
            " WITH n SET n.twoloop_lock = true REMOVE n.twoloop_lock"
            " WITH n, coalesce(n.twoloop_new, false) AS created REMOVE n.twoloop_new"
            " RETURN created, n." + self.prop(spec.fields, field) + " AS value"
        )

    def missing_keys(self, spec: NodeSpec) -> LiteralString:
        return (
            "UNWIND $keys AS k OPTIONAL MATCH (n:"
            + self.label(spec.label)
            + " {"
            + self.key(spec)
            + ": k}) WITH k, n WHERE n IS NULL RETURN k"
        )

    def delete_nodes(self, spec: NodeSpec) -> LiteralString:
        return (
            "UNWIND $keys AS k MATCH (n:"
            + self.label(spec.label)
            + " {"
            + self.key(spec)
            + ": k}) DETACH DELETE n RETURN count(*) AS deleted"
        )

    def delete_edges(self, spec: EdgeSpec, src: NodeSpec, dst: NodeSpec) -> LiteralString:
        where: LiteralString = ""
        if spec.merge_on:
            conds: list[LiteralString] = [
                "r." + self.prop(spec.fields, m) + " = row." + self.prop(spec.fields, m)
                for m in spec.merge_on
            ]
            where = " WHERE " + " AND ".join(conds)
        return (
            "UNWIND $rows AS row MATCH (a:"
            + self.label(src.label)
            + " {"
            + self.key(src)
            + ": row.src})-[r:"
            + self.rel(spec.type)
            + "]->(b:"
            + self.label(dst.label)
            + " {"
            + self.key(dst)
            + ": row.dst})"
            + where
            + " DELETE r RETURN count(*) AS deleted"
        )

    # ---------------------------------------------------------- reads

    def _match_keys(self, spec: NodeSpec) -> LiteralString:
        return "MATCH (n:" + self.label(spec.label) + ") WHERE n." + self.key(spec) + " IN $keys"

    def column(
        self, alias: LiteralString, fields: dict[str, FieldSpec], name: str
    ) -> LiteralString:
        """One property as a column value. Temporal values travel as numbers
        (microseconds or days since 1970), which polars turns into dates in bulk: the
        driver would build one Python object per value, which costs more than the
        query itself."""
        ref = alias + "." + self.prop(fields, name)
        kind = fields[name].kind
        if kind == "datetime":
            # epochMillis is floored; epochSeconds is truncated toward zero.
            return ref + ".epochMillis * 1000 + (" + ref + ".nanosecond / 1000) % 1000"
        if kind == "date":
            return "duration.inDays(date('1970-01-01'), " + ref + ").days"
        return ref

    def node_rows(self, spec: NodeSpec, fields: Sequence[str] | None = None) -> LiteralString:
        """Nodes by key as one record: ``rows``, a list of [field, ...] in the order of
        ``fields`` (default: ``spec.fields``; one record instead of one per node: the
        driver's cost is per record). Field names are checked against the registry."""
        names = list(spec.fields) if fields is None else list(fields)
        columns = ", ".join(self.column("n", spec.fields, name) for name in names)
        return self._match_keys(spec) + " RETURN collect([" + columns + "]) AS rows"

    def edge_rows(
        self, spec: EdgeSpec, src: NodeSpec, dst: NodeSpec, at_src: bool, at_dst: bool
    ) -> LiteralString:
        """Edges between two labels as one record: ``rows``, a list of [src key, dst
        key, field, ...] in the order of ``spec.fields``."""
        conds: list[LiteralString] = []
        if at_src:
            conds.append("a." + self.key(src) + " IN $keys")
        if at_dst:
            conds.append("b." + self.key(dst) + " IN $keys")
        where: LiteralString = (" WHERE " + " OR ".join(conds)) if conds else ""
        src_key: LiteralString = "a." + self.key(src)
        dst_key: LiteralString = "b." + self.key(dst)
        columns: list[LiteralString] = [src_key, dst_key]
        for name in spec.fields:
            columns.append(self.column("r", spec.fields, name))
        return (
            "MATCH (a:"
            + self.label(src.label)
            + ")-[r:"
            + self.rel(spec.type)
            + "]->(b:"
            + self.label(dst.label)
            + ")"
            + where
            + " RETURN collect(["
            + ", ".join(columns)
            + "]) AS rows"
        )

    def keys_present(self, spec: NodeSpec) -> LiteralString:
        return self._match_keys(spec) + " RETURN n." + self.key(spec) + " AS k"

    def nodes_where(
        self,
        spec: NodeSpec,
        filters: Sequence[Filter],
        limited: bool,
        fields: Sequence[str] | None = None,
    ) -> LiteralString:
        """Nodes matching every filter as one record: ``rows``, a list of [field, ...]
        in the order of ``fields`` (default: ``spec.fields``), checked against the
        registry."""
        conds: list[LiteralString] = []
        for i, f in enumerate(filters):
            col = "n." + self.prop(spec.fields, f.field)
            param = _PARAMS[i]
            if f.op == "eq" and f.value is None:
                conds.append(col + " IS NULL")
            elif f.op == "ne" and f.value is None:
                conds.append(col + " IS NOT NULL")
            elif f.op in ("ne", "not_in"):
                test: LiteralString = " <> " if f.op == "ne" else " IN "
                negate: LiteralString = "" if f.op == "ne" else "NOT "
                conds.append("(" + negate + col + test + param + " OR " + col + " IS NULL)")
            elif f.op in ("is_null", "not_null"):
                conds.append(col + (" IS NULL" if f.op == "is_null" else " IS NOT NULL"))
            else:
                conds.append(col + _OPERATORS[f.op] + param)
        where: LiteralString = (" WHERE " + " AND ".join(conds)) if conds else ""
        tail: LiteralString = (
            " WITH n ORDER BY n." + self.key(spec) + " LIMIT $limit" if limited else ""
        )
        names = list(spec.fields) if fields is None else list(fields)
        columns = ", ".join(self.column("n", spec.fields, name) for name in names)
        return (
            "MATCH (n:"
            + self.label(spec.label)
            + ")"
            + where
            + tail
            + " RETURN collect(["
            + columns
            + "]) AS rows"
        )

    def count_nodes(self, label: str) -> LiteralString:
        return "MATCH (n:" + self.label(label) + ") RETURN count(n) AS c"

    def count_edges(self, rel_type: str) -> LiteralString:
        return "MATCH ()-[r:" + self.rel(rel_type) + "]->() RETURN count(r) AS c"

    def incident_edges(self, spec: NodeSpec) -> LiteralString:
        # $labels/$types/$keymap are parameters: nodes and edges outside the registry
        # (other applications' data in a shared database) are ignored.
        return (
            "MATCH (n:"
            + self.label(spec.label)
            + ")-[r]-(m) WHERE n."
            + self.key(spec)
            + " IN $keys AND type(r) IN $types "
            "WITH n, r, m, [l IN labels(m) WHERE l IN $labels][0] AS m_label "
            "WHERE m_label IS NOT NULL "
            "RETURN type(r) AS type, startNode(r) = n AS outgoing, n."
            + self.key(spec)
            + " AS key, m_label, m[$keymap[m_label]] AS m_key, properties(r) AS props"
        )


_TEMPORAL: dict[str, LiteralString] = {"datetime": "datetime", "date": "date"}

_OPERATORS: dict[str, LiteralString] = {
    "eq": " = ",
    "in": " IN ",
    "gt": " > ",
    "gte": " >= ",
    "lt": " < ",
    "lte": " <= ",
}
_PARAMS: tuple[LiteralString, ...] = tuple(cast(LiteralString, f"$p{i}") for i in range(64))
