"""Plays as data: the shipped plays, and every way a plays file can be wrong."""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

from graph_model.errors import ConfigFileInvalid
from routing.play_fire import add_business_days
from routing.plays import DEFAULT_FILE, fill, load_plays

SHIPPED = yaml.safe_load(DEFAULT_FILE.read_text())


def test_the_five_default_plays_ship_and_check() -> None:
    book = load_plays()
    assert [p.id for p in book.plays] == [
        "pricing_page_twice",
        "connection_accepted",
        "prospect_posts_problem",
        "referral_in_network",
        "follow_up_no_reply",
    ]
    pricing = book.get("pricing_page_twice")
    assert (pricing.trigger.count, pricing.trigger.within_days, pricing.trigger.per) == (
        2,
        7,
        "account",
    )
    assert pricing.outline() == "research -> escalate: review"
    follow = book.get("follow_up_no_reply")
    assert follow.outline() == "wait 5 business days -> draft follow-up"
    assert {"reply", "opt_out", "cancel", "escalation", "meeting"} <= set(follow.stops_on())
    # Every play stops on an opt-out and the AM's cancel, whatever its file says.
    assert all({"opt_out", "cancel"} <= set(p.stops_on()) for p in book.plays)


def test_trigger_conditions_read_event_fields() -> None:
    pricing = load_plays().get("pricing_page_twice")
    visit = {"kind": "web_visit", "url": "https://ours.example/Pricing?plan=pro"}
    assert pricing.trigger.matches(visit)
    assert not pricing.trigger.matches({**visit, "url": "https://ours.example/blog"})
    assert not pricing.trigger.matches({**visit, "kind": "news"})
    assert pricing.applies({"tier": "A"}) and not pricing.applies({"tier": "B"})


def _write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "plays.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _with(change: Any) -> dict[str, Any]:
    data = copy.deepcopy(SHIPPED)
    change(data["plays"])
    return data


@pytest.mark.parametrize(
    ("change", "where", "message"),
    [
        (
            lambda p: p[0]["trigger"].update(where=["colour == red"]),
            "plays.0(pricing_page_twice)",
            "unknown field 'colour'",
        ),
        (
            lambda p: p[0]["trigger"].update(where=["kind == webvisit"]),
            "plays.0(pricing_page_twice)",
            "kind is one of",
        ),
        (
            lambda p: p[0]["trigger"].pop("within_days"),
            "plays.0(pricing_page_twice)",
            "count 2 needs within_days",
        ),
        (
            lambda p: p[0]["trigger"].update(event="meeting"),
            "plays.0.trigger.event",
            "Input should be",
        ),
        (
            lambda p: p[1]["trigger"].update(per="contact"),
            "plays.1(connection_accepted)",
            "per contact: a activity event does not name a contact",
        ),
        (
            lambda p: p[0].update(when=["score >= high"]),
            "plays.0(pricing_page_twice)",
            "score is a number",
        ),
        (lambda p: p[0].update(when=["tier contains A"]), "plays.0(pricing_page_twice)", "tier"),
        (
            lambda p: p[0]["steps"].append({"wait": {"business_days": 3}}),
            "plays.0(pricing_page_twice)",
            "the last step is a wait",
        ),
        (
            lambda p: p[0]["steps"].append({"call_them": {}}),
            "plays.0(pricing_page_twice)",
            "unknown step 'call_them'",
        ),
        (
            lambda p: p[0]["steps"].append({"wait": {}}),
            "plays.0(pricing_page_twice)",
            "give business_days or days",
        ),
        (
            lambda p: p[0]["steps"].insert(0, {"wait": {"business_days": 0}}),
            "plays.0(pricing_page_twice)",
            "steps.0.wait.business_days",
        ),
        (
            lambda p: p[0]["steps"].append({"escalate": {"kind": "opt_out", "question": "?"}}),
            "plays.0(pricing_page_twice)",
            "not one a play opens",
        ),
        (
            lambda p: p[0].update(reason="{account} did {something}"),
            "plays.0(pricing_page_twice)",
            "placeholder {something}",
        ),
        (
            lambda p: p[0]["steps"].append({"draft": {"purpose": "follow_up"}}),
            "plays.0(pricing_page_twice)",
            "a follow-up follows a send",
        ),
        (
            lambda p: p[4]["steps"].append({"draft": {"purpose": "comment"}}),
            "plays.4(follow_up_no_reply)",
            "a suggested comment answers a post",
        ),
        (
            lambda p: p.append(copy.deepcopy(p[0])),
            "plays.5(pricing_page_twice)",
            "duplicate play id",
        ),
        (lambda p: p[0].update(colour="red"), "plays.0.colour", "Extra inputs"),
    ],
)
def test_a_wrong_plays_file_names_the_play_and_why(
    tmp_path: Path, change: Any, where: str, message: str
) -> None:
    path = _write(tmp_path, _with(change))
    with pytest.raises(ConfigFileInvalid) as err:
        load_plays(path)
    text = str(err.value)
    assert str(path) in text and where in text and message in text, text


@pytest.mark.parametrize(
    ("change", "message"),
    [
        # A follow-up that would go on after the person answered.
        (lambda p: p[4].update(stop_on=["meeting"]), "does not stop on a reply"),
        # Auto-sending an answer to a reply.
        (
            lambda p: p.append(
                {
                    "id": "answer_replies",
                    "trigger": {"event": "reply", "per": "contact"},
                    "reason": "they replied",
                    "steps": [{"send": {"purpose": "follow_up"}}],
                    "stop_on": ["reply"],
                }
            ),
            "a person answers replies",
        ),
        # Writing to people who asked not to be contacted.
        (lambda p: p[4].update(when=["do_not_contact == true"]), "asked not to be contacted"),
        # Sending while the account is escalated.
        (
            lambda p: p[4].update(
                when=["escalated == true"], steps=[{"wait": {"days": 2}}, {"send": {}}]
            ),
            "while the account is escalated",
        ),
    ],
)
def test_plays_that_conflict_with_the_do_not_send_checks_are_refused(
    tmp_path: Path, change: Any, message: str
) -> None:
    path = _write(tmp_path, _with(change))
    with pytest.raises(ConfigFileInvalid) as err:
        load_plays(path)
    assert "conflicts with the do-not-send checks" in str(err.value)
    assert message in str(err.value)


def test_the_on_key_gotcha_is_named(tmp_path: Path) -> None:
    # YAML reads a bare `on:` as true; the trigger's key is `event`.
    path = tmp_path / "plays.yaml"
    path.write_text(
        "plays:\n  - id: x\n    trigger: {on: signal}\n    reason: r\n"
        "    steps: [{alert: {text: t}}]\n"
    )
    with pytest.raises(ConfigFileInvalid) as err:
        load_plays(path)
    assert "plays.0(x).trigger: a key `on:` reads as true in YAML" in str(err.value)
    assert "event:" in (err.value.hint or "")


def test_business_days_skip_weekends() -> None:
    friday = dt.datetime(2026, 11, 27, 15, 0, tzinfo=dt.UTC)
    assert add_business_days(friday, 1) == dt.datetime(2026, 11, 30, 15, 0, tzinfo=dt.UTC)
    assert add_business_days(friday, 5) == dt.datetime(2026, 12, 4, 15, 0, tzinfo=dt.UTC)
    saturday = friday + dt.timedelta(days=1)
    assert add_business_days(saturday, 1).weekday() == 0


def test_reasons_fill_names_and_say_when_one_is_missing() -> None:
    text = fill("{person} at {account} ({count} times)", {"account": "Acme", "count": 2})
    assert text == "someone at Acme (2 times)"
