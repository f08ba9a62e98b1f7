"""A sample world: realistic, dirty input files in the public formats, plus ground truth.

``write_sample(out, accounts=N, seed=S)`` writes:

- ``catalog.yaml``: what a data-platform vendor sells (capabilities, needs with the
  phrases that reveal them, integrations, industries, personas, ICP, tiers,
  suppression);
- ``crm/*.csv``: Salesforce-style exports (User, Account, Contact, Opportunity,
  OpportunityLineItem, Product2, Task, Event);
- ``org/job_changes.csv``: people who moved, some of them champions;
- ``signals/signals.jsonl``: dated events whose text is natural language in varied
  phrasings (mostly paraphrases, not the catalog's phrases), including negations,
  customers talking about what they already bought, and poisoned text that tries
  to instruct a model;
- ``ingest.yaml``: ingests exactly this set;
- ``ground_truth.csv``: which (account, capability) pairs are truly good matches
  and why. It is never referenced by ``ingest.yaml`` and never enters the graph.

Dirty data on purpose: industry typos, product-name variants ("GTXPro"),
duplicate and conflicting rows, missing fields, invalid emails, unknown
references, unparsable numbers, malformed JSON lines.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from ingest.sample.common import AS_OF, JOB_CHANGE_COLUMNS, SampleSummary, stamp, write_csv
from ingest.sample.first_catalog import (
    CAPABILITIES,
    COMPETITORS,
    INDUSTRIES,
    INDUSTRY_TYPOS,
    NEEDS,
    PERSONAS,
    TECHNOLOGIES,
    capability_table,
    catalog_document,
    product_id,
    product_prefix,
    product_variants,
    tech_p,
)
from ingest.sample.first_people import (
    COUNTRIES,
    FIRST,
    GENERIC_TITLES,
    LAST,
    REPLIES,
    company_name,
    department,
    description,
    slug_domain,
)
from ingest.sample.first_signals import SampleAccount, write_signals


def write_sample(
    out: Path,
    *,
    accounts: int = 200,
    seed: int = 7,
    contacts_per_account: int = 10,
    signals_per_account: int = 20,
    capabilities: int = len(CAPABILITIES),
    progress: Callable[[str, int, int], None] | None = None,
) -> SampleSummary:
    """Write the sample world into ``out`` (created; existing files are replaced).

    ``capabilities`` above twelve adds editions of the catalog's capabilities
    (:func:`capability_table`), for benchmarks that need a larger catalog."""
    if accounts < 1:
        raise ValueError("accounts must be at least 1")
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    for sub in ("crm", "org", "signals"):
        (out / sub).mkdir(exist_ok=True)
    tick = progress or (lambda _stage, _done, _total: None)
    files: dict[str, int] = {}

    caps = capability_table(capabilities)
    cap_name = {c[0]: c[1] for c in caps}
    (out / "catalog.yaml").write_text(
        yaml.safe_dump(catalog_document(caps), sort_keys=False, width=100)
    )
    files["catalog.yaml"] = len(caps)

    # --- AMs
    n_ams = max(3, min(60, accounts // 150 + 3))
    managers = [f"005M{i:04d}" for i in range(max(1, n_ams // 8))]
    ams = [f"005A{i:05d}" for i in range(n_ams)]
    users = []
    for i, uid in enumerate(managers + ams):
        first, last = FIRST[i % len(FIRST)], LAST[(i * 7) % len(LAST)]
        manager = "" if uid in managers else managers[i % len(managers)]
        title = "Sales Director" if uid in managers else "Account Manager"
        users.append(
            [
                uid,
                first,
                last,
                f"{first}.{last}{i}@northwind.example".lower(),
                title,
                manager,
                rng.choice(["Europe/Berlin", "America/New_York", "Europe/London"]),
                stamp(AS_OF - dt.timedelta(days=300)),
            ]
        )
    files["crm/User.csv"] = write_csv(
        out / "crm/User.csv",
        [
            "Id",
            "FirstName",
            "LastName",
            "Email",
            "Title",
            "ManagerId",
            "TimeZoneSidKey",
            "LastModifiedDate",
        ],
        users,
    )

    # --- accounts (latent truth first)
    cap_by_need: dict[str, list[str]] = {}
    for cid, _n, cap_needs, *_ in caps:
        for need in cap_needs:
            cap_by_need.setdefault(need, []).append(cid)
    world: list[SampleAccount] = []
    used_names: set[str] = set()
    for i in range(accounts):
        name = company_name(rng, used_names, i)
        domain = slug_domain(name, i)
        industry = rng.choices(INDUSTRIES, weights=[30, 18, 14, 12, 10, 9, 7])[0]
        employees = int(min(200_000, rng.lognormvariate(6.0, 1.5)))
        relationship = rng.choices(
            ["prospect", "customer", "former_customer", "partner"], weights=[68, 26, 4, 2]
        )[0]
        tech = sorted({t for t in TECHNOLOGIES if rng.random() < tech_p(t, industry)})
        needs: dict[str, str] = {}
        for need in NEEDS:
            p = 0.07
            serving = [c for c in caps if need in c[2]]
            if any(set(c[3]) & set(tech) for c in serving):
                p += 0.10
            if any(industry in c[4] for c in serving):
                p += 0.06
            if rng.random() < p:
                needs[need] = "text" if rng.random() < 0.72 else "structure"
        acct = SampleAccount(
            id=f"001{i:08d}",
            name=name,
            domain=domain,
            industry=industry,
            employees=employees,
            country=rng.choice(COUNTRIES),
            relationship=relationship,
            owner=rng.choice(ams),
            tech=tech,
            needs=needs,
        )
        if relationship == "customer":
            owned = rng.sample([c[0] for c in caps], k=rng.randint(1, 3))
            acct.bought.update(owned)
        acct.suppressed = rng.random() < 0.004
        world.append(acct)
        if i % 5000 == 0:
            tick("accounts", i, accounts)
    suppressed_domains = [a.domain for a in world if a.suppressed][:20] + COMPETITORS

    # --- opportunities
    opps: list[list[Any]] = []
    items: list[list[Any]] = []
    n_opp = 0
    for a in world:
        deals: list[tuple[str, str, dt.date]] = []
        for cap in sorted(a.bought):
            deals.append((cap, "won", (AS_OF - dt.timedelta(days=rng.randint(120, 900))).date()))
        if a.relationship == "prospect" and rng.random() < 0.10:
            cap = rng.choice(caps)[0]
            a.open_caps.add(cap)
            deals.append((cap, "open", (AS_OF + dt.timedelta(days=rng.randint(10, 120))).date()))
        if rng.random() < 0.05:
            cap = rng.choice(caps)[0]
            closed = (AS_OF - dt.timedelta(days=rng.randint(5, 400))).date()
            if (AS_OF.date() - closed).days <= 90:
                a.lost_recent.add(cap)
            deals.append((cap, "lost", closed))
        for cap, status, close in deals:
            n_opp += 1
            oid = f"006{n_opp:09d}"
            stage = {"won": "Closed Won", "lost": "Closed Lost", "open": "Negotiation"}[status]
            amount = rng.randrange(10_000, 250_000, 500)
            close_text = close.isoformat() if rng.random() < 0.9 else close.strftime("%m/%d/%Y")
            opps.append(
                [
                    oid,
                    f"{a.name} - {cap_name[cap]}",
                    a.id,
                    a.owner,
                    stage,
                    str(status != "open").lower(),
                    str(status == "won").lower(),
                    amount,
                    close_text,
                    stamp(AS_OF - dt.timedelta(days=rng.randint(1, 60))),
                ]
            )
            items.append([f"00k{n_opp:09d}", oid, product_id(cap, caps, rng), 1, amount])
    # An old deal for a product the catalog does not know, and its line item.
    if opps:
        items.append(["00kUNKNOWN01", opps[0][0], "01tLEGACY", 1, 999])
    files["crm/Opportunity.csv"] = write_csv(
        out / "crm/Opportunity.csv",
        [
            "Id",
            "Name",
            "AccountId",
            "OwnerId",
            "StageName",
            "IsClosed",
            "IsWon",
            "Amount",
            "CloseDate",
            "LastModifiedDate",
        ],
        opps,
    )
    files["crm/OpportunityLineItem.csv"] = write_csv(
        out / "crm/OpportunityLineItem.csv",
        ["Id", "OpportunityId", "Product2Id", "Quantity", "TotalPrice"],
        items,
    )
    products = [
        [pid, name, cid]
        for cid, variants in product_variants(caps).items()
        for pid, name in ((f"01t{product_prefix(cid, caps)}{j}", v) for j, v in enumerate(variants))
    ]
    products.append(["01tLEGACY", "Quantum Widget (discontinued)", "QW"])
    files["crm/Product2.csv"] = write_csv(
        out / "crm/Product2.csv", ["Id", "Name", "ProductCode"], products
    )

    # --- accounts file (with dirt)
    rows: list[list[Any]] = []
    for i, a in enumerate(world):
        industry = a.industry
        if rng.random() < 0.02:
            industry = rng.choice(INDUSTRY_TYPOS[a.industry])
        website = rng.choice(
            [
                f"https://www.{a.domain}",
                a.domain,
                f"http://{a.domain}/",
                f"https://{a.domain}/about",
                f"WWW.{a.domain.upper()}",
            ]
        )
        employees: Any = a.employees
        if rng.random() < 0.003:
            employees = "n/a"
        name: str = a.name
        if rng.random() < 0.003:
            name = ""
        parent = ""
        if i > 10 and rng.random() < 0.03:
            parent = world[rng.randrange(0, i)].id
        sf_type = {
            "customer": rng.choice(["Customer - Direct", "Customer - Channel", "Customer"]),
            "prospect": "Prospect",
            "former_customer": "Former Customer",
            "partner": "Technology Partner",
        }[a.relationship]
        revenue = f"${a.employees * rng.randint(80, 400) * 1000:,}" if rng.random() < 0.7 else ""
        modified = AS_OF - dt.timedelta(days=rng.randint(1, 400), minutes=rng.randint(0, 1440))
        rows.append(
            [
                a.id,
                name,
                website,
                industry,
                employees,
                revenue,
                a.owner,
                parent,
                sf_type,
                a.country,
                description(a, rng),
                stamp(modified),
            ]
        )
        if rng.random() < 0.005:  # a conflicting duplicate exported later
            rows.append(
                [
                    a.id,
                    a.name,
                    website,
                    a.industry,
                    a.employees + 10,
                    revenue,
                    a.owner,
                    parent,
                    sf_type,
                    a.country,
                    "",
                    stamp(modified + dt.timedelta(hours=1)),
                ]
            )
    files["crm/Account.csv"] = write_csv(
        out / "crm/Account.csv",
        [
            "Id",
            "Name",
            "Website",
            "Industry",
            "NumberOfEmployees",
            "AnnualRevenue",
            "OwnerId",
            "ParentId",
            "Type",
            "BillingCountry",
            "Description",
            "LastModifiedDate",
        ],
        rows,
    )
    tick("accounts", accounts, accounts)

    # --- contacts
    contact_rows: list[list[Any]] = []
    persons: dict[str, tuple[str, str, str]] = {}  # id -> (account, email, title)
    n_contact = 0
    for a in world:
        boss = ""
        for k in range(contacts_per_account):
            n_contact += 1
            pid = f"003{n_contact:010d}"
            first, last = rng.choice(FIRST), rng.choice(LAST)
            if k == 0:
                title = rng.choice(["CEO", "CTO", "Chief Data Officer"])
            elif k < 4:
                persona = rng.choice(PERSONAS)
                title = rng.choice(persona["titles"])
            else:
                title = rng.choice(GENERIC_TITLES)
            dept = department(title)
            email = f"{first}.{last}{n_contact}@{a.domain}".lower()
            shown_email = email
            r = rng.random()
            if r < 0.004:
                shown_email = email.replace("@", "_at_")  # invalid
            elif r < 0.01:
                shown_email = f" {email.upper()} "  # messy but valid
            account_ref = a.id if rng.random() > 0.002 else "001UNKNOWN"
            opted_out = "true" if rng.random() < 0.01 else "false"
            modified = AS_OF - dt.timedelta(days=rng.randint(1, 500))
            contact_rows.append(
                [
                    pid,
                    account_ref,
                    first,
                    last,
                    shown_email,
                    title,
                    dept,
                    boss if k else "",
                    opted_out,
                    stamp(modified),
                ]
            )
            persons[pid] = (a.id, email, title)
            a.contacts.append(pid)
            if k == 0:
                boss = pid
            if rng.random() < 0.008:  # the same person entered twice under a new id
                n_contact += 1
                contact_rows.append(
                    [
                        f"003{n_contact:010d}",
                        a.id,
                        first[0] + ".",
                        last,
                        email,
                        "",
                        "",
                        "",
                        "false",
                        stamp(modified),
                    ]
                )
        if len(contact_rows) > 200_000:
            files["crm/Contact.csv"] = files.get("crm/Contact.csv", 0) + write_csv(
                out / "crm/Contact.csv",
                _CONTACT_HEADER,
                contact_rows,
                append="crm/Contact.csv" in files,
            )
            contact_rows = []
            tick("contacts", n_contact, accounts * contacts_per_account)
    files["crm/Contact.csv"] = files.get("crm/Contact.csv", 0) + write_csv(
        out / "crm/Contact.csv", _CONTACT_HEADER, contact_rows, append="crm/Contact.csv" in files
    )

    # --- job changes: champions who bought from us move to other accounts
    customers = [a for a in world if a.bought and a.contacts]
    targets = [a for a in world if a.relationship == "prospect"]
    moves: list[list[Any]] = []
    champion_moves: dict[str, list[tuple[str, str]]] = {}
    for a in customers:
        if rng.random() < 0.12 and targets:
            pid = rng.choice(a.contacts[:4])
            to = rng.choice(targets)
            if to.id == a.id:
                continue
            cap = sorted(a.bought)[0]
            _, email, title = persons[pid]
            by_email = rng.random() < 0.3
            moves.append(
                [
                    "" if by_email else pid,
                    email if by_email else "",
                    a.id,
                    to.id,
                    title,
                    title,
                    (AS_OF - dt.timedelta(days=rng.randint(5, 120))).date().isoformat(),
                ]
            )
            champion_moves.setdefault(to.id, []).append((cap, pid))
    files["org/job_changes.csv"] = write_csv(
        out / "org/job_changes.csv",
        JOB_CHANGE_COLUMNS,
        moves,
    )

    # --- activities
    tasks: list[list[Any]] = []
    events: list[list[Any]] = []
    for a in world:
        if a.relationship != "customer" and not a.open_caps:
            continue
        for _ in range(rng.randint(1, 3)):
            when = AS_OF - dt.timedelta(days=rng.randint(1, 200), hours=rng.randint(0, 23))
            who = rng.choice(a.contacts) if a.contacts else ""
            if rng.random() < 0.6:
                tasks.append(
                    [
                        f"00T{len(tasks):09d}",
                        a.id,
                        who,
                        a.owner,
                        "Check-in",
                        "Discussed their roadmap.",
                        rng.choice(["Call", "Email", "Task"]),
                        stamp(when),
                    ]
                )
            else:
                events.append(
                    [f"00U{len(events):09d}", a.id, who, a.owner, "Review meeting", "", stamp(when)]
                )
    # A few logged replies carry what a person must take over (escalation triggers):
    # a separate generator, so the rest of the world does not move.
    replies = random.Random(seed + 1)
    recent = [t for t in tasks if t[6] == "Email" and t[7] >= stamp(AS_OF - dt.timedelta(days=60))]
    for task, text in zip(
        replies.sample(recent, min(len(recent), len(REPLIES))), REPLIES, strict=False
    ):
        task[4], task[5] = "Re: follow-up", text
    files["crm/Task.csv"] = write_csv(
        out / "crm/Task.csv",
        [
            "Id",
            "AccountId",
            "WhoId",
            "OwnerId",
            "Subject",
            "Description",
            "TaskSubtype",
            "CreatedDate",
        ],
        tasks,
    )
    files["crm/Event.csv"] = write_csv(
        out / "crm/Event.csv",
        ["Id", "AccountId", "WhoId", "OwnerId", "Subject", "Description", "StartDateTime"],
        events,
    )

    # --- signals
    n_signals = write_signals(
        out / "signals/signals.jsonl", world, persons, rng, signals_per_account, tick, caps
    )
    files["signals/signals.jsonl"] = n_signals

    # --- ground truth
    truth: list[list[Any]] = []
    for a in world:
        if a.suppressed or a.employees < 50 or a.domain in COMPETITORS:
            continue
        reasons: dict[str, list[str]] = {}
        for need, how in a.needs.items():
            for cap in cap_by_need[need]:
                shown = (
                    "stated in signals (mostly paraphrased)"
                    if how == "text"
                    else ("no text: shows only through structure (tech, industry, lookalikes)")
                )
                reasons.setdefault(cap, []).append(f"need {need}: {shown}")
        for cap, pid in champion_moves.get(a.id, []):
            reasons.setdefault(cap, []).append(f"champion {pid} bought it at a previous employer")
        for cap, why in sorted(reasons.items()):
            if cap in a.bought or cap in a.open_caps or cap in a.lost_recent:
                continue
            truth.append([a.id, cap, a.owner, "; ".join(why)])
    files["ground_truth.csv"] = write_csv(
        out / "ground_truth.csv", ["account_id", "capability_id", "am_id", "why"], truth
    )

    catalog = yaml.safe_load((out / "catalog.yaml").read_text())
    catalog["suppression"]["domains"] = suppressed_domains
    (out / "catalog.yaml").write_text(yaml.safe_dump(catalog, sort_keys=False, width=100))
    (out / "ingest.yaml").write_text(_INGEST_YAML)
    (out / "README.txt").write_text(_README)
    return SampleSummary(
        out=str(out),
        accounts=accounts,
        contacts=n_contact,
        signals=n_signals,
        opportunities=n_opp,
        ground_truth_pairs=len(truth),
        files=files,
    )


_CONTACT_HEADER = [
    "Id",
    "AccountId",
    "FirstName",
    "LastName",
    "Email",
    "Title",
    "Department",
    "ReportsToId",
    "HasOptedOutOfEmail",
    "LastModifiedDate",
]

_INGEST_YAML = """\
# Ingests exactly this sample world: twoloop ingest run --config ingest.yaml
quarantine_dir: quarantine
max_reject_rate: 0.10  # a quarantined account takes its contacts, deals and events with it
# batch_rows: unset, so 250,000 rows per batch on the embedded store, 50,000 on Neo4j
sources:
  - {name: catalog, reader: catalog, path: catalog.yaml}
  - {name: users, reader: salesforce/user, path: crm/User.csv}
  - {name: accounts, reader: salesforce/account, path: crm/Account.csv, incremental: true}
  - {name: contacts, reader: salesforce/contact, path: crm/Contact.csv, incremental: true}
  - {name: opportunities, reader: salesforce/opportunity, path: crm/Opportunity.csv}
  - name: line_items
    reader: salesforce/opportunity_line_item
    path: crm/OpportunityLineItem.csv
    join_files: {product2: crm/Product2.csv}
  - {name: tasks, reader: salesforce/task, path: crm/Task.csv, incremental: true}
  - {name: events, reader: salesforce/event, path: crm/Event.csv, incremental: true}
  - {name: job_changes, reader: org_chart/job_changes, path: org/job_changes.csv}
  - {name: signals, reader: signals, path: "signals/*.jsonl", incremental: true}
schedules:
  - {name: signals-hourly, cron: "5 * * * *", sources: [signals]}
  - {name: crm-nightly, cron: "30 2 * * *"}
"""

_README = """\
A twoloop sample world (generated by `twoloop sample`).

crm/         Salesforce-style exports      org/job_changes.csv  people who moved
signals/     JSONL events                  catalog.yaml         what we sell
ingest.yaml  ingests all of the above      ground_truth.csv     good (account, capability)
                                                                pairs and why; NOT ingested
The data is dirty on purpose: typos, duplicates, missing fields, bad emails,
unknown references, malformed JSON lines and text that tries to instruct a model.
"""
