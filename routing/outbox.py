"""The outbox: every message is sent at most once, and exactly once unless a relay
dies between sending it and writing that down (then a person checks; it is never
resent on its own).

- ``release_draft`` adds, to the caller's write batch, the draft's new status and
  its OutboxMessage, whose id (the idempotency key) is derived from the draft:
  an auto_send route and an AM's approval create it in the same commit as the
  decision, and a second release of the same draft is a conflict, not a second
  message.
- ``Relay.run`` takes the due pending messages, checks the send-time guardrails
  for each (``routing.guardrails``), claims the ones to send (``pending ->
  sending``, compare-and-set, so two relays never both claim one), sends them,
  and marks them ``sent`` with the provider's message id. A ``sending`` message
  older than the lease is marked ``unconfirmed``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import quote

import polars as pl

from graph_model.errors import TwoloopError, WriteConflict
from graph_model.store import Filter, GraphStore, WriteBatch
from routing.channels import Channel, Outgoing, message_id_header
from routing.escalation import open_escalations
from routing.guardrails import (
    DAY,
    SendCheck,
    SendContext,
    SuppressionList,
    check_send,
    domain_of,
)
from routing.sending import SendingConfig

CLAIM_CHUNK = 50
RETRY_AFTER = dt.timedelta(minutes=5)


def message_id(draft_id: str) -> str:
    return "msg-" + hashlib.sha1(draft_id.encode()).hexdigest()[:20]


def compliance(body: str, mid: str, config: SendingConfig) -> tuple[str, dict[str, str]]:
    """The body with its footer, and the unsubscribe headers (RFC 2369, RFC 8058)."""
    url = config.footer.unsubscribe_url.replace("{message_id}", quote(mid))
    mailto = f"mailto:{config.footer.unsubscribe_mailto}?subject=unsubscribe%20{quote(mid)}"
    footer = f"--\n{config.footer.postal_address}\nUnsubscribe: {url}"
    headers = {
        "List-Unsubscribe": f"<{mailto}>, <{url}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    return f"{body.rstrip()}\n\n{footer}\n", headers


def release_draft(
    write: WriteBatch,
    draft: dict[str, Any],
    *,
    account_id: str,
    released_by: str,
    role: str,
    config: SendingConfig,
    now: dt.datetime,
    expect_status: Iterable[str] | None = ("pending",),
    status: str = "approved",
) -> dict[str, Any]:
    """Add the draft's release (its new status and its OutboxMessage) to ``write``.

    The message records who released it (``released_by``: ``agent:<rule>`` or the
    person's id), in what right (``role``: agent, am, manager or admin) and for whom
    (the draft's owner). With ``expect_status`` the commit only happens if the draft still has that
    status (someone else deciding first makes it a conflict)."""
    if not draft.get("to_address") or not draft.get("from_address"):
        raise TwoloopError(
            f"draft {draft['draft_id']} has no recipient or sender; it cannot be sent",
            hint="the match needs a contact with an email and an AM with a mailbox",
        )
    mid = message_id(draft["draft_id"])
    body, headers = compliance(draft["body"], mid, config)
    if draft.get("follows"):
        # A follow-up goes in the thread of the message it follows.
        earlier = message_id_header(draft["follows"], draft["from_address"])
        headers.update({"In-Reply-To": earlier, "References": earlier})
    if expect_status is not None:
        write.expect("Draft", draft["draft_id"], "status", list(expect_status))
    write.upsert_nodes("Draft", [{**draft, "status": status, "updated_at": now}])
    message = {
        "message_id": mid,
        "draft_id": draft["draft_id"],
        "match_id": draft["match_id"],
        "account_id": account_id,
        "am_id": draft["am_id"],
        "person_id": draft.get("person_id"),
        "channel": "email",
        "to_address": draft["to_address"],
        "from_address": draft["from_address"],
        "subject": draft["subject"],
        "body": body,
        "headers": json.dumps(headers, sort_keys=True),
        "status": "pending",
        "created_at": now,
        "released_by": released_by,
        "released_role": role,
        "released_on_behalf_of": draft["am_id"],
    }
    write.upsert_nodes("OutboxMessage", [message])
    write.upsert_edges("QUEUED_FROM", [{"src": mid, "dst": draft["draft_id"]}])
    return message


@dataclass
class RelayReport:
    due: int = 0
    sent: int = 0
    suppressed: int = 0
    blocked: int = 0
    deferred: int = 0
    unconfirmed: int = 0
    # Not handed to SMTP: ``retry`` for now (the server was unreachable or deferred
    # it; the message waits and is tried again), ``rejected`` for good.
    retry: int = 0
    rejected: int = 0
    conflicts: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def undelivered(self) -> int:
        """Messages this pass meant to send that SMTP did not take."""
        return self.retry + self.rejected

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "undelivered": self.undelivered}


Fault = Callable[[str, dict[str, Any]], None]
Change = tuple[dict[str, Any], dict[str, Any]]  # a message and what to set on it


class Relay:
    """Sends due outbox messages through one channel, claiming and marking one message
    at a time, so a relay that dies leaves at most one message in doubt.

    Each message is claimed (``pending -> sending``) in the same commit that marks
    the previous one ``sent``; that commit also bumps the message's four cap
    windows (``CapWindow``), so a relay that counted a cap before another relay
    claimed against it loses the race, counts again and defers instead. Caps count
    messages in flight (``sending``, ``unconfirmed``) as well as sent.

    ``fault`` is called at each stage ("checked": caps counted, about to claim;
    "claimed", "sent", "marked") with the message: tests inject crashes and races."""

    def __init__(
        self,
        store: GraphStore,
        channel: Channel,
        config: SendingConfig,
        *,
        worker: str,
        fault: Fault | None = None,
    ) -> None:
        self.store, self.channel, self.config = store, channel, config
        self.worker = worker
        self.fault = fault or (lambda stage, message: None)

    def run(self, now: dt.datetime, *, limit: int | None = None) -> RelayReport:
        report = RelayReport()
        self._expire_leases(now, report)
        due = self.store.nodes(
            "OutboxMessage",
            [Filter("status", "eq", "pending"), Filter("channel", "eq", self.channel.name)],
        ).filter(pl.col("not_before").is_null() | (pl.col("not_before") <= now))
        due = due.sort(["created_at", "message_id"])
        if limit is not None:
            due = due.head(limit)
        report.due = due.height
        if due.is_empty():
            return report
        contexts = _contexts(self.store, due, now)
        settled: list[Change] = []
        to_send: list[dict[str, Any]] = []
        for message in due.iter_rows(named=True):
            check = check_send(message, contexts.context(message), self.config, now)
            if check.verdict == "send":
                to_send.append(message)
                contexts.count(message, now)  # later messages in this pass see it
            else:
                settled.append(_verdict_change(message, check, report))
        for start in range(0, len(settled), CLAIM_CHUNK):
            report.conflicts += self._update(settled[start : start + CLAIM_CHUNK], expect="pending")
        # The pass's own counts were a plan; each claim is checked again against the
        # counts its commit is guarded by.
        contexts.forget_pass()
        self._send_all(to_send, contexts, now, report)
        return report

    # -- steps

    def _expire_leases(self, now: dt.datetime, report: RelayReport) -> None:
        lease = dt.timedelta(minutes=self.config.lease_minutes)
        stale = self.store.nodes(
            "OutboxMessage",
            [Filter("status", "eq", "sending"), Filter("claimed_at", "lt", now - lease)],
        )
        rows = [
            (
                m,
                {
                    "status": "unconfirmed",
                    "note": f"claimed by {m['claimed_by']} at {m['claimed_at']:%Y-%m-%d %H:%M} "
                    "UTC and never marked sent: check whether it went out; it is not resent "
                    "on its own (twoloop resolve --sent, --not-sent or --cancel)",
                },
            )
            for m in stale.iter_rows(named=True)
        ]
        if rows:
            self._update(rows, expect="sending")
            report.unconfirmed += len(rows)

    def _send_all(
        self,
        messages: list[dict[str, Any]],
        contexts: _Contexts,
        now: dt.datetime,
        report: RelayReport,
    ) -> None:
        previous: Change | None = None  # sent (or failed), not yet marked
        try:
            for message in messages:
                claimed, previous = self._claim(message, previous, contexts, now, report)
                if claimed is None:
                    continue
                self.fault("claimed", claimed)
                outcome = self._hand_over(claimed, now, report)
                previous = (claimed, outcome)
                if outcome.get("status") == "pending" and outcome.get("not_before"):
                    # The server is unreachable or deferring: stop this pass; what is
                    # not claimed stays pending for the next relay.
                    report.notes.append(f"stopped early: {outcome['note']}")
                    break
        finally:
            # Mark the last one, even when a later step raised: the fewer left in
            # ``sending``, the fewer a person has to check.
            if previous is not None:
                self._mark(previous, report)

    def _claim(
        self,
        message: dict[str, Any],
        previous: Change | None,
        contexts: _Contexts,
        now: dt.datetime,
        report: RelayReport,
    ) -> tuple[dict[str, Any] | None, Change | None]:
        """Claim ``message`` in the commit that marks ``previous``. Returns the claimed
        message (None if it is not sent now) and what is still left to mark."""
        for _ in range(MAX_CLAIM_TRIES):
            check = check_send(message, contexts.context(message), self.config, now)
            if check.verdict != "send":
                change = _verdict_change(message, check, report)
                report.conflicts += self._update([change], expect="pending")
                self._mark_left(previous, report)
                return None, None
            claim = {
                "status": "sending",
                "claimed_by": self.worker,
                "claimed_at": now,
                "attempts": message["attempts"] + 1,
            }
            claimed = {**message, **claim}
            windows = contexts.windows(message)
            self.fault("checked", message)
            try:
                with self.store.batch() as write:
                    if previous is not None:
                        _mark_in(write, previous)
                    write.expect("OutboxMessage", message["message_id"], "status", ["pending"])
                    for window_id, version in windows:
                        write.expect(
                            "CapWindow", window_id, "version", [version], absent_ok=version == 0
                        )
                    write.upsert_nodes(
                        "CapWindow",
                        [{"window_id": w, "version": v + 1, "updated_at": now} for w, v in windows],
                    )
                    write.upsert_nodes("OutboxMessage", [claimed])
            except WriteConflict as exc:
                if exc.label == "CapWindow":
                    # Another relay claimed against one of these caps: count again.
                    contexts.refresh(self.store, message, now)
                    continue
                if previous is not None and exc.key == previous[0]["message_id"]:
                    report.notes.append(_settled_meanwhile(previous, exc))
                    previous = None
                    continue
                report.conflicts += 1  # another relay took or settled it
                self._mark_left(previous, report)
                return None, None
            if previous is not None:
                self.fault("marked", previous[0])
            contexts.claimed(message, windows, now)
            return claimed, None
        report.conflicts += 1
        report.notes.append(f"{message['message_id']}: caps kept changing; left for later")
        self._mark_left(previous, report)
        return None, None

    def _hand_over(
        self, message: dict[str, Any], now: dt.datetime, report: RelayReport
    ) -> dict[str, Any]:
        """Send one claimed message; what to mark on it."""
        try:
            provider_id = self.channel.send(_outgoing(message))
        except TwoloopError as exc:
            if exc.transient:
                report.retry += 1
                return {"status": "pending", "not_before": now + RETRY_AFTER, "note": str(exc)}
            report.rejected += 1
            return {"status": "blocked", "note": str(exc)}
        self.fault("sent", message)
        report.sent += 1
        return {"status": "sent", "sent_at": now, "provider_id": provider_id, "note": None}

    def _mark_left(self, previous: Change | None, report: RelayReport) -> None:
        if previous is not None:
            self._mark(previous, report)

    def _mark(self, change: Change, report: RelayReport) -> None:
        try:
            with self.store.batch() as write:
                _mark_in(write, change)
        except WriteConflict as exc:
            report.notes.append(_settled_meanwhile(change, exc))
            return
        self.fault("marked", change[0])

    def _update(self, rows: list[Change], *, expect: str) -> int:
        """Apply changes guarded by status; on a conflict fall back to one at a time.
        Returns how many lost their race."""
        try:
            self._write(rows, expect)
            return 0
        except WriteConflict:
            lost = 0
            for row in rows:
                try:
                    self._write([row], expect)
                except WriteConflict:
                    lost += 1
            return lost

    def _write(self, rows: list[Change], expect: str) -> None:
        with self.store.batch() as write:
            for message, _ in rows:
                write.expect("OutboxMessage", message["message_id"], "status", [expect])
            write.upsert_nodes("OutboxMessage", [{**m, **change} for m, change in rows])


MAX_CLAIM_TRIES = 5


def _mark_in(write: WriteBatch, change: Change) -> None:
    """What a claimed message became. A relay slower than its lease still records
    what happened, over ``unconfirmed`` or a person's ``--not-sent`` requeue; a
    message a person settled otherwise (sent, cancelled) is left as they said."""
    message, outcome = change
    write.expect(
        "OutboxMessage", message["message_id"], "status", ["sending", "unconfirmed", "pending"]
    )
    write.upsert_nodes("OutboxMessage", [{**message, **outcome}])


def _settled_meanwhile(change: Change, exc: WriteConflict) -> str:
    message, outcome = change
    return (
        f"{message['message_id']}: {outcome.get('status')} by this relay, but a person settled "
        f"it as {exc.found_value} meanwhile; left as they said"
    )


def _verdict_change(message: dict[str, Any], check: SendCheck, report: RelayReport) -> Change:
    if check.verdict == "defer":
        report.deferred += 1
        return message, {"not_before": check.not_before, "note": check.reason}
    setattr(report, check.verdict, getattr(report, check.verdict) + 1)
    return message, {"status": check.verdict, "note": check.reason}


def _outgoing(message: dict[str, Any]) -> Outgoing:
    return Outgoing(
        message_id=message["message_id"],
        to_address=message["to_address"],
        from_address=message["from_address"],
        subject=message["subject"],
        body=message["body"],
        headers=json.loads(message["headers"] or "{}"),
    )


IN_FLIGHT = ("sending", "unconfirmed")


@dataclass
class _Contexts:
    people: dict[str, dict[str, Any]]
    accounts: dict[str, dict[str, Any]]
    suppression: SuppressionList
    do_not_contact: frozenset[str]  # lower-cased addresses of do-not-contact people
    escalated: dict[str, str]
    # Draft id -> when it was written; person id or address -> latest open reply.
    written: dict[str, dt.datetime]
    open_replies: dict[str, dt.datetime]
    # Per (dimension, key): when each message counted against the cap went out or
    # was claimed (sent, sending or unconfirmed, in the last 24 hours).
    recent: dict[tuple[str, str], list[dt.datetime]]
    # CapWindow versions as read before ``recent`` was counted (0: no window yet).
    versions: dict[str, int] = field(default_factory=dict)
    planned: list[tuple[tuple[str, str], dt.datetime]] = field(default_factory=list)

    @staticmethod
    def keys(message: dict[str, Any]) -> dict[str, str]:
        return {
            "contact": message.get("person_id") or message["to_address"].lower(),
            "account": message["account_id"],
            "domain": domain_of(message["to_address"]),
            "mailbox": message["from_address"].lower(),
        }

    def context(self, message: dict[str, Any]) -> SendContext:
        person = self.people.get(message.get("person_id") or "", {})
        account = self.accounts.get(message["account_id"], {})
        return SendContext(
            suppression=self.suppression,
            person_do_not_contact=bool(person.get("do_not_contact"))
            or message["to_address"].strip().lower() in self.do_not_contact,
            account_suppressed=bool(account.get("suppressed")),
            open_escalation=self.escalated.get(message["account_id"]),
            timezone=person.get("timezone") or account.get("timezone"),
            written_at=self.written.get(message["draft_id"]),
            open_reply_at=max(
                (
                    at
                    for who in (message.get("person_id"), message["to_address"].strip().lower())
                    if who and (at := self.open_replies.get(who)) is not None
                ),
                default=None,
            ),
            recent={
                dim: self.recent.get((dim, key), []) for dim, key in self.keys(message).items()
            },
        )

    def count(self, message: dict[str, Any], when: dt.datetime) -> None:
        """Plan: later messages of this pass's first look see this one."""
        for dim, key in self.keys(message).items():
            self.recent.setdefault((dim, key), []).append(when)
            self.planned.append(((dim, key), when))

    def forget_pass(self) -> None:
        for slot, when in self.planned:
            self.recent[slot].remove(when)
        self.planned.clear()

    def windows(self, message: dict[str, Any]) -> list[tuple[str, int]]:
        ids = sorted(_window_ids(message))
        return [(w, self.versions.get(w, 0)) for w in ids]

    def claimed(
        self, message: dict[str, Any], windows: list[tuple[str, int]], when: dt.datetime
    ) -> None:
        for window_id, version in windows:
            self.versions[window_id] = version + 1
        for dim, key in self.keys(message).items():
            self.recent.setdefault((dim, key), []).append(when)

    def refresh(self, store: GraphStore, message: dict[str, Any], now: dt.datetime) -> None:
        """Read this message's windows, then count every cap again (in that order: a
        claim that bumped a window is in the counts read after it). Rare: only after
        losing a race to another relay."""
        found = store.get_nodes("CapWindow", sorted(_window_ids(message)))
        self.versions.update(dict(zip(found["window_id"], found["version"], strict=True)))
        self.recent = _recent(store, now)


def _window_ids(message: dict[str, Any]) -> set[str]:
    return {f"{dim}:{key}" for dim, key in _Contexts.keys(message).items()}


def _cap_messages(store: GraphStore, now: dt.datetime) -> pl.DataFrame:
    """Messages that count against a cap now: sent in the last 24 hours, or claimed in
    the last 24 hours and still in flight (sending, or unconfirmed: maybe sent).

    One read, so one snapshot: read as two, a message another relay marks ``sent``
    between them would be in neither and a cap could be passed (the fault suite
    found it). A message is sent at the time it was claimed (a relay claims and
    sends at its one ``now``; a settled send keeps its claim time), so claims in
    the last 24 hours are all there is to read."""
    counted = store.nodes(
        "OutboxMessage",
        [
            Filter("status", "in", ["sent", *IN_FLIGHT]),
            Filter("claimed_at", "gt", now - DAY),
        ],
    )
    return counted.with_columns(
        pl.when(pl.col("status") == "sent")
        .then(pl.coalesce("sent_at", "claimed_at"))
        .otherwise(pl.col("claimed_at"))
        .alias("__at")
    ).filter(pl.col("__at") > now - DAY)


def _contexts(store: GraphStore, due: pl.DataFrame, now: dt.datetime) -> _Contexts:
    people = {
        r["person_id"]: r
        for r in store.get_nodes("Person", due["person_id"].drop_nulls()).iter_rows(named=True)
    }
    accounts = {
        r["account_id"]: r
        for r in store.get_nodes("Account", due["account_id"]).iter_rows(named=True)
    }
    # Both lists are read whole and compared lower-cased: keys are lower-cased when
    # written now, but a row stored earlier, or written around the store, may not be,
    # and a Person's email is kept as its source wrote it. Both are short (opt-outs).
    suppression = SuppressionList(frozenset(store.nodes("Suppression")["address"].to_list()))
    dnc = store.nodes("Person", [Filter("do_not_contact", "eq", True)])
    do_not_contact = frozenset(dnc["email"].drop_nulls().str.strip_chars().str.to_lowercase())
    escalations = open_escalations(store, due["account_id"].unique().to_list())
    escalated = {r["account_id"]: r["kind"] for r in escalations.iter_rows(named=True)}
    drafts = store.get_nodes("Draft", due["draft_id"].unique(), fields=["created_at"])
    written = dict(zip(drafts["draft_id"], drafts["created_at"], strict=True))
    # Windows first, then the counts they guard.
    window_ids = sorted({w for m in due.iter_rows(named=True) for w in _window_ids(m)})
    found = store.get_nodes("CapWindow", window_ids)
    versions = dict(zip(found["window_id"], found["version"], strict=True))
    return _Contexts(
        people,
        accounts,
        suppression,
        do_not_contact,
        escalated,
        written,
        _open_replies(store, due),
        _recent(store, now),
        versions,
    )


def _open_replies(store: GraphStore, due: pl.DataFrame) -> dict[str, dt.datetime]:
    """The latest reply nobody has handled yet (out-of-office ones aside) from each
    recipient of ``due``, by person id and by address."""
    replies = store.nodes(
        "Reply", [Filter("status", "eq", "open"), Filter("classification", "ne", "out_of_office")]
    )
    latest: dict[str, dt.datetime] = {}
    people = set(due["person_id"].drop_nulls().to_list())
    addresses = set(due["to_address"].str.strip_chars().str.to_lowercase().to_list())
    for r in replies.iter_rows(named=True):
        for who in (r.get("person_id"), (r.get("from_address") or "").strip().lower()):
            if who and (who in people or who in addresses):
                latest[who] = max(latest.get(who, r["received_at"]), r["received_at"])
    return latest


def _recent(store: GraphStore, now: dt.datetime) -> dict[tuple[str, str], list[dt.datetime]]:
    recent: dict[tuple[str, str], list[dt.datetime]] = defaultdict(list)
    for m in _cap_messages(store, now).iter_rows(named=True):
        for dim, key in _Contexts.keys(m).items():
            recent[(dim, key)].append(m["__at"])
    return dict(recent)
