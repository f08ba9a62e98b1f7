"""``twoloop backtest`` on an export mapped with the mapping DSL, no code: a small
export in the shape of the public "CRM sales opportunities" dataset (accounts,
products, sales teams, a sales pipeline) under tests/data/crm_pipeline, read by the
mapping files beside it. The export has no owner column: each account is owned by
the agent of its most recent deal (``matching.owners``)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
from typer.testing import CliRunner

from app.cli import app
from graph_model.store import GraphStore
from ingest.config import load_config
from ingest.pipeline import Ingestor
from matching.backtest import relevant_pairs
from matching.derived import link_derived
from matching.owners import account_owners

EXPORT = Path(__file__).resolve().parents[1] / "data" / "crm_pipeline"
CUTOFF = "2025-03-01"
UNTIL = "2025-08-28"  # the cut-off + 180 days
HORIZON = dt.timedelta(days=180)


def _ingest(store: GraphStore) -> None:
    report = Ingestor(store, load_config(EXPORT / "ingest.yaml")).run()
    assert report.ok, [s.error for s in report.sources]
    for source in report.sources:
        assert source.quarantined == 0 and source.review == 0, source
        assert source.loaded == source.rows_in, source


def _pipeline() -> pl.DataFrame:
    return pl.read_csv(EXPORT / "sales_pipeline.csv", infer_schema=False)


def _slug(name: str) -> str:
    return "-".join("".join(c if c.isalnum() else " " for c in name.lower()).split())


def test_the_export_ingests_and_each_account_is_owned_by_the_agent_of_its_latest_deal(
    store: GraphStore,
) -> None:
    _ingest(store)
    counts = store.counts().as_dict()
    # 6 agents and their 2 managers; 4 products, one capability each; the six sectors.
    assert {label: counts["nodes"][label] for label in ("Account", "AccountManager")} == {
        "Account": 30,
        "AccountManager": 8,
    }
    assert (counts["nodes"]["Opportunity"], counts["nodes"]["Capability"]) == (136, 4)
    assert counts["edges"]["IN_INDUSTRY"] == 30 and counts["edges"]["OWNS"] == 0
    # products.csv is not read: the catalog has one capability per product, by name.
    products = pl.read_csv(EXPORT / "products.csv")["product"].sort().to_list()
    assert store.nodes("Capability")["name"].sort().to_list() == products
    # The export spells the sector "technolgy": resolved against the catalog's Technology.
    acme = store.edges("IN_INDUSTRY", ["acme-corporation"], side="source")
    assert acme["dst"].to_list() == ["technology"]
    (anna,) = store.get_nodes("AccountManager", ["anna-snelling"]).iter_rows(named=True)
    assert (anna["email"], anna["timezone"]) == (
        "anna.snelling@maventech.example",
        "America/Chicago",
    )

    accounts = store.nodes("Account")["account_id"].to_list()
    owners = account_owners(store, accounts)
    assert sorted(owners) == sorted(accounts)
    # From the CSV: the agent of each account's latest deal (its close date, else the
    # date it was engaged; a prospecting deal has neither). No account has two agents
    # on its latest date, so the rule's later tie-breaks do not decide here.
    deals = _pipeline().with_columns(pl.coalesce("close_date", "engage_date").alias("at"))
    latest = deals.filter(pl.col("at") == pl.col("at").max().over("account"))
    assert (
        latest.group_by("account").agg(pl.col("sales_agent").n_unique())["sales_agent"].max() == 1
    )
    expected = {_slug(a): _slug(s) for a, s in latest.select("account", "sales_agent").iter_rows()}
    assert owners == expected
    several = deals.group_by("account").agg(pl.col("sales_agent").n_unique().alias("n"))
    assert several.filter(pl.col("n") > 1).height == 23  # the rule matters for most

    # By hand: Cecily Lampkin worked two Betatech deals (closed 2024-06-14 and
    # 2024-07-24), Anna Snelling the latest (won 2025-08-14): the latest deal wins over
    # the most deals. Gladys Colclough worked five Codehow deals, Moses Frase the
    # latest (lost 2025-12-24). Moses Frase's only Cancity deal is undated
    # (prospecting): Anna Snelling's dated deals count first.
    assert owners["betatech"] == "anna-snelling"
    assert owners["codehow"] == "moses-frase"
    assert owners["cancity"] == "anna-snelling"


def test_the_backtest_command_counts_the_later_wins_of_the_export(store: GraphStore) -> None:
    _ingest(store)
    report = link_derived(store)
    assert (report.owners.accounts, report.owners.derived) == (30, 30)
    before = store.counts().as_dict()

    ran = CliRunner().invoke(
        app,
        ["backtest", "--cutoff", CUTOFF, "--horizon", "180d", "--json", "--graph", store.uri],
    )
    assert ran.exit_code == 0, ran.output
    payload = json.loads(ran.stdout)
    assert store.counts().as_dict() == before  # ranked in memory

    assert payload["cutoff"] == "2025-03-01T00:00:00+00:00" and payload["horizon_days"] == 180
    assert payload["accounts"] == 30 and payload["model_version"] == "prior"
    # Every agent owns accounts (their managers own none), one row each.
    agents = pl.read_csv(EXPORT / "sales_teams.csv")["sales_agent"].to_list()
    assert [row["am_id"] for row in payload["ams"]] == sorted(map(_slug, agents))
    assert [row["name"] for row in payload["ams"]] == sorted(agents)

    # Later wins counted from the CSV: 21 deals won within (2025-03-01, 2025-08-28],
    # 17 distinct (account, product) pairs: Bioplex bought GTX Basic twice, Bluth Company
    # MG Special three times and Inity twice.
    later = _pipeline().filter(
        (pl.col("deal_stage") == "Won")
        & (pl.col("close_date") > CUTOFF)
        & (pl.col("close_date") <= UNTIL)
    )
    assert later.height == 21
    won = {(_slug(a), _slug(p)) for a, p in later.select("account", "product").iter_rows()}
    assert len(won) == 17
    assert payload["relevant"] + payload["relevant_blocked"] == 17
    # 9 of them were gated as of the cut-off (bought before, or a deal open then);
    # the 8 others are candidates, in the queues of the accounts' owners as of the
    # cut-off (the agent of the latest deal known then, not of a later one).
    assert (payload["relevant"], payload["relevant_blocked"]) == (8, 9)
    assert sum(row["relevant"] for row in payload["ams"]) == 8
    cutoff = dt.datetime.fromisoformat(CUTOFF).replace(tzinfo=dt.UTC)
    assert set(relevant_pairs(store, cutoff, cutoff + HORIZON).iter_rows()) == won

    scored = [row for row in payload["ams"] if row["relevant"]]
    for row in payload["ams"]:
        assert row["candidates"] >= row["relevant"]
        for method in ("twoloop", "popularity"):
            assert set(row[method]) == {"hit5", "ndcg10"}
            if not row["relevant"]:  # an AM with no later win has nothing to score
                assert row[method] == {"hit5": None, "ndcg10": None}
                continue
            assert row[method]["hit5"] in (0.0, 1.0)
            assert 0.0 <= row[method]["ndcg10"] <= 1.0
    assert set(payload["mean"]) == {"twoloop", "popularity"}
    for method in ("twoloop", "popularity"):
        mean = payload["mean"][method]
        values = [row[method]["hit5"] for row in scored]
        assert mean["hit5"] == round(sum(values) / len(values), 4)
        assert mean["ndcg10"] is not None and 0.0 < mean["ndcg10"] <= 1.0
    assert payload["notes"] == []


def test_a_catalog_without_technologies_ingests(embedded_store: GraphStore, tmp_path: Path) -> None:
    # The export's catalog lists no technologies: the empty list once failed the catalog
    # source ("Technology: field 'technology_id' is required but the column is missing").
    (tmp_path / "catalog.yaml").write_text(
        "vendor: {name: MavenTech, domain: maventech.example}\n"
        "capabilities:\n  - {id: gtx-basic, name: GTX Basic}\n"
    )
    (tmp_path / "ingest.yaml").write_text(
        "sources:\n  - {name: catalog, reader: catalog, path: catalog.yaml}\n"
    )
    report = Ingestor(embedded_store, load_config(tmp_path / "ingest.yaml")).run()
    assert report.ok, [s.error for s in report.sources]
    nodes = embedded_store.counts().as_dict()["nodes"]
    assert (nodes["Capability"], nodes["Technology"], nodes["Need"]) == (1, 0, 0)
