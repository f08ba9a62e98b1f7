"""Plain-English workflows: ``twoloop plays write`` through the real anthropic SDK
against a local Messages API server. The proposal round-trips to plays and policy
rules, a YAML diff and a simulation; nothing is written until confirmed; what
conflicts with the do-not-send checks is refused with the reason."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from app.cli import app
from graph_model import connect
from graph_model.errors import ModelAnswerInvalid
from routing.play_fire import simulate_plays
from routing.plays import DEFAULT_FILE as SHIPPED_PLAYS
from routing.plays import load_plays
from routing.policy import DEFAULT_FILE as SHIPPED_POLICY
from routing.policy import load_policy
from tests.support.hand_graph import AS_OF
from tests.support.messages_api import Answer, messages_server, tool_message
from tests.support.plays_world import plays_world

NOW = ["--now", (AS_OF.replace(hour=13)).isoformat()]
ASK = (
    "When a Tier B account looks at our pricing page twice in a week, tell me. "
    "And approve everything for Tier B accounts before it goes out."
)
TIER_B_PLAY = {
    "id": "pricing_tier_b",
    "description": "A Tier B account looks at pricing twice in a week.",
    "trigger": {
        "event": "signal",
        "where": ["kind == web_visit", "url contains /pricing"],
        "count": 2,
        "within_days": 7,
        "per": "account",
    },
    "when": ["tier == B"],
    "reason": "{account} visited our pricing page {count} times in {within_days} days",
    "steps": [{"alert": {"text": "{account} is looking at pricing"}}],
}
TIER_B_RULE = {
    "id": "tier_b_approves",
    "when": ["tier == B"],
    "action": "approve",
    "reason": "a Tier B account: the owner approves what we send",
}


@pytest.fixture
def graph(tmp_path: Path) -> str:
    uri = str(tmp_path / "graph")
    store = connect(uri)
    try:
        plays_world(store)
    finally:
        store.close()
    return uri


def _write(
    tmp_path: Path, graph: str, url: str | None, *args: str, answer: str = ASK
) -> tuple[int, str]:
    env = {"TWOLOOP_ANTHROPIC_API_KEY": "test-key", "TWOLOOP_ANTHROPIC_BASE_URL": url or ""}
    if url is None:
        env = {"TWOLOOP_ANTHROPIC_API_KEY": "", "ANTHROPIC_API_KEY": ""}
    env["TWOLOOP_CLAUDE_MAX_RETRIES"] = "0"
    result = CliRunner().invoke(
        app,
        [
            "plays",
            "write",
            answer,
            "--graph",
            graph,
            "--out-dir",
            str(tmp_path / "out"),
            *NOW,
            *args,
        ],
        env=env,
    )
    return result.exit_code, result.output


def _proposal(**fields: Any) -> Any:
    def respond(request: dict[str, Any]) -> Answer:
        return tool_message(request, {"summary": "Tier B pricing alerts.", **fields})

    return respond


def test_without_a_key_it_says_so_and_shows_what_to_write(tmp_path: Path, graph: str) -> None:
    code, out = _write(tmp_path, graph, None)
    assert code == 2, out
    assert "needs Claude, and no key is set" in out and "nothing was proposed" in out
    # What plays can say, to write them by hand.
    assert "signal event fields" in out and "subject fields (when)" in out
    assert "A routing-policy rule" in out
    assert not (tmp_path / "out").exists()


def test_a_workflow_round_trips_to_plays_rules_a_diff_and_a_simulation(
    tmp_path: Path, graph: str
) -> None:
    with messages_server(_proposal(plays=[TIER_B_PLAY], policy_rules=[TIER_B_RULE])) as server:
        code, out = _write(tmp_path, graph, server.url)
        assert code == 0, out
        # Shown, not written.
        assert "+  - id: pricing_tier_b" in out and "+  - id: tier_b_approves" in out
        assert "pricing_tier_b: 1 (e.g. Globex visited our pricing page 2 times in 7 days)" in out
        assert "routes of the current proposed matches" in out
        assert "nothing was written (pass --yes to write it)" in out
        assert not (tmp_path / "out").exists()
        # The request forced the tool, carried the instructions and the current files.
        request = server.requests[0]
        assert request["tool_choice"] == {"type": "tool", "name": "propose_workflow"}
        prompt = request["messages"][0]["content"]
        assert "<instructions>" in prompt and "Tier B account looks at our pricing" in prompt
        assert "id: follow_up_no_reply" in prompt and "id: normal_account" in prompt
        assert "signal event fields" in json.dumps(request["tools"][0]["input_schema"])

        code, out = _write(tmp_path, graph, server.url, "--yes", "--json")
    assert code == 0, out
    result = json.loads(out)
    plays_file, policy_file = tmp_path / "out" / "plays.yaml", tmp_path / "out" / "policy.yaml"
    assert result["written"] == [str(plays_file), str(policy_file)]
    # The written files check, keep the shipped entries and their comments, and
    # simulate as shown.
    book = load_plays(plays_file)
    assert [p.id for p in book.plays][-1] == "pricing_tier_b"
    assert len(book.plays) == len(load_plays().plays) + 1
    assert '# "No reply after 5 business days' in plays_file.read_text()
    policy = load_policy(policy_file)
    assert [r.id for r in policy.rules][-2:] == ["tier_b_approves", "default"]
    store = connect(graph)
    try:
        again = simulate_plays(store, book, now=AS_OF.replace(hour=13), days=30)
    finally:
        store.close()
    fired = {p["play"]: p["fired"] for p in again["per_play"]}
    assert fired["pricing_tier_b"] == result["simulation"]["plays"]["per_play"][0]["fired"] == 1
    # The shipped files are untouched.
    assert "pricing_tier_b" not in SHIPPED_PLAYS.read_text()
    assert "tier_b_approves" not in SHIPPED_POLICY.read_text()


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        (
            # "Keep following up until they answer, even if they say stop."
            {
                "plays": [
                    {
                        "id": "nag",
                        "trigger": {"event": "send", "per": "contact"},
                        "reason": "no answer",
                        "steps": [
                            {"wait": {"business_days": 2}},
                            {"send": {"purpose": "follow_up"}},
                        ],
                        "stop_on": ["meeting"],
                    }
                ]
            },
            "a follow-up that does not stop on a reply",
        ),
        (
            # "Send drafts automatically even when they are not grounded."
            {
                "policy_rules": [
                    {
                        "id": "send_anyway",
                        "when": ["grounded == false"],
                        "action": "auto_send",
                        "reason": "send it",
                    }
                ]
            },
            "it auto-sends drafts whose claims are not grounded",
        ),
        (
            # "Email the people who unsubscribed about the new plan."
            {
                "plays": [
                    {
                        "id": "win_back",
                        "trigger": {"event": "send", "per": "contact"},
                        "when": ["do_not_contact == true"],
                        "reason": "win them back",
                        "steps": [{"draft": {"purpose": "follow_up"}}],
                        "stop_on": ["reply"],
                    }
                ]
            },
            "it writes to people who asked not to be contacted",
        ),
    ],
)
def test_instructions_that_conflict_with_the_do_not_send_checks_are_refused(
    tmp_path: Path, graph: str, fields: dict[str, Any], reason: str
) -> None:
    with messages_server(_proposal(**fields)) as server:
        code, out = _write(tmp_path, graph, server.url, "--yes")
    assert code == 1, out
    assert "refused" in out and reason in out
    assert "nothing was written: the proposal does not pass the checks" in out
    assert not (tmp_path / "out").exists()


def test_what_the_model_would_not_encode_is_shown_with_its_reason(
    tmp_path: Path, graph: str
) -> None:
    refused = [
        {
            "instruction": "also email everyone who unsubscribed",
            "reason": "twoloop never sends to people who opted out",
        }
    ]
    with messages_server(_proposal(plays=[TIER_B_PLAY], refused=refused)) as server:
        code, out = _write(tmp_path, graph, server.url, "--yes")
    assert code == 0, out
    assert "not done: also email everyone who unsubscribed: twoloop never sends" in out
    assert (tmp_path / "out" / "plays.yaml").exists()
    assert not (tmp_path / "out" / "policy.yaml").exists()


def test_an_answer_outside_the_schema_is_an_error_not_a_write(tmp_path: Path, graph: str) -> None:
    with messages_server(_proposal(plays="all of them")) as server:
        code, out = _write(tmp_path, graph, server.url, "--yes")
    assert code == ModelAnswerInvalid.exit_code == 1, out
    assert "Claude's proposal does not fit: plays" in out
    assert not (tmp_path / "out").exists()
