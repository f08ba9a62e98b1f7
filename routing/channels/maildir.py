"""The Maildir channel: each email written as one file into a local Maildir.

The demo's outbox delivers here (``twoloop demo --history``), and anything that
reads mail from files (a mail client, a notebook with ``mailbox.Maildir``) can
open it. Messages are RFC 5322, built as the SMTP channel builds them, with the
Message-ID derived from the outbox's idempotency key. A message whose Message-ID
is already in the Maildir is not written again: its key is returned, so a relay
that retries after a crash leaves one copy.
"""

from __future__ import annotations

import mailbox
from pathlib import Path

from routing.channels import Outgoing, email_message, message_id_header


class MaildirChannel:
    """Delivers each Outgoing into the Maildir at ``path`` (created if missing); the
    Maildir key is the provider id."""

    def __init__(self, path: Path | str, name: str = "email") -> None:
        self.path = Path(path)
        self.name = name
        self._maildir = mailbox.Maildir(self.path, create=True)
        self._keys: dict[str, str] | None = None

    def _by_message_id(self) -> dict[str, str]:
        # Read once per channel: a relay pass owns its Maildir while it runs.
        if self._keys is None:
            self._keys = {}
            for key in self._maildir.iterkeys():
                header = self._maildir.get_message(key)["Message-ID"]
                if header:
                    self._keys[header.strip()] = key
        return self._keys

    def send(self, message: Outgoing) -> str:
        """Write ``message`` once; return its Maildir key (the existing one when a
        message with the same Message-ID is already there)."""
        header = message_id_header(message.message_id, message.from_address)
        known = self._by_message_id()
        if header in known:
            return known[header]
        key = self._maildir.add(mailbox.MaildirMessage(email_message(message)))
        known[header] = key
        return key

    def messages(self) -> list[mailbox.MaildirMessage]:
        """Every message in the Maildir, in key order."""
        return [self._maildir.get_message(key) for key in sorted(self._maildir.iterkeys())]

    def close(self) -> None:
        self._maildir.close()
