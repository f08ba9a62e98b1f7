"""Send-time guardrails: every verdict, quiet hours across daylight-saving changes,
and daily caps."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from routing.guardrails import SendContext, SuppressionList, check_send, next_allowed
from routing.outbox import compliance
from routing.sending import QuietHours, load_sending

UTC = dt.UTC
CONFIG = load_sending().model_copy(update={"from_domains": ["vendor.example"]})
# Tuesday 2026-11-17, 15:00 UTC: working hours in Berlin and New York.
NOON = dt.datetime(2026, 11, 17, 15, 0, tzinfo=UTC)


def _message(**extra: Any) -> dict[str, Any]:
    body, headers = compliance("Hi Cat,\n\nHello.", "msg-1", CONFIG)
    return {
        "message_id": "msg-1",
        "to_address": "cat@acme.example",
        "from_address": "ada@vendor.example",
        "channel": "email",
        "body": body,
        "headers": json.dumps(headers),
        **extra,
    }


def test_a_clean_message_goes_out() -> None:
    assert check_send(_message(), SendContext(), CONFIG, NOON).verdict == "send"


@pytest.mark.parametrize(
    ("context", "message", "verdict", "reason"),
    [
        (
            SendContext(suppression=SuppressionList(frozenset({"cat@acme.example"}))),
            {},
            "suppressed",
            "suppression list",
        ),
        (
            SendContext(suppression=SuppressionList(frozenset({"@acme.example"}))),
            {},
            "suppressed",
            "suppression list",
        ),
        (SendContext(person_do_not_contact=True), {}, "suppressed", "do-not-contact"),
        (SendContext(account_suppressed=True), {}, "suppressed", "account is suppressed"),
        (SendContext(open_escalation="pricing_dispute"), {}, "blocked", "open pricing_dispute"),
        (SendContext(), {"from_address": "ada@gmail.example"}, "blocked", "not in from_domains"),
        (SendContext(), {"headers": "{}"}, "blocked", "List-Unsubscribe"),
        (SendContext(), {"body": "Hi Cat, no footer here."}, "blocked", "the footer"),
    ],
)
def test_each_refusal(
    context: SendContext, message: dict[str, Any], verdict: str, reason: str
) -> None:
    check = check_send(_message(**message), context, CONFIG, NOON)
    assert check.verdict == verdict and reason in check.reason


@pytest.mark.parametrize(
    ("suppressed", "to"),
    [
        ("cat@acme.example", "Cat@Acme.Example"),
        ("Cat@Acme.Example", "cat@acme.example"),
        ("@acme.example", "cat@mail.acme.example"),
        ("@ACME.example", "Cat@EU.Mail.Acme.Example"),
        ("@mail.acme.example", "cat@eu.mail.acme.example"),
        ("@example.co.uk", "john@mail.example.co.uk"),
        # An entry is an instruction: a public suffix covers everything under it.
        ("@gov.uk", "press@hmrc.gov.uk"),
        (" cat@acme.example ", "cat@acme.example"),
    ],
)
def test_suppression_ignores_case_and_covers_subdomains(suppressed: str, to: str) -> None:
    context = SendContext(suppression=SuppressionList(frozenset({suppressed})))
    check = check_send(_message(to_address=to), context, CONFIG, NOON)
    assert check.verdict == "suppressed" and "suppression list" in check.reason


@pytest.mark.parametrize(
    ("suppressed", "to"),
    [
        ("@mail.acme.example", "cat@acme.example"),  # a subdomain does not cover its parent
        ("@acme.example", "cat@notacme.example"),
        ("cat@acme.example", "cat@mail.acme.example"),  # an address is one address
    ],
)
def test_suppression_covers_nothing_else(suppressed: str, to: str) -> None:
    context = SendContext(suppression=SuppressionList(frozenset({suppressed})))
    assert check_send(_message(to_address=to), context, CONFIG, NOON).verdict == "send"


def test_the_footer_and_headers_are_what_one_click_unsubscribe_needs() -> None:
    body, headers = compliance("Hello", "msg-42", CONFIG)
    assert CONFIG.footer.postal_address in body
    assert "unsubscribe?m=msg-42" in body
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert (
        headers["List-Unsubscribe"].startswith("<mailto:")
        and "https://" in headers["List-Unsubscribe"]
    )


NIGHTS = QuietHours(start=dt.time(20), end=dt.time(8), weekends=False)


@pytest.mark.parametrize(
    ("now", "zone", "expected"),
    [
        # Berlin, the night DST ends (2026-10-25 03:00 CEST -> 02:00 CET): 08:00 CET is 07:00 UTC.
        (
            dt.datetime(2026, 10, 24, 20, 30, tzinfo=UTC),
            "Europe/Berlin",
            dt.datetime(2026, 10, 25, 7, 0, tzinfo=UTC),
        ),
        # Berlin, the night DST starts (2026-03-29): 08:00 CEST is 06:00 UTC.
        (
            dt.datetime(2026, 3, 28, 21, 0, tzinfo=UTC),
            "Europe/Berlin",
            dt.datetime(2026, 3, 29, 6, 0, tzinfo=UTC),
        ),
        # New York, the night DST ends (2026-11-01): 08:00 EST is 13:00 UTC.
        (
            dt.datetime(2026, 11, 1, 4, 0, tzinfo=UTC),
            "America/New_York",
            dt.datetime(2026, 11, 1, 13, 0, tzinfo=UTC),
        ),
        # Tokyo before dawn: the same day's 08:00 JST.
        (
            dt.datetime(2026, 11, 16, 20, 0, tzinfo=UTC),
            "Asia/Tokyo",
            dt.datetime(2026, 11, 16, 23, 0, tzinfo=UTC),
        ),
        # Daytime: no wait.
        (NOON, "Europe/Berlin", None),
    ],
)
def test_quiet_hours_follow_the_recipients_clock(
    now: dt.datetime, zone: str, expected: dt.datetime | None
) -> None:
    assert next_allowed(now, ZoneInfo(zone), NIGHTS) == expected


def test_quiet_weekends_wait_for_monday() -> None:
    saturday = dt.datetime(2026, 11, 21, 11, 0, tzinfo=UTC)
    weekends = QuietHours(start=dt.time(20), end=dt.time(8), weekends=True)
    assert next_allowed(saturday, ZoneInfo("Europe/Berlin"), weekends) == dt.datetime(
        2026, 11, 23, 7, 0, tzinfo=UTC
    )


def test_a_message_in_the_night_is_deferred_to_the_morning() -> None:
    night = dt.datetime(2026, 11, 17, 22, 0, tzinfo=UTC)  # 23:00 in Berlin
    check = check_send(_message(), SendContext(timezone="Europe/Berlin"), CONFIG, night)
    assert check.verdict == "defer" and check.not_before == dt.datetime(
        2026, 11, 18, 7, 0, tzinfo=UTC
    )
    # An unknown zone counts as UTC (22:00 there: quiet too).
    assert (
        check_send(_message(), SendContext(timezone="Mars/Base"), CONFIG, night).verdict == "defer"
    )


@pytest.mark.parametrize(
    ("dimension", "limit"),
    [
        ("contact", CONFIG.caps.per_contact),
        ("account", CONFIG.caps.per_account),
        ("domain", CONFIG.caps.per_domain),
        ("mailbox", CONFIG.caps.per_mailbox),
    ],
)
def test_daily_caps_defer_until_a_slot_frees(dimension: str, limit: int) -> None:
    sent = [NOON - dt.timedelta(minutes=20 + i) for i in range(limit)]
    check = check_send(_message(), SendContext(recent={dimension: sent}), CONFIG, NOON)
    assert check.verdict == "defer" and dimension in check.reason
    assert check.not_before == min(sent) + dt.timedelta(hours=24)
    # Sends older than a day do not count.
    old = [t - dt.timedelta(days=1) for t in sent]
    assert (
        check_send(_message(), SendContext(recent={dimension: old}), CONFIG, NOON).verdict == "send"
    )
