"""The Maildir channel: one RFC 5322 file per message, written once per Message-ID."""

from __future__ import annotations

import mailbox
from pathlib import Path

from routing.channels import Outgoing
from routing.channels.maildir import MaildirChannel

MESSAGE = Outgoing(
    message_id="msg-0123",
    to_address="cat@acme.example",
    from_address="ada@vendor.example",
    subject="Privacy at Acme",
    body="Hi Cat,\n\nZoë says hello.\n",
    headers={"List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
)


def test_a_message_is_written_once_with_its_headers(tmp_path: Path) -> None:
    channel = MaildirChannel(tmp_path / "mail")
    key = channel.send(MESSAGE)
    assert channel.name == "email"
    (stored,) = mailbox.Maildir(tmp_path / "mail", create=False)
    assert stored["Message-ID"] == "<msg-0123@vendor.example>"
    assert stored["From"] == "ada@vendor.example" and stored["To"] == "cat@acme.example"
    assert stored["Subject"] == "Privacy at Acme"
    assert stored["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    payload = stored.get_payload(decode=True)
    assert isinstance(payload, bytes) and "Zoë says hello." in payload.decode()
    assert key in mailbox.Maildir(tmp_path / "mail", create=False)


def test_a_resend_of_the_same_message_id_is_not_duplicated(tmp_path: Path) -> None:
    channel = MaildirChannel(tmp_path / "mail")
    first = channel.send(MESSAGE)
    assert channel.send(MESSAGE) == first
    # A new channel (a later relay) reads what is there before writing.
    again = MaildirChannel(tmp_path / "mail", name="email")
    assert again.send(MESSAGE) == first
    other = again.send(Outgoing(**{**MESSAGE.__dict__, "message_id": "msg-0124"}))
    assert other != first
    assert len(mailbox.Maildir(tmp_path / "mail", create=False)) == 2
    assert [m["Message-ID"] for m in again.messages()].count("<msg-0123@vendor.example>") == 1
