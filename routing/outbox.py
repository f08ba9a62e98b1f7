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
from routing.channels import Channel, Outgoing
from routing.escalation import open_escalations
from routing.guardrails import DAY, SendContext, SuppressionList, check_send, domain_of
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
    config: SendingConfig,
    now: dt.datetime,
    expect_status: Iterable[str] | None = ("pending",),
    status: str = "approved",
) -> dict[str, Any]:
    """Add the draft's release (its new status and its OutboxMessage) to ``write``.

    With ``expect_status`` the commit only happens if the draft still has that
    status (someone else deciding first makes it a conflict)."""
    if not draft.get("to_address") or not draft.get("from_address"):
        raise TwoloopError(
            f"draft {draft['draft_id']} has no recipient or sender; it cannot be sent",
            hint="the match needs a contact with an email and an AM with a mailbox",
        )
    mid = message_id(draft["draft_id"])
    body, headers = compliance(draft["body"], mid, config)
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
    retry: int = 0
    conflicts: int = 0
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


Fault = Callable[[str, dict[str, Any]], None]


class Relay:
    """Sends due outbox messages through one channel. ``fault`` is called at each
    stage ("claimed", "sent", "marked") with the message: tests inject crashes."""

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
        to_send: list[dict[str, Any]] = []
        settled: list[tuple[dict[str, Any], dict[str, Any]]] = []
        for message in due.iter_rows(named=True):
            ctx = contexts.context(message)
            check = check_send(message, ctx, self.config, now)
            if check.verdict == "send":
                to_send.append(message)
                contexts.count(message, now)  # later messages in this pass see it
            elif check.verdict == "defer":
                report.deferred += 1
                settled.append((message, {"not_before": check.not_before, "note": check.reason}))
            else:
                setattr(report, check.verdict, getattr(report, check.verdict) + 1)
                settled.append((message, {"status": check.verdict, "note": check.reason}))
        for start in range(0, len(settled), CLAIM_CHUNK):
            chunk = settled[start : start + CLAIM_CHUNK]
            report.conflicts += self._update(chunk, expect="pending")
        for start in range(0, len(to_send), CLAIM_CHUNK):
            self._send_chunk(to_send[start : start + CLAIM_CHUNK], now, report)
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
                    "UTC and never marked sent: check whether it went out; it is not resent",
                },
            )
            for m in stale.iter_rows(named=True)
        ]
        if rows:
            self._update(rows, expect="sending")
            report.unconfirmed += len(rows)

    def _send_chunk(
        self, chunk: list[dict[str, Any]], now: dt.datetime, report: RelayReport
    ) -> None:
        claim = {"status": "sending", "claimed_by": self.worker, "claimed_at": now}
        try:
            self._write([(m, {**claim, "attempts": m["attempts"] + 1}) for m in chunk], "pending")
            claimed = chunk
        except WriteConflict:
            # Another relay got some of these first: claim one by one.
            claimed = []
            for m in chunk:
                try:
                    self._write([(m, {**claim, "attempts": m["attempts"] + 1})], "pending")
                    claimed.append(m)
                except WriteConflict:
                    report.conflicts += 1
        done: list[tuple[dict[str, Any], dict[str, Any]]] = []
        try:
            for m in claimed:
                mine = {**m, **claim, "attempts": m["attempts"] + 1}
                self.fault("claimed", mine)
                try:
                    provider_id = self.channel.send(_outgoing(mine))
                except TwoloopError as exc:
                    if exc.transient:
                        report.retry += 1
                        change = {"status": "pending", "not_before": now + RETRY_AFTER}
                    else:
                        report.blocked += 1
                        change = {"status": "blocked"}
                    done.append((mine, {**change, "note": str(exc)}))
                    continue
                self.fault("sent", mine)
                done.append((mine, {"status": "sent", "sent_at": now, "provider_id": provider_id}))
                report.sent += 1
        finally:
            # Mark what went out, even when a later send raised: the fewer left in
            # ``sending``, the fewer a person has to check.
            if done:
                self._write(done, "sending")
                for m, _ in done:
                    self.fault("marked", m)

    def _update(self, rows: list[tuple[dict[str, Any], dict[str, Any]]], *, expect: str) -> int:
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

    def _write(self, rows: list[tuple[dict[str, Any], dict[str, Any]]], expect: str) -> None:
        with self.store.batch() as write:
            for message, _ in rows:
                write.expect("OutboxMessage", message["message_id"], "status", [expect])
            write.upsert_nodes("OutboxMessage", [{**m, **change} for m, change in rows])


def _outgoing(message: dict[str, Any]) -> Outgoing:
    return Outgoing(
        message_id=message["message_id"],
        to_address=message["to_address"],
        from_address=message["from_address"],
        subject=message["subject"],
        body=message["body"],
        headers=json.loads(message["headers"] or "{}"),
    )


@dataclass
class _Contexts:
    people: dict[str, dict[str, Any]]
    accounts: dict[str, dict[str, Any]]
    suppression: SuppressionList
    do_not_contact: frozenset[str]  # lower-cased addresses of do-not-contact people
    escalated: dict[str, str]
    recent: dict[tuple[str, str], list[dt.datetime]]

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
            recent={
                dim: self.recent.get((dim, key), []) for dim, key in self.keys(message).items()
            },
        )

    def count(self, message: dict[str, Any], when: dt.datetime) -> None:
        for dim, key in self.keys(message).items():
            self.recent.setdefault((dim, key), []).append(when)


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
    sent = store.nodes(
        "OutboxMessage", [Filter("status", "eq", "sent"), Filter("sent_at", "gt", now - DAY)]
    )
    recent: dict[tuple[str, str], list[dt.datetime]] = defaultdict(list)
    for m in sent.iter_rows(named=True):
        for dim, key in _Contexts.keys(m).items():
            recent[(dim, key)].append(m["sent_at"])
    return _Contexts(people, accounts, suppression, do_not_contact, escalated, dict(recent))
