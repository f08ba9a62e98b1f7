"""Reply classification by rules (table-driven), the rules file's errors, and the
mailbox reader's parsing: headers, bodies, quoted text, malformed messages, URLs."""

from __future__ import annotations

import datetime as dt
from email.message import EmailMessage
from pathlib import Path

import pytest

from graph_model.errors import ConfigError, ConfigFileInvalid
from ingest.email_parse import (
    MalformedEmail,
    html_to_text,
    message_ids,
    parse_email,
    trim_quoted,
)
from ingest.mailbox import Watermark, parse_imap_url
from routing.replies import ReplyText, classify_by_rules, load_reply_rules

RULES = load_reply_rules()

CASES = [
    ("interested", "Re: hello", "Sounds interesting. Can we set up a call on Thursday?"),
    ("interested", "Re: hello", "I'm interested, send me more info please."),
    ("interested", "Re: hello", "Tell me more. When are you free next week"),
    ("not_now", "Re: hello", "Not right now, maybe check back next quarter."),
    ("not_now", "Re: hello", "We just signed with another vendor."),
    ("not_now", "Re: hello", "Thanks, but we have no budget this year."),
    ("question", "Re: hello", "Does it work with Snowflake?"),
    ("question", "Re: hello", "How is it priced"),
    ("out_of_office", "Automatic reply: hello", "Thanks for your message."),
    ("out_of_office", "Re: hello", "I am out of the office until 3 December."),
    ("out_of_office", "Re: hello", "I'm on parental leave, back in the office in March."),
    ("unsubscribe", "Re: hello", "Unsubscribe"),
    ("unsubscribe", "Re: hello", "Please remove me from your mailing list."),
    ("unsubscribe", "Re: hello", "STOP"),
    ("unsubscribe", "Re: hello", "Do not contact me again. Is that clear?"),
    ("wrong_person", "Re: hello", "I'm not the right person for this, try Ann."),
    ("wrong_person", "Re: hello", "Cat is no longer with the company."),
    ("wrong_person", "Re: hello", "This is not my area, the better person to ask is Bob."),
    ("other", "Re: hello", "Thanks."),
]


@pytest.mark.parametrize(("expected", "subject", "body"), CASES, ids=[c[2][:30] for c in CASES])
def test_each_class_by_rules(expected: str, subject: str, body: str) -> None:
    verdict = classify_by_rules(ReplyText(subject=subject, body=body), RULES)
    assert verdict.classification == expected, verdict.rationale
    assert verdict.classifier == "rules"
    assert (verdict.rationale == "no rule matched") == (expected == "other")


def test_an_unsubscribe_wins_over_a_question_in_the_same_reply() -> None:
    verdict = classify_by_rules(ReplyText("Re: x", "Why do you keep writing? Unsubscribe."), RULES)
    assert verdict.classification == "unsubscribe"


@pytest.mark.parametrize(
    ("text", "where", "says"),
    [
        ("classes: [{class: maybe, in: [body], patterns: [x]}]", "classes.0.class", "Input"),
        (
            "classes: [{class: question, in: [sender], patterns: [x]}]",
            "classes.0(question)",
            "sender",
        ),
        (
            "classes: [{class: question, in: [body], patterns: ['(']}]",
            "classes.0(question)",
            "regular",
        ),
        (
            "classes: [{class: question, in: [body], patterns: [x]}, "
            "{class: question, in: [body], patterns: [y]}]",
            "classes.1(question)",
            "twice",
        ),
        ("classes: []", "classes", "at least 1"),
    ],
)
def test_a_bad_rules_file_names_the_file_and_the_entry(
    tmp_path: Path, text: str, where: str, says: str
) -> None:
    path = tmp_path / "replies.yaml"
    path.write_text(text)
    with pytest.raises(ConfigFileInvalid) as caught:
        load_reply_rules(path)
    assert str(path) in str(caught.value) and where in str(caught.value)
    assert says in str(caught.value)


def _mail(**headers: str) -> EmailMessage:
    mail = EmailMessage()
    for name, value in headers.items():
        mail[name.replace("_", "-")] = value
    return mail


def test_parse_email_keeps_ids_sender_date_and_the_new_text() -> None:
    mail = _mail(
        From="Cat Diaz <Cat@Acme.example>",
        Message_ID="<r1@acme.example>",
        In_Reply_To="<msg-1@vendor.example>",
        References="<first@vendor.example> <msg-1@vendor.example>",
        Subject="Re:   hello \t there",
        Date="Fri, 20 Nov 2026 14:00:00 +0100",
    )
    mail.set_content("Yes please.\n\n> Hi Cat,\n> our product...\n")
    parsed = parse_email(bytes(mail))
    assert parsed.message_id == "r1@acme.example"
    assert parsed.in_reply_to == ("msg-1@vendor.example", "first@vendor.example")
    assert parsed.from_address == "cat@acme.example" and parsed.subject == "Re: hello there"
    assert parsed.occurred_at == dt.datetime(2026, 11, 20, 13, 0, tzinfo=dt.UTC)
    assert parsed.body == "Yes please."
    assert parsed.activity_id == parse_email(bytes(mail)).activity_id


