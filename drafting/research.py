"""The "research first" summary: what an AM should know about an account before
acting, every statement citing the signals, deals and people it rests on.

``write_research`` gathers the account's evidence as of ``now``
(``drafting.account_evidence``), has it written (by Claude when a key is set, else
offline), checks every statement, and stores one Research node:

- offline composition names what the graph holds (kinds, dates, names,
  statuses, a match's own evidence sentence, and a signal's title or first
  sentence, quoted, unless it carries a link, an address, markup, a price or a
  date), in four parts: what is happening, who
  matters, what we could offer, what to watch out for (an open deal, a recent
  loss, an open escalation, a do-not-contact person). An account with thin
  evidence gets a statement saying so, not an invented reason to call.
- the check drops a statement that cites nothing, cites an id not in the
  evidence, gives a date none of its cites holds, or carries a link, an email
  address, a phone number, a price, a discount, a promise or a forward
  instruction (``drafting.guard``); each drop is a violation, and ``grounded``
  means nothing was dropped.
- when Claude fails (or nothing it wrote survives the check) the summary is
  composed offline and ``note`` says why.

The Research id derives from the account and the play run (or the account and
the day without one): writing it again returns the stored row unchanged.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from drafting.account_evidence import (
    ISO_DATE,
    SIGNAL_DAYS,
    AccountEvidence,
    DealFact,
    SignalFact,
    account_evidence,
)
from drafting.guard import DISCOUNT, FORWARD, PRICE, PROMISE
from drafting.links import carried, find_links
from graph_model.errors import DecisionRejected, ModelError
from graph_model.settings import Settings, load_settings
from graph_model.store import GraphStore

OFFLINE = "offline"
RECENT_LOSS_DAYS = 365
SIGNALS_STATED = 3
PEOPLE_STATED = 3
MATCHES_STATED = 2
GIST_CHARS = 100
PHONE_DIGITS = 9
PHONE = re.compile(r"(?<![\w.-])\+?\(?\d[\d ().-]{7,}\d(?![\w-])")
_CHECKS = (
    ("a forward, copy or BCC instruction", FORWARD),
    ("a price", PRICE),
    ("a discount or free offer", DISCOUNT),
    ("a contract promise", PROMISE),
)


class Statement(BaseModel):
    """One thing the summary says and the evidence ids it rests on."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=600)
    cites: list[str] = Field(default_factory=list)


class ResearchWriter(Protocol):
    """Turns an account's evidence into statements."""

    name: str  # "offline" or "claude:<model>"

    def write(self, evidence: AccountEvidence) -> list[Statement]: ...


def research_id(account_id: str, *, play_run_id: str | None, now: dt.datetime) -> str:
    scope = play_run_id if play_run_id else now.astimezone(dt.UTC).date().isoformat()
    return "rs-" + hashlib.sha1(f"{account_id}\x1f{scope}".encode()).hexdigest()[:20]


# ---------------------------------------------------------------- offline


def _kind(kind: str) -> str:
    return kind.replace("_", " ")


_DID = {
    "social_post": "posted",
    "job_change": "changed jobs",
    "exec_change": "had an executive change",
    "priority_statement": "stated a priority",
    "web_visit": "visited our site",
}


def _gist(s: SignalFact) -> str:
    """The signal's title (or its first sentence), quoted, when it is short prose: an
    untrusted text that carries a link, an address, markup, a price or a date is left
    out, so the statement stands without it."""
    text = " ".join(
        (s.title or re.split(r"(?<=[.!?])\s", s.excerpt.strip(), maxsplit=1)[0]).split()
    )
    text = text.rstrip(".")
    if len(text) > GIST_CHARS:
        text = text[:GIST_CHARS].rsplit(" ", 1)[0] + "..."
    if not text or '"' in text or carried(text) or _carries(text, vendor=set(), dates=set()):
        return ""
    return f': "{text}"'


def _signal_statement(s: SignalFact, account: str) -> Statement:
    about = f" about {_join([n.lower() for n in s.needs])}" if s.needs else ""
    when = s.date.isoformat()
    if s.person_id and s.person_name:
        did = _DID.get(s.kind, f"had {_a(_kind(s.kind))} signal")
        return Statement(
            text=f"On {when} {s.person_name} of {account} {did}{about}{_gist(s)}.",
            cites=[s.cite, f"person:{s.person_id}"],
        )
    return Statement(
        text=f"On {when} {account} had {_a(_kind(s.kind))} signal{about}{_gist(s)}.",
        cites=[s.cite],
    )


def _a(noun: str) -> str:
    return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun


