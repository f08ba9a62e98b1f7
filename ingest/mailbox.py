"""The mailbox reader: inbound email from an IMAP mailbox becomes Activity nodes.

``TWOLOOP_IMAP_URL`` names the mailbox (``imap://user:pass@host:port/INBOX``;
``imaps://`` for TLS from the start, ``imap+starttls://`` to upgrade a plain
connection; the password may come from ``TWOLOOP_IMAP_PASSWORD`` instead). Each
read fetches the messages past the mailbox's watermark (its UIDVALIDITY and the
last UID read, kept on an ``IngestRun`` with source ``mailbox:<host>/<box>`` as
ingest does for its sources; a new UIDVALIDITY reads the box again), parses them
with ``email`` (the plain text part, else the HTML part as text, with the quoted
earlier message cut off) and writes one inbound email Activity per Message-ID
(``mail-<hash of the Message-ID>``), so reading twice stores nothing twice.

What is stored, and what is left alone:

- a message that answers one of our sends (a Message-ID of an OutboxMessage in
  In-Reply-To or References) is stored ABOUT that send's account, INVOLVED the
  sender (a Person with that address) or else the person we wrote to;
- a message from a known Person that answers nothing of ours is stored as a plain
  inbound email about their account (escalation triggers and gates see it);
- anything else (newsletters, strangers, our own sends copied to the box) is left
  alone and only counted.

Threading and classifying the stored replies is ``routing.replies``. A message that
cannot be parsed (no From address, no Message-ID, a broken MIME structure) is
counted and named in the run's warnings; it never stops the run, and the
watermark moves past it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import imaplib
import re
import ssl
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

import polars as pl

from graph_model.errors import ConfigError, MailboxError, MailboxUnavailable
from graph_model.store import Filter, GraphStore
from ingest.email_parse import (
    InboundEmail,
    MalformedEmail,
    parse_email,
)

Scheme = Literal["imap", "imaps", "imap+starttls"]
DEFAULT_PORTS: dict[str, int] = {"imap": 143, "imap+starttls": 143, "imaps": 993}
FETCH_CHUNK = 50


@dataclass(frozen=True)
class MailboxConfig:
    """One IMAP mailbox to read replies from."""

    scheme: Scheme
    host: str
    port: int
    user: str
    password: str
    mailbox: str = "INBOX"
    timeout: float = 30.0

    @property
    def source(self) -> str:
        """The IngestRun source that keeps this mailbox's watermark."""
        return f"mailbox:{self.host}/{self.mailbox}"

    @property
    def origin(self) -> str:
        """What a Reply read from here records as its source."""
        return f"imap:{self.host}/{self.mailbox}"


def parse_imap_url(url: str, *, password: str | None = None) -> MailboxConfig:
    """``imap[s|+starttls]://user[:pass]@host[:port][/mailbox]`` as a config;
    ``password`` (``TWOLOOP_IMAP_PASSWORD``) is used when the URL has none."""
    setting = "TWOLOOP_IMAP_URL"
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise ConfigError(
            setting,
            f"scheme {parts.scheme or '(none)'!r} is not imap, imaps or imap+starttls",
            hint="e.g. imaps://replies%40vendor.example@imap.vendor.example/INBOX",
        )
    if not parts.hostname:
        raise ConfigError(setting, "the URL names no host")
    if not parts.username:
        raise ConfigError(setting, "the URL names no user (imap://USER@host/INBOX)")
    secret = unquote(parts.password) if parts.password else password
    if not secret:
        raise ConfigError(setting, "no password: put it in the URL or in TWOLOOP_IMAP_PASSWORD")
    try:
        port = parts.port or DEFAULT_PORTS[scheme]
    except ValueError as exc:
        raise ConfigError(setting, f"bad port: {exc}") from None
    box = unquote(parts.path.lstrip("/")) or "INBOX"
    return MailboxConfig(
        scheme=scheme,  # type: ignore[arg-type]
        host=parts.hostname,
        port=port,
        user=unquote(parts.username),
        password=secret,
        mailbox=box,
    )


# ------------------------------------------------------------------ IMAP


