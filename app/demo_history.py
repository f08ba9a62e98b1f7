"""Simulated weeks of the human loop on the demo world (``twoloop demo --history``).

The analysts' notebooks need a world with a past: decisions, sends, replies and
deals. This module makes one, and says everywhere that it is simulated. Each
week, at ``start`` + w weeks:

1. each AM reviews the top of their queue through the real APIs
   (``app.queue.queue_frame``, ``app.decisions.decide``, ``app.human_loop``):
   a match whose (account, capability) is in the sample's ``ground_truth.csv`` is
   validated (its draft approved, one or two edited), the others killed (their
   drafts cancelled) with a short reason, a few deferred; about one in ten
   decisions is wrong on purpose (people are noisy); each AM reviews a volume of
   their own;
2. the outbox goes out through the real ``Relay`` into a Maildir
   (``routing.channels.maildir``), at a few times of the week so that quiet
   hours and caps apply as they would.

Then a share of the sent messages whose pair is in the ground truth gets a reply
(an inbound email Activity in the message's thread, saying one of ``REPLY_TEXTS``,
which ``routing.replies`` threads, classifies and acts on as it would real mail),
and some of those an open Opportunity; and the score
model is refit from the decisions with ``matching.learn.learn`` as ``twoloop
learn`` does (a refused refit is reported, never forced).

Deterministic and idempotent: every choice is a hash of the seed and the item, and
every time is derived from ``start``; a week whose reviews are already stored is
not reviewed again (nor an AM who already reviewed theirs, should a run have
stopped half way), sends are once per message (outbox and Maildir), replies and
deals have ids derived from their message, and a refit already stored is not
repeated. The report is read back from the graph, so a second run reports the same.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from app.decisions import decide
from app.human_loop import approve_draft, cancel_draft, edit_draft
from app.queue import queue_frame
from graph_model.errors import DecisionConflict, GuardedEdit, TooFewLabels
from graph_model.settings import load_settings
from graph_model.store import Filter, GraphStore, NotFound
from matching.learn import learn
from matching.model import model_versions
from matching.owners import account_owners
from routing.channels import message_id_header
from routing.channels.maildir import MaildirChannel
from routing.outbox import Relay
from routing.play_events import am_network
from routing.play_runs import run_plays
from routing.plays import load_plays
from routing.replies import thread_replies
from routing.sending import SendingConfig

WEEK = dt.timedelta(weeks=1)
DAY = dt.timedelta(days=1)
NOISE = 0.10  # share of decisions that go the wrong way
DEFER = 0.10  # share of reviewed matches deferred
LATE = 0.12  # share of fitting drafts cancelled all the same (bad timing)
EDIT_SHARE = 0.2  # share of approved drafts the AM edits first ...
EDITS = 2  # ... up to this many over the whole history
REPLY = 0.55  # share of sent, fitting messages that get a reply
OPPORTUNITY = 0.5  # share of replies that become an open deal
REVIEW_AT = dt.timedelta(hours=1)  # Friday 13:00 UTC, an hour after the sample's matches
# Relay passes after each review: Monday in Europe, Monday in the Americas, Tuesday in
# Asia-Pacific, Wednesday for what caps deferred (quiet hours are the recipient's).
RELAY_AT = tuple(dt.timedelta(days=d, hours=h) for d, h in ((3, 2), (3, 6), (3, 15), (5, 2)))
# After the last week's relay passes and its plays tick: the history's end.
LEARN_AT = dt.timedelta(days=6)
PRICING_PAGE = "https://northwind.example/pricing"
PLAYS_AFTER = dt.timedelta(hours=1)  # the plays' tick, an hour after the week's last relay
KILL_REASONS = (
    ("no_need", "not a fit: no current need"),
    ("competitor", "already evaluating a rival"),
    ("bad_timing", "budget frozen until next year"),
    ("existing_relationship", "their partner team handles this"),
    ("no_need", "they built it in-house"),
)
EDIT_LINE = "If it helps, I can keep it to twenty minutes and bring one of our engineers."
# What the simulated replies say, by the share of replies that say it: each is read by
# the reply rules (routing/replies.yaml) as the class it is listed under.
REPLY_TEXTS = (
    (
        0.40,
        "interested",
        "Thanks for the note, sounds interesting. Happy to set up a call next week.",
    ),
    (0.20, "question", "Thanks. Does this work with what we run today?"),
    (0.15, "not_now", "Thanks, but not right now: maybe check back next quarter."),
    (0.12, "out_of_office", "I am out of the office until Monday with limited access to email."),
    (0.08, "wrong_person", "I am not the right person for this; my colleague in IT owns it."),
    (0.05, "unsubscribe", "Please remove me from your list."),
)


@dataclass
class HistoryReport:
    """What the simulated weeks left in the graph (read back from it)."""

    weeks: int
    seed: int
    start: str
    end: str
    mail_dir: str
    simulated: bool = True
    reviewed_weeks: list[int] = field(default_factory=list)
    already_there: list[int] = field(default_factory=list)
    decisions: dict[str, int] = field(default_factory=dict)
    decisions_by_am: dict[str, int] = field(default_factory=dict)
    drafts: dict[str, int] = field(default_factory=dict)
    sent: int = 0
    in_mail_dir: int = 0
    waiting: int = 0
    replies: int = 0
    opportunities: int = 0
    learned: str | None = None
    learned_from: int = 0
    learn_refused: str | None = None
    # What the replies said, and the shipped plays' runs by play and status.
    replies_by_class: dict[str, int] = field(default_factory=dict)
    plays: dict[str, dict[str, int]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def chance(seed: int, *parts: str) -> float:
    """A uniform number in [0, 1) fixed by the seed and the parts (order-free choices)."""
    digest = hashlib.sha1("\x1f".join([str(seed), *parts]).encode()).hexdigest()
    return int(digest[:12], 16) / float(1 << 48)


def ground_truth(sample_dir: Path) -> set[tuple[str, str]]:
    """The (account_id, capability_id) pairs the sample world was designed to need."""
    frame = pl.read_csv(sample_dir / "ground_truth.csv", infer_schema=False)
    return set(frame.select("account_id", "capability_id").iter_rows())


def review_volume(seed: int, am_id: str, week: int) -> int:
    """How many items an AM reviews in a week: a habit of their own (3 to 12), give or
    take two."""
    habit = 3 + int(chance(seed, "volume", am_id) * 10)
    return max(1, habit - 2 + int(chance(seed, "week", am_id, str(week)) * 5))


def simulate_history(
    store: GraphStore,
    sample_dir: Path,
    *,
    start: dt.datetime,
    weeks: int,
    seed: int,
    sending: SendingConfig,
    mail_dir: Path | None = None,
) -> HistoryReport:
    """``weeks`` simulated weeks of the human loop after ``start`` (the demo's
    ``SAMPLE_AS_OF``), delivering mail into ``mail_dir`` (default: ``demo-mail``
    beside ``sample_dir``), then replies, deals and one refit of the score model."""
    mail_dir = mail_dir or sample_dir.parent / "demo-mail"
    end = start + weeks * WEEK + LEARN_AT
    report = HistoryReport(
        weeks=weeks, seed=seed, start=start.isoformat(), end=end.isoformat(), mail_dir=str(mail_dir)
    )
    truth = ground_truth(sample_dir)
    channel = MaildirChannel(mail_dir)
    try:
        edits = _count(store, "edit", start, end)
        for week in range(1, weeks + 1):
            review = start + week * WEEK + REVIEW_AT
            if _count(store, None, review, review + DAY):
                report.already_there.append(week)
            # An AM who already reviewed this week (an earlier run) is not asked again.
            edits = _review_week(
                store, truth, week=week, now=review, seed=seed, sending=sending, edits=edits
            )
            if week not in report.already_there:
                report.reviewed_weeks.append(week)
            for offset in RELAY_AT:
                at = review + offset
                Relay(store, channel, sending, worker=f"demo-history-{at:%Y%m%dT%H%M}").run(at)
            # The week's replies so far are read, then the shipped plays tick: follow-ups
            # start waiting on the week's sends, those due and unanswered are drafted
            # for the next review, those answered stop.
            tick = review + RELAY_AT[-1] + PLAYS_AFTER
            play_events(store, seed=seed, week=week, at=tick)
            write_outcomes(store, truth, seed=seed, start=start, until=tick)
            thread_replies(store, now=tick)
            _plays(store, sending, tick)
        report.in_mail_dir = len(channel.messages())
    finally:
        channel.close()
    report.replies, report.opportunities = write_outcomes(
        store, truth, seed=seed, start=start, until=end
    )
    # The replies are read like any inbound mail: threaded, classified, acted on.
    thread_replies(store, now=end)
    _plays(store, sending, end)
    _learn(store, at=end, report=report)
    _read_back(store, report, start=start, end=end)
    return report


def _plays(store: GraphStore, sending: SendingConfig, at: dt.datetime) -> None:
    run_plays(
        store,
        load_plays(),
        now=at,
        sending=sending,
        min_personalization=load_settings().draft_min_personalization,
    )


def _review_week(
    store: GraphStore,
    truth: set[tuple[str, str]],
    *,
    week: int,
    now: dt.datetime,
    seed: int,
    sending: SendingConfig,
    edits: int,
) -> int:
    """Each AM works the top of their queue (drafts and matches); returns the edits
    made so far."""
    for am_id in sorted(store.nodes("AccountManager")["am_id"].to_list()):
        if _count(store, None, now, now + DAY, actor=am_id):
            continue
        queue = queue_frame(store, am_id, now=now).filter(pl.col("kind").is_in(["draft", "match"]))
        top = queue.head(review_volume(seed, am_id, week))
        for step, item in enumerate(top.iter_rows(named=True)):
            at = now + dt.timedelta(minutes=5 * step)
            fits = (item["account_id"], item["capability_id"]) in truth
            code, reason = KILL_REASONS[
                int(chance(seed, "reason", item["item"]) * len(KILL_REASONS))
            ]
            if chance(seed, "noise", item["item"], str(now.date())) < NOISE:
                fits = not fits
            # A right match can still be the wrong moment: some drafts are cancelled anyway.
            if item["kind"] == "draft" and chance(seed, "late", item["item"]) < LATE:
                fits, (code, reason) = False, ("bad_timing", "they just signed with a rival")
            if item["kind"] == "draft" and fits and not _sendable(store, item["item"]):
                continue  # no address to write to yet: the research task comes first
            try:
                edit = chance(seed, "edit", item["item"]) < EDIT_SHARE and edits < EDITS
                if item["kind"] == "draft" and fits and edit:
                    edits += _edit(store, item["item"], am_id, at, sending)
                elif item["kind"] == "draft" and fits:
                    approve_draft(store, item["item"], actor=am_id, now=at, sending=sending)
                elif item["kind"] == "draft":
                    cancel_draft(store, item["item"], actor=am_id, now=at, reason=reason)
                elif chance(seed, "defer", item["item"], str(now.date())) < DEFER:
                    until = (at + 2 * WEEK).date()
                    decide(store, item["item"], "defer", actor=am_id, now=at, defer_until=until)
                elif fits:
                    decide(store, item["item"], "validate", actor=am_id, now=at)
                else:
                    decide(
                        store,
                        item["item"],
                        "kill",
                        actor=am_id,
                        now=at,
                        reason=reason,
                        reason_code=code,
                    )
            except (DecisionConflict, NotFound):
                # Decided meanwhile (by someone else, or an earlier run), or the item's
                # match is gone: a later match run (twoloop run) replaced it.
                continue
    return edits


def _sendable(store: GraphStore, draft_id: str) -> bool:
    draft = store.get_node("Draft", draft_id)
    return bool(draft["to_address"] and draft["from_address"])


def _edit(
    store: GraphStore, draft_id: str, am_id: str, at: dt.datetime, sending: SendingConfig
) -> int:
    """The AM adds a line of their own before approving; an edit the drafting guard
    stops is approved as written instead (returns 1 when it was an edit)."""
    body = store.get_node("Draft", draft_id)["body"].rstrip()
    head, sep, tail = body.rpartition("\n\n")
    edited = f"{head}\n\n{EDIT_LINE}{sep}{tail}" if sep else f"{body}\n\n{EDIT_LINE}"
    try:
        edit_draft(store, draft_id, actor=am_id, now=at, sending=sending, body=edited)
        return 1
    except GuardedEdit:
        approve_draft(store, draft_id, actor=am_id, now=at, sending=sending)
        return 0


def play_events(store: GraphStore, *, seed: int, week: int, at: dt.datetime) -> None:
    """The week's events the shipped plays react to, simulated: a Tier A prospect
    visits the pricing page twice, someone at a Tier A account accepts a connection
    request, and a person an AM has worked with refers a prospect of theirs. Ids
    come from the week and the choice, so a second run writes the same rows."""
    accounts = store.nodes("Account", [Filter("tier", "eq", "A")])
    if accounts.is_empty():
        return
    owners = account_owners(store, accounts["account_id"].to_list())

    def pick(kind: str, keys: list[str]) -> str | None:
        return min(keys, key=lambda k: chance(seed, kind, str(week), k)) if keys else None

    prospects = accounts.filter(pl.col("relationship") == "prospect")["account_id"].to_list()
    visitor = pick("pricing", [a for a in prospects if a in owners])
    signals: list[dict[str, Any]] = []
    if visitor is not None:
        for n, back in enumerate((dt.timedelta(days=3), dt.timedelta(days=1))):
            signals.append(
                {
                    "signal_id": f"sig-sim-pricing-{week}-{n}-{visitor}",
                    "kind": "web_visit",
                    "occurred_at": at - back,
                    "source": "web-analytics (simulated)",
                    "url": PRICING_PAGE,
                    "title": "Visited the pricing page",
                }
            )
    staff = store.edges("WORKS_AT", touching=accounts["account_id"].to_list(), side="target")
    employer = dict(staff.select("src", "dst").iter_rows())
    activities: list[dict[str, Any]] = []
    about: list[dict[str, Any]] = []
    involved: list[dict[str, Any]] = []
    contact = pick("connection", [p for p, a in employer.items() if a in owners])
    if contact is not None:
        key = f"sim-connection-{week}-{contact}"
        activities.append(_activity(key, "connection", at - dt.timedelta(days=2)))
        about.append({"src": key, "dst": employer[contact]})
        involved.append({"src": key, "dst_label": "Person", "dst": contact})
    referral = _referral(store, owners, employer, set(prospects), pick)
    if referral is not None:
        referrer, person, account = referral
        key = f"sim-referral-{week}-{person}"
        activities.append(_activity(key, "referral", at - dt.timedelta(days=1)))
        about.append({"src": key, "dst": account})
        involved.extend(
            {"src": key, "dst_label": "Person", "dst": who} for who in (referrer, person)
        )
    with store.batch() as write:
        if signals:
            write.upsert_nodes("Signal", signals)
            write.upsert_edges(
                "EMITTED",
                [{"src_label": "Account", "src": visitor, "dst": s["signal_id"]} for s in signals],
            )
        if activities:
            write.upsert_nodes("Activity", activities)
            write.upsert_edges("ABOUT", about)
            write.upsert_edges("INVOLVED", involved)


def _activity(key: str, kind: str, at: dt.datetime) -> dict[str, Any]:
    what = {"connection": "Accepted your connection request", "referral": "An introduction"}
    return {
        "activity_id": key,
        "kind": kind,
        "direction": "inbound",
        "occurred_at": at,
        "subject": f"{what[kind]} (simulated)",
    }


def _referral(
    store: GraphStore,
    owners: dict[str, str],
    employer: dict[str, str],
    prospects: set[str],
    pick: Any,
) -> tuple[str, str, str] | None:
    """(referrer, person, account): someone the AM has worked with (a deal or an
    activity together, ``routing.play_events.am_network``) refers a person at one of
    that AM's Tier A prospects where they do not work."""
    networks = am_network(store, sorted(set(owners.values())))
    for am in sorted(set(owners.values())):
        network = sorted(networks.get(am, set()))
        people = [p for p, a in employer.items() if owners.get(a) == am and a in prospects]
        person = pick("referred", people)
        referrer = pick("referrer", [p for p in network if employer.get(p) != employer.get(person)])
        if person is not None and referrer is not None:
            return referrer, person, employer[person]
    return None