def _deal_statement(d: DealFact, account: str, now: dt.datetime) -> Statement | None:
    offered = f" for {_join(list(d.capabilities))}" if d.capabilities else ""
    if d.status == "open":
        return Statement(
            text=f"Watch out: an open deal, {d.name}{offered}, is at stage {d.stage}; "
            "coordinate with it before offering anything else.",
            cites=[d.cite],
        )
    if d.status == "lost":
        if d.close_date and (now.date() - d.close_date).days > RECENT_LOSS_DAYS:
            return None
        when = f" on {d.close_date.isoformat()}" if d.close_date else ""
        return Statement(
            text=f"Watch out: we lost {d.name}{offered}{when}; know why before pitching again.",
            cites=[d.cite],
        )
    when = f" on {d.close_date.isoformat()}" if d.close_date else ""
    bought = f" {_join(list(d.capabilities))}" if d.capabilities else " from us"
    return Statement(
        text=f"{account} already bought{bought}: {d.name} was won{when}.", cites=[d.cite]
    )


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


class OfflineResearcher:
    """Composes the summary from the graph's names, kinds, dates and statuses."""

    name = OFFLINE

    def write(self, evidence: AccountEvidence) -> list[Statement]:
        account = evidence.account_name
        out: list[Statement] = []
        # What is happening.
        for s in evidence.signals[:SIGNALS_STATED]:
            out.append(_signal_statement(s, account))
        if not evidence.signals:
            out.append(
                Statement(
                    text=f"No signals from {account} or its people in the last "
                    f"{SIGNAL_DAYS} days: nothing says they are looking for anything now.",
                    cites=[evidence.account_cite],
                )
            )
        # Who matters.
        for p in evidence.people:
            for c in p.championed:
                moved = (
                    f" joined {account} on {p.since.isoformat()}"
                    if p.since and p.previously_at
                    else f" is at {account}"
                )
                where = f" at {c.at}" if c.at else ""
                was = f" ({c.status})" if c.status else ""
                out.append(
                    Statement(
                        text=f"{p.name}{moved}; they championed {c.what}{was}{where}.",
                        cites=[p.cite] + ([c.cite] if c.cite else []),
                    )
                )
        stated = [p for p in evidence.people if not p.do_not_contact][:PEOPLE_STATED]
        if stated:
            out.append(
                Statement(
                    text="People who matter: "
                    + "; ".join(f"{p.name}, {p.title}" if p.title else p.name for p in stated)
                    + ".",
                    cites=[p.cite for p in stated],
                )
            )
        elif not evidence.people:
            out.append(
                Statement(
                    text=f"No contacts at {account} in the graph: find who to talk to first.",
                    cites=[evidence.account_cite],
                )
            )
        # What we could offer.
        for m in evidence.matches[:MATCHES_STATED]:
            why = f": {m.evidence[0]}" if m.evidence else ""
            weak = ", thin evidence" if m.weak else ""
            out.append(
                Statement(
                    text=f"We could offer {m.capability} (score {m.score:.2f}{weak}){why}",
                    cites=[m.cite],
                )
            )
        # What to watch out for, and what they have.
        for d in evidence.deals:
            statement = _deal_statement(d, account, evidence.now)
            if statement is not None:
                out.append(statement)
        for e in evidence.escalations:
            out.append(
                Statement(
                    text=f"Watch out: an escalation ({_kind(e.kind)}) is open since "
                    f"{e.date.isoformat()}: {e.question}",
                    cites=[e.cite],
                )
            )
        for p in evidence.people:
            if p.do_not_contact:
                out.append(
                    Statement(text=f"Watch out: {p.name} is marked do not contact.", cites=[p.cite])
                )
        if evidence.activities:
            a = evidence.activities[0]
            way = f"{a.direction} " if a.direction else ""
            out.append(
                Statement(
                    text=f"Last activity logged: {way}{a.kind} on {a.date.isoformat()}.",
                    cites=[a.cite],
                )
            )
        if evidence.thin:
            out.append(
                Statement(
                    text=f"The evidence on {account} is thin: no recent signal, no deal and no "
                    "current match; treat this as a cold account.",
                    cites=[evidence.account_cite],
                )
            )
        return [_tidy(s) for s in out]


def _tidy(statement: Statement) -> Statement:
    text = " ".join(statement.text.split())
    if not text.endswith((".", "?", "!")):
        text += "."
    return statement.model_copy(update={"text": text})


# ---------------------------------------------------------------- the check


def check_statements(
    evidence: AccountEvidence,
    statements: Iterable[Statement],
    *,
    vendor_names: Iterable[str] = (),
) -> tuple[list[Statement], list[str]]:
    """The statements that pass, and a violation for each one dropped (see module doc).
    ``vendor_names``: catalog names ("ASP.NET") whose hosts are not links."""
    known = set(evidence.cites())
    vendor = {f.host for name in vendor_names for f in find_links(name) if f.host}
    kept: list[Statement] = []
    violations: list[str] = []
    for i, statement in enumerate(statements, start=1):
        problem = _problem(statement, known, evidence.dates, vendor)
        if problem:
            violations.append(f"statement {i}: {problem}")
        else:
            kept.append(statement)
    return kept, violations


def _problem(
    statement: Statement, known: set[str], dates: dict[str, frozenset[str]], vendor: set[str]
) -> str | None:
    if not statement.cites:
        return "it cites nothing"
    unknown = [c for c in statement.cites if c not in known]
    if unknown:
        return f"it cites what the evidence does not hold: {', '.join(unknown)}"
    held = set().union(*(dates.get(c, frozenset()) for c in statement.cites))
    return _carries(statement.text, vendor=vendor, dates=held)