def test_an_html_only_reply_is_read_as_text() -> None:
    mail = _mail(
        From="a@b.example", Message_ID="<h@b.example>", Date="Fri, 20 Nov 2026 14:00:00 +0000"
    )
    mail.set_content(
        "<html><head><style>p{}</style></head><body><p>Let&#39;s talk</p>"
        "<script>alert(1)</script><div>Thu?</div></body></html>",
        subtype="html",
    )
    assert parse_email(bytes(mail)).body == "Let's talk\nThu?"
    assert html_to_text("<b>a</b> <i>b</i>") == "a b"


def test_quoted_text_is_cut_at_the_clients_marker() -> None:
    text = "Sure, Tuesday works.\n\nOn Fri, 20 Nov 2026, Ada <ada@v.example> wrote:\nHi Cat"
    assert trim_quoted(text) == "Sure, Tuesday works."
    outlook = "Not now.\n-----Original Message-----\nFrom: Ada\nSent: Friday"
    assert trim_quoted(outlook) == "Not now."
    assert trim_quoted("> only quoted\n> text") == "> only quoted\n> text"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"From: a@b.example\r\nDate: Fri, 20 Nov 2026 14:00:00 +0000\r\n\r\nx", "no Message-ID"),
        (b"Message-ID: <x@b.example>\r\n\r\nx", "has no From address"),
        (b"From: nobody\r\nMessage-ID: <x@b.example>\r\n\r\nx", "has no From address"),
        (b"From: a@b.example\r\nMessage-ID: <x@b.example>\r\n\r\nx", "has no date"),
    ],
)
def test_a_message_that_cannot_be_stored_says_why(raw: bytes, reason: str) -> None:
    with pytest.raises(MalformedEmail, match=reason):
        parse_email(raw)


def test_the_internal_date_stands_in_for_a_missing_date_header() -> None:
    when = dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.UTC)
    raw = b"From: a@b.example\r\nMessage-ID: <x@b.example>\r\n\r\nx"
    assert parse_email(raw, received=when).occurred_at == when


def test_message_ids_take_bracketed_and_bare_forms() -> None:
    assert message_ids("<a@x> <b@y>") == ["a@x", "b@y"]
    assert message_ids("a@x b@y") == ["a@x", "b@y"]
    assert message_ids(None) == []


def test_imap_urls() -> None:
    plain = parse_imap_url("imap://replies%40v.example:p%40ss@127.0.0.1:1143/Replies")
    assert (plain.scheme, plain.host, plain.port) == ("imap", "127.0.0.1", 1143)
    assert (plain.user, plain.password, plain.mailbox) == ("replies@v.example", "p@ss", "Replies")
    assert plain.source == "mailbox:127.0.0.1/Replies"
    tls = parse_imap_url("imaps://u@imap.v.example", password="from-env")
    assert (tls.port, tls.mailbox, tls.password) == (993, "INBOX", "from-env")
    assert parse_imap_url("imap+starttls://u:x@h").port == 143
    for bad, says in [
        ("pop3://u:x@h/INBOX", "scheme"),
        ("imap://h/INBOX", "no user"),
        ("imap://u@h/INBOX", "no password"),
        ("imap://u:x@/INBOX", "no host"),
    ]:
        with pytest.raises(ConfigError, match=says):
            parse_imap_url(bad)


def test_watermarks_round_trip() -> None:
    assert str(Watermark(7, 42)) == "7:42" and Watermark.parse("7:42") == Watermark(7, 42)
    assert Watermark.parse(None) is None and Watermark.parse("junk") is None


def test_an_unknown_charset_and_an_encoded_subject_still_read() -> None:
    raw = (
        b"From: =?utf-8?q?Ren=C3=A9e?= <renee@b.example>\r\n"
        b"Message-ID: <c@b.example>\r\nDate: Fri, 20 Nov 2026 14:00:00 +0000\r\n"
        b"Subject: =?utf-8?q?R=C3=A9ponse?=\r\n"
        b'Content-Type: text/plain; charset="x-no-such-charset"\r\n'
        b"Content-Transfer-Encoding: 8bit\r\n\r\nOui, parlons-en.\r\n"
    )
    parsed = parse_email(raw)
    assert (parsed.subject, parsed.body) == ("Réponse", "Oui, parlons-en.")
    assert parsed.from_address == "renee@b.example"
