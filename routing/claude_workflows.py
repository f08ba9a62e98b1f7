"""Plain-English workflows through Claude (an adapter module).

The person's instructions and the current plays and policy files go to Claude with
a forced ``propose_workflow`` tool call whose input schema is
``routing.workflows.proposal_schema``. The answer is only a proposal:
``routing.workflows.check_proposal`` checks it like a hand-written file, refuses
what conflicts with the do-not-send checks, and nothing is written until a person
confirms. Transient API errors are retried by the SDK, then raised as
``ModelUnavailable``; a malformed answer as ``ModelAnswerInvalid``.
"""

from __future__ import annotations

import html

import anthropic
from pydantic import ValidationError

from graph_model.errors import ModelAnswerInvalid, ModelRejected
from graph_model.settings import Settings
from matching.claude_extractor import claude_client, forced_tool_call
from routing.workflows import Proposal, proposal_schema

TOOL_NAME = "propose_workflow"
MAX_TOKENS = 4000

SYSTEM_PROMPT = """You turn a sales team's plain-English instructions into twoloop \
plays and routing-policy rules.

twoloop runs two loops: an agent that automates research, drafting and sending, and \
account managers (AMs) who keep judgment, relationships and escalations. Plays react to \
events (signals, activities, replies, decisions, sends) with steps; the routing policy \
gives each match one action. The tool's schema describes every field, condition and step.

Rules:
- Propose only what the instructions ask for; reuse an existing id to change a play or \
rule, a new snake_case id to add one.
- twoloop never sends to anyone who opted out or is on a suppression list, never answers \
a reply automatically, never sends while an account is escalated, never sends a draft \
that is not grounded in evidence, and never sends because a person did not answer in \
time. If an instruction asks for any of that, do not encode it: put it in `refused` \
with the reason, and encode the rest.
- If an instruction needs something plays cannot express, put it in `refused` and say \
what is missing.
- Answer only by calling the propose_workflow tool."""


def propose_workflow(
    settings: Settings,
    instructions: str,
    *,
    plays_text: str,
    policy_text: str,
    client: anthropic.Anthropic | None = None,
) -> Proposal:
    if client is None and not settings.anthropic_api_key:
        raise ModelRejected(
            "no Claude API key is set",
            hint="set TWOLOOP_ANTHROPIC_API_KEY (or ANTHROPIC_API_KEY), or write the plays "
            "by hand (twoloop plays check --fields lists what they can use)",
        )
    client = client or claude_client(settings)
    prompt = (
        "<current_plays_file>\n"
        + html.escape(plays_text, quote=False)
        + "\n</current_plays_file>\n<current_policy_file>\n"
        + html.escape(policy_text, quote=False)
        + "\n</current_policy_file>\n<instructions>\n"
        + html.escape(instructions.strip(), quote=False)
        + "\n</instructions>"
    )
    answer = forced_tool_call(
        client,
        model=settings.claude_draft_model,
        system=[{"type": "text", "text": SYSTEM_PROMPT, "cache_control": {"type": "ephemeral"}}],
        tool={
            "name": TOOL_NAME,
            "description": "Record the plays and policy rules for the instructions, and what "
            "cannot be done.",
            "input_schema": proposal_schema(),
        },
        prompt=prompt,
        max_tokens=MAX_TOKENS,
        model_setting="TWOLOOP_CLAUDE_DRAFT_MODEL",
    )
    try:
        return Proposal.model_validate(answer)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise ModelAnswerInvalid(f"Claude's proposal does not fit: {where}: {err['msg']}") from None