def reply_text(seed: int, message_id: str) -> str:
    """What the simulated reply to ``message_id`` says (one of ``REPLY_TEXTS``)."""
    draw = chance(seed, "says", message_id)
    for share, _, text in REPLY_TEXTS:
        if draw < share:
            return text
        draw -= share
    return REPLY_TEXTS[0][2]


def write_outcomes(
    store: GraphStore,
    truth: set[tuple[str, str]],
    *,
    seed: int,
    start: dt.datetime,
    until: dt.datetime | None = None,
) -> tuple[int, int]:
    """Replies (inbound email activities) and open deals after the sent messages whose
    pair fits (those that happened by ``until``, if given); returns (replies,
    opportunities). Ids come from the message, so a second call writes the same rows
    again."""
    sent = store.nodes("OutboxMessage", [Filter("status", "eq", "sent")])
    sent = sent.filter(pl.col("sent_at") >= start)
    if sent.is_empty():
        return 0, 0
    pairs = store.get_nodes("Match", sent["match_id"].drop_nulls().unique())
    capability_of = dict(pairs.select("match_id", "capability_id").iter_rows())
    names = store.names("Account", sent["account_id"])
    activities: list[dict[str, Any]] = []
    about: list[dict[str, Any]] = []
    involved: list[dict[str, Any]] = []
    deals: list[dict[str, Any]] = []
    deal_for: list[dict[str, Any]] = []
    includes: list[dict[str, Any]] = []
    for m in sent.sort("message_id").iter_rows(named=True):
        capability = capability_of.get(m["match_id"])
        mid = m["message_id"]
        if (m["account_id"], capability) not in truth or chance(seed, "reply", mid) >= REPLY:
            continue
        replied = m["sent_at"] + dt.timedelta(days=1, hours=int(chance(seed, "lag", mid) * 24))
        if until is not None and replied > until:
            continue
        key = "act-sim-" + mid.removeprefix("msg-")
        activities.append(
            {
                "activity_id": key,
                "kind": "email",
                "occurred_at": replied,
                "direction": "inbound",
                "subject": f"Re: {m['subject']}",
                "summary": "Simulated reply: " + reply_text(seed, mid),
                # In the thread of our message, as a mail client answers it.
                "message_id": f"<{key}@{m['to_address'].rsplit('@', 1)[-1]}>",
                "in_reply_to": [message_id_header(mid, m["from_address"])],
                "from_address": m["to_address"],
            }
        )
        about.append({"src": key, "dst": m["account_id"]})
        if m["person_id"]:
            involved.append({"src": key, "dst_label": "Person", "dst": m["person_id"]})
        if chance(seed, "deal", mid) >= OPPORTUNITY:
            continue
        deal = "opp-sim-" + mid.removeprefix("msg-")
        opened = replied + dt.timedelta(days=1 + int(chance(seed, "open", mid) * 3))
        if until is not None and opened > until:
            continue
        name = names.get(m["account_id"], m["account_id"])
        deals.append(
            {
                "opportunity_id": deal,
                "name": f"{name}: {capability} (simulated)",
                "stage": "Discovery",
                "status": "open",
                "created_at": opened,
            }
        )
        includes.append({"src": deal, "dst": capability})
        deal_for.append({"src_label": "Opportunity", "src": deal, "dst": m["account_id"]})
    with store.batch() as write:
        write.upsert_nodes("Activity", activities)
        write.upsert_edges("ABOUT", about)
        if involved:
            write.upsert_edges("INVOLVED", involved)
        if deals:
            write.upsert_nodes("Opportunity", deals)
            write.upsert_edges("FOR", deal_for)
            write.upsert_edges("INCLUDES", includes)
    return len(activities), len(deals)


