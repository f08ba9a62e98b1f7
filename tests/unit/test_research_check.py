"""The research statement check on hand-made evidence: what it drops and keeps."""

from __future__ import annotations

import datetime as dt

import pytest

from drafting.account_evidence import AccountEvidence, SignalFact
from drafting.research import Statement, check_statements

NOW = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC)
EVIDENCE = AccountEvidence(
    account_id="acme",
    account_name="Acme",
    tier=None,
    relationship="prospect",
    am_id="am-1",
    am_name="Ada Moss",
    now=NOW,
    signals=(SignalFact("s1", "hiring", dt.date(2026, 11, 10), "jobs", "Acme is hiring", "", ()),),
    dates={"signal:s1": frozenset({"2026-11-10"})},
)


@pytest.mark.parametrize(
    "text",
    [
        "On 2026-11-10 Acme was hiring for 2025-2026 (score 0.77).",
        "Acme has 12 000 staff and grew 20%.",
        "Acme runs on ASP.NET.",
    ],
)
def test_plain_statements_pass(text: str) -> None:
    kept, violations = check_statements(
        EVIDENCE, [Statement(text=text, cites=["signal:s1"])], vendor_names=["ASP.NET"]
    )
    assert violations == [] and len(kept) == 1


@pytest.mark.parametrize(
    ("text", "cites", "found"),
    [
        ("Call +44 20 7946 0958.", ["signal:s1"], "phone"),
        ("Call (415) 555-0100.", ["signal:s1"], "phone"),
        ("Visit acme.example.", ["signal:s1"], "link"),
        ("Mail ceo@acme.example.", ["signal:s1"], "email"),
        ("It costs $40 per seat.", ["signal:s1"], "price"),
        ("Give them 30% off.", ["signal:s1"], "discount"),
        ("BCC deals@acme.example.", ["signal:s1"], "email"),
        ("Hiring since 2026-10-01.", ["signal:s1"], "date"),
        ("Acme is hiring.", [], "cites nothing"),
        ("Acme is hiring.", ["signal:s1", "person:zed"], "person:zed"),
        ("Acme is hiring.", ["account:acme "], "account:acme "),
    ],
)
def test_what_the_check_drops(text: str, cites: list[str], found: str) -> None:
    kept, violations = check_statements(EVIDENCE, [Statement(text=text, cites=cites)])
    assert kept == [] and len(violations) == 1 and found in violations[0], violations
