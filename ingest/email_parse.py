"""Inbound email, parsed: the Message-ID, what it answers (In-Reply-To, then
References), who wrote it, when, and its text (the plain part preferred, HTML
turned into text, the quoted earlier message cut off). Used by the mailbox reader
(``ingest.mailbox``); the text is untrusted."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime
from html.parser import HTMLParser

BODY_CHARS = 20_000


class MalformedEmail(ValueError):
    """A message that cannot be stored (the reason says why)."""


@dataclass(frozen=True)
class InboundEmail:
    """One parsed inbound message. Its text is untrusted."""

    message_id: str  # without angle brackets
    in_reply_to: tuple[str, ...]  # In-Reply-To, then References (newest first), no brackets
    from_address: str  # lower-cased
    subject: str
    body: str
    occurred_at: dt.datetime

    @property
    def activity_id(self) -> str:
        return activity_key(self.message_id)


def activity_key(message_id: str) -> str:
    """The Activity key of an email read from a mailbox: one per Message-ID."""
    return "mail-" + hashlib.sha1(message_id.encode()).hexdigest()[:20]


_ID = re.compile(r"<([^<>\s]+)>")


def message_ids(value: str | None) -> list[str]:
    """The ids in a Message-ID, In-Reply-To or References value, without brackets
    (a bare id without brackets, as CRM exports give it, counts too)."""
    if not value:
        return []
    found = _ID.findall(value)
    if found:
        return found
    return [v.strip("<>") for v in value.split() if v.strip("<>")]


def parse_email(raw: bytes, *, received: dt.datetime | None = None) -> InboundEmail:
    """``raw`` (RFC 5322 bytes) as an InboundEmail, or ``MalformedEmail``."""
    try:
        message = BytesParser(policy=policy.default).parsebytes(raw)
        assert isinstance(message, EmailMessage)
        mid = message_ids(str(message.get("Message-ID") or ""))
        sender = _from_address(message)
        replies_to = message_ids(str(message.get("In-Reply-To") or ""))
        references = message_ids(str(message.get("References") or ""))
        subject = " ".join(str(message.get("Subject") or "").split())
        when = _date(message) or received
        body = trim_quoted(_body_text(message))
    except MalformedEmail:
        raise
    except Exception as exc:  # the parser's own failures on broken input
        raise MalformedEmail(f"cannot be parsed: {type(exc).__name__}: {exc}") from None
    if not mid:
        raise MalformedEmail("has no Message-ID")
    if not sender:
        raise MalformedEmail(f"<{mid[0]}> has no From address")
    if when is None:
        raise MalformedEmail(f"<{mid[0]}> has no date")
    ids = list(dict.fromkeys([*replies_to, *reversed(references)]))
    return InboundEmail(
        message_id=mid[0],
        in_reply_to=tuple(ids),
        from_address=sender,
        subject=subject,
        body=body[:BODY_CHARS],
        occurred_at=when.astimezone(dt.UTC),
    )


def _from_address(message: EmailMessage) -> str | None:
    header = message.get("From")
    if header is None:
        return None
    addresses: Sequence[Address] = getattr(header, "addresses", ())
    for address in addresses:
        if address.addr_spec and "@" in address.addr_spec:
            return address.addr_spec.lower()
    for _, addr in getaddresses([str(header)]):
        if "@" in addr:
            return addr.lower()
    return None


def _date(message: EmailMessage) -> dt.datetime | None:
    header = message.get("Date")
    if header is None:
        return None
    when = getattr(header, "datetime", None)
    if when is None:
        try:
            when = parsedate_to_datetime(str(header))
        except (TypeError, ValueError):
            return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when


def _body_text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    assert isinstance(part, EmailMessage)
    try:
        content = part.get_content()
    except (LookupError, UnicodeError):
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    text = str(content)
    if part.get_content_subtype() == "html":
        text = html_to_text(text)
    return text.replace("\r\n", "\n")


_BREAKS = frozenset({"br", "p", "div", "li", "tr", "h1", "h2", "h3", "blockquote"})
_HIDDEN = frozenset({"script", "style", "head", "title"})


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self._hidden += 1
        elif tag in _BREAKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        elif tag in _BREAKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    """HTML as plain text: tags dropped, scripts and styles left out, blocks on lines."""
    parser = _Text()
    parser.feed(markup)
    parser.close()
    lines = [" ".join(line.split()) for line in "".join(parser.parts).splitlines()]
    return "\n".join(line for line in lines if line)


# Where a client starts quoting the message answered: "On <date>, <who> wrote:",
# Outlook's "-----Original Message-----" or its "From: ... Sent: ..." block.
_QUOTE_START = re.compile(
    r"^(On\b.{0,200}\bwrote:\s*$|-{2,}\s*Original Message\s*-{2,}|_{10,}\s*$|From:\s.+$)",
    re.IGNORECASE | re.MULTILINE,
)


def trim_quoted(text: str) -> str:
    """The new text of a reply: lines quoted with ``>`` and everything from the
    client's "On ... wrote:" (or Outlook's original-message block) on are cut. When
    that would leave nothing, the text is kept whole."""
    found = _QUOTE_START.search(text)
    head = text[: found.start()] if found else text
    kept = [line for line in head.splitlines() if not line.lstrip().startswith(">")]
    new = "\n".join(kept).strip()
    return new or text.strip()
