"""Escalation triggers: each kind found in the texts it should be, and not in the
ones it should not; a wrong trigger file names the file, trigger and reason."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
import yaml

from graph_model.errors import ConfigFileInvalid
from routing.escalation import TEXT_SCHEMA, find_trigger_hits, load_triggers

T0 = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)


def _texts(*rows: tuple[str, str, str]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "source": source,
                "source_id": f"t{i}",
                "kind": kind,
                "account_id": "acme",
                "person_id": "ann",
                "occurred_at": T0,
                "text": text,
            }
            for i, (source, kind, text) in enumerate(rows)
        ],
        schema=TEXT_SCHEMA,
    )


@pytest.mark.parametrize(
    ("source", "kind", "text", "expected"),
    [
        ("activity", "email", "Please unsubscribe me from these emails.", "opt_out"),
        ("activity", "email", "STOP", "opt_out"),
        ("activity", "email", "Stop emailing me, thanks.", "opt_out"),
        ("activity", "email", "Remove me from your list", "opt_out"),
        (
            "activity",
            "email",
            "We are disputing the last invoice, it charges twice.",
            "pricing_dispute",
        ),
        (
            "activity",
            "call",
            "Said they were overcharged in Q3 and want a refund.",
            "pricing_dispute",
        ),
        (
            "signal",
            "support_ticket",
            "Billing error: the invoice is wrong again",
            "pricing_dispute",
        ),
        ("activity", "email", "Before we go further I want a call with your CEO.", "exec_call"),
        ("activity", "meeting", "They asked for an executive sponsor meeting", "exec_call"),
        (
            "activity",
            "email",
            "We need to amend the contract to add two regions.",
            "contract_amendment",
        ),
        (
            "activity",
            "note",
            "Customer asks about termination of the subscription agreement",
            "contract_amendment",
        ),
        ("activity", "email", "Our lawyers will review this.", "legal_review"),
        (
            "signal",
            "support_ticket",
            "This is a GDPR request for all data you hold.",
            "legal_review",
        ),
    ],
)
def test_each_trigger_kind(source: str, kind: str, text: str, expected: str) -> None:
    hits = find_trigger_hits(_texts((source, kind, text)), load_triggers())
    assert [h.kind for h in hits] == [expected]
    assert hits[0].excerpt and hits[0].account_id == "acme"


@pytest.mark.parametrize(
    ("source", "kind", "text"),
    [
        ("activity", "note", "Discussed their roadmap."),
        ("activity", "email", "We can't stop the pipeline failures on our own."),
        ("activity", "email", "The bus stop is near the office."),
        # Public signals do not opt anyone out or open a dispute.
        ("signal", "news", "Acme tells readers to unsubscribe from spam lists"),
        ("signal", "news", "Acme wins lawsuit against a competitor"),
        ("signal", "hiring", "Hiring a contracts manager to amend the contract templates"),
    ],
)
def test_ordinary_texts_trip_nothing(source: str, kind: str, text: str) -> None:
    assert find_trigger_hits(_texts((source, kind, text)), load_triggers()) == []


def test_one_text_can_raise_two_kinds_once_each() -> None:
    text = "Our lawyers say the invoice is wrong. Unsubscribe me. Unsubscribe!"
    hits = find_trigger_hits(_texts(("activity", "email", text)), load_triggers())
    assert sorted(h.kind for h in hits) == ["legal_review", "opt_out", "pricing_dispute"]
    assert len({h.escalation_id for h in hits}) == 3


def _write(tmp_path: Path, triggers: list[dict[str, object]]) -> Path:
    path = tmp_path / "triggers.yaml"
    path.write_text(yaml.safe_dump({"triggers": triggers}))
    return path


@pytest.mark.parametrize(
    ("trigger", "where", "reason"),
    [
        (
            {"kind": "pricing_dispute", "in": ["activity:fax"], "patterns": ["x"], "question": "q"},
            "triggers.0(pricing_dispute)",
            "'in' entry 'activity:fax'",
        ),
        (
            {
                "kind": "pricing_dispute",
                "in": ["activity:*"],
                "patterns": ["(unclosed"],
                "question": "q",
            },
            "triggers.0(pricing_dispute)",
            "is not a regular expression",
        ),
        (
            {"kind": "bribery", "in": ["activity:*"], "patterns": ["x"], "question": "q"},
            "triggers.0.kind",
            "Input should be",
        ),
        (
            {"kind": "opt_out", "in": ["activity:*"], "patterns": [], "question": "q"},
            "triggers.0.patterns",
            "at least 1",
        ),
    ],
)
def test_a_wrong_trigger_file_says_where(
    tmp_path: Path, trigger: dict[str, object], where: str, reason: str
) -> None:
    path = _write(tmp_path, [trigger])
    with pytest.raises(ConfigFileInvalid) as caught:
        load_triggers(path)
    assert caught.value.where == where and reason in str(caught.value)