def _carries(text: str, *, vendor: set[str], dates: set[str]) -> str | None:
    """What ``text`` must not carry: a link, an address, a phone number, a price, a
    discount, a promise, a forward instruction, or a date other than ``dates``."""
    for found in find_links(text):
        if found.kind == "email address":
            return f"an email address: {found.text}"
        if found.host is None or found.host not in vendor:
            return f"a link: {found.host or found.text}"
    undated = ISO_DATE.sub(" ", text)  # a date is not a phone number
    for name, pattern in _CHECKS:
        hit = pattern.search(undated)
        if hit:
            return f"{name}: {hit.group(0).strip()!r}"
    for hit in PHONE.finditer(undated):
        # Nine digits or more: "2025-2026" and "0.77" are not phone numbers.
        if sum(c.isdigit() for c in hit.group(0)) >= PHONE_DIGITS:
            return f"a phone number: {hit.group(0).strip()!r}"
    stray = [d for d in ISO_DATE.findall(text) if d not in dates]
    if stray:
        return f"a date none of its cites holds: {', '.join(stray)}"
    return None


# ---------------------------------------------------------------- write, store, render


def _writer(settings: Settings) -> tuple[ResearchWriter | None, str | None]:
    if not settings.anthropic_api_key:
        return None, "no Claude API key is set (TWOLOOP_ANTHROPIC_API_KEY): written offline"
    from drafting.claude_research import ClaudeResearcher

    return ClaudeResearcher(settings), None


def compose_research(
    evidence: AccountEvidence, writer: ResearchWriter | None, *, vendor_names: Iterable[str] = ()
) -> tuple[str, list[Statement], list[str], str | None]:
    """(writer name, statements kept, violations, note): ``writer``'s summary checked,
    or the offline one when there is no writer, it fails, or nothing it said passes."""
    names = list(vendor_names)
    violations: list[str] = []
    note = None
    if writer is not None:
        try:
            written = writer.write(evidence)
            kept, violations = check_statements(evidence, written, vendor_names=names)
        except ModelError as exc:
            note = f"{writer.name} failed ({' '.join(str(exc).split())}): written offline"
        else:
            if kept:
                return writer.name, kept, violations, None
            note = f"nothing {writer.name} wrote passed the check: written offline"
    kept, offline_violations = check_statements(
        evidence, OfflineResearcher().write(evidence), vendor_names=names
    )
    return OFFLINE, kept, violations + offline_violations, note


def write_research(
    store: GraphStore,
    *,
    account_id: str,
    am_id: str,
    now: dt.datetime,
    match_id: str | None = None,
    play_run_id: str | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Write, check and store the research summary on an account for an AM; returns
    the Research row (the stored one, unchanged, when it exists already)."""
    rid = research_id(account_id, play_run_id=play_run_id, now=now)
    existing = store.get_nodes("Research", [rid])
    if existing.height:
        return existing.row(0, named=True)
    if match_id is not None:
        match = store.get_node("Match", match_id, hint="give a Match id")
        if match["account_id"] != account_id:
            raise DecisionRejected(
                f"match {match_id} is for account {match['account_id']}, not {account_id}",
                hint="give a match of this account, or none",
            )
    evidence = account_evidence(store, account_id, am_id=am_id, now=now, match_id=match_id)
    settings = settings or load_settings()
    writer, note = _writer(settings)
    catalog = store.nodes("Capability", fields=["name", "description"])
    vendor_names = [*catalog["name"].to_list(), *catalog["description"].to_list()]
    name, kept, violations, failed = compose_research(evidence, writer, vendor_names=vendor_names)
    row = {
        "research_id": rid,
        "account_id": account_id,
        "am_id": am_id,
        "match_id": match_id,
        "play_run_id": play_run_id,
        "writer": name,
        "created_at": now,
        "statements": json.dumps([s.model_dump() for s in kept]),
        "grounded": bool(kept) and not violations,
        "violations": violations,
        "note": failed or note,
    }
    store.upsert_nodes("Research", [row])
    return store.get_node("Research", rid)


def render_research(row: dict[str, Any]) -> str:
    """Plain text: a header, then one statement a line with its cites in brackets."""
    created = row["created_at"]
    when = created.date().isoformat() if isinstance(created, dt.datetime) else str(created)
    lines = [
        f"Research on {row['account_id']} for {row['am_id']} ({when}, {row['writer']}, "
        f"{'grounded' if row['grounded'] else 'NOT grounded'})"
    ]
    if row.get("note"):
        lines.append(f"note: {row['note']}")
    for s in json.loads(row.get("statements") or "[]"):
        lines.append(f"- {s['text']} [{', '.join(s['cites'])}]")
    lines += [f"dropped: {v}" for v in row.get("violations") or ()]
    return "\n".join(lines)
