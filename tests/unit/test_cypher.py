"""Query text comes only from fixed fragments and registry identifiers."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from graph_model.cypher import Cypher, ident
from graph_model.errors import IdentifierRejected
from graph_model.schema import REGISTRY
from graph_model.store import Filter
from tests.integration.test_store_contract import INJECTION_PAYLOADS

REPO = Path(__file__).resolve().parents[2]
cypher = Cypher(REGISTRY)


@pytest.mark.parametrize("payload", [*INJECTION_PAYLOADS, "Account`) DETACH DELETE n //"])
def test_ident_rejects_anything_but_registry_names(payload: str) -> None:
    with pytest.raises(IdentifierRejected):
        ident(payload, allowed=REGISTRY.nodes)
    with pytest.raises(IdentifierRejected):
        ident(payload, allowed={payload})  # even when someone "allows" it


def test_builder_refuses_unregistered_labels_and_fields() -> None:
    with pytest.raises(IdentifierRejected):
        cypher.label("Acount")
    with pytest.raises(IdentifierRejected):
        cypher.nodes_where(REGISTRY.node("Account"), [Filter("name`) //", "eq", 1)], False)


def test_filters_become_parameters() -> None:
    query = cypher.nodes_where(
        REGISTRY.node("Account"),
        [Filter("tier", "in", ["A"]), Filter("employees", "gte", 5), Filter("country", "is_null")],
        limited=True,
    )
    assert query.startswith(
        "MATCH (n:`Account`) WHERE n.`tier` IN $p0 AND n.`employees` >= $p1 AND "
        "n.`country` IS NULL WITH n ORDER BY n.`account_id` LIMIT $limit "
        "RETURN collect([n.`account_id`, n.`name`, "
    )
    # Times travel as microseconds since 1970 (floored), decoded by polars in bulk.
    assert query.endswith(
        "n.`updated_at`.epochMillis * 1000 + (n.`updated_at`.nanosecond / 1000) % 1000]) AS rows"
    )


def test_dates_travel_as_days_since_1970() -> None:
    spec = REGISTRY.edge("PREVIOUSLY_AT")
    query = cypher.edge_rows(
        spec, REGISTRY.node("Person"), REGISTRY.node("Account"), at_src=True, at_dst=False
    )
    assert query == (
        "MATCH (a:`Person`)-[r:`PREVIOUSLY_AT`]->(b:`Account`) WHERE a.`person_id` IN $keys "
        "RETURN collect([a.`person_id`, b.`account_id`, r.`title`, "
        "duration.inDays(date('1970-01-01'), r.`until`).days, r.`championed`]) AS rows"
    )


def test_neo4j_adapter_passes_only_builder_output_or_constants_as_queries() -> None:
    """Every .run()/execute_query() in the adapter gets a literal, a Cypher-builder
    result or one of the builder's constant queries."""
    source = (REPO / "graph_model" / "neo4j_store.py").read_text()
    tree = ast.parse(source)
    checked = 0
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if node.func.attr not in {"run", "execute_query", "_read"} or not node.args:
            continue
        query = node.args[0]
        checked += 1
        if isinstance(query, ast.Constant) and isinstance(query.value, str):
            continue
        if isinstance(query, ast.Call) and isinstance(query.func, ast.Attribute):
            owner = query.func.value
            if isinstance(owner, ast.Attribute) and owner.attr == "cypher":
                continue
        if (
            isinstance(query, ast.Attribute)
            and isinstance(query.value, ast.Attribute)
            and query.value.attr == "cypher"
            and query.attr.isupper()
        ):
            continue  # a constant query of the builder (self.cypher.BUMP_VERSION)
        if isinstance(query, ast.Name):
            continue  # bound from the builder: covered by the JoinedStr check below
        pytest.fail(f"line {node.lineno}: query argument is {ast.dump(query)[:80]}")
    assert checked >= 8
    for node in ast.walk(tree):
        assert not isinstance(node, ast.JoinedStr) or not any(
            "MATCH" in ast.unparse(part) or "MERGE" in ast.unparse(part) for part in node.values
        ), f"line {node.lineno}: an f-string builds Cypher"
