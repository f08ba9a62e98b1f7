"""The second sample world: Halyard Systems sells operations software; its CRM is HubSpot.

``write_second_sample(out, accounts=N, seed=S)`` writes, in the product's public
input formats only:

- ``catalog.yaml``: capabilities with their declared fit (strict or soft industries,
  size, countries) and the vendor's own pages about each (``site_pages``);
- ``crm/*.csv``: HubSpot exports (companies with parents, contacts, deals, line
  items, engagements); some accounts changed owner, so their older deals and
  calls name another AM than the company record;
- ``org/account_managers.csv`` and ``org/job_changes.csv`` (with ``championed`` and,
  for some moves, the person's new contact record: ``new_person_id``, ``new_email``);
- ``signals/events.jsonl``: what companies say in their own words (never the
  catalog's phrases), vendors of the same remedies marketing them, needs solved a
  year ago with their old complaints, denials, technographics, visits to the
  vendor's pages, noise;
- ``ingest.yaml`` (ingests all of it) and ``ground_truth.csv`` (never ingested),
  read off the latent world (:mod:`ingest.sample.second_world`).

It was designed apart from the first world, and the files are clean: what makes it
hard is what the text means, not how it is formatted.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from ingest.sample.common import JOB_CHANGE_COLUMNS, SampleSummary, stamp, write_csv
from ingest.sample.second_catalog import OFFER, VENDOR, catalog_document
from ingest.sample.second_signals import world_events, write_events
from ingest.sample.second_text import DESCRIPTIONS, VOICES
from ingest.sample.second_world import TODAY, SecondWorld, build_second_world

NOON = dt.time(12, 0, tzinfo=dt.UTC)
STAGES = {"won": "closedwon", "lost": "closedlost", "open": "contractsent"}


def write_second_sample(
    out: Path,
    *,
    accounts: int = 200,
    seed: int = 7,
    progress: Callable[[str, int, int], None] | None = None,
) -> SampleSummary:
    """Write the second world into ``out`` (created; existing files are replaced)."""
    if accounts < 1:
        raise ValueError("accounts must be at least 1")
    tick = progress or (lambda _stage, _done, _total: None)
    out.mkdir(parents=True, exist_ok=True)
    for sub in ("crm", "org", "signals"):
        (out / sub).mkdir(exist_ok=True)
    world = build_second_world(accounts, seed)
    tick("accounts", accounts, accounts)
    rng = random.Random(seed * 7 + 1)
    files: dict[str, int] = {}

    suppressed = sorted(c.domain for c in world.companies if c.suppressed)
    (out / "catalog.yaml").write_text(
        yaml.safe_dump(catalog_document(suppressed), sort_keys=False, width=100)
    )
    files["catalog.yaml"] = len(OFFER)
    files["org/account_managers.csv"] = write_csv(
        out / "org/account_managers.csv",
        ["am_id", "full_name", "email", "title", "manager_id", "timezone"],
        [
            [
                am,
                name,
                f"{name.lower().replace(' ', '.')}@{VENDOR['domain']}",
                "Account Executive" if manager else "Regional Sales Lead",
                manager or "",
                rng.choice(["Europe/Amsterdam", "America/Chicago", "Europe/Warsaw"]),
            ]
            for am, name, manager in world.ams
        ],
    )
    files["crm/companies.csv"] = _companies(out, world, rng)
    contacts = [p for c in world.companies for p in c.people]
    files["crm/contacts.csv"] = write_csv(
        out / "crm/contacts.csv",
        [
            "hs_object_id",
            "firstname",
            "lastname",
            "email",
            "jobtitle",
            "department",
            "associatedcompanyid",
            "hs_email_optout",
            "lastmodifieddate",
        ],
        [
            [
                p.id,
                p.first,
                p.last,
                p.email,
                p.title,
                p.department,
                p.account,
                "true" if rng.random() < 0.01 else "false",
                _at(rng.randint(1, 600)),
            ]
            for p in contacts
        ],
    )
    tick("contacts", len(contacts), len(contacts))
    files.update(_deals(out, world, rng))
    files["crm/engagements.csv"] = _engagements(out, world, rng)
    files["org/job_changes.csv"] = write_csv(
        out / "org/job_changes.csv",
        [*JOB_CHANGE_COLUMNS, "championed", "new_person_id", "new_email"],
        [
            [
                "" if m.by_email else m.person.id,
                m.person.email if m.by_email else "",
                m.person.account,
                m.to or "",
                m.person.title,
                m.person.title if m.to else "",
                m.on.isoformat(),
                ";".join(m.championed),
                m.new.id if m.new else "",
                m.new.email if m.new else "",
            ]
            for m in world.moves
        ],
    )
    events = world_events(world, seed)
    files["signals/events.jsonl"] = write_events(out / "signals/events.jsonl", events)
    tick("signals", len(events), len(events))
    truth = world.truth()
    files["ground_truth.csv"] = write_csv(
        out / "ground_truth.csv",
        ["account_id", "capability_id", "am_id", "why"],
        [list(row) for row in truth],
    )
    (out / "ingest.yaml").write_text(_INGEST_YAML)
    (out / "README.txt").write_text(_README)
    return SampleSummary(
        out=str(out),
        accounts=len(world.companies),
        contacts=len(contacts),
        signals=len(events),
        opportunities=len(world.deals),
        ground_truth_pairs=len(truth),
        files=files,
    )


def _at(days_ago: int) -> str:
    return stamp(dt.datetime.combine(TODAY, NOON) - dt.timedelta(days=days_ago))


def _companies(out: Path, world: SecondWorld, rng: random.Random) -> int:
    customers = {d.account for d in world.deals if d.status == "won"}
    pipeline = {d.account for d in world.deals if d.status == "open"}
    rows: list[list[Any]] = []
    for c in world.companies:
        if c.sells:
            stage = "other"
            about = f"{c.name}: {VOICES[c.sells].pitch[0]}."
        else:
            stage = (
                "customer" if c.id in customers else "opportunity" if c.id in pipeline else "lead"
            )
            about = rng.choice(DESCRIPTIONS[c.industry]).format(n=rng.randint(2, 30))
        rows.append(
            [
                c.id,
                c.name,
                c.domain if rng.random() < 0.8 else "",
                f"https://www.{c.domain}",
                c.industry,
                c.employees,
                c.employees * rng.randint(90, 300) * 1000 if rng.random() < 0.6 else "",
                c.owner,
                c.parent or "",
                stage,
                c.country,
                about,
                _at(rng.randint(1, 300)),
            ]
        )
    return write_csv(
        out / "crm/companies.csv",
        [
            "hs_object_id",
            "name",
            "domain",
            "website",
            "industry",
            "numberofemployees",
            "annualrevenue",
            "hubspot_owner_id",
            "hs_parent_company_id",
            "lifecyclestage",
            "country",
            "description",
            "hs_lastmodifieddate",
        ],
        rows,
    )


def _deals(out: Path, world: SecondWorld, rng: random.Random) -> dict[str, int]:
    names = {c.id: c.name for c in world.companies}
    deals: list[list[Any]] = []
    items: list[list[Any]] = []
    for k, d in enumerate(world.deals, start=1):
        offer = OFFER[d.offer]
        deals.append(
            [
                d.id,
                f"{names[d.account]} / {offer.name}",
                STAGES[d.status],
                d.amount,
                rng.choice(["EUR", "USD", "GBP"]),
                d.close.isoformat(),
                str(d.status != "open").lower(),
                str(d.status == "won").lower(),
                d.account,
                d.owner,
                _at(max(0, (TODAY - d.close).days) + rng.randint(0, 20)),
            ]
        )
        items.append([str(9_100_000_000 + k), d.id, offer.name, 1, d.amount])
    return {
        "crm/deals.csv": write_csv(
            out / "crm/deals.csv",
            [
                "hs_object_id",
                "dealname",
                "dealstage",
                "amount",
                "deal_currency_code",
                "closedate",
                "hs_is_closed",
                "hs_is_closed_won",
                "associatedcompanyid",
                "hubspot_owner_id",
                "hs_lastmodifieddate",
            ],
            deals,
        ),
        "crm/line_items.csv": write_csv(
            out / "crm/line_items.csv",
            ["hs_object_id", "associateddealid", "name", "quantity", "amount"],
            items,
        ),
    }


def _engagements(out: Path, world: SecondWorld, rng: random.Random) -> int:
    by_id = {c.id: c for c in world.companies}
    rows: list[list[Any]] = []
    for d in world.deals:
        c = by_id[d.account]
        people = [p for p in c.people if p.account == c.id]
        for _ in range(rng.randint(1, 3)):
            day = d.close - dt.timedelta(days=rng.randint(5, 90))
            if day > TODAY:
                day = TODAY - dt.timedelta(days=rng.randint(1, 20))
            kind = rng.choice(["CALL", "EMAIL", "MEETING", "NOTE"])
            rows.append(
                [
                    str(6_600_000_000 + len(rows) * 3),
                    kind,
                    _at((TODAY - day).days),
                    f"{OFFER[d.offer].name}: {'demo' if kind == 'MEETING' else 'follow-up'}",
                    "Walked through pricing and the rollout plan.",
                    c.id,
                    rng.choice(people).id if people else "",
                    c.owner_on(day),
                ]
            )
    return write_csv(
        out / "crm/engagements.csv",
        [
            "hs_object_id",
            "hs_engagement_type",
            "hs_timestamp",
            "hs_engagement_subject",
            "hs_body_preview",
            "associatedcompanyid",
            "associatedcontactid",
            "hubspot_owner_id",
        ],
        rows,
    )


_INGEST_YAML = """\
# Ingests exactly this world: twoloop ingest run --config ingest.yaml
quarantine_dir: quarantine
sources:
  - {name: catalog, reader: catalog, path: catalog.yaml}
  - {name: account_managers, reader: org_chart/account_managers, path: org/account_managers.csv}
  - {name: companies, reader: hubspot/companies, path: crm/companies.csv, incremental: true}
  - {name: contacts, reader: hubspot/contacts, path: crm/contacts.csv, incremental: true}
  - {name: deals, reader: hubspot/deals, path: crm/deals.csv}
  - {name: line_items, reader: hubspot/line_items, path: crm/line_items.csv}
  - {name: engagements, reader: hubspot/engagements, path: crm/engagements.csv}
  - {name: job_changes, reader: org_chart/job_changes, path: org/job_changes.csv}
  - {name: signals, reader: signals, path: "signals/*.jsonl", incremental: true}
schedules:
  - {name: nightly, cron: "0 3 * * *"}
"""

_README = """\
The second twoloop sample world (`twoloop sample --world second`): Halyard Systems,
operations software, with a HubSpot CRM.

crm/         HubSpot exports               org/         account managers, job changes
signals/     JSONL events                  catalog.yaml what Halyard sells, and to whom
ingest.yaml  ingests all of the above      ground_truth.csv  good (account, capability)
                                                             pairs and why; NOT ingested
"""