@dataclass(frozen=True)
class Watermark:
    uidvalidity: int
    last_uid: int

    def __str__(self) -> str:
        return f"{self.uidvalidity}:{self.last_uid}"

    @classmethod
    def parse(cls, text: str | None) -> Watermark | None:
        if not text or ":" not in text:
            return None
        validity, _, uid = text.partition(":")
        try:
            return cls(int(validity), int(uid))
        except ValueError:
            return None


@dataclass(frozen=True)
class FetchedMessage:
    uid: int
    raw: bytes
    internal_date: dt.datetime | None


@dataclass
class Fetched:
    uidvalidity: int
    messages: list[FetchedMessage] = field(default_factory=list)


_FETCH_META = re.compile(rb"UID (\d+)")
_INTERNAL = re.compile(rb'INTERNALDATE "([^"]+)"')


def fetch_new(
    config: MailboxConfig, after: Watermark | None, *, tls: ssl.SSLContext | None = None
) -> Fetched:
    """The messages of the mailbox past ``after`` (all of them when its UIDVALIDITY
    changed), read without marking them seen."""
    try:
        client = _connect(config, tls)
    except ssl.SSLCertVerificationError as exc:
        raise MailboxError(
            f"the IMAP server {config.host}:{config.port} has a certificate this machine does "
            f"not trust: {exc.verify_message}",
            hint="fix the server's certificate or the system's CA store",
        ) from None
    except (OSError, imaplib.IMAP4.error) as exc:
        raise MailboxUnavailable(
            f"the IMAP server {config.host}:{config.port} could not be reached: {exc}",
            hint="the next read starts from the same watermark",
        ) from None
    try:
        try:
            client.login(config.user, config.password)
        except imaplib.IMAP4.error as exc:
            raise MailboxError(
                f"the IMAP server {config.host} refused the login of {config.user}: {_text(exc)}",
                hint="check TWOLOOP_IMAP_URL and TWOLOOP_IMAP_PASSWORD",
            ) from None
        status, data = client.select(_quoted(config.mailbox), readonly=True)
        if status != "OK":
            raise MailboxError(
                f"mailbox {config.mailbox!r} cannot be opened on {config.host}: {_text(data)}",
                hint="the mailbox is the URL's path, e.g. imaps://user@host/INBOX",
            )
        validity = _uidvalidity(client)
        start = after.last_uid + 1 if after and after.uidvalidity == validity else 1
        status, data = client.uid("SEARCH", f"UID {start}:*")
        uids = sorted(int(u) for u in (data[0] or b"").split() if int(u) >= start)
        fetched = Fetched(validity)
        for chunk in _chunks(uids, FETCH_CHUNK):
            fetched.messages += _fetch(client, chunk)
        return fetched
    except (OSError, imaplib.IMAP4.abort) as exc:
        raise MailboxUnavailable(
            f"the IMAP server {config.host} broke off: {exc}",
            hint="the next read starts from the same watermark",
        ) from None
    except imaplib.IMAP4.error as exc:
        raise MailboxError(
            f"the IMAP server {config.host} refused a command: {_text(exc)}"
        ) from None
    finally:
        with contextlib.suppress(OSError, imaplib.IMAP4.error):
            client.logout()


def _connect(config: MailboxConfig, tls: ssl.SSLContext | None) -> imaplib.IMAP4:
    if config.scheme == "imaps":
        return imaplib.IMAP4_SSL(
            config.host,
            config.port,
            ssl_context=tls or ssl.create_default_context(),
            timeout=config.timeout,
        )
    client = imaplib.IMAP4(config.host, config.port, timeout=config.timeout)
    if config.scheme == "imap+starttls":
        client.starttls(ssl_context=tls or ssl.create_default_context())
    return client


def _quoted(mailbox: str) -> str:
    return '"' + mailbox.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _uidvalidity(client: imaplib.IMAP4) -> int:
    _, data = client.response("UIDVALIDITY")
    if data and data[0]:
        return int(data[0])
    raise MailboxError("the IMAP server gave no UIDVALIDITY for the mailbox")


