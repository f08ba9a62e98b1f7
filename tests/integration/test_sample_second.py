"""The second sample world: deterministic, ingests cleanly, and really contains each
kind of structure its ground truth is meant to test (read off the files it writes,
checked against the latent world it was drawn from)."""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from graph_model.store import GraphStore
from ingest.catalog import load_catalog
from ingest.config import load_config
from ingest.pipeline import Ingestor
from ingest.sample.second import write_second_sample
from ingest.sample.second_catalog import NEEDS, OFFER, OFFERS, SITE
from ingest.sample.second_text import VOICES
from ingest.sample.second_world import TODAY, SecondWorld, build_second_world

ACCOUNTS, SEED = 600, 7


class Written:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.world: SecondWorld = build_second_world(ACCOUNTS, SEED)
        self.truth = {(r["account_id"], r["capability_id"]): r for r in self.csv("ground_truth")}
        self.companies = {r["hs_object_id"]: r for r in self.csv("crm/companies")}
        self.deals = self.csv("crm/deals")
        self.items = {r["associateddealid"]: r["name"] for r in self.csv("crm/line_items")}
        self.moves = self.csv("org/job_changes")
        self.contacts = {r["hs_object_id"]: r for r in self.csv("crm/contacts")}
        by_person: dict[str, str] = {}
        by_email: dict[str, str] = {}
        by_domain: dict[str, str] = {}
        for c in self.world.companies:
            by_domain[c.domain] = c.id
            for p in c.people:
                by_person[p.id], by_email[p.email] = p.account, p.account
        self.events: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for line in (out / "signals/events.jsonl").read_text().splitlines():
            e = json.loads(line)
            domain = e.get("account_domain", "").removeprefix("https://").rstrip("/")
            account = (
                e.get("account_id")
                or by_person.get(e.get("person_id", ""))
                or by_email.get(e.get("person_email", ""))
                or by_domain[domain]
            )
            self.events[account].append(e)

    def csv(self, name: str) -> list[dict[str, str]]:
        with (self.out / f"{name}.csv").open(newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))

    def texts(self, account: str) -> list[str]:
        return [f"{e.get('title', '')} {e.get('text', '')}" for e in self.events[account]]

    def related(self, account: str, need: str) -> set[str]:
        return {o.id for o in OFFERS if need in o.needs}

    def says(self, account: str, need: str) -> bool:
        """The account's own texts state the need (in the world's words)."""
        return any(self.says_in(text, need) for text in self.texts(account))

    @staticmethod
    def says_in(text: str, need: str) -> bool:
        voice = VOICES[need]
        return any(
            c.lower() in text.lower() for c in voice.complaints + voice.duties + voice.topics
        )


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Written:
    out = tmp_path_factory.mktemp("second") / "world"
    write_second_sample(out, accounts=ACCOUNTS, seed=SEED)
    return Written(out)


def test_deterministic_per_seed(tmp_path: Path) -> None:
    write_second_sample(tmp_path / "a", accounts=80, seed=3)
    write_second_sample(tmp_path / "b", accounts=80, seed=3)
    write_second_sample(tmp_path / "c", accounts=80, seed=4)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*"))
    assert len([f for f in files if (tmp_path / "a" / f).is_file()]) == 12
    for rel in files:
        if (tmp_path / "a" / rel).is_file():
            assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    for rel in ("signals/events.jsonl", "ground_truth.csv", "crm/companies.csv"):
        assert (tmp_path / "a" / rel).read_bytes() != (tmp_path / "c" / rel).read_bytes(), rel


def test_ingests_without_quarantine(embedded_store: GraphStore, tmp_path: Path) -> None:
    summary = write_second_sample(tmp_path / "w", accounts=300, seed=8)
    assert "ground_truth" not in (tmp_path / "w" / "ingest.yaml").read_text()
    report = Ingestor(embedded_store, load_config(tmp_path / "w" / "ingest.yaml")).run()
    assert report.ok, [s.error for s in report.sources]
    assert [(s.source, s.quarantined) for s in report.sources if s.quarantined] == []
    assert all(s.balanced for s in report.sources)
    counts = embedded_store.counts()
    assert counts.nodes["Account"] == 300 and counts.nodes["Capability"] == len(OFFERS)
    assert counts.nodes["Signal"] == summary.signals
    assert counts.edges["IN_INDUSTRY"] == 300  # every HubSpot label names a catalog industry
    for edge in ("SUBSIDIARY_OF", "PREVIOUSLY_AT", "USES", "INCLUDES", "WORKED", "ABOUT"):
        assert counts.edges[edge] > 0, edge


def test_catalog_declares_fit_and_site_pages(written: Written) -> None:
    catalog = load_catalog(written.out / "catalog.yaml")
    strict = [c for c in catalog.capabilities if c.fit and "strict" in c.fit.model_dump().values()]
    assert {c.id for c in strict} >= {"uptime-sentinel", "watt-watch", "route-ledger"}
    assert all(c.site_pages for c in catalog.capabilities)
    assert next(c for c in catalog.capabilities if c.id == "watt-watch").countries


def test_outside_a_strict_fit_is_never_a_match_even_with_the_need(written: Written) -> None:
    outside = [
        (c.id, o.id)
        for c in written.world.companies
        for o in OFFERS
        if o.fit and set(o.needs) & set(c.needs) and not o.fits(c.industry, c.employees, c.country)
    ]
    assert len(outside) >= 5
    assert not [p for p in outside if p in written.truth]
    kinds = {k for o in OFFERS for k, v in o.fit.items() if v == "strict"}
    assert kinds == {"industries", "employees", "countries"}


