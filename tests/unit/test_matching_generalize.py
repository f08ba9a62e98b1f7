"""Issue 17's failures on the hand-built graph, one test each: what the independent
world showed twoloop getting wrong (signals counted twice, gates the catalog
declares, champions, own-site visits, recency per kind, owners)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


def _row(scored: pl.DataFrame, account: str, capability: str) -> dict[str, Any]:
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


def test_each_signal_kind_decays_by_the_half_life_declared_beside_the_metapaths() -> None:
    need = next(m for m in load_metapaths() if m.id == "need_evidence")
    champion = next(m for m in load_metapaths() if m.id == "champion_move")
    # An intent topic 68 days old keeps about half its weight (60-day half-life),
    # a web visit three weeks old half, a technology install a year old half.
    assert 0.5 ** (68 / need.half_life("intent_topic")) > 0.45
    assert need.half_life("web_visit") == 21
    assert need.half_life("tech_install") == 365
    assert need.half_life("no_such_kind") == need.half_life() == 120
    assert champion.half_life() == 180


def test_a_half_life_for_an_unknown_signal_kind_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "metapaths.yaml"
    path.write_text("half_lives:\n  signal_kinds: {intnet_topic: 30}\nmetapaths: []\n")
    with pytest.raises(Exception, match=r"metapaths.yaml.*intnet_topic|intnet_topic"):
        load_metapaths(path)


def test_a_68_day_old_intent_topic_still_counts(graph: GraphStore) -> None:
    graph.upsert_nodes(
        "Signal",
        [
            {
                "signal_id": "s-intent",
                "kind": "intent_topic",
                "occurred_at": ago(68),
                "source": "bombora",
                "text": "Surging on pipeline failures",
                "strength": 1.0,
            }
        ],
    )
    graph.upsert_edges("EMITTED", [{"src_label": "Account", "src": "globex", "dst": "s-intent"}])
    graph.upsert_edges(
        "INDICATES",
        [
            {
                "src": "s-intent",
                "dst": "pipe",
                "extractor": "rules",
                "confidence": 1.0,
                "evidence": "pipeline failures",
            }
        ],
    )
    scored, _ = _scored(graph, ["globex"])
    assert _row(scored, "globex", "ingest")["w:need_evidence"] > 0.45


# ------------------------------------------------------------------ catalog gates


def _fit(store: GraphStore, capability: str, **fields: object) -> None:
    row = store.get_nodes("Capability", [capability]).row(0, named=True)
    store.upsert_nodes("Capability", [{**row, **fields}])


def test_a_strict_industry_fit_gates_an_account_in_another_industry(graph: GraphStore) -> None:
    # Acme (Software) shows the need for Privacy Vault, sold only to Healthcare.
    graph.upsert_edges(
        "INDICATES",
        [
            {
                "src": "s-hiring",
                "dst": "privacy",
                "extractor": "rules",
                "confidence": 0.9,
                "evidence": "gdpr",
            }
        ],
    )
    before, _ = _scored(graph, ["acme"])
    assert _row(before, "acme", "vault")["surfaced"], "soft fit: the need surfaces it"
    _fit(graph, "vault", industry_fit="strict")
    scored, instances = _scored(graph, ["acme", "globex"])
    row = _row(scored, "acme", "vault")
    assert "outside_industries" in row["gates"] and not row["surfaced"]
    # Globex is in Healthcare: not blocked by the industry gate.
    assert "outside_industries" not in _row(scored, "globex", "vault")["gates"]
    why = Matcher(graph, as_of=AS_OF).explanations(
        scored.filter((pl.col("account_id") == "acme") & (pl.col("capability_id") == "vault")),
        instances,
    )
    assert "Acme is outside the ICP for Privacy Vault" in why["explanation"][0]


def test_a_strict_fit_does_not_also_count_as_industry_evidence(graph: GraphStore) -> None:
    _fit(graph, "vault", industry_fit="strict")
    scored, _ = _scored(graph, ["globex"])
    assert _row(scored, "globex", "vault")["n:industry_fit"] == 0


def test_an_account_with_no_known_industry_is_not_gated(graph: GraphStore) -> None:
    graph.upsert_nodes("Account", [{"account_id": "hooli", "name": "Hooli", "in_icp": True}])
    graph.upsert_edges("USES", [{"src": "hooli", "dst": "postgres"}])
    _fit(graph, "vault", industry_fit="strict")
    scored, _ = _scored(graph, ["hooli"])
    assert "outside_industries" not in _row(scored, "hooli", "vault")["gates"]


def test_strict_size_and_country_fit_gate_and_soft_ones_are_evidence(graph: GraphStore) -> None:
    acme = graph.get_nodes("Account", ["acme"]).row(0, named=True)
    graph.upsert_nodes("Account", [{**acme, "employees": 40, "country": "DE"}])
    _fit(graph, "ingest", employees_fit="strict", min_employees=200)
    scored, instances = _scored(graph, ["acme"])
    assert "too_small" in _row(scored, "acme", "ingest")["gates"]
    why = Matcher(graph, as_of=AS_OF).explanations(
        scored.filter(pl.col("capability_id") == "ingest"), instances
    )
    assert "40 employees, fewer than 200" in why["explanation"][0]
    _fit(graph, "ingest", employees_fit="soft", min_employees=10, max_employees=None)
    _fit(graph, "ingest", countries_fit="strict", countries=["fr", "us"])
    scored, _ = _scored(graph, ["acme"])
    row = _row(scored, "acme", "ingest")
    assert row["gates"] == ["outside_countries"]
    assert row["n:size_fit"] == 1  # soft, and no maximum: 40 >= 10 fits
    _fit(graph, "ingest", countries_fit="soft", countries=["de"])
    row = _row(_scored(graph, ["acme"])[0], "acme", "ingest")
    assert row["gates"] == [] and row["n:region_fit"] == 1


def test_the_catalog_declares_fit_and_checks_it(tmp_path: Path) -> None:
    from graph_model.errors import ConfigFileInvalid
    from ingest.catalog import catalog_records, load_catalog

    path = tmp_path / "catalog.yaml"
    path.write_text(
        "vendor: {name: V}\n"
        "capabilities:\n"
        "  - id: etl\n"
        "    name: ETL\n"
        "    industries: [Retail]\n"
        "    min_employees: 100\n"
        "    countries: [DE, fr]\n"
        "    fit: {industries: strict, employees: soft, countries: strict}\n"
    )
    nodes, _ = catalog_records(load_catalog(path))
    cap = nodes["Capability"][0]
    assert cap["industry_fit"] == "strict" and cap["employees_fit"] == "soft"
    assert cap["countries_fit"] == "strict" and cap["countries"] == ["de", "fr"]
    path.write_text(
        "vendor: {name: V}\n"
        "capabilities:\n"
        "  - id: etl\n"
        "    name: ETL\n"
        "    fit: {employees: strict}\n"
    )
    with pytest.raises(ConfigFileInvalid, match=r"capabilities\[0\].fit.employees"):
        load_catalog(path)


# ------------------------------------------------------------------ own-site intent


def _visits(store: GraphStore, account: str, urls: list[tuple[str, float]]) -> None:
    store.upsert_nodes(
        "Signal",
        [
            {
                "signal_id": f"v-{account}-{i}",
                "kind": "web_visit",
                "occurred_at": ago(days),
                "source": "website",
                "url": url,
                "text": "page view",
            }
            for i, (url, days) in enumerate(urls)
        ],
    )
    store.upsert_edges(
        "EMITTED",
        [
            {"src_label": "Account", "src": account, "dst": f"v-{account}-{i}"}
            for i in range(len(urls))
        ],
    )


def test_visits_to_our_pricing_page_are_intent_for_that_capability(graph: GraphStore) -> None:
    from matching.site import link_site_visits

    _fit(graph, "vault", site_pages=["https://vendor.example/pricing/vault*", "*/product/vault"])
    _visits(
        graph,
        "globex",
        [
            ("https://vendor.example/pricing/vault?plan=team", 2),
            ("https://VENDOR.example/product/vault/", 5),
            ("https://vendor.example/blog/ingest-tips", 3),
            ("https://elsewhere.example/pricing/vault", 1),
        ],
    )
    _visits(graph, "acme", [("https://vendor.example/pricing/vault", 2)])
    report = link_site_visits(graph, now=AS_OF)
    assert (report.visits_read, report.written) == (5, 3)
    assert link_site_visits(graph, now=AS_OF).written == 0, "a rerun writes nothing"
    scored, instances = _scored(graph, ["acme", "globex"])
    globex = _row(scored, "globex", "vault")
    # Two visits count twice: repeat visits weigh more than one.
    assert globex["n:site_visit"] == 2
    assert globex["w:site_visit"] > _row(scored, "acme", "vault")["w:site_visit"]
    sentences = instances.filter(
        (pl.col("account_id") == "globex") & (pl.col("metapath") == "site_visit")
    )["sentence"].to_list()
    assert any("visited our page https://vendor.example/pricing/vault" in s for s in sentences)
    # The catalog drops the page: the edges go.
    _fit(graph, "vault", site_pages=[])
    assert link_site_visits(graph, now=AS_OF).removed == 3


# ------------------------------------------------------------------ champions


def _globex_bought_ingest_too(store: GraphStore) -> None:
    """Globex (Cat's old employer) bought both capabilities, and nothing says yet what
    Cat championed there (the hand graph's contact role is removed)."""
    store.delete_edges("CHAMPIONED", store.edges("CHAMPIONED").select("src", "dst_label", "dst"))
    store.upsert_nodes(
        "Opportunity",
        [
            {
                "opportunity_id": "o5",
                "name": "Globex ingest",
                "stage": "Closed Won",
                "status": "won",
                "close_date": dt.date(2025, 3, 1),
            }
        ],
    )
    store.upsert_edges("INCLUDES", [{"src": "o5", "dst": "ingest"}])
    store.upsert_edges("FOR", [{"src_label": "Opportunity", "src": "o5", "dst": "globex"}])


def test_a_moved_person_with_a_role_on_a_won_deal_is_credited_for_that_capability_only(
    graph: GraphStore,
) -> None:
    _globex_bought_ingest_too(graph)
    before, _ = _scored(graph, ["acme"])
    # Unknown what Cat championed: both of Globex's purchases are credited (weakly).
    assert _row(before, "acme", "vault")["n:champion_move"] == 1
    assert _row(before, "acme", "ingest")["n:champion_move"] == 1
    # The CRM's contact roles say Cat was the decision maker on the vault deal only.
    graph.upsert_edges(
        "CHAMPIONED",
        [{"src": "cat", "dst_label": "Opportunity", "dst": "o1", "role": "Decision Maker"}],
    )
    scored, instances = _scored(graph, ["acme"])
    vault, ingest = _row(scored, "acme", "vault"), _row(scored, "acme", "ingest")
    assert vault["n:champion_deal"] == 1 and vault["n:champion_move"] == 0
    assert ingest["n:champion_deal"] == 0 and ingest["n:champion_move"] == 0
    sentence = instances.filter(pl.col("metapath") == "champion_deal")["sentence"][0]
    assert "Cat Diaz (Director of Data Engineering), now at Acme, was Decision Maker" in sentence


def test_the_job_change_record_says_what_they_championed(graph: GraphStore) -> None:
    from matching.derived import link_derived

    _globex_bought_ingest_too(graph)
    moved = graph.edges("PREVIOUSLY_AT").with_columns(
        pl.lit(["Managed Ingest"], dtype=pl.List(pl.String)).alias("championed")
    )
    graph.upsert_edges("PREVIOUSLY_AT", moved)
    report = link_derived(graph, now=AS_OF).champions
    assert (report.moves_read, report.written, report.unknown) == (1, 1, [])
    assert link_derived(graph, now=AS_OF).champions.written == 0, "a rerun writes nothing"
    scored, _ = _scored(graph, ["acme"])
    ingest, vault = _row(scored, "acme", "ingest"), _row(scored, "acme", "vault")
    assert ingest["n:champion_declared"] == 1
    assert vault["n:champion_declared"] == 0 and vault["n:champion_move"] == 0


def test_the_weaker_unknown_champion_weight_is_its_own() -> None:
    from matching.model import load_prior

    prior = load_prior(metapaths=load_metapaths())
    assert prior.weights["champion_move"] < prior.weights["champion_deal"]
    assert prior.weights["champion_declared"] == prior.weights["champion_deal"]


def test_the_newer_record_of_a_moved_person_is_the_one_contacted(graph: GraphStore) -> None:
    from matching.contacts import choose_contacts

    # Cat's CRM keeps her old record (old address) and a new one at Acme.
    graph.upsert_nodes(
        "Person",
        [
            {
                "person_id": "cat-2",
                "full_name": "Cat Diaz",
                "email": "cat.diaz@acme.example",
                "title": "Director of Data Engineering",
                "department": "Data",
                "seniority": "director",
            }
        ],
    )
    graph.upsert_edges("WORKS_AT", [{"src": "cat-2", "dst": "acme"}])
    graph.upsert_edges("SAME_AS", [{"src": "cat", "dst": "cat-2"}])
    matcher = Matcher(graph, as_of=AS_OF)
    scored, instances = matcher.score(["acme"])
    pair = scored.filter(pl.col("capability_id") == "vault")
    chosen = choose_contacts(graph, pair, instances, graph.nodes("Capability"))
    choice = chosen[("acme", "vault")]
    assert choice.person_id == "cat-2"
    assert choice.reason.startswith("Champion")


# ------------------------------------------------------------------ owners


def test_of_several_owners_the_latest_owner_record_is_the_one_everywhere(
    graph: GraphStore,
) -> None:
    from matching.derived import link_derived
    from matching.owners import account_owners
    from matching.run import run_matching
    from routing.context import current_matches
    from routing.handoff import handoff_packet

    # Acme's owner changed from am-1 to am-2; the CRM export still carries both rows.
    graph.upsert_edges(
        "OWNS",
        [
            {"src": "am-1", "dst": "acme", "since": ago(200)},
            {"src": "am-2", "dst": "acme", "since": ago(20)},
        ],
    )
    assert account_owners(graph, ["acme"]) == {"acme": "am-2"}
    report = link_derived(graph, now=AS_OF).owners
    assert report.several == 1
    run_matching(graph, as_of=AS_OF, accounts=["acme"])
    assigned = dict(
        graph.edges("ASSIGNED_TO")
        .filter(pl.col("src").is_in(current_matches(graph)["match_id"].implode()))
        .select("src", "dst")
        .iter_rows()
    )
    assert set(assigned.values()) == {"am-2"}
    packet = handoff_packet(graph, "acme", question="Who owns it?")
    assert packet.owner is not None and packet.owner["am_id"] == "am-2"
    # am-1 sold vault before; as a former owner their track record is not Acme's.
    _, instances = _scored(graph, ["acme"])
    track = instances.filter(pl.col("metapath") == "am_track_record")
    assert [json.loads(n)["m"] for n in track["nodes"]] == ["am-2"]


def test_an_account_with_no_owner_column_belongs_to_its_latest_deal_owner(
    graph: GraphStore,
) -> None:
    from matching.derived import link_derived
    from matching.owners import account_owners

    graph.upsert_nodes("Account", [{"account_id": "hooli", "name": "Hooli", "in_icp": True}])
    graph.upsert_nodes(
        "Opportunity",
        [
            {
                "opportunity_id": f"h{i}",
                "name": f"Hooli {i}",
                "stage": "Won",
                "status": "won",
                "close_date": day,
            }
            for i, day in enumerate([dt.date(2025, 1, 1), dt.date(2025, 2, 1), dt.date(2026, 5, 1)])
        ],
    )
    graph.upsert_edges(
        "FOR", [{"src_label": "Opportunity", "src": f"h{i}", "dst": "hooli"} for i in range(3)]
    )
    graph.upsert_edges(
        "WORKED",
        [
            {"src_label": "AccountManager", "src": "am-1", "dst": "h0"},
            {"src_label": "AccountManager", "src": "am-1", "dst": "h1"},
            {"src_label": "AccountManager", "src": "am-2", "dst": "h2"},
        ],
    )
    # am-1 has more deals, am-2 the most recent one: the most recent wins.
    assert account_owners(graph, ["hooli"]) == {"hooli": "am-2"}
    link_derived(graph, now=AS_OF)
    owns = graph.edges("OWNS").filter(pl.col("dst") == "hooli")
    assert owns.select("src", "primary", "derived").rows() == [("am-2", True, True)]
    assert link_derived(graph, now=AS_OF).owners.changed == 0, "a rerun writes nothing"


# ------------------------------------------------------------------ vendors


def test_an_account_that_describes_itself_by_the_need_is_a_vendor_not_a_buyer(
    graph: GraphStore,
) -> None:
    from matching.derived import link_derived

    # Acme's CRM description: it sells a remedy for pipeline failures; its hiring
    # post ("Help us end pipeline failures.") is its marketing, not a need.
    acme = graph.get_nodes("Account", ["acme"]).row(0, named=True)
    graph.upsert_nodes(
        "Account",
        [{**acme, "description": "Acme: we end pipeline failures for data teams."}],
    )
    before, _ = _scored(graph, ["acme"])
    assert _row(before, "acme", "ingest")["surfaced"]
    report = link_derived(graph, now=AS_OF).offers
    assert (report.descriptions_read, report.written) == (1, 1)
    scored, instances = _scored(graph, ["acme"])
    row = _row(scored, "acme", "ingest")
    assert row["gates"] == ["sells_it"] and not row["surfaced"]
    why = Matcher(graph, as_of=AS_OF).explanations(
        scored.filter(pl.col("capability_id") == "ingest"), instances
    )
    assert "it sells a remedy for Pipeline reliability" in why["explanation"][0]
    # The CRM's description changes (ingest journals the change): the next run reads
    # it again, and a neutral description removes the edge.
    from graph_model.changes import journal

    with graph.batch() as write:
        write.upsert_nodes("Account", [{**acme, "description": "A software company."}])
        journal(write, "ingest:test", {"nodes": {"Account": ["acme"]}}, now=AS_OF)
    assert link_derived(graph, now=AS_OF).offers.removed == 1


def test_as_of_a_date_the_owner_comes_from_the_deals_known_then(graph: GraphStore) -> None:
    from matching.asof import as_of_view
    from matching.derived import link_derived
    from matching.owners import account_owners

    graph.upsert_nodes("Account", [{"account_id": "hooli", "name": "Hooli", "in_icp": True}])
    graph.upsert_nodes(
        "Opportunity",
        [
            {
                "opportunity_id": "h1",
                "name": "Hooli 1",
                "stage": "Won",
                "status": "won",
                "close_date": dt.date(2025, 1, 1),
                "created_at": dt.datetime(2024, 11, 1, tzinfo=dt.UTC),
            },
            {
                "opportunity_id": "h2",
                "name": "Hooli 2",
                "stage": "Won",
                "status": "won",
                "close_date": dt.date(2026, 5, 1),
                "created_at": dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
            },
        ],
    )
    graph.upsert_edges(
        "FOR", [{"src_label": "Opportunity", "src": h, "dst": "hooli"} for h in ("h1", "h2")]
    )
    graph.upsert_edges(
        "WORKED",
        [
            {"src_label": "AccountManager", "src": "am-1", "dst": "h1"},
            {"src_label": "AccountManager", "src": "am-2", "dst": "h2"},
        ],
    )
    link_derived(graph, now=AS_OF)
    assert account_owners(graph, ["hooli"]) == {"hooli": "am-2"}
    # In mid-2025 only am-1's deal had happened: am-1 owned Hooli then.
    then = as_of_view(graph, dt.datetime(2025, 6, 1, tzinfo=dt.UTC))
    assert account_owners(then, ["hooli"], recompute=True) == {"hooli": "am-1"}
