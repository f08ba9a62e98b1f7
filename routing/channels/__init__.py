"""Send channels. Each is an adapter: the only code that touches the outside world.

- ``smtp``: email through an SMTP server (STARTTLS and auth configurable).
- ``webhook``: Slack-compatible alerts to people (escalations, voice-note asks).
- ``task``: a task for the AM instead of sending anything (voice note, LinkedIn
  message, call, research).
"""

from __future__ import annotations

from dataclasses import dataclass, field
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
