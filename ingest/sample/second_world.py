"""The second world's latent truth: who needs what now, who solved it, who sells it.

Everything the files show is drawn from this model, and ``ground_truth.csv`` is read
off it (:meth:`SecondWorld.truth`): a pair is good when the account has a need the
capability addresses *now*, inside the capability's strict fit and the ICP, and the
account is not a vendor of it, has not bought or solved it, has no open deal for it
and did not just lose it to a competitor.
"""

from __future__ import annotations

import datetime as dt
import random
import unicodedata
from dataclasses import dataclass, field
from typing import Literal

from ingest.sample.common import AS_OF
from ingest.sample.second_catalog import (
    ICP_MIN_EMPLOYEES,
    INDUSTRIES,
    NEEDS,
    OFFER,
    OFFERS,
    PERSONAS,
    TECHNOLOGIES,
)
from ingest.sample.second_text import (
    FIRST,
    GENERIC_TITLES,
    LAST,
    TOWN,
    TRADE,
    VENDOR_STEMS,
    VENDOR_SUFFIX,
)

# How an active need shows: in the company's words, or only in structure.
Shows = Literal["text", "tech", "visits", "champion", "parent"]
# What became of a need that is no longer open.
Outcome = Literal["bought", "fixed", "lost"]

TODAY = AS_OF.date()
COUNTRIES = ("US", "US", "GB", "DE", "FR", "NL", "SE", "ES", "IT", "PL", "CA", "BR", "AU")


@dataclass
class Person:
    id: str
    account: str
    first: str
    last: str
    email: str
    title: str
    department: str
    persona: str | None


@dataclass
class Move:
    """A person who changed jobs; ``new`` is their contact record at the new employer."""

    person: Person
    to: str | None
    on: dt.date
    championed: tuple[str, ...]
    new: Person | None
    by_email: bool


@dataclass
class Deal:
    id: str
    account: str
    offer: str
    status: Literal["won", "lost", "open"]
    close: dt.date
    owner: str
    amount: int


@dataclass
class Company:
    id: str
    name: str
    domain: str
    industry: str
    employees: int
    country: str
    owner: str
    tech: list[str]
    sells: str | None = None  # the need whose remedy this company sells
    parent: str | None = None
    previous_owner: str | None = None  # owned the account until ``owner_since``
    owner_since: dt.date | None = None
    needs: dict[str, Shows] = field(default_factory=dict)  # open now
    solved: dict[str, Outcome] = field(default_factory=dict)
    denies: list[str] = field(default_factory=list)  # needs it says it does not have
    suppressed: bool = False
    people: list[Person] = field(default_factory=list)

    def owner_on(self, day: dt.date) -> str:
        if self.previous_owner and self.owner_since and day < self.owner_since:
            return self.previous_owner
        return self.owner


@dataclass
class SecondWorld:
    ams: list[tuple[str, str, str | None]]  # (id, full name, manager id)
    companies: list[Company]
    deals: list[Deal]
    moves: list[Move]

    def company(self, cid: str) -> Company:
        return next(c for c in self.companies if c.id == cid)

    def truth(self) -> list[tuple[str, str, str, str]]:
        """(account id, capability id, owner, why) for every good pair."""
        settled: dict[tuple[str, str], str] = {}
        for d in self.deals:
            if d.status in ("won", "open"):
                settled[(d.account, d.offer)] = d.status
            elif (TODAY - d.close).days <= 365:
                settled[(d.account, d.offer)] = "lost"
        rows: list[tuple[str, str, str, str]] = []
        for c in self.companies:
            if c.suppressed or c.employees < ICP_MIN_EMPLOYEES:
                continue
            for offer in OFFERS:
                if (c.id, offer.id) in settled:
                    continue
                if not offer.fits(c.industry, c.employees, c.country):
                    continue
                why = [f"needs {n} now ({_SHOWN[c.needs[n]]})" for n in offer.needs if n in c.needs]
                if why and c.sells not in offer.needs:
                    rows.append((c.id, offer.id, c.owner, "; ".join(why)))
        return rows


_SHOWN: dict[str, str] = {
    "text": "said in its own words",
    "tech": "silent: shows only in the technology it runs",
    "visits": "silent: shows only in visits to the vendor's pages",
    "champion": "silent: a champion of it moved in",
    "parent": "silent: its parent company bought it",
}


