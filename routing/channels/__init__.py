"""Send channels. Each is an adapter: the only code that touches the outside world.

- ``smtp``: email through an SMTP server (STARTTLS and auth configurable).
- ``maildir``: email written to a local Maildir (the demo's outbox, and anything
  that reads mail from files).
- ``webhook``: Slack-compatible alerts to people (escalations, voice-note asks).
- ``task``: a task for the AM instead of sending anything (voice note, LinkedIn
  message, call, research).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate
from typing import Protocol


@dataclass(frozen=True)
class Outgoing:
    """One message as a channel sends it; ``message_id`` is the idempotency key."""

    message_id: str
    to_address: str
    from_address: str
    subject: str
    body: str
    headers: dict[str, str] = field(default_factory=dict)


class Channel(Protocol):
    name: str

    def send(self, message: Outgoing) -> str:
        """Send once; return the provider's id for the message."""
        ...


def message_id_header(message_id: str, from_address: str) -> str:
    """The Message-ID an email channel gives a message: the outbox's idempotency key
    at the sender's domain, so a receiving system can recognise a duplicate."""
    return f"<{message_id}@{from_address.rsplit('@', 1)[-1]}>"


def email_message(message: Outgoing) -> EmailMessage:
    """``message`` as an RFC 5322 email: Message-ID, From, To, Subject, Date, the
    outbox's own headers (List-Unsubscribe, ...) and the body as plain text."""
    email = EmailMessage()
    email["Message-ID"] = message_id_header(message.message_id, message.from_address)
    email["From"] = message.from_address
    email["To"] = message.to_address
    email["Subject"] = message.subject
    email["Date"] = formatdate(localtime=False)
    for name, value in message.headers.items():
        email[name] = value
    email.set_content(message.body)
    return email