def _fetch(client: imaplib.IMAP4, uids: list[int]) -> list[FetchedMessage]:
    status, data = client.uid("FETCH", ",".join(map(str, uids)), "(UID INTERNALDATE BODY.PEEK[])")
    if status != "OK":
        raise MailboxUnavailable(f"FETCH failed: {_text(data)}")
    out: list[FetchedMessage] = []
    for item in data:
        if not isinstance(item, tuple) or len(item) < 2:
            continue
        meta, raw = item[0], item[1]
        found = _FETCH_META.search(meta)
        if not found:
            continue
        when = None
        internal = _INTERNAL.search(meta)
        if internal:
            try:
                when = dt.datetime.strptime(internal.group(1).decode(), "%d-%b-%Y %H:%M:%S %z")
            except ValueError:
                when = None
        out.append(FetchedMessage(int(found.group(1)), bytes(raw), when))
    return out


def _chunks(items: list[int], size: int) -> Iterable[list[int]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _text(value: object) -> str:
    if isinstance(value, list | tuple):
        return " ".join(_text(v) for v in value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


# ------------------------------------------------------------------ storing


@dataclass
class MailboxReport:
    source: str
    run_id: str
    fetched: int = 0
    stored: int = 0  # new Activity nodes
    known: int = 0  # already stored (an earlier read, or another copy)
    replies: int = 0  # of the stored and known: answers to our sends
    unrelated: int = 0  # neither answers us nor comes from a known person
    ours: int = 0  # our own sends found in the box
    malformed: int = 0
    problems: list[str] = field(default_factory=list)
    watermark: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def read_mailbox(
    store: GraphStore,
    config: MailboxConfig,
    *,
    now: dt.datetime,
    tls: ssl.SSLContext | None = None,
) -> MailboxReport:
    """Fetch what is new in the mailbox and store it as inbound email activities; the
    run (counts, malformed messages, the new watermark) is an IngestRun."""
    previous = last_mailbox_watermark(store, config.source)
    run_id = f"{config.source}@{now:%Y%m%dT%H%M%S%fZ}"
    report = MailboxReport(source=config.source, run_id=run_id, watermark=previous)
    started = dt.datetime.now(dt.UTC)
    try:
        fetched = fetch_new(config, Watermark.parse(previous), tls=tls)
    except MailboxError as exc:
        _record_run(store, report, started, status="failed", error=str(exc))
        raise
    report.fetched = len(fetched.messages)
    emails: list[InboundEmail] = []
    for message in fetched.messages:
        try:
            emails.append(parse_email(message.raw, received=message.internal_date))
        except MalformedEmail as exc:
            report.malformed += 1
            report.problems.append(f"uid {message.uid}: {exc}")
    store_emails(store, emails, report)
    last = max((m.uid for m in fetched.messages), default=None)
    old = Watermark.parse(previous)
    if last is not None:
        report.watermark = str(Watermark(fetched.uidvalidity, last))
    elif old is None or old.uidvalidity != fetched.uidvalidity:
        report.watermark = str(Watermark(fetched.uidvalidity, 0))
    _record_run(store, report, started, status="succeeded")
    return report


def last_mailbox_watermark(store: GraphStore, source: str) -> str | None:
    runs = store.nodes("IngestRun", [Filter("source", "eq", source)])
    runs = runs.filter(pl.col("watermark").is_not_null() & (pl.col("status") == "succeeded"))
    if not runs.height:
        return None
    return str(runs.sort("started_at", descending=True)["watermark"][0])


def _record_run(
    store: GraphStore,
    report: MailboxReport,
    started: dt.datetime,
    *,
    status: str,
    error: str | None = None,
) -> None:
    store.upsert_nodes(
        "IngestRun",
        [
            {
                "run_id": report.run_id,
                "source": report.source,
                "started_at": started,
                "finished_at": dt.datetime.now(dt.UTC),
                "status": status,
                "rows_in": report.fetched,
                "loaded": report.stored,
                "quarantined": report.malformed,
                "duplicates": report.known,
                "watermark": report.watermark,
                "error": error,
                "warnings": report.problems[:50],
            }
        ],
    )


def store_emails(store: GraphStore, emails: Sequence[InboundEmail], report: MailboxReport) -> None:
    """Store the emails that answer our sends or come from known people as inbound
    email activities (one per Message-ID), in one commit."""
    unique = list({e.message_id: e for e in emails}.values())
    if not unique:
        return
    ours = _our_message_ids(store, unique)
    outbox = _outbox_by_key(store, {i for e in unique for i in e.in_reply_to})
    people = _people_by_address(store, {e.from_address for e in unique})
    am_addresses = _am_addresses(store, {e.from_address for e in unique})
    known = store.existing_keys("Activity", [e.activity_id for e in unique])
    activities: list[dict[str, Any]] = []
    about: list[dict[str, Any]] = []
    involved: list[dict[str, Any]] = []
    for email in unique:
        if _outbox_key(email.message_id) in ours or email.from_address in am_addresses:
            report.ours += 1
            continue
        thread = next(
            (outbox[k] for i in email.in_reply_to if (k := _outbox_key(i)) in outbox), None
        )
        sender = people.get(email.from_address)
        if thread is not None:
            account_id = thread["account_id"]
            person_id = sender["person_id"] if sender else thread.get("person_id")
            report.replies += 1
        elif sender is not None and sender.get("account_id"):
            account_id, person_id = sender["account_id"], sender["person_id"]
        else:
            report.unrelated += 1
            continue
        if email.activity_id in known:
            report.known += 1
            continue
        activities.append(
            {
                "activity_id": email.activity_id,
                "kind": "email",
                "occurred_at": email.occurred_at,
                "direction": "inbound",
                "subject": email.subject or None,
                "summary": email.body,
                "message_id": email.message_id,
                "in_reply_to": list(email.in_reply_to),
                "from_address": email.from_address,
            }
        )
        about.append({"src": email.activity_id, "dst": account_id})
        if person_id:
            involved.append({"src": email.activity_id, "dst_label": "Person", "dst": person_id})
    report.stored = len(activities)
    if not activities:
        return
    with store.batch() as write:
        write.upsert_nodes("Activity", activities, source=report.source)
        write.upsert_edges("ABOUT", about, source=report.source)
        if involved:
            write.upsert_edges("INVOLVED", involved, source=report.source)


def _outbox_key(message_id: str) -> str:
    # Our Message-IDs are <outbox key@sender's domain> (routing.channels).
    return message_id.rsplit("@", 1)[0]


def _our_message_ids(store: GraphStore, emails: Sequence[InboundEmail]) -> set[str]:
    keys = [_outbox_key(e.message_id) for e in emails]
    return set(store.existing_keys("OutboxMessage", keys))


def _outbox_by_key(store: GraphStore, ids: set[str]) -> dict[str, dict[str, Any]]:
    keys = sorted({_outbox_key(i) for i in ids})
    if not keys:
        return {}
    rows = store.get_nodes("OutboxMessage", keys)
    return {r["message_id"]: r for r in rows.iter_rows(named=True)}


def _people_by_address(store: GraphStore, addresses: set[str]) -> dict[str, dict[str, Any]]:
    """Each address's Person (the first by key when several share it), with the
    account they work at."""
    if not addresses:
        return {}
    people = store.nodes("Person", [Filter("email", "in", sorted(addresses))])
    if not people.height:
        return {}
    works = store.edges("WORKS_AT", touching=people["person_id"], side="source")
    employer = {r["src"]: r["dst"] for r in works.sort(["src", "dst"]).iter_rows(named=True)}
    found: dict[str, dict[str, Any]] = {}
    for row in people.sort("person_id").iter_rows(named=True):
        address = str(row["email"]).lower()
        if address not in found:
            found[address] = {
                "person_id": row["person_id"],
                "account_id": employer.get(row["person_id"]),
            }
    return found


def _am_addresses(store: GraphStore, addresses: set[str]) -> set[str]:
    if not addresses:
        return set()
    ams = store.nodes("AccountManager", [Filter("email", "in", sorted(addresses))])
    return {str(e).lower() for e in ams["email"].to_list()} if ams.height else set()
