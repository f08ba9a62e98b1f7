"""The routing policy: every rule of the shipped default, and every way a policy
file can be wrong."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from graph_model.errors import ConfigFileInvalid
from routing.policy import ROUTING_FIELDS, Condition, load_policy

# A match every rule lets through to auto_send: not weak, Tier B prospect, no open
# deal, a contact who fits and is not an executive, moderate intent.
NORMAL: dict[str, Any] = {
    "score": 0.62,
    "weak": False,
    "background_only": False,
    "intent": 0.3,
    "champion": False,
    "tier": "B",
    "relationship": "prospect",
    "open_deal": False,
    "contact_found": True,
    "contact_senior": False,
}


@pytest.mark.parametrize(
    ("change", "rule", "action", "kind", "reason"),
    [
        (
            {"weak": True, "score": 0.2},
            "weak_fit",
            "skip",
            None,
            "weak case (score 0.20): nothing shows a current need worth writing about",
        ),
        ({"tier": "A"}, "tier_a", "escalate", "voice_note", "a Tier A account"),
        (
            {"relationship": "customer"},
            "existing_customer",
            "approve",
            None,
            "an existing relationship (customer)",
        ),
        ({"open_deal": True}, "open_deal", "approve", None, "a deal is open"),
        (
            {"contact_found": False},
            "nobody_to_write_to",
            "escalate",
            "custom_message",
            "no one at the account fits the buyer personas",
        ),
        ({"contact_senior": True}, "senior_contact", "approve", None, "the contact is an"),
        (
            {"intent": 0.8},
            "strong_intent",
            "research_first",
            None,
            "strong intent (0.80): research the account, then draft for approval",
        ),
        ({}, "normal_account", "auto_send", None, "a prospect within guardrails (score 0.62"),
        # Unclear context (the contact could not be looked up): a person decides.
        ({"contact_found": None}, "default", "escalate", "custom_message", "no rule fits"),
        # Built in, before every rule: an escalated account waits, even a weak match.
        (
            {"escalated": True, "escalation": "pricing_dispute", "weak": True},
            "account_escalated",
            "wait",
            "escalation_resolved",
            "an open pricing dispute escalation on the account stops all automation",
        ),
    ],
)
def test_every_rule_of_the_default_policy(
    change: dict[str, Any], rule: str, action: str, kind: str | None, reason: str
) -> None:
    policy = load_policy()
    fired, why = policy.route({**NORMAL, **change})
    assert (fired.id, fired.action, fired.kind) == (rule, action, kind)
    assert why.startswith(reason)


def test_the_default_policy_names_every_rule_it_has_in_the_table() -> None:
    ids = [r.id for r in load_policy().rules]
    assert ids == [
        "account_escalated",
        "weak_fit",
        "tier_a",
        "existing_customer",
        "open_deal",
        "nobody_to_write_to",
        "senior_contact",
        "strong_intent",
        "normal_account",
        "default",
    ]


def test_order_decides_a_weak_tier_a_match_is_skipped() -> None:
    fired, _ = load_policy().route({**NORMAL, "tier": "A", "weak": True})
    assert fired.id == "weak_fit"


def test_a_policy_cannot_route_around_an_escalation(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        [
            {
                "id": "send_anyway",
                "when": ["escalated == true"],
                "action": "auto_send",
                "reason": "x",
            },
            {"id": "default", "action": "skip", "reason": "y"},
        ],
    )
    with pytest.raises(ConfigFileInvalid, match="unreachable: rule 'account_escalated'"):
        load_policy(path)
    path = _write(
        tmp_path,
        [
            {"id": "account_escalated", "action": "auto_send", "reason": "x"},
        ],
    )
    with pytest.raises(
        ConfigFileInvalid, match="duplicate rule id 'account_escalated' \\(a built-in"
    ):
        load_policy(path)


def _write(tmp_path: Path, rules: list[dict[str, Any]]) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump({"rules": rules}))
    return path


DEFAULT_RULE = {"id": "last", "action": "skip", "reason": "nothing else"}


@pytest.mark.parametrize(
    ("rules", "where", "message"),
    [
        (
            [{"id": "x", "when": ["scroe >= 0.5"], "action": "skip", "reason": "r"}, DEFAULT_RULE],
            "rules.0(x)",
            "unknown field 'scroe'",
        ),
        (
            [{"id": "x", "when": ["tier == D"], "action": "skip", "reason": "r"}, DEFAULT_RULE],
            "rules.0(x)",
            "tier is one of A, B, C, none, not 'D'",
        ),
        (
            [{"id": "x", "when": ["weak == yes"], "action": "skip", "reason": "r"}, DEFAULT_RULE],
            "rules.0(x)",
            "weak is true or false",
        ),
        (
            [{"id": "x", "when": ["tier >= A"], "action": "skip", "reason": "r"}, DEFAULT_RULE],
            "rules.0(x)",
            ">= compares numbers",
        ),
        (
            [{"id": "x", "when": ["score is high"], "action": "skip", "reason": "r"}, DEFAULT_RULE],
            "rules.0(x)",
            "expected 'field OP value'",
        ),
        (
            [{"id": "x", "when": ["weak == true"], "action": "skip", "reason": "r"}],
            "rules.0(x)",
            "the last rule must have no conditions",
        ),
        (
            [
                {"id": "broad", "when": ["score >= 0.5"], "action": "approve", "reason": "r"},
                {"id": "narrow", "when": ["score >= 0.8"], "action": "skip", "reason": "r"},
                DEFAULT_RULE,
            ],
            "rules.1(narrow)",
            "unreachable: rule 'broad' comes first",
        ),
        (
            [DEFAULT_RULE, {"id": "after", "action": "skip", "reason": "r"}],
            "rules.1(after)",
            "unreachable: rule 'last' comes first",
        ),
        (
            [{"id": "x", "action": "escalate", "reason": "r"}],
            "rules.0(x)",
            "escalate needs a kind",
        ),
        (
            [{"id": "x", "action": "escalate", "kind": "pigeon", "reason": "r"}],
            "rules.0(x)",
            "(not 'pigeon')",
        ),
        ([{"id": "x", "action": "wait", "reason": "r"}], "rules.0(x)", "wait needs waits_for"),
        (
            [{"id": "x", "action": "skip", "kind": "voice_note", "reason": "r"}],
            "rules.0(x)",
            "skip takes no kind",
        ),
        (
            [{"id": "x", "action": "skip", "reason": "because {mood}"}],
            "rules.0(x)",
            "{mood} is not a routing field",
        ),
        ([DEFAULT_RULE, DEFAULT_RULE], "rules.1(last)", "duplicate rule id 'last'"),
        ([{"id": "x", "action": "send", "reason": "r"}], "rules.0.action", "Input should be"),
        ([{"id": "x", "action": "skip", "reason": "r", "colour": 1}], "rules.0.colour", "Extra"),
    ],
)
def test_a_wrong_policy_names_the_file_rule_and_reason(
    tmp_path: Path, rules: list[dict[str, Any]], where: str, message: str
) -> None:
    path = _write(tmp_path, rules)
    with pytest.raises(ConfigFileInvalid) as caught:
        load_policy(path)
    assert caught.value.path == str(path)
    assert caught.value.where == where, str(caught.value)
    assert message in caught.value.reason, str(caught.value)


def test_a_narrow_rule_above_a_broad_one_is_reachable(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        [
            {
                "id": "narrow",
                "when": ["score >= 0.8", "tier == A"],
                "action": "skip",
                "reason": "r",
            },
            {"id": "broad", "when": ["score >= 0.5"], "action": "approve", "reason": "r"},
            {
                "id": "wait",
                "when": ["tier in [B, C]"],
                "action": "wait",
                "waits_for": "x",
                "reason": "waits for {tier}",
            },
            DEFAULT_RULE,
        ],
    )
    policy = load_policy(path)
    assert policy.route({"score": 0.9, "tier": "A"})[0].id == "narrow"
    assert policy.route({"score": 0.9, "tier": "B"})[0].id == "broad"
    rule, why = policy.route({"score": 0.1, "tier": "B"})
    assert (rule.id, rule.kind, why) == ("wait", "x", "waits for B")
    assert policy.route({"score": None, "tier": None})[0].id == "last"  # null never holds


@pytest.mark.parametrize(
    ("broad", "narrow", "implied"),
    [
        (Condition("score", ">=", 0.5), Condition("score", ">=", 0.8), True),
        (Condition("score", ">=", 0.5), Condition("score", ">", 0.5), True),
        (Condition("score", ">", 0.5), Condition("score", ">=", 0.5), False),
        (Condition("score", "<=", 0.5), Condition("score", "<", 0.2), True),
        (Condition("score", ">=", 0.5), Condition("score", "<=", 0.9), False),
        (Condition("tier", "in", ("A", "B")), Condition("tier", "==", "A"), True),
        (Condition("tier", "in", ("A", "B")), Condition("tier", "in", ("B",)), True),
        (Condition("tier", "in", ("A",)), Condition("tier", "in", ("A", "B")), False),
        (Condition("tier", "!=", "C"), Condition("tier", "==", "A"), True),
        (Condition("weak", "==", True), Condition("score", ">=", 0.9), False),
    ],
)
def test_which_conditions_follow_from_which(
    broad: Condition, narrow: Condition, implied: bool
) -> None:
    assert broad.implied_by(narrow) is implied


def test_every_field_has_a_type_and_a_description() -> None:
    for name, spec in ROUTING_FIELDS.items():
        assert spec.kind in ("bool", "float", "int", "str") and spec.description, name
