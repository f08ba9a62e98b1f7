"""Issue 18 point 6: nothing loads the whole graph into networkx by accident.

A world larger than every bound the analysis API puts on a networkx projection
(an account with more people than a neighbourhood may hold, an AM owning more
accounts, a job-move network over more than ``DEFAULT_MAX_NODES`` accounts), on
both stores: each projection is cut or refused, never grown to the world's size.
"""

from __future__ import annotations

import pytest

from app import analysis
from app.analysis import pictures
from app.analysis.networks import DEFAULT_MAX_NODES
from graph_model.errors import GraphTooLarge
from graph_model.store import GraphStore

STAFF = 700  # people at the hub account: more than a neighbourhood's max_nodes
MOVES = DEFAULT_MAX_NODES // 2 + 100  # each between two fresh accounts
MOVE_ACCOUNTS = 2 * MOVES


def _world(store: GraphStore) -> None:
    accounts = [{"account_id": "hub", "name": "Hub Inc"}]
    accounts += [{"account_id": f"a{i:05d}", "name": f"Account {i}"} for i in range(MOVE_ACCOUNTS)]
    store.upsert_nodes("Account", accounts)
    store.upsert_nodes(
        "AccountManager", [{"am_id": "am-big", "full_name": "Big Book", "email": "big@x.test"}]
    )
    store.upsert_edges("OWNS", [{"src": "am-big", "dst": a["account_id"]} for a in accounts])
    staff = [{"person_id": f"s{i:04d}", "full_name": f"Staff {i}"} for i in range(STAFF)]
    movers = [{"person_id": f"m{i:05d}", "full_name": f"Mover {i}"} for i in range(MOVES)]
    store.upsert_nodes("Person", staff + movers)
    store.upsert_edges("WORKS_AT", [{"src": p["person_id"], "dst": "hub"} for p in staff])
    store.upsert_edges(
        "PREVIOUSLY_AT", [{"src": f"m{i:05d}", "dst": f"a{2 * i:05d}"} for i in range(MOVES)]
    )
    store.upsert_edges(
        "WORKS_AT", [{"src": f"m{i:05d}", "dst": f"a{2 * i + 1:05d}"} for i in range(MOVES)]
    )


def test_networkx_projections_stay_bounded_on_a_large_world(store: GraphStore) -> None:
    _world(store)
    total = sum(store.counts().nodes.values())
    assert total > DEFAULT_MAX_NODES + STAFF

    # A neighbourhood of the hub is cut at max_nodes and says so.
    around = analysis.neighbourhood(store, "Account", "hub", hops=2, max_nodes=150)
    assert around.number_of_nodes() <= 150 and around.graph["truncated"]
    # The AM is a hub: walking from it stops at its accounts, and is cut too.
    book = analysis.neighbourhood(store, "AccountManager", "am-big", hops=2)
    assert book.number_of_nodes() <= 300 and book.graph["truncated"]

    # The job-move network over every move is refused, naming its size.
    moves = analysis.job_moves(store)
    assert moves.height == MOVES
    with pytest.raises(GraphTooLarge, match=f"{MOVE_ACCOUNTS:,} accounts"):
        analysis.move_network(store)
    # Narrowed below the bound, it is built.
    network = analysis.move_network(store, moves.head(100))
    assert network.number_of_nodes() == 200
    # A drawing of more nodes than anyone can read is refused before any layout.
    with pytest.raises(GraphTooLarge, match="a drawing of 600 nodes"):
        pictures.draw(analysis.move_network(store, moves.head(300)))

    # An org chart is one account's people, however many accounts there are.
    assert analysis.org_chart(store, "hub").number_of_nodes() == STAFF

    # The store's own projection by label refuses before reading anything.
    with pytest.raises(GraphTooLarge, match="max_nodes=500"):
        store.to_networkx(labels=["Account", "Person"], rel_types=["WORKS_AT"])
    with pytest.raises(GraphTooLarge):
        store.to_networkx()
    small = store.to_networkx(labels=["AccountManager"], rel_types=[])
    assert small.number_of_nodes() == 1
