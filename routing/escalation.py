"""Escalation triggers: words in activities and signals that hand an account to a
person, and what happens then.

``routing/triggers.yaml`` says which words (regular expressions) mean a pricing
dispute, a request for an exec call, a contract amendment, a legal matter or an
opt-out, and in which activities and signals to look. ``find_trigger_hits`` is
pure: texts in, hits out. ``detect_escalations`` reads the recent texts from the
graph and, for each new hit, opens a blocking Escalation on the account (with
its handoff packet) in one commit. An opt-out also suppresses the person's
address and marks them do-not-contact. Each (text, kind) opens one escalation,
ever: running again opens nothing new, and a resolved one stays resolved.

While an account has an open blocking escalation, routing gives its matches
``wait`` (the built-in ``account_escalated`` rule) and the outbox holds its
messages. A person closes it, once, with their answer
(``app.human_loop.resolve_escalation``, which checks who may).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from graph_model.changes import journal
from graph_model.errors import (
    ConfigFileInvalid,
)
from graph_model.store import Filter, GraphStore
from graph_model.vocabulary import ActivityKind, EscalationKind, SignalKind
from graph_model.yamlfile import read_yaml, validate
from matching.owners import account_owners
from routing.handoff import handoff_packet

DEFAULT_FILE = Path(__file__).with_name("triggers.yaml")
EXCERPT_CHARS = 160


@dataclass(frozen=True)
class Trigger:
    kind: str
    sources: tuple[str, ...]  # "activity:email", "signal:*", ...
    patterns: tuple[re.Pattern[str], ...]
    question: str

    def looks_at(self, source: str, kind: str) -> bool:
        return f"{source}:{kind}" in self.sources or f"{source}:*" in self.sources


@dataclass(frozen=True)
class TriggerBook:
    path: str
    max_age_days: int
    triggers: tuple[Trigger, ...]


class _TriggerEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: EscalationKind
    in_: list[str] = Field(alias="in", min_length=1)
    patterns: list[str] = Field(min_length=1)
    question: str = Field(min_length=1)


class _TriggerFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_age_days: int = Field(default=90, ge=1)
    triggers: list[_TriggerEntry] = Field(min_length=1)


def load_triggers(path: Path = DEFAULT_FILE) -> TriggerBook:
    data = validate(_TriggerFile, read_yaml(path), str(path))
    kinds = {"activity": {k.value for k in ActivityKind}, "signal": {k.value for k in SignalKind}}
    triggers = []
    for i, entry in enumerate(data.triggers):
        where = f"triggers.{i}({entry.kind.value})"
        for source in entry.in_:
            side, _, kind = source.partition(":")
            if side not in kinds or (kind != "*" and kind not in kinds[side]):
                raise ConfigFileInvalid(
                    str(path),
                    where,
                    f"'in' entry {source!r} is not activity:<kind>, signal:<kind> or <side>:*",
                    hint="activity kinds: "
                    + ", ".join(sorted(kinds["activity"]))
                    + "; signal kinds: "
                    + ", ".join(sorted(kinds["signal"])),
                )
        compiled = compile_patterns(entry.patterns, path=path, where=where)
        triggers.append(Trigger(entry.kind.value, tuple(entry.in_), compiled, entry.question))
    return TriggerBook(str(path), data.max_age_days, tuple(triggers))


def compile_patterns(patterns: list[str], *, path: Path, where: str) -> tuple[re.Pattern[str], ...]:
    """A rules file's regular expressions (case-insensitive, ^ and $ per line); a bad
    one is an error naming the file and the entry."""
    compiled = []
    for pattern in patterns:
        try:
            compiled.append(re.compile(pattern, re.IGNORECASE | re.MULTILINE))
        except re.error as exc:
            raise ConfigFileInvalid(
                str(path), where, f"pattern {pattern!r} is not a regular expression: {exc}"
            ) from None
    return tuple(compiled)


@dataclass(frozen=True)
class TriggerHit:
    kind: str
    source: str  # "activity" or "signal"
    source_id: str
    account_id: str
    person_id: str | None
    excerpt: str
    occurred_at: dt.datetime

    @property
    def escalation_id(self) -> str:
        text = "\x1f".join([self.source, self.source_id, self.kind])
        return "e-" + hashlib.sha1(text.encode()).hexdigest()[:20]


def find_trigger_hits(texts: pl.DataFrame, book: TriggerBook) -> list[TriggerHit]:
    """Which texts trip which triggers. ``texts``: source, source_id, kind, account_id,
    person_id, occurred_at, text. One hit per (text, trigger kind)."""
    hits: list[TriggerHit] = []
    for row in texts.iter_rows(named=True):
        body = row["text"] or ""
        for trigger in book.triggers:
            if not trigger.looks_at(row["source"], row["kind"]):
                continue
            for pattern in trigger.patterns:
                found = pattern.search(body)
                if found:
                    hits.append(
                        TriggerHit(
                            kind=trigger.kind,
                            source=row["source"],
                            source_id=row["source_id"],
                            account_id=row["account_id"],
                            person_id=row["person_id"],
                            excerpt=_excerpt(body, found.start(), found.end()),
                            occurred_at=row["occurred_at"],
                        )
                    )
                    break
    return hits


def _excerpt(text: str, start: int, end: int) -> str:
    half = max(0, (EXCERPT_CHARS - (end - start)) // 2)
    lo, hi = max(0, start - half), min(len(text), end + half)
    flat = " ".join(text[lo:hi].split())
    return ("..." if lo else "") + flat + ("..." if hi < len(text) else "")


TEXT_SCHEMA = {
    "source": pl.String,
    "source_id": pl.String,
    "kind": pl.String,
    "account_id": pl.String,
    "person_id": pl.String,
    "occurred_at": pl.Datetime("us", "UTC"),
    "text": pl.String,
}


def trigger_texts(
    store: GraphStore, *, since: dt.datetime, book: TriggerBook | None = None
) -> pl.DataFrame:
    """Activities and signals since ``since``, with their account (and person); with
    ``book``, only the kinds some trigger looks at."""
    frames = []
    wanted = {"activity": ["*"], "signal": ["*"]}
    if book is not None:
        wanted = {"activity": [], "signal": []}
        for trigger in book.triggers:
            for source in trigger.sources:
                side, _, kind = source.partition(":")
                wanted[side].append(kind)
    activities = (
        store.nodes("Activity", [Filter("occurred_at", "gte", since), *_kinds(wanted["activity"])])
        if wanted["activity"]
        else pl.DataFrame()
    )
    if activities.height:
        about = store.edges("ABOUT", touching=activities["activity_id"], side="source")
        involved = store.edges("INVOLVED", touching=activities["activity_id"], side="source")
        person = (
            involved.filter(pl.col("dst_label") == "Person")
            .group_by("src")
            .agg(pl.col("dst").min().alias("person_id"))
        )
        frames.append(
            activities.join(
                about.select(pl.col("src").alias("activity_id"), pl.col("dst").alias("account_id")),
                on="activity_id",
            )
            .join(person.rename({"src": "activity_id"}), on="activity_id", how="left")
            .select(
                pl.lit("activity").alias("source"),
                pl.col("activity_id").alias("source_id"),
                pl.col("kind").cast(pl.String),
                "account_id",
                "person_id",
                "occurred_at",
                pl.concat_str(
                    [pl.col("subject").fill_null(""), pl.col("summary").fill_null("")],
                    separator="\n",
                ).alias("text"),
            )
        )
    signals = (
        store.nodes("Signal", [Filter("occurred_at", "gte", since), *_kinds(wanted["signal"])])
        if wanted["signal"]
        else pl.DataFrame()
    )
    if signals.height:
        emitted = store.edges("EMITTED", touching=signals["signal_id"], side="target")
        direct = emitted.filter(pl.col("src_label") == "Account").select(
            pl.col("dst").alias("signal_id"),
            pl.col("src").alias("account_id"),
            pl.lit(None, dtype=pl.String).alias("person_id"),
        )
        by_person = emitted.filter(pl.col("src_label") == "Person")
        via = pl.DataFrame(
            schema={"signal_id": pl.String, "account_id": pl.String, "person_id": pl.String}
        )
        if by_person.height:
            works = store.edges("WORKS_AT", touching=by_person["src"], side="source")
            via = (
                by_person.select(pl.col("dst").alias("signal_id"), pl.col("src").alias("person_id"))
                .join(
                    works.select(
                        pl.col("src").alias("person_id"), pl.col("dst").alias("account_id")
                    ),
                    on="person_id",
                )
                .select("signal_id", "account_id", "person_id")
            )
        owners = pl.concat([direct, via]).unique(["signal_id", "account_id"], keep="first")
        frames.append(
            signals.join(owners, on="signal_id").select(
                pl.lit("signal").alias("source"),
                pl.col("signal_id").alias("source_id"),
                pl.col("kind").cast(pl.String),
                "account_id",
                "person_id",
                "occurred_at",
                pl.concat_str(
                    [pl.col("title").fill_null(""), pl.col("text").fill_null("")], separator="\n"
                ).alias("text"),
            )
        )
    if not frames:
        return pl.DataFrame(schema=TEXT_SCHEMA)
    return pl.concat([f.cast(TEXT_SCHEMA) for f in frames]).sort(["occurred_at", "source_id"])


def _kinds(kinds: list[str]) -> list[Filter]:
    return [] if "*" in kinds else [Filter("kind", "in", sorted(set(kinds)))]


@dataclass
class EscalationReport:
    texts: int = 0
    hits: int = 0
    opened: int = 0
    already_known: int = 0
    suppressed: list[str] = field(default_factory=list)
    by_kind: dict[str, int] = field(default_factory=dict)
    escalations: list[dict[str, Any]] = field(default_factory=list)
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def fill_question(template: str, account: str, person: str | None) -> str:
    return template.replace("{account}", account).replace("{person}", person or "Someone")


def detect_escalations(
    store: GraphStore,
    *,
    now: dt.datetime,
    book: TriggerBook | None = None,
    dry_run: bool = False,
) -> EscalationReport:
    """Open an escalation for every new trigger hit since ``max_age_days`` before
    ``now``; opt-outs also suppress the person. One commit."""
    book = book or load_triggers()
    texts = trigger_texts(store, since=now - dt.timedelta(days=book.max_age_days), book=book)
    report = EscalationReport(texts=texts.height, dry_run=dry_run)
    hits = find_trigger_hits(texts, book)
    report.hits = len(hits)
    if not hits:
        return report
    known = set(store.existing_keys("Escalation", [h.escalation_id for h in hits]))
    fresh = [h for h in hits if h.escalation_id not in known]
    report.already_known = len(hits) - len(fresh)
    if not fresh:
        return report
    accounts = {
        r["account_id"]: r
        for r in store.get_nodes("Account", [h.account_id for h in fresh]).iter_rows(named=True)
    }
    person_ids = [h.person_id for h in fresh if h.person_id]
    people = {
        r["person_id"]: r for r in store.get_nodes("Person", person_ids).iter_rows(named=True)
    }
    owners = account_owners(store, list(accounts))
    questions = {t.kind: t.question for t in book.triggers}
    rows: list[dict[str, Any]] = []
    for hit in fresh:
        account = accounts.get(hit.account_id)
        if account is None:
            continue
        person = people.get(hit.person_id or "")
        question = fill_question(
            questions[hit.kind], account["name"], person["full_name"] if person else None
        )
        trigger = {
            "source": f"{hit.source}:{hit.source_id}",
            "kind": hit.kind,
            "excerpt": hit.excerpt,
            "occurred_at": hit.occurred_at.isoformat(),
        }
        packet = handoff_packet(store, hit.account_id, question=question, trigger=trigger)
        rows.append(
            {
                "escalation_id": hit.escalation_id,
                "account_id": hit.account_id,
                "am_id": owners.get(hit.account_id),
                "match_id": None,
                "kind": hit.kind,
                "status": "open",
                "blocking": True,
                "trigger": f"{hit.source}:{hit.source_id}",
                "excerpt": hit.excerpt,
                "question": question,
                "opened_at": now,
                "packet": packet.model_dump_json(),
                "_source_label": "Activity" if hit.source == "activity" else "Signal",
                "_source_id": hit.source_id,
                "_person": person,
            }
        )
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["kind"]] = counts.get(row["kind"], 0) + 1
    report.by_kind = dict(sorted(counts.items()))
    report.opened = len(rows)
    opted_out = [r["_person"] for r in rows if r["kind"] == "opt_out" and r["_person"]]
    report.suppressed = sorted({p["email"].lower() for p in opted_out if p.get("email")})
    report.escalations = [
        {k: v for k, v in r.items() if not k.startswith("_") and k != "packet"} for r in rows
    ]
    if dry_run or not rows:
        return report
    with store.batch() as write:
        write.upsert_nodes(
            "Escalation", [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]
        )
        write.upsert_edges(
            "ESCALATES", [{"src": r["escalation_id"], "dst": r["account_id"]} for r in rows]
        )
        write.upsert_edges(
            "TRIGGERED_BY",
            [
                {
                    "src_label": "Escalation",
                    "src": r["escalation_id"],
                    "dst_label": r["_source_label"],
                    "dst": r["_source_id"],
                }
                for r in rows
            ],
        )
        assigned = [{"src": r["escalation_id"], "dst": r["am_id"]} for r in rows if r["am_id"]]
        if assigned:
            write.upsert_edges("ASSIGNED_TO", [{**a, "src_label": "Escalation"} for a in assigned])
        if opted_out:
            unique = {p["person_id"]: p for p in opted_out}
            write.upsert_nodes("Person", [{**p, "do_not_contact": True} for p in unique.values()])
            # Who may be contacted changed: incremental matching chooses again.
            journal(write, "triggers", {"nodes": {"Person": list(unique)}}, now=now)
            addresses = {p["email"].lower() for p in unique.values() if p.get("email")}
            if addresses:
                write.upsert_nodes(
                    "Suppression",
                    [
                        {
                            "address": a,
                            "reason": "opt-out reply",
                            "source": "trigger",
                            "added_at": now,
                        }
                        for a in sorted(addresses)
                    ],
                )
    return report


def open_escalations(store: GraphStore, account_ids: Any = None) -> pl.DataFrame:
    """Open blocking escalations (of these accounts)."""
    where: list[Filter] = [Filter("status", "eq", "open"), Filter("blocking", "eq", True)]
    if account_ids is not None:
        where.append(Filter("account_id", "in", list(account_ids)))
    return store.nodes("Escalation", where)
