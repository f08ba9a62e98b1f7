"""Send-time guardrails, as a pure function: one message and what the graph says
now in, one verdict out.

In order: suppression (the address, its domain or a parent domain is on the
suppression list, whatever the letter case; the person, or any person with the
address, is do-not-contact; the account is suppressed) -> ``suppressed``; an
open escalation on the account, or a sender outside the From-domain allowlist,
or an email without its footer and unsubscribe headers -> ``blocked``; the
recipient's quiet hours -> ``defer`` to their next morning; a daily cap (per
contact, account, recipient domain, AM mailbox; rolling 24 hours) -> ``defer``
until a slot frees up. Otherwise ``send``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from routing.sending import QuietHours, SendingConfig

DAY = dt.timedelta(hours=24)
REPLY_RECHECK = dt.timedelta(hours=1)
Verdict = Literal["send", "suppressed", "blocked", "defer"]
REQUIRED_HEADERS = ("List-Unsubscribe", "List-Unsubscribe-Post")


@dataclass(frozen=True)
class SuppressionList:
    """Addresses and ``@domain``s nothing is sent to, in any letter case (kept
    lower-cased). ``@example.com`` covers every address at example.com and at every
    domain under it, whatever its level: an entry is an instruction, so ``@gov.uk``
    covers ``press@hmrc.gov.uk``. An address covers only itself."""

    entries: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        lowered = frozenset(e.strip().lower() for e in self.entries if e.strip())
        object.__setattr__(self, "entries", lowered)

    def entry_for(self, address: str) -> str | None:
        """The entry that covers ``address``, or None."""
        to = address.strip().lower()
        if to in self.entries:
            return to
        for domain in parent_domains(domain_of(to)):
            if f"@{domain}" in self.entries:
                return f"@{domain}"
        return None


@dataclass(frozen=True)
class SendContext:
    """What the relay read from the graph for one message."""

    suppression: SuppressionList = field(default_factory=SuppressionList)
    person_do_not_contact: bool = False
    account_suppressed: bool = False
    open_escalation: str | None = None  # its kind
    timezone: str | None = None
    # When the message's text was written (its draft), and the latest reply from its
    # recipient the AM has not read yet (out-of-office ones aside).
    written_at: dt.datetime | None = None
    open_reply_at: dt.datetime | None = None
    # Sent times in the last 24 hours, per dimension ("contact", "account", ...).
    recent: Mapping[str, Sequence[dt.datetime]] = field(default_factory=dict)


@dataclass(frozen=True)
class SendCheck:
    verdict: Verdict
    reason: str = ""
    not_before: dt.datetime | None = None


def domain_of(address: str) -> str:
    return address.rsplit("@", 1)[-1].strip().lower().rstrip(".")


def parent_domains(domain: str) -> list[str]:
    """``mail.example.com`` -> ``mail.example.com``, ``example.com``, ``com``."""
    labels = domain.split(".")
    return [".".join(labels[i:]) for i in range(len(labels))]


def check_send(
    message: Mapping[str, object], context: SendContext, config: SendingConfig, now: dt.datetime
) -> SendCheck:
    to = str(message["to_address"]).strip().lower()
    entry = context.suppression.entry_for(to)
    if entry is not None:
        how = "" if entry == to else f" (as {entry})"
        return SendCheck("suppressed", f"{to} is on the suppression list{how}")
    if context.person_do_not_contact:
        return SendCheck("suppressed", "the person is marked do-not-contact")
    if context.account_suppressed:
        return SendCheck("suppressed", "the account is suppressed")
    if context.open_escalation:
        return SendCheck("blocked", f"the account has an open {context.open_escalation} escalation")
    if (
        context.open_reply_at is not None
        and context.written_at is not None
        and context.open_reply_at > context.written_at
    ):
        # Written before they answered: it waits until a person has read the answer.
        return SendCheck(
            "defer",
            f"{to} replied on {context.open_reply_at:%Y-%m-%d} after this was written; it "
            "waits until the reply is handled (twoloop replies handle)",
            now + REPLY_RECHECK,
        )
    sender = domain_of(str(message["from_address"]))
    if sender not in {d.lower() for d in config.from_domains}:
        return SendCheck("blocked", f"sender domain {sender} is not in from_domains")
    if message.get("channel", "email") == "email":
        headers = json.loads(str(message.get("headers") or "{}"))
        missing = [h for h in REQUIRED_HEADERS if h not in headers]
        body = str(message["body"])
        if missing or config.footer.postal_address not in body:
            what = ", ".join(missing) or "the footer"
            return SendCheck("blocked", f"the email lacks {what}")
    zone = _zone(context.timezone)
    morning = next_allowed(now, zone, config.quiet_hours)
    if morning is not None:
        return SendCheck("defer", f"quiet hours in {zone.key}", morning)
    limits = {
        "contact": config.caps.per_contact,
        "account": config.caps.per_account,
        "domain": config.caps.per_domain,
        "mailbox": config.caps.per_mailbox,
    }
    for dimension, limit in limits.items():
        window = sorted(t for t in context.recent.get(dimension, ()) if t > now - DAY)
        if len(window) >= limit:
            free = window[len(window) - limit] + DAY if limit else now + DAY
            return SendCheck("defer", f"daily cap per {dimension} ({limit}) reached", free)
    return SendCheck("send")


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _quiet(local: dt.datetime, quiet: QuietHours) -> bool:
    if quiet.weekends and local.weekday() >= 5:
        return True
    t = local.time()
    if quiet.start > quiet.end:  # overnight, e.g. 20:00-08:00
        return t >= quiet.start or t < quiet.end
    return quiet.start <= t < quiet.end


def next_allowed(now: dt.datetime, zone: ZoneInfo, quiet: QuietHours) -> dt.datetime | None:
    """None when ``now`` is outside quiet hours in ``zone``; else the first moment
    (UTC) after them: the end time on the next allowed local day. Local wall-clock
    time, so a daylight-saving change moves the UTC instant, not the morning."""
    local = now.astimezone(zone)
    if not _quiet(local, quiet):
        return None
    day = local.date()
    if local.time() >= quiet.end and not (quiet.weekends and local.weekday() >= 5):
        day += dt.timedelta(days=1)
    for _ in range(8):
        candidate = dt.datetime.combine(day, quiet.end, tzinfo=zone)
        if not (quiet.weekends and candidate.weekday() >= 5) and candidate > now:
            return candidate.astimezone(dt.UTC)
        day += dt.timedelta(days=1)
    raise ValueError("quiet hours leave no time to send in a week")
