"""An account's evidence as known at one moment, for a research summary.

Read through ``matching.asof`` (nothing from after ``now``): the account's recent
signals (its own and its people's, with the needs they indicate), its deals (with
the capabilities they include), its people (with the champions who moved in from
an account where they championed a deal or a capability), its current matches,
its recent activities and its open escalations. Every fact carries the cite a
statement gives for it (``signal:<id>``, ``opportunity:<id>``, ``person:<id>``,
``match:<id>``, ``activity:<id>``, ``escalation:<id>``, ``account:<id>``) and the
dates it holds, so a statement can be checked against what it cites.

Titles, excerpts, subjects and names come from the web and the CRM: untrusted
text, passed on as data only.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

import polars as pl

from graph_model.store import GraphStore
from matching.asof import as_of_view

SIGNAL_DAYS = 180
ACTIVITY_DAYS = 90
SIGNALS_SHOWN = 8
PEOPLE_SHOWN = 10
MATCHES_SHOWN = 3
ACTIVITIES_SHOWN = 5
EXCERPT_CHARS = 300
ISO_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
CURRENT_MATCH = ("proposed", "validated", "deferred")
SENIORITY_ORDER = {"executive": 0, "vp": 1, "director": 2, "manager": 3, "individual": 4}


@dataclass(frozen=True)
class SignalFact:
    signal_id: str
    kind: str
    date: dt.date
    source: str
    title: str | None
    excerpt: str
    needs: tuple[str, ...]
    # The person at the account who emitted it (their own post, ...), if any.
    person_id: str | None = None
    person_name: str | None = None

    @property
    def cite(self) -> str:
        return f"signal:{self.signal_id}"


@dataclass(frozen=True)
class DealFact:
    opportunity_id: str
    name: str
    status: str
    stage: str
    capabilities: tuple[str, ...]
    amount: float | None = None
    currency: str | None = None
    close_date: dt.date | None = None

    @property
    def cite(self) -> str:
        return f"opportunity:{self.opportunity_id}"


@dataclass(frozen=True)
class ChampionFact:
    """What a person championed at an earlier employer."""

    what: str  # a deal's or a capability's name
    opportunity_id: str | None
    status: str | None  # the deal's status
    at: str | None  # the employer's name
    close_date: dt.date | None = None

    @property
    def cite(self) -> str | None:
        return f"opportunity:{self.opportunity_id}" if self.opportunity_id else None


@dataclass(frozen=True)
class PersonFact:
    person_id: str
    name: str
    title: str | None
    seniority: str | None
    do_not_contact: bool = False
    since: dt.date | None = None
    previously_at: tuple[str, ...] = ()
    championed: tuple[ChampionFact, ...] = ()

    @property
    def cite(self) -> str:
        return f"person:{self.person_id}"


@dataclass(frozen=True)
class MatchFact:
    match_id: str
    capability: str
    score: float
    status: str
    weak: bool
    evidence: tuple[str, ...]

    @property
    def cite(self) -> str:
        return f"match:{self.match_id}"


@dataclass(frozen=True)
class ActivityFact:
    activity_id: str
    kind: str
    date: dt.date
    direction: str | None
    subject: str | None

    @property
    def cite(self) -> str:
        return f"activity:{self.activity_id}"


@dataclass(frozen=True)
class EscalationFact:
    escalation_id: str
    kind: str
    date: dt.date
    question: str

    @property
    def cite(self) -> str:
        return f"escalation:{self.escalation_id}"


@dataclass(frozen=True)
class AccountEvidence:
    """Everything a research summary may rest on."""

    account_id: str
    account_name: str
    tier: str | None
    relationship: str
    am_id: str
    am_name: str
    now: dt.datetime
    signals: tuple[SignalFact, ...] = ()
    deals: tuple[DealFact, ...] = ()
    people: tuple[PersonFact, ...] = ()
    matches: tuple[MatchFact, ...] = ()
    activities: tuple[ActivityFact, ...] = ()
    escalations: tuple[EscalationFact, ...] = ()
    # Cite -> the dates the cited node holds (a statement's dates must be among them).
    dates: dict[str, frozenset[str]] = field(default_factory=dict)

    @property
    def account_cite(self) -> str:
        return f"account:{self.account_id}"

    def cites(self) -> list[str]:
        """Every id a statement may cite, account first."""
        facts = (
            *self.signals,
            *self.deals,
            *self.people,
            *self.matches,
            *self.activities,
            *self.escalations,
        )
        championed = [c.cite for p in self.people for c in p.championed if c.cite]
        return list(dict.fromkeys([self.account_cite, *(f.cite for f in facts), *championed]))

    @property
    def thin(self) -> bool:
        """Nothing is happening that we know of: no recent signal, deal or match."""
        return not (self.signals or self.deals or self.matches)


def account_evidence(
    store: GraphStore,
    account_id: str,
    *,
    am_id: str,
    now: dt.datetime,
    match_id: str | None = None,
) -> AccountEvidence:
    """The account's evidence as known at ``now`` (``NotFound`` for an unknown account
    or AM)."""
    known = as_of_view(store, now)
    account = store.get_node("Account", account_id, hint="give an Account id")
    am = store.get_node("AccountManager", am_id, hint="give an AccountManager id")
    works = known.edges("WORKS_AT", touching=[account_id], side="target", label="Account")
    person_ids = sorted(set(works["src"].to_list()))
    since = dict(zip(works["src"], works["since"], strict=True)) if works.height else {}
    signals = _signals(known, account_id, person_ids, now)
    deals = _deals(known, account_id)
    people = _people(known, person_ids, since, signals, match_id)
    matches = _matches(known, account_id, match_id)
    activities = _activities(known, account_id, now)
    escalations = _escalations(known, account_id)
    dates: dict[str, set[str]] = {}
    for s in signals:
        dates.setdefault(s.cite, set()).add(s.date.isoformat())
    for d in deals:
        if d.close_date:
            dates.setdefault(d.cite, set()).add(d.close_date.isoformat())
    for p in people:
        if p.since:
            dates.setdefault(p.cite, set()).add(p.since.isoformat())
        for c in p.championed:
            if c.cite and c.close_date:
                dates.setdefault(c.cite, set()).add(c.close_date.isoformat())
    for a in activities:
        dates.setdefault(a.cite, set()).add(a.date.isoformat())
    for e in escalations:
        dates.setdefault(e.cite, set()).update([e.date.isoformat(), *ISO_DATE.findall(e.question)])
    for m in matches:
        # The match's own sentences: what it says is what it holds.
        dates.setdefault(m.cite, set()).update(ISO_DATE.findall(" ".join(m.evidence)))
    return AccountEvidence(
        account_id=account_id,
        account_name=str(account["name"]),
        tier=account.get("tier"),
        relationship=str(account.get("relationship") or "prospect"),
        am_id=am_id,
        am_name=str(am["full_name"]),
        now=now,
        signals=signals,
        deals=deals,
        people=people,
        matches=matches,
        activities=activities,
        escalations=escalations,
        dates={k: frozenset(v) for k, v in dates.items()},
    )


def _signals(
    known: GraphStore, account_id: str, person_ids: list[str], now: dt.datetime
) -> tuple[SignalFact, ...]:
    own = known.edges("EMITTED", touching=[account_id], side="source", label="Account")
    by_people = (
        known.edges("EMITTED", touching=person_ids, side="source", label="Person")
        if person_ids
        else own.clear()
    )
    emitter = dict(zip(by_people["dst"], by_people["src"], strict=True))
    ids = sorted(set(own["dst"].to_list()) | set(emitter))
    if not ids:
        return ()
    start = now - dt.timedelta(days=SIGNAL_DAYS)
    rows = (
        known.get_nodes("Signal", ids)
        .filter(pl.col("occurred_at") >= start)
        .sort(["occurred_at", "signal_id"], descending=[True, False])
        .head(SIGNALS_SHOWN)
    )
    if rows.height == 0:
        return ()
    indicates = known.edges("INDICATES", touching=rows["signal_id"], side="source", label="Signal")
    need_names = known.names("Need", indicates["dst"])
    needs: dict[str, list[str]] = {}
    for src, dst in indicates.select("src", "dst").iter_rows():
        needs.setdefault(src, [])
        if need_names.get(dst) and need_names[dst] not in needs[src]:
            needs[src].append(need_names[dst])
    names = known.names("Person", emitter.values(), field="full_name")
    return tuple(
        SignalFact(
            signal_id=r["signal_id"],
            kind=str(r["kind"]),
            date=r["occurred_at"].date(),
            source=str(r["source"]),
            title=r.get("title"),
            excerpt=str(r.get("text") or "")[:EXCERPT_CHARS],
            needs=tuple(sorted(needs.get(r["signal_id"], []))),
            person_id=emitter.get(r["signal_id"]),
            person_name=names.get(emitter.get(r["signal_id"], "")),
        )
        for r in rows.iter_rows(named=True)
    )


def _deals(known: GraphStore, account_id: str) -> tuple[DealFact, ...]:
    deal_for = known.edges("FOR", touching=[account_id], side="target", label="Account").filter(
        pl.col("src_label") == "Opportunity"
    )
    if deal_for.height == 0:
        return ()
    deals = known.get_nodes("Opportunity", deal_for["src"])
    includes = known.edges(
        "INCLUDES", touching=deals["opportunity_id"], side="source", label="Opportunity"
    )
    cap_names = known.names("Capability", includes["dst"])
    caps: dict[str, list[str]] = {}
    for src, dst in includes.select("src", "dst").iter_rows():
        caps.setdefault(src, []).append(str(cap_names.get(dst) or dst))
    order = {"open": 0, "lost": 1, "won": 2}
    rows = sorted(
        deals.iter_rows(named=True),
        key=lambda d: (
            order.get(str(d["status"]), 3),
            -(d["close_date"].toordinal() if d.get("close_date") else 0),
            d["opportunity_id"],
        ),
    )
    return tuple(
        DealFact(
            opportunity_id=d["opportunity_id"],
            name=str(d["name"]),
            status=str(d["status"]),
            stage=str(d["stage"]),
            capabilities=tuple(sorted(caps.get(d["opportunity_id"], []))),
            amount=d.get("amount"),
            currency=d.get("currency"),
            close_date=d.get("close_date"),
        )
        for d in rows
    )


def _people(
    known: GraphStore,
    person_ids: list[str],
    since: dict[str, dt.date | None],
    signals: tuple[SignalFact, ...],
    match_id: str | None,
) -> tuple[PersonFact, ...]:
    if not person_ids:
        return ()
    people = known.get_nodes("Person", person_ids)
    before = known.edges("PREVIOUSLY_AT", touching=person_ids, side="source", label="Person")
    employer_names = known.names("Account", before["dst"])
    previously: dict[str, list[str]] = {}
    for src, dst in before.select("src", "dst").iter_rows():
        previously.setdefault(src, []).append(str(employer_names.get(dst) or dst))
    championed = _championed(known, person_ids)
    contact: set[str] = set()
    if match_id is not None:
        chosen = known.edges("CONTACT", touching=[match_id], side="source", label="Match")
        contact = set(chosen["dst"].to_list())
    posted = {s.person_id for s in signals if s.person_id}
    facts = [
        PersonFact(
            person_id=p["person_id"],
            name=str(p["full_name"]),
            title=p.get("title"),
            seniority=p.get("seniority"),
            do_not_contact=bool(p.get("do_not_contact")),
            since=since.get(p["person_id"]),
            previously_at=tuple(previously.get(p["person_id"], [])),
            championed=tuple(championed.get(p["person_id"], [])),
        )
        for p in people.iter_rows(named=True)
    ]
    # Who matters first: the match's contact, champions, people with recent signals,
    # then by seniority.
    facts.sort(
        key=lambda f: (
            f.person_id not in contact,
            not f.championed,
            f.person_id not in posted,
            SENIORITY_ORDER.get(f.seniority or "", 5),
            f.name,
        )
    )
    return tuple(facts[:PEOPLE_SHOWN])


def _championed(known: GraphStore, person_ids: list[str]) -> dict[str, list[ChampionFact]]:
    edges = known.edges("CHAMPIONED", touching=person_ids, side="source", label="Person")
    if edges.height == 0:
        return {}
    deal_ids = edges.filter(pl.col("dst_label") == "Opportunity")["dst"].to_list()
    cap_ids = edges.filter(pl.col("dst_label") == "Capability")["dst"].to_list()
    deals = {d["opportunity_id"]: d for d in known.get_nodes("Opportunity", deal_ids).to_dicts()}
    deal_for = (
        known.edges("FOR", touching=deal_ids, side="source", label="Opportunity")
        if deal_ids
        else pl.DataFrame({"src": [], "dst": []}, schema={"src": pl.String, "dst": pl.String})
    )
    deal_account = dict(zip(deal_for["src"], deal_for["dst"], strict=True))
    account_names = known.names("Account", deal_account.values())
    cap_names = known.names("Capability", cap_ids)
    found: dict[str, list[ChampionFact]] = {}
    for row in edges.iter_rows(named=True):
        if row["dst_label"] == "Opportunity":
            deal = deals.get(row["dst"])
            if deal is None:
                continue
            fact = ChampionFact(
                what=str(deal["name"]),
                opportunity_id=row["dst"],
                status=str(deal["status"]),
                at=account_names.get(deal_account.get(row["dst"], "")),
                close_date=deal.get("close_date"),
            )
        else:
            fact = ChampionFact(
                what=str(cap_names.get(row["dst"]) or row["dst"]),
                opportunity_id=None,
                status=None,
                at=None,
            )
        found.setdefault(row["src"], []).append(fact)
    return found


def _matches(known: GraphStore, account_id: str, match_id: str | None) -> tuple[MatchFact, ...]:
    matches = known.nodes("Match", {"account_id": account_id})
    if matches.height == 0:
        return ()
    current = matches.filter(
        pl.col("status").is_in(CURRENT_MATCH) | (pl.col("match_id") == (match_id or ""))
    ).sort(
        [pl.col("match_id") == (match_id or ""), pl.col("score"), pl.col("match_id")],
        descending=[True, True, False],
    )
    current = current.head(MATCHES_SHOWN)
    names = known.names("Capability", current["capability_id"])
    return tuple(
        MatchFact(
            match_id=m["match_id"],
            capability=str(names.get(m["capability_id"]) or m["capability_id"]),
            score=float(m["score"]),
            status=str(m["status"]),
            weak=bool(m.get("weak")),
            evidence=tuple(m["evidence"] or ()),
        )
        for m in current.iter_rows(named=True)
    )


def _activities(known: GraphStore, account_id: str, now: dt.datetime) -> tuple[ActivityFact, ...]:
    about = known.edges("ABOUT", touching=[account_id], side="target", label="Account")
    if about.height == 0:
        return ()
    start = now - dt.timedelta(days=ACTIVITY_DAYS)
    rows = (
        known.get_nodes("Activity", about["src"])
        .filter(pl.col("occurred_at") >= start)
        .sort(["occurred_at", "activity_id"], descending=[True, False])
        .head(ACTIVITIES_SHOWN)
    )
    return tuple(
        ActivityFact(
            activity_id=a["activity_id"],
            kind=str(a["kind"]),
            date=a["occurred_at"].date(),
            direction=a.get("direction"),
            subject=a.get("subject"),
        )
        for a in rows.iter_rows(named=True)
    )


def _escalations(known: GraphStore, account_id: str) -> tuple[EscalationFact, ...]:
    rows = known.nodes("Escalation", {"account_id": account_id})
    if rows.height == 0:
        return ()
    rows = rows.filter(pl.col("status") == "open").sort("opened_at", descending=True)
    return tuple(
        EscalationFact(
            escalation_id=e["escalation_id"],
            kind=str(e["kind"]),
            date=e["opened_at"].date(),
            question=str(e["question"]),
        )
        for e in rows.iter_rows(named=True)
    )