def build_second_world(accounts: int, seed: int) -> SecondWorld:
    rng = random.Random(seed)
    n_ams = max(3, min(40, accounts // 80 + 3))
    managers = [str(71_000_000 + i) for i in range(max(1, n_ams // 6))]
    ams: list[tuple[str, str, str | None]] = [
        (m, f"{FIRST[i * 3 % len(FIRST)]} {LAST[i * 5 % len(LAST)]}", None)
        for i, m in enumerate(managers)
    ]
    for i in range(n_ams):
        name = f"{FIRST[(i * 7 + 2) % len(FIRST)]} {LAST[(i * 11 + 3) % len(LAST)]}"
        ams.append((str(72_000_000 + i * 37), name, managers[i % len(managers)]))
    sellers = [a[0] for a in ams if a[2] is not None]

    companies = [_company(i, rng, sellers) for i in range(accounts)]
    buyers = [c for c in companies if c.sells is None]
    by_id = {c.id: c for c in companies}
    for i, c in enumerate(buyers):
        if i > 8 and rng.random() < 0.09:
            parent = rng.choice(buyers[:i])
            c.parent = parent.id
            if rng.random() < 0.7:
                c.industry = parent.industry
    deals: list[Deal] = []
    for c in companies:
        _draw_needs(c, rng, deals)
    # A parent that bought something recently rolls it out to its subsidiaries.
    for c in companies:
        if not c.parent:
            continue
        for d in deals:
            if d.account == c.parent and d.status == "won" and (TODAY - d.close).days <= 730:
                need = OFFER[d.offer].needs[0]
                if _open_to(c, need) and rng.random() < 0.8:
                    c.needs[need] = "parent"
    for k, c in enumerate(companies):
        _staff(c, k, rng)
    moves = _moves(companies, deals, rng)
    for m in moves:
        if m.to and m.championed:
            target = by_id[m.to]
            need = OFFER[m.championed[0]].needs[0]
            if _open_to(target, need):
                target.needs[need] = "champion"
    # The owner changed on some accounts: their older deals stay with the previous owner.
    for c in companies:
        if rng.random() < 0.12 and len(sellers) > 1:
            c.previous_owner = rng.choice([s for s in sellers if s != c.owner])
            c.owner_since = TODAY - dt.timedelta(days=rng.randint(30, 200))
    for k, d in enumerate(deals, start=1):
        d.id = str(8_800_000_000 + k * 13)
        d.owner = by_id[d.account].owner_on(d.close)
    return SecondWorld(ams=ams, companies=companies, deals=deals, moves=moves)


def _open_to(c: Company, need: str) -> bool:
    """Structure can still give the company this need: it has not got, solved, denied
    or sold it."""
    return need != c.sells and need not in c.needs and need not in c.solved and need not in c.denies


def _company(i: int, rng: random.Random, sellers: list[str]) -> Company:
    cid = str(3_100_000_000 + i * 7919)
    if rng.random() < 0.05:  # sells what some capability does
        sells = rng.choice(sorted(NEEDS))
        stem = VENDOR_STEMS[i % len(VENDOR_STEMS)]
        name = f"{stem} {rng.choice(VENDOR_SUFFIX)}"
        industry, employees = "Computer Software", rng.randint(30, 900)
    else:
        sells = None
        industry = rng.choices(list(INDUSTRIES), weights=list(INDUSTRIES.values()))[0]
        name = f"{rng.choice(TOWN)} {rng.choice(TRADE[industry])}"
        employees = max(5, int(rng.lognormvariate(5.8, 1.5)))
    slug = "".join(ch for ch in name.lower() if ch.isalnum())
    tech = sorted(t for t in TECHNOLOGIES if rng.random() < _tech_odds(t, industry))
    return Company(
        id=cid,
        name=name,
        domain=f"{slug}-{i}.example",
        industry=industry,
        employees=employees,
        country=rng.choice(COUNTRIES),
        owner=rng.choice(sellers),
        tech=tech,
        sells=sells,
        suppressed=rng.random() < 0.01,
    )


def _tech_odds(tech: str, industry: str) -> float:
    home = {
        "OSIsoft PI": ("Food Production", "Utilities", "Pharmaceuticals", "Chemicals"),
        "SAP PM": ("Food Production", "Utilities", "Oil & Energy", "Chemicals"),
        "IBM Maximo": ("Utilities", "Oil & Energy"),
        "ServiceTitan": ("Facilities Services",),
        "Salesforce Field Service": ("Facilities Services", "Hospital & Health Care"),
        "Samsara": ("Logistics & Supply Chain", "Food Production", "Construction"),
        "Geotab": ("Logistics & Supply Chain", "Retail"),
        "Siemens Desigo": ("Real Estate", "Higher Education", "Hospital & Health Care"),
        "Schneider EcoStruxure": ("Real Estate", "Retail"),
        "Procore": ("Construction",),
        "Oracle NetSuite": (),
        "SAP S/4HANA": (),
        "Microsoft 365": (),
        "Google Workspace": (),
    }[tech]
    if tech in ("Microsoft 365", "Google Workspace"):
        return 0.45
    return 0.35 if industry in home else 0.05


def _draw_needs(c: Company, rng: random.Random, deals: list[Deal]) -> None:
    for need in sorted(NEEDS):
        if need == c.sells:
            continue
        serving = [o for o in OFFERS if need in o.needs]
        p = 0.05
        if any(set(o.integrations) & set(c.tech) for o in serving):
            p += 0.09
        if any(c.industry in o.industries for o in serving):
            p += 0.07
        if rng.random() >= p:
            if rng.random() < 0.03:
                c.denies.append(need)
            continue
        fate = rng.random()
        offer = rng.choice(serving)
        if fate < 0.60:
            show = rng.random()
            if show < 0.75 and (show < 0.55 or not set(offer.integrations) & set(c.tech)):
                c.needs[need] = "text"
            elif show < 0.75:
                c.needs[need] = "tech"
            else:
                c.needs[need] = "visits"
            if c.needs[need] == "text" and rng.random() < 0.07:
                deals.append(_deal(c, offer.id, "open", rng.randint(10, 90), rng))
        elif fate < 0.76:  # bought from us about a year ago
            c.solved[need] = "bought"
            deals.append(_deal(c, offer.id, "won", -rng.randint(300, 460), rng))
        elif fate < 0.90:  # fixed it some other way
            c.solved[need] = "fixed"
        else:  # chose a competitor this year
            c.solved[need] = "lost"
            deals.append(_deal(c, offer.id, "lost", -rng.randint(20, 300), rng))
    if c.sells is None and not any(d.account == c.id for d in deals) and rng.random() < 0.06:
        # An older customer of something it no longer talks about.
        offer = rng.choice(OFFERS)
        deals.append(_deal(c, offer.id, "won", -rng.randint(500, 900), rng))


def _deal(
    c: Company, offer: str, status: Literal["won", "lost", "open"], days: int, rng: random.Random
) -> Deal:
    return Deal(
        id="",  # numbered once every deal is drawn
        account=c.id,
        offer=offer,
        status=status,
        close=TODAY + dt.timedelta(days=days),
        owner=c.owner,
        amount=rng.randrange(8_000, 180_000, 250),
    )


def _staff(c: Company, k: int, rng: random.Random) -> None:
    size = 3 if c.employees < 60 else rng.randint(5, 8)
    personas = sorted(PERSONAS)
    for j in range(size):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        persona: str | None = None
        if j < 3:
            persona = rng.choice(personas)
            titles, depts = PERSONAS[persona]
            title, dept = rng.choice(titles), depts[0]
        else:
            title, dept = rng.choice(GENERIC_TITLES), ""
        pid = str(5_200_000_000 + k * 97 + j)
        email = f"{_ascii(first)}.{_ascii(last)}{j}@{c.domain}"
        c.people.append(Person(pid, c.id, first, last, email, title, dept, persona))


def _ascii(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in plain if ch.isascii() and ch.isalpha())


def _moves(companies: list[Company], deals: list[Deal], rng: random.Random) -> list[Move]:
    won: dict[str, list[str]] = {}
    for d in deals:
        if d.status == "won":
            won.setdefault(d.account, []).append(d.offer)
    buyers = [c for c in companies if c.sells is None and not c.suppressed]
    moves: list[Move] = []
    serial = 0
    for c in companies:
        if not c.people:
            continue
        bought = sorted(set(won.get(c.id, [])))
        roll = rng.random()
        if bought and roll < 0.3:  # a champion of what they bought moves on
            buyers_of = set(OFFER[bought[0]].personas)
            person = next(
                (p for p in c.people if p.persona in buyers_of),
                next((p for p in c.people if p.persona), c.people[0]),
            )
            championed = tuple(bought)
        elif roll < 0.06:  # someone moves; nobody knows what they championed
            person = rng.choice(c.people)
            championed = ()
        else:
            continue
        to = rng.choice(buyers) if rng.random() < 0.9 else None
        if to is not None and to.id == c.id:
            continue
        new: Person | None = None
        if to is not None and rng.random() < 0.6:
            serial += 1
            new = Person(
                id=str(5_900_000_000 + serial),
                account=to.id,
                first=person.first,
                last=person.last,
                email=f"{_ascii(person.first)[0]}{_ascii(person.last)}@{to.domain}",
                title=person.title,
                department=person.department,
                persona=person.persona,
            )
            to.people.append(new)
        moves.append(
            Move(
                person=person,
                to=to.id if to else None,
                on=TODAY - dt.timedelta(days=rng.randint(10, 200)),
                championed=championed,
                new=new,
                by_email=rng.random() < 0.25,
            )
        )
    return moves
