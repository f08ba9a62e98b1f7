"""The GraphStore contract, written once and run on the embedded store and on Neo4j."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from app.example_graph import load_example_graph
from graph_model import vocabulary as v
from graph_model.embedded import EmbeddedStore
from graph_model.errors import MissingEndpoints, RecordRejected, SchemaError, WriteConflict
from graph_model.store import Filter, GraphStore, NotFound, connect

UTC = dt.UTC
T0 = dt.datetime(2026, 11, 2, 9, 30, tzinfo=UTC)

INJECTION_PAYLOADS = [
    'O\'Reilly "quoted"',
    "back`tick`",
    "}) DETACH DELETE n //",
    "'}) MATCH (m) DETACH DELETE m RETURN 1 //",
    "$rows",
    "\\u0027; DROP CONSTRAINT twoloop_Account_key",
    "Zoë 北京 🚀 \u202e",
    "line\nbreak\ttab",
]


def _accounts(*ids: str, **extra: object) -> list[dict[str, object]]:
    return [{"account_id": i, "name": f"Account {i}", **extra} for i in ids]


def _signal(signal_id: str, **extra: object) -> dict[str, object]:
    return {
        "signal_id": signal_id,
        "kind": "hiring",
        "occurred_at": T0,
        "source": "careers",
        **extra,
    }


def test_ensure_schema_is_idempotent(store: GraphStore) -> None:
    again = store.ensure_schema()
    assert not [a for a in again if a.startswith("created")]


def test_node_round_trip_keeps_types(store: GraphStore) -> None:
    berlin = dt.datetime(2026, 11, 2, 11, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    store.upsert_nodes("Signal", [_signal("s1", occurred_at=berlin, strength=0.25, text="hi")])
    store.upsert_nodes(
        "Need",
        [
            {"need_id": "n1", "name": "Pipelines", "phrases": ["a", "b"]},
            {"need_id": "n2", "name": "Quiet"},
            {"need_id": "n3", "name": "Empty", "phrases": []},
        ],
    )
    store.upsert_nodes(
        "Opportunity",
        [
            {
                "opportunity_id": "o1",
                "name": "Deal",
                "stage": "Won",
                "status": "won",
                "close_date": dt.date(2026, 3, 1),
                "amount": 100,
            }
        ],
    )
    store.upsert_nodes("Person", [{"person_id": "p1", "full_name": "P", "do_not_contact": True}])
    signal = store.get_nodes("Signal", ["s1"]).row(0, named=True)
    assert signal["occurred_at"] == berlin
    assert signal["occurred_at"].utcoffset() == dt.timedelta(0)
    assert signal["strength"] == 0.25 and signal["kind"] == "hiring"
    needs = store.get_nodes("Need", ["n1", "n2", "n3"])["phrases"].to_list()
    assert needs == [["a", "b"], [], []]  # a list is never null
    nulls = pl.DataFrame(
        {"need_id": ["n4"], "name": ["Null"], "phrases": [None]},
        schema={"need_id": pl.String, "name": pl.String, "phrases": pl.List(pl.String)},
    )
    store.upsert_nodes("Need", nulls)
    assert store.get_nodes("Need", ["n4"])["phrases"].to_list() == [[]]
    opp = store.get_nodes("Opportunity", ["o1"]).row(0, named=True)
    assert opp["close_date"] == dt.date(2026, 3, 1) and opp["amount"] == 100.0
    person = store.get_nodes("Person", ["p1"]).row(0, named=True)
    assert person["do_not_contact"] is True and person["email"] is None


@pytest.mark.parametrize(
    "when",
    [
        dt.datetime(2026, 11, 1, 1, 2, 3, 123456, tzinfo=dt.UTC),
        dt.datetime(1960, 11, 1, 1, 2, 3, 123456, tzinfo=dt.UTC),  # before 1970
        dt.datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=dt.UTC),
        dt.datetime(2026, 3, 29, 3, 30, tzinfo=dt.timezone(dt.timedelta(hours=2))),
    ],
)
def test_times_and_dates_read_back_exactly_on_every_read_path(
    store: GraphStore, when: dt.datetime
) -> None:
    """Every read (by key, by filter, edges touching keys, whole tables) gives back the
    same instant to the microsecond and the same day, nulls as nulls."""
    store.upsert_nodes(
        "Signal",
        [
            {"signal_id": "s1", "kind": "news", "occurred_at": when, "source": "t"},
            {"signal_id": "s2", "kind": "news", "occurred_at": when, "source": "t", "url": None},
        ],
    )
    store.upsert_nodes("Account", _accounts("a1"))
    store.upsert_nodes("Person", [{"person_id": "p1", "full_name": "P"}])
    store.upsert_edges("PREVIOUSLY_AT", [{"src": "p1", "dst": "a1", "until": when.date()}])
    by_key = store.get_nodes("Signal", ["s1", "s2"])["occurred_at"].to_list()
    by_filter = store.nodes("Signal", {"kind": "news"})["occurred_at"].to_list()
    assert by_key == by_filter == [when, when]
    assert store.nodes("Signal", {"kind": "news"}, limit=1)["signal_id"].to_list() == ["s1"]
    for touching in (["p1"], None):
        until = store.edges("PREVIOUSLY_AT", touching, side="source")["until"].to_list()
        assert until == [when.date()]
    store.upsert_edges("PREVIOUSLY_AT", [{"src": "p1", "dst": "a1", "until": None}])
    assert store.edges("PREVIOUSLY_AT", ["a1"], side="target")["until"].to_list() == [None]


def test_upsert_merges_on_key_and_replaces_properties(store: GraphStore) -> None:
    store.upsert_nodes("Account", _accounts("a1", "a2", tier="A", country="US"))
    store.upsert_nodes("Account", [{"account_id": "a1", "name": "Renamed", "tier": "B"}])
    assert store.counts().nodes["Account"] == 2
    row = store.get_nodes("Account", ["a1"]).row(0, named=True)
    assert (row["name"], row["tier"], row["country"]) == ("Renamed", "B", None)
    assert store.get_nodes("Account", ["a2"])["country"].to_list() == ["US"]


def test_duplicate_keys_in_one_batch_last_wins(store: GraphStore) -> None:
    written = store.upsert_nodes(
        "Account", [{"account_id": "a1", "name": "First"}, {"account_id": "a1", "name": "Last"}]
    )
    assert written == 1
    assert store.get_nodes("Account", ["a1"])["name"].to_list() == ["Last"]


def test_existing_keys_reads_keys_only_across_writes_and_deletes(store: GraphStore) -> None:
    assert store.existing_keys("Account", ["a1"]) == set()
    store.upsert_nodes("Account", _accounts("a1", "a2"))
    store.upsert_nodes("Account", _accounts("a3"))  # a second write (embedded: a new segment)
    store.delete_nodes("Account", ["a2"])
    assert store.existing_keys("Account", ["a1", "a2", "a3", "zz", "a1"]) == {"a1", "a3"}
    assert store.existing_keys("Account", []) == set()
    assert store.existing_keys("Person", ["a1"]) == set()  # keys are per label


def test_models_and_frames_are_accepted(store: GraphStore) -> None:
    store.upsert_nodes("Account", [v.Account(account_id="m1", name="Model")])
    frame = pl.DataFrame(
        {"account_id": ["f1", "f2"], "name": ["F1", "F2"], "employees": [10, None]}
    )
    store.upsert_nodes("Account", frame)
    assert store.nodes("Account")["account_id"].to_list() == ["f1", "f2", "m1"]


def test_edges_merge_and_merge_on(store: GraphStore) -> None:
    store.upsert_nodes("Signal", [_signal("s1")])
    store.upsert_nodes("Need", [{"need_id": "n1", "name": "N"}])
    store.upsert_edges(
        "INDICATES", [{"src": "s1", "dst": "n1", "extractor": "rules", "confidence": 0.4}]
    )
    store.upsert_edges(
        "INDICATES", [{"src": "s1", "dst": "n1", "extractor": "rules", "confidence": 0.6}]
    )
    store.upsert_edges(
        "INDICATES",
        [
            {
                "src": "s1",
                "dst": "n1",
                "extractor": "claude",
                "confidence": 0.9,
                "evidence": "we keep failing",
            }
        ],
    )
    edges = store.edges("INDICATES")
    assert edges.select("extractor", "confidence").rows() == [("claude", 0.9), ("rules", 0.6)]
    assert store.counts().edges["INDICATES"] == 2


def test_missing_endpoints_are_named_and_nothing_is_written(store: GraphStore) -> None:
    store.upsert_nodes("Account", _accounts("a1"))
    store.upsert_nodes("Person", [{"person_id": "p1", "full_name": "P"}])
    with pytest.raises(MissingEndpoints) as caught:
        store.upsert_edges(
            "WORKS_AT",
            [
                {"src": "p1", "dst": "a1"},
                {"src": "ghost", "dst": "a1"},
                {"src": "p1", "dst": "nowhere"},
            ],
        )
    assert caught.value.missing == [("Account", "nowhere"), ("Person", "ghost")]
    assert "Person:'ghost'" in str(caught.value)
    assert store.counts().edges["WORKS_AT"] == 0


def test_missing_endpoint_in_a_chunked_call_writes_nothing(
    store_factory: Callable[..., GraphStore],
) -> None:
    store = store_factory(batch_size=4)
    store.upsert_nodes("Account", _accounts(*[f"a{i:02d}" for i in range(10)]))
    people = [{"person_id": f"p{i:02d}", "full_name": "P"} for i in range(10)]
    store.upsert_nodes("Person", people)
    edges = [{"src": f"p{i:02d}", "dst": f"a{i:02d}"} for i in range(10)]
    edges.append({"src": "p00", "dst": "a-missing"})
    with pytest.raises(MissingEndpoints):
        store.upsert_edges("WORKS_AT", edges)
    assert store.counts().edges["WORKS_AT"] == 0
    assert store.upsert_edges("WORKS_AT", edges[:-1]) == 10
    assert store.counts().edges["WORKS_AT"] == 10


def test_batch_is_all_or_nothing(store: GraphStore) -> None:
    store.upsert_nodes("Account", _accounts("keep"))
    with pytest.raises(MissingEndpoints), store.batch() as batch:
        batch.upsert_nodes("Account", _accounts("a1", "a2"))
        batch.upsert_nodes("Person", [{"person_id": "p1", "full_name": "P"}])
        batch.upsert_edges("WORKS_AT", [{"src": "p1", "dst": "a1"}])
        batch.upsert_edges("WORKS_AT", [{"src": "p1", "dst": "missing"}])
    assert store.counts().nodes["Account"] == 1
    assert store.counts().nodes["Person"] == 0

    with pytest.raises(RuntimeError), store.batch() as batch:
        batch.upsert_nodes("Account", _accounts("a3"))
        raise RuntimeError("caller failed mid-batch")
    assert store.nodes("Account")["account_id"].to_list() == ["keep"]


def test_batch_edges_may_point_at_nodes_of_the_same_batch(store: GraphStore) -> None:
    with store.batch() as batch:
        batch.upsert_nodes("Account", _accounts("a1"))
        batch.upsert_nodes("Person", [{"person_id": "p1", "full_name": "P"}])
        batch.upsert_edges("WORKS_AT", [{"src": "p1", "dst": "a1", "title": "CTO"}])
    assert store.edges("WORKS_AT")["title"].to_list() == ["CTO"]


def test_bad_records_are_rejected_naming_label_key_and_field(store: GraphStore) -> None:
    with pytest.raises(RecordRejected) as caught:
        store.upsert_nodes(
            "Account", [*_accounts("ok"), {"account_id": "a2", "name": "X", "tier": "Z"}]
        )
    err = caught.value
    assert (err.label, err.key, err.field, err.row) == ("Account", "a2", "tier", 1)
    with pytest.raises(SchemaError):
        store.upsert_nodes("Acount", _accounts("a1"))
    assert store.counts().nodes["Account"] == 0


def test_nodes_filters_and_limit(store: GraphStore) -> None:
    store.upsert_nodes(
        "Account",
        [
            {"account_id": "a1", "name": "A", "tier": "A", "employees": 100},
            {"account_id": "a2", "name": "B", "tier": "B", "employees": 5000},
            {"account_id": "a3", "name": "C", "tier": "C"},
            {"account_id": "a4", "name": "D", "tier": "A", "employees": 900},
        ],
    )

    def ids(where: object, limit: int | None = None) -> list[str]:
        return store.nodes("Account", where, limit=limit)["account_id"].to_list()  # type: ignore[arg-type]

    assert ids({"tier": "A"}) == ["a1", "a4"]
    assert ids({"tier": ["B", "C"]}) == ["a2", "a3"]
    assert ids([Filter("employees", "gte", 900)]) == ["a2", "a4"]
    assert ids([Filter("employees", "is_null")]) == ["a3"]
    assert ids([Filter("tier", "ne", "A")]) == ["a2", "a3"]
    assert ids([Filter("tier", "not_in", ["A"]), Filter("employees", "lt", 10_000)]) == ["a2"]
    assert ids(None, limit=2) == ["a1", "a2"]
    with pytest.raises(SchemaError):
        store.nodes("Account", {"no_such_field": 1})


def test_edges_touching_keys_by_side_and_label(store: GraphStore) -> None:
    load_example_graph(store)
    emitted = store.edges("EMITTED", ["acc-acme", "p-maya"])
    assert emitted.select("src_label", "src", "dst").rows() == [
        ("Account", "acc-acme", "sig-acme-hiring"),
        ("Person", "p-maya", "sig-maya-post"),
    ]
    assert store.edges("EMITTED", ["p-maya"], label="Account").height == 0
    assert store.edges("OWNS", ["acc-acme"], side="source").height == 0
    assert store.edges("OWNS", ["acc-acme"], side="target")["src"].to_list() == ["am-dana"]


def test_counts_include_zeros(store: GraphStore) -> None:
    load_example_graph(store)
    counts = store.counts()
    assert counts.nodes["Account"] == 5 and counts.nodes["Match"] == 0
    assert counts.edges["OWNS"] == 5 and counts.edges["OFFERS"] == 0
    assert set(counts.nodes) == set(store.registry.nodes)


def test_neighborhood_and_networkx(store: GraphStore) -> None:
    load_example_graph(store)
    one = store.neighborhood("Account", "acc-acme", hops=1)
    assert set(one.nodes) == {
        ("Account", "acc-acme"),
        ("Account", "acc-acme-eu"),
        ("AccountManager", "am-dana"),
        ("Industry", "ind-logistics"),
        ("Person", "p-maya"),
        ("Person", "p-omar"),
        ("Signal", "sig-acme-hiring"),
        ("Technology", "tech-kafka"),
        ("Technology", "tech-snowflake"),
    }
    assert one.nodes[("Account", "acc-acme")]["name"] == "Acme Freight"
    two = store.neighborhood("Account", "acc-acme", hops=2)
    assert ("Need", "need-pipeline-reliability") in two.nodes
    assert ("Capability", "cap-managed-ingest") in two.nodes  # via INTEGRATES_WITH
    graph = two.to_networkx()
    assert graph.number_of_nodes() == len(two.nodes)
    assert graph.has_edge("Person:p-maya", "Account:acc-acme")
    capped = store.neighborhood("Account", "acc-acme", hops=2, max_nodes=4)
    assert capped.truncated and len(capped.nodes) == 4
    with pytest.raises(NotFound):
        store.neighborhood("Account", "no-such-account")

    whole = store.to_networkx(labels=["Account", "AccountManager"], rel_types=["OWNS"])
    assert whole.number_of_nodes() == 8 and whole.number_of_edges() == 5
    around = store.to_networkx(around=("Person", "p-maya"), hops=1)
    assert "Signal:sig-maya-post" in around


def test_delete_nodes_detaches_edges(store: GraphStore) -> None:
    load_example_graph(store)
    before = store.counts()
    assert store.delete_nodes("Person", ["p-maya", "nobody"]) == 1
    after = store.counts()
    assert after.nodes["Person"] == before.nodes["Person"] - 1
    assert after.edges["WORKS_AT"] == before.edges["WORKS_AT"] - 1
    assert after.edges["EMITTED"] == before.edges["EMITTED"] - 1
    assert after.edges["REPORTS_TO"] == before.edges["REPORTS_TO"] - 1
    assert store.edges("WORKS_AT", ["p-maya"]).height == 0


def test_delete_edges_by_identity(store: GraphStore) -> None:
    load_example_graph(store)
    store.upsert_edges(
        "INDICATES",
        [
            {
                "src": "sig-acme-hiring",
                "dst": "need-pipeline-reliability",
                "extractor": "rules",
                "confidence": 0.3,
            }
        ],
    )
    gone = store.delete_edges(
        "INDICATES",
        [{"src": "sig-acme-hiring", "dst": "need-pipeline-reliability", "extractor": "rules"}],
    )
    assert gone == 1
    left = store.edges("INDICATES", ["sig-acme-hiring"])
    assert left["extractor"].to_list() == ["example"]


def test_example_graph_rerun_changes_nothing(store: GraphStore) -> None:
    load_example_graph(store)
    first = store.counts()
    accounts = store.nodes("Account")
    load_example_graph(store)
    assert store.counts() == first
    assert_frame_equal(store.nodes("Account"), accounts)


@pytest.mark.parametrize("payload", INJECTION_PAYLOADS)
def test_injection_payloads_round_trip_as_literal_values(store: GraphStore, payload: str) -> None:
    store.upsert_nodes("Account", _accounts("bystander"))
    store.upsert_nodes(
        "Account", [{"account_id": payload, "name": payload, "description": payload}]
    )
    store.upsert_nodes("Person", [{"person_id": payload, "full_name": payload}])
    store.upsert_edges("WORKS_AT", [{"src": payload, "dst": payload, "title": payload}])
    row = store.get_nodes("Account", [payload]).row(0, named=True)
    assert (row["account_id"], row["name"], row["description"]) == (payload, payload, payload)
    assert store.nodes("Account", {"name": payload})["account_id"].to_list() == [payload]
    assert store.edges("WORKS_AT", [payload])["title"].to_list() == [payload]
    assert store.counts().nodes["Account"] == 2
    assert store.delete_nodes("Account", [payload]) == 1
    assert store.nodes("Account")["account_id"].to_list() == ["bystander"]


def test_both_stores_hold_identical_tables(
    embedded_store: GraphStore, neo4j_store: GraphStore
) -> None:
    for s in (embedded_store, neo4j_store):
        load_example_graph(s)
    assert embedded_store.counts() == neo4j_store.counts()
    for label in embedded_store.registry.nodes:
        assert_frame_equal(embedded_store.nodes(label), neo4j_store.nodes(label))
    for rel_type in embedded_store.registry.edges:
        assert_frame_equal(embedded_store.edges(rel_type), neo4j_store.edges(rel_type))
    a = embedded_store.neighborhood("Account", "acc-brightpay", hops=2)
    b = neo4j_store.neighborhood("Account", "acc-brightpay", hops=2)
    assert a.nodes == b.nodes
    assert [e.identity for e in a.edges] == [e.identity for e in b.edges]


def test_delete_then_upsert_in_one_batch_keeps_both_changes(store: GraphStore) -> None:
    store.upsert_nodes(
        "Account", [{"account_id": "a", "name": "A"}, {"account_id": "b", "name": "B"}]
    )
    store.upsert_nodes("Person", [{"person_id": "p", "full_name": "P"}])
    store.upsert_edges("WORKS_AT", [{"src": "p", "dst": "a"}])
    with store.batch() as tx:
        tx.delete_edges("WORKS_AT", [{"src": "p", "dst": "a"}])
        tx.upsert_edges("WORKS_AT", [{"src": "p", "dst": "b"}])
    assert store.edges("WORKS_AT").select("src", "dst").rows() == [("p", "b")]


def _task(task_id: str, **extra: object) -> dict[str, object]:
    return {
        "task_id": task_id,
        "am_id": "am1",
        "account_id": "a1",
        "kind": "call",
        "title": "Call them",
        "created_at": T0,
        **extra,
    }


def test_expect_guards_a_batch(store: GraphStore) -> None:
    store.upsert_nodes("Task", [_task("t1")])
    with store.batch() as write:
        write.expect("Task", "t1", "status", ["open"])
        write.upsert_nodes("Task", [_task("t1", status="done")])
    assert store.get_nodes("Task", ["t1"])["status"].to_list() == ["done"]
    # The precondition no longer holds: nothing in the batch is written.
    conflict = pytest.raises(WriteConflict, match="expected status 'open', but status is 'done'")
    with conflict, store.batch() as write:
        write.upsert_nodes("Task", [_task("t2")])
        write.expect("Task", "t1", "status", ["open"])
        write.upsert_nodes("Task", [_task("t1", status="cancelled")])
    assert store.get_nodes("Task", ["t1"])["status"].to_list() == ["done"]
    assert store.get_nodes("Task", ["t2"]).height == 0
    with pytest.raises(WriteConflict, match="it does not exist"), store.batch() as write:
        write.expect("Task", "missing", "status", ["open"])
    with pytest.raises(SchemaError, match="not a property"), store.batch() as write:
        write.expect("Task", "t1", "colour", ["open"])


def test_concurrent_compare_and_set_has_one_winner(store: GraphStore, tmp_path: Path) -> None:
    """Eight claimers race for one task; exactly one moves it open -> done."""
    store.upsert_nodes("Task", [_task("t1")])
    barrier = threading.Barrier(8)

    def claim(i: int) -> bool:
        # Embedded: separate store objects, as separate relays would have.
        mine = connect(store.uri) if isinstance(store, EmbeddedStore) else store
        barrier.wait()
        try:
            with mine.batch() as write:
                write.expect("Task", "t1", "status", ["open"])
                write.upsert_nodes("Task", [_task("t1", status="done", body=f"claimer {i}")])
            return True
        except WriteConflict:
            return False

    with ThreadPoolExecutor(8) as pool:
        wins = list(pool.map(claim, range(8)))
    assert sum(wins) == 1
    body = store.get_nodes("Task", ["t1"])["body"][0]
    assert body == f"claimer {wins.index(True)}"


def test_expect_absent_ok_creates_once(store: GraphStore) -> None:
    """A precondition that also accepts a missing node: eight creators race for one new
    node; exactly one creates it, the others see its value and lose."""
    barrier = threading.Barrier(8)

    def create(i: int) -> bool:
        mine = connect(store.uri) if isinstance(store, EmbeddedStore) else store
        barrier.wait()
        try:
            with mine.batch() as write:
                write.expect("Task", "t9", "status", ["open"], absent_ok=True)
                write.upsert_nodes("Task", [_task("t9", status="done", body=f"creator {i}")])
            return True
        except WriteConflict:
            return False

    with ThreadPoolExecutor(8) as pool:
        wins = list(pool.map(create, range(8)))
    assert sum(wins) == 1
    assert store.get_nodes("Task", ["t9"])["body"][0] == f"creator {wins.index(True)}"
    # An existing node is still compared.
    with pytest.raises(WriteConflict, match="but status is 'done'"), store.batch() as write:
        write.expect("Task", "t9", "status", ["open"], absent_ok=True)
        write.upsert_nodes("Task", [_task("t9")])
    # The batch must write the node it allows to be absent.
    with pytest.raises(SchemaError, match="needs the batch to write it"), store.batch() as write:
        write.expect("Task", "t10", "status", ["open"], absent_ok=True)
        write.upsert_nodes("Task", [_task("t11")])
    assert store.get_nodes("Task", ["t10", "t11"]).height == 0


def test_data_version_changes_on_every_commit_from_any_handle(store: GraphStore) -> None:
    """The console caches reads by this token: another process's write (a second
    handle here) and a compare-and-set must change it; a read must not."""
    before = store.data_version()
    store.get_nodes("Account", ["a1"])
    assert store.data_version() == before
    other = connect(store.uri)
    try:
        other.upsert_nodes("Account", _accounts("a1"))
        after_other = store.data_version()
        assert after_other != before
        with store.batch() as write:
            write.expect("Account", "a1", "name", ["Account a1"])
            write.upsert_nodes("Account", _accounts("a1", name="renamed"))
        assert store.data_version() not in {before, after_other}
    finally:
        other.close()


def test_get_nodes_reads_only_the_fields_asked_for(store: GraphStore) -> None:
    store.upsert_nodes("Account", _accounts("a2", "a1", tier="A", employees=10))
    some = store.get_nodes("Account", ["a1", "a2", "nope"], fields=["tier", "name"])
    assert some.columns == ["account_id", "tier", "name"]
    assert some.rows() == [("a1", "A", "Account a1"), ("a2", "A", "Account a2")]
    full = store.get_nodes("Account", ["a1", "a2"])
    assert_frame_equal(some, full.select("account_id", "tier", "name"))
    with pytest.raises(SchemaError, match="no property nope"):
        store.get_nodes("Account", ["a1"], fields=["nope"])


def test_nodes_reads_only_the_fields_asked_for(store: GraphStore) -> None:
    store.upsert_nodes("Account", _accounts("a3", "a1", tier="A", employees=10))
    store.upsert_nodes("Account", _accounts("a2", tier="B", employees=99))
    some = store.nodes("Account", fields=["name", "tier"])
    assert some.columns == ["account_id", "name", "tier"]
    full = store.nodes("Account")
    assert_frame_equal(some, full.select("account_id", "name", "tier"))
    # Filters may name a field that is not read; limit applies in key order.
    big = store.nodes("Account", [Filter("employees", "gt", 50)], fields=["tier"])
    assert big.rows() == [("a2", "B")]
    assert store.nodes("Account", {"tier": "A"}, fields=["tier"], limit=1).rows() == [("a1", "A")]
    assert store.nodes("Account", fields=[]).columns == ["account_id"]
    with pytest.raises(SchemaError, match="no property nope"):
        store.nodes("Account", fields=["nope"])


def test_names_maps_keys_to_a_display_field(store: GraphStore) -> None:
    store.upsert_nodes("Account", _accounts("a1", "a2"))
    assert store.names("Account", ["a2", "a1", "a1", None, "", "nope"]) == {
        "a1": "Account a1",
        "a2": "Account a2",
    }
    assert store.names("Account", pl.Series([], dtype=pl.String)) == {}
    with pytest.raises(SchemaError):
        store.names("Account", ["a1"], field="nope")