def _learn(store: GraphStore, *, at: dt.datetime, report: HistoryReport) -> None:
    """One refit from the decisions, as ``twoloop learn`` does (no force); a version
    already learned at ``at`` is the one reported."""
    versions = model_versions(store)
    done = versions.filter(pl.col("created_at") == at) if versions.height else versions
    if done.height:
        row = done.row(0, named=True)
        report.learned, report.learned_from = row["model_id"], row["trained_on"]
        return
    try:
        learned = learn(store, now=at)
    except TooFewLabels as exc:
        report.learn_refused = str(exc)
        return
    if learned.refused:
        report.learn_refused = learned.refused
    else:
        report.learned, report.learned_from = learned.version, learned.labels


def _count(
    store: GraphStore,
    kind: str | None,
    since: dt.datetime,
    until: dt.datetime,
    *,
    actor: str | None = None,
) -> int:
    """Decisions (of this kind, by this actor) made in [since, until)."""
    wanted = [Filter("decided_at", "gte", since), Filter("decided_at", "lt", until)]
    if kind:
        wanted.append(Filter("kind", "eq", kind))
    if actor:
        wanted.append(Filter("actor", "eq", actor))
    return store.nodes("Decision", wanted).height


def _read_back(
    store: GraphStore, report: HistoryReport, *, start: dt.datetime, end: dt.datetime
) -> None:
    decisions = store.nodes(
        "Decision", [Filter("decided_at", "gte", start), Filter("decided_at", "lt", end)]
    )
    kinds = Counter(decisions["kind"].cast(pl.String).to_list())
    report.decisions = {k: kinds[k] for k in ("validate", "defer", "kill") if kinds[k]}
    report.drafts = {
        name: kinds[k]
        for k, name in (("approve", "approved"), ("edit", "edited"), ("cancel", "cancelled"))
    }
    report.decisions_by_am = dict(sorted(Counter(decisions["actor"].to_list()).items()))
    messages = store.nodes("OutboxMessage")
    report.sent = messages.filter(
        (pl.col("status") == "sent") & (pl.col("sent_at") >= start)
    ).height
    report.waiting = messages.filter(pl.col("status") == "pending").height
    replies = store.nodes("Reply", [Filter("received_at", "gte", start)])
    report.replies_by_class = dict(
        sorted(Counter(replies["classification"].cast(pl.String).to_list()).items())
    )
    runs = store.nodes("PlayRun", [Filter("fired_at", "gte", start)])
    for play, status in runs.select("play_id", pl.col("status").cast(pl.String)).iter_rows():
        report.plays.setdefault(play, {})
        report.plays[play][status] = report.plays[play].get(status, 0) + 1
