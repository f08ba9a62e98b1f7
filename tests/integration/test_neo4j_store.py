"""What only the Neo4j store has: constraints, query hygiene, routing, error mapping."""

from __future__ import annotations

from typing import Any

import neo4j
import polars as pl
import pytest

from app.example_graph import load_example_graph
from graph_model import connect
from graph_model.errors import StoreCorrupt, StoreUnavailable
from graph_model.settings import Settings
from graph_model.store import Filter, GraphStore
from graph_model.validation import validate_edges
from tests.integration.test_store_contract import INJECTION_PAYLOADS


class QuerySpy:
    """Records every query the real driver is handed, with its parameters."""

    def __init__(self) -> None:
        self.reads: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
        self.tx_runs: list[tuple[str, dict[str, Any]]] = []
        self.sessions: list[dict[str, Any]] = []

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        spy = self
        real_execute = neo4j.Driver.execute_query
        real_run = neo4j.ManagedTransaction.run
        real_session = neo4j.Driver.session

        def execute_query(driver: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
            spy.reads.append((str(query), dict(kwargs.get("parameters_") or {}), kwargs))
            return real_execute(driver, query, *args, **kwargs)

        def run(tx: Any, query: Any, parameters: Any = None, **kwargs: Any) -> Any:
            spy.tx_runs.append((str(query), {**(parameters or {}), **kwargs}))
            return real_run(tx, query, parameters, **kwargs)

        def session(driver: Any, **kwargs: Any) -> Any:
            spy.sessions.append(kwargs)
            return real_session(driver, **kwargs)

        monkeypatch.setattr(neo4j.Driver, "execute_query", execute_query)
        monkeypatch.setattr(neo4j.ManagedTransaction, "run", run)
        monkeypatch.setattr(neo4j.Driver, "session", session)

    @property
    def texts(self) -> list[str]:
        return [q for q, _, _ in self.reads] + [q for q, _ in self.tx_runs]


def _flatten(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _flatten(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _flatten(v)]
    return []


def test_no_query_text_is_built_from_data(
    neo4j_store: GraphStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = QuerySpy()
    spy.install(monkeypatch)
    load_example_graph(neo4j_store)
    # A tag no query fragment contains, so finding it in query text means data leaked there.
    payloads = [f"TAGxq{i}{p}" for i, p in enumerate(INJECTION_PAYLOADS)]
    for payload in payloads:
        neo4j_store.upsert_nodes("Account", [{"account_id": payload, "name": payload}])
        neo4j_store.upsert_nodes("Person", [{"person_id": payload, "full_name": payload}])
        neo4j_store.upsert_edges("WORKS_AT", [{"src": payload, "dst": payload, "title": payload}])
        neo4j_store.nodes(
            "Account", [Filter("name", "eq", payload), Filter("tier", "ne", payload)], limit=3
        )
        neo4j_store.edges("WORKS_AT", [payload], side="source", label="Person")
        neo4j_store.neighborhood("Person", payload, hops=2)
        neo4j_store.delete_edges("WORKS_AT", [{"src": payload, "dst": payload}])
        neo4j_store.delete_nodes("Person", [payload])
    neo4j_store.counts()

    assert spy.texts, "the spy saw no queries"
    sent_values = {s for _, params, _ in spy.reads for s in _flatten(params)}
    sent_values |= {s for _, params in spy.tx_runs for s in _flatten(params)}
    for payload in payloads:
        assert payload in sent_values, "payloads must travel as parameters"
    for text in spy.texts:
        assert "TAGxq" not in text
    # Data values of the example graph never appear in query text either.
    for text in spy.texts:
        for value in ("acc-acme", "Acme Freight", "p-maya", "sig-acme-hiring"):
            assert value not in text


def test_every_query_names_the_database_and_reads_route_to_readers(
    neo4j_store: GraphStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = QuerySpy()
    spy.install(monkeypatch)
    load_example_graph(neo4j_store)
    neo4j_store.nodes("Account", {"tier": "A"})
    neo4j_store.edges("OWNS")
    neo4j_store.get_nodes("Person", ["p-maya"])
    neo4j_store.counts()
    neo4j_store.neighborhood("Account", "acc-acme")
    assert spy.reads and spy.sessions
    for _, _, kwargs in spy.reads:
        assert kwargs.get("database_") == "neo4j"
        assert kwargs.get("routing_") == neo4j.RoutingControl.READ
    for kwargs in spy.sessions:
        assert kwargs.get("database") == "neo4j"


def test_writes_are_unwind_batches_of_the_configured_size(
    neo4j_uri: str, neo4j_store: GraphStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = QuerySpy()
    spy.install(monkeypatch)
    with connect(neo4j_uri, settings=Settings(batch_size=7, neo4j_write_workers=1)) as store:
        store.upsert_nodes("Account", [{"account_id": f"a{i}", "name": "A"} for i in range(30)])
        assert store.counts().nodes["Account"] == 30
    merges = [params for q, params in spy.tx_runs if q.startswith("UNWIND $rows AS row MERGE")]
    assert [len(p["rows"]) for p in merges] == [7, 7, 7, 7, 2]


def test_edge_lanes_never_share_a_source_and_take_targets_in_order(
    neo4j_uri: str, neo4j_store: GraphStore
) -> None:
    from graph_model.neo4j_store import Neo4jStore

    store = neo4j_store
    assert isinstance(store, Neo4jStore)
    frame = pl.DataFrame(
        {
            "src": [f"p{i % 37}" for i in range(500)],
            "dst": [f"a{(i * 7) % 101}" for i in range(500)],
        }
    ).unique()
    works_at = validate_edges(store.registry.edge("WORKS_AT"), frame)
    lanes = store._edge_lanes(store.registry.edge("WORKS_AT"), works_at)
    assert len(lanes) == 2 and sum(lane.height for lane in lanes) == works_at.height
    assert not set(lanes[0]["src"]) & set(lanes[1]["src"])
    for lane in lanes:
        assert lane["dst"].to_list() == sorted(lane["dst"].to_list())
    reports = validate_edges(
        store.registry.edge("REPORTS_TO"),
        frame.with_columns(
            pl.lit("Person").alias("src_label"), pl.lit("Person").alias("dst_label")
        ),
    )
    assert len(store._edge_lanes(store.registry.edge("REPORTS_TO"), reports)) == 1


def test_concurrent_writers_land_every_row(neo4j_uri: str, neo4j_store: GraphStore) -> None:
    people = [{"person_id": f"p{i}", "full_name": "P"} for i in range(600)]
    accounts = [{"account_id": f"a{i}", "name": "A"} for i in range(40)]
    edges = [{"src": f"p{i}", "dst": f"a{(i * 13) % 40}"} for i in range(600)]
    with connect(neo4j_uri, settings=Settings(batch_size=25, neo4j_write_workers=3)) as store:
        store.upsert_nodes("Person", people)
        store.upsert_nodes("Account", accounts)
        assert store.upsert_edges("WORKS_AT", edges) == 600
    counts = neo4j_store.counts()
    assert (counts.nodes["Person"], counts.nodes["Account"], counts.edges["WORKS_AT"]) == (
        600,
        40,
        600,
    )


def test_constraints_and_indexes_come_from_the_registry(neo4j_store: GraphStore) -> None:
    with neo4j.GraphDatabase.driver(neo4j_store.uri) as driver:
        names = {
            r["name"]
            for r in driver.execute_query(
                "SHOW CONSTRAINTS YIELD name RETURN name", database_="neo4j"
            ).records
        }
        indexes = {
            r["name"]
            for r in driver.execute_query(
                "SHOW INDEXES YIELD name RETURN name", database_="neo4j"
            ).records
        }
        assert {f"twoloop_{label}_key" for label in neo4j_store.registry.nodes} <= names
        assert "twoloop_Account_domain" in indexes
        neo4j_store.upsert_nodes("Account", [{"account_id": "a1", "name": "A"}])
        with pytest.raises(neo4j.exceptions.ConstraintError):
            driver.execute_query(
                "CREATE (:Account {account_id: 'a1', name: 'dup'})", database_="neo4j"
            )


def test_unreachable_server_is_a_transient_store_error() -> None:
    with pytest.raises(StoreUnavailable) as caught:
        connect("bolt://127.0.0.1:9")
    assert caught.value.transient
    assert "127.0.0.1:9" in str(caught.value)


def _deadlock() -> neo4j.exceptions.Neo4jError:
    # The driver builds server errors this way; a deadlock is the classic retryable one.
    return neo4j.exceptions.Neo4jError._hydrate_neo4j(
        code="Neo.TransientError.Transaction.DeadlockDetected", message="deadlock (injected)"
    )


def test_transient_errors_are_retried_in_managed_transactions(
    neo4j_store: GraphStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_run = neo4j.ManagedTransaction.run
    failures = {"left": 2}

    def flaky_run(tx: Any, query: Any, parameters: Any = None, **kwargs: Any) -> Any:
        if str(query).startswith("UNWIND $rows AS row MERGE") and failures["left"]:
            failures["left"] -= 1
            raise _deadlock()
        return real_run(tx, query, parameters, **kwargs)

    monkeypatch.setattr(neo4j.ManagedTransaction, "run", flaky_run)
    assert neo4j_store.upsert_nodes("Account", [{"account_id": "a1", "name": "A"}]) == 1
    assert failures["left"] == 0
    assert neo4j_store.counts().nodes["Account"] == 1


def test_transient_errors_that_outlast_the_retry_window_are_typed(
    neo4j_uri: str, neo4j_store: GraphStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def always_deadlocked(tx: Any, query: Any, parameters: Any = None, **kwargs: Any) -> Any:
        raise _deadlock()

    with connect(neo4j_uri, settings=Settings(neo4j_retry_seconds=0.5)) as store:
        monkeypatch.setattr(neo4j.ManagedTransaction, "run", always_deadlocked)
        with pytest.raises(StoreUnavailable, match="deadlock") as caught:
            store.upsert_nodes("Account", [{"account_id": "a1", "name": "A"}])
        monkeypatch.undo()
    assert caught.value.transient
    assert neo4j_store.counts().nodes["Account"] == 0


def test_ensure_schema_drops_only_our_stale_indexes(neo4j_store: GraphStore) -> None:
    with neo4j.GraphDatabase.driver(neo4j_store.uri) as driver:
        for query in (
            "CREATE INDEX twoloop_Account_stale IF NOT EXISTS FOR (n:Account) ON (n.stale)",
            "CREATE INDEX analyst_own_index IF NOT EXISTS FOR (n:Account) ON (n.score)",
        ):
            driver.execute_query(query, database_="neo4j")
        try:
            done = neo4j_store.ensure_schema()
            names = {
                r["name"]
                for r in driver.execute_query(
                    "SHOW INDEXES YIELD name RETURN name", database_="neo4j"
                ).records
            }
        finally:
            driver.execute_query("DROP INDEX analyst_own_index IF EXISTS", database_="neo4j")
    assert "dropped index twoloop_Account_stale (no longer in the schema registry)" in done
    assert "twoloop_Account_stale" not in names
    assert "analyst_own_index" in names


def test_a_property_of_the_wrong_type_is_reported_not_guessed(neo4j_store: GraphStore) -> None:
    """Data written around twoloop (a string where the registry says int) fails the
    read with the store named, instead of turning into a silent null."""
    neo4j_store.upsert_nodes("Account", [{"account_id": "a1", "name": "A", "employees": 5}])
    with neo4j.GraphDatabase.driver(neo4j_store.uri) as driver:
        driver.execute_query("MATCH (a:Account {account_id: 'a1'}) SET a.employees = 'many'")
    with pytest.raises(StoreCorrupt, match="does not have the type the schema registry gives it"):
        neo4j_store.get_nodes("Account", ["a1"])