def test_vendors_talk_the_need_and_are_never_buyers_of_it(written: Written) -> None:
    vendors = [c for c in written.world.companies if c.sells]
    assert len(vendors) >= 10
    for c in vendors:
        offers = written.related(c.id, c.sells or "")
        assert not [o for o in offers if (c.id, o) in written.truth]
        texts = " ".join(written.texts(c.id)).lower()
        assert any(phrase in texts for phrase in NEEDS[c.sells or ""].phrases), c.name
        assert written.companies[c.id]["industry"] == "Computer Software"


@pytest.mark.parametrize("shows", ["tech", "visits", "champion", "parent"])
def test_needs_silent_in_text_show_in_structure(written: Written, shows: str) -> None:
    found = [
        (c, need)
        for c in written.world.companies
        for need, how in c.needs.items()
        if how == shows and any((c.id, o) in written.truth for o in written.related(c.id, need))
    ]
    assert found, shows
    for c, need in found:
        assert not written.says(c.id, need), (c.name, need)
        offers = written.related(c.id, need)
        if shows == "tech":
            techs = {e.get("technology") for e in written.events[c.id]}
            assert techs & {t for o in offers for t in OFFER[o].integrations}
        elif shows == "visits":
            urls = [e.get("url", "") for e in written.events[c.id] if e["kind"] == "page_view"]
            assert len([u for u in urls if u.startswith(SITE) and u.split("/")[-1] in offers]) >= 3
        elif shows == "champion":
            moved_in = [m for m in written.moves if m["to_account_id"] == c.id and m["championed"]]
            championed = {x for m in moved_in for x in m["championed"].split(";")}
            assert championed & offers or any(need in OFFER[x].needs for x in championed)
        else:
            parent = written.companies[c.id]["hs_parent_company_id"]
            assert parent in written.companies
            bought = [d for d in written.deals if d["associatedcompanyid"] == parent]
            assert any(
                d["dealstage"] == "closedwon" and need in OFFER[_offer(written, d)].needs
                for d in bought
            )


def _offer(written: Written, deal: dict[str, str]) -> str:
    return next(o.id for o in OFFERS if o.name == written.items[deal["hs_object_id"]])


def test_needs_solved_a_year_ago_keep_old_signals(written: Written) -> None:
    for outcome in ("bought", "fixed"):
        solved = [
            (c, n) for c in written.world.companies for n, o in c.solved.items() if o == outcome
        ]
        assert len(solved) >= 5, outcome
        for c, need in solved:
            offers = [
                o for o in written.related(c.id, need) if not set(OFFER[o].needs) & set(c.needs)
            ]
            assert not [o for o in offers if (c.id, o) in written.truth]
            assert written.says(c.id, need)
            dates = [
                dt.date.fromisoformat(e["occurred_at"][:10])
                for e in written.events[c.id]
                if written.says_in(f"{e.get('title', '')} {e.get('text', '')}", need)
            ]
            assert dates and max(dates) < TODAY - dt.timedelta(days=150)
        if outcome == "bought":
            won = {
                (d["associatedcompanyid"], _offer(written, d))
                for d in written.deals
                if d["dealstage"] == "closedwon"
            }
            assert all(any((c.id, o) in won for o in written.related(c.id, n)) for c, n in solved)


def test_negations_are_not_needs(written: Written) -> None:
    deniers = [(c, n) for c in written.world.companies for n in c.denies]
    assert len(deniers) >= 5
    for c, need in deniers:
        assert need not in c.needs
        assert any(d in " ".join(written.texts(c.id)).lower() for d in VOICES[need].denial)
        offers = [o for o in written.related(c.id, need) if set(OFFER[o].needs) <= {need}]
        assert not [o for o in offers if (c.id, o) in written.truth]


def test_job_changes_carry_champions_and_new_contact_records(written: Written) -> None:
    assert {bool(m["championed"]) for m in written.moves} == {True, False}
    linked = [m for m in written.moves if m["new_person_id"]]
    assert linked
    for m in linked:
        record = written.contacts[m["new_person_id"]]
        assert record["associatedcompanyid"] == m["to_account_id"]
        assert record["email"] == m["new_email"]


def test_repeated_visits_to_the_vendors_own_pages(written: Written) -> None:
    slugs = {o.id for o in OFFERS}
    repeated = 0
    for events in written.events.values():
        urls = [e["url"] for e in events if e["kind"] == "page_view"]
        assert all(u.startswith(SITE) and u.split("/")[-1] in slugs for u in urls)
        repeated += any(urls.count(u) > 1 for u in urls)
    assert repeated >= 10


def test_accounts_with_several_owners_keep_the_explicit_owner(written: Written) -> None:
    changed = [
        d
        for d in written.deals
        if d["hubspot_owner_id"] != written.companies[d["associatedcompanyid"]]["hubspot_owner_id"]
    ]
    assert changed
    for (account, _), row in written.truth.items():
        assert row["am_id"] == written.companies[account]["hubspot_owner_id"]
    reowned = {d["associatedcompanyid"] for d in changed}
    assert any(a in reowned for a, _ in written.truth)
