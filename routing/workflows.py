"""Plain-English workflows: a proposal of plays and policy rules, checked, shown as
a YAML diff with a simulation, and written only when a person confirms.

The proposal comes from Claude (``routing.claude_workflows``, a forced tool call
whose input schema is ``proposal_schema``); everything here is ours and offline:

- ``apply_proposal`` merges it into the current files' data: a play or rule with
  an existing id replaces it, a new play is appended, a new rule goes before the
  default (the last rule);
- ``check_proposal`` checks the result the way ``twoloop plays check`` and
  ``twoloop policy check`` do, and refuses, with the reason, anything that
  conflicts with the do-not-send checks (``do_not_send_conflicts``,
  ``policy_conflicts``);
- ``edited_text`` writes the change into the file's text, keeping its comments
  and the entries it does not touch as they were.
"""

from __future__ import annotations

import copy
import difflib
import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from graph_model.errors import ConfigFileInvalid
from routing.plays import (
    EVENT_FIELDS,
    PLACEHOLDERS,
    STEP_KINDS,
    SUBJECT_FIELDS,
    PlayBook,
    plays_from_data,
)
from routing.policy import ROUTING_FIELDS, Policy, policy_from_data


class Refusal(BaseModel):
    model_config = ConfigDict(extra="forbid")

    instruction: str = Field(description="The instruction (or part of it), in the person's words.")
    reason: str = Field(description="Why twoloop will not do it.")


class Proposal(BaseModel):
    """What the model proposes for a person's instructions."""

    model_config = ConfigDict(extra="forbid")

    summary: str = Field(description="One or two sentences: what the change does.")
    plays: list[dict[str, Any]] = Field(
        default_factory=list, description="Plays to add, or to replace (same id)."
    )
    policy_rules: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Routing-policy rules to add before the default, or to replace (same id).",
    )
    refused: list[Refusal] = Field(
        default_factory=list,
        description="Instructions that cannot be followed (they would send where twoloop "
        "never sends, or ask for something plays cannot do), each with the reason.",
    )


@dataclass
class Checked:
    """A proposal merged into the current files and checked."""

    plays_data: Any
    policy_data: Any
    book: PlayBook | None
    policy: Policy | None
    changed_plays: list[str]
    changed_rules: list[str]
    # Where the merged files fail twoloop's checks (a do-not-send conflict among them).
    errors: list[dict[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors and self.book is not None and self.policy is not None


def proposal_schema() -> dict[str, Any]:
    """The tool's input schema: a proposal, with the plays' and rules' vocabulary in
    its descriptions (the model fills it; ``check_proposal`` is the real check)."""
    schema = Proposal.model_json_schema()
    props = schema["properties"]
    props["plays"]["items"] = {
        "type": "object",
        "description": play_reference(),
        "required": ["id", "trigger", "reason", "steps"],
        "properties": {
            "id": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"},
            "description": {"type": "string"},
            "trigger": {
                "type": "object",
                "required": ["event"],
                "properties": {
                    "event": {"type": "string", "enum": list(EVENT_FIELDS)},
                    "where": {"type": "array", "items": {"type": "string"}},
                    "count": {"type": "integer", "minimum": 1},
                    "within_days": {"type": "number", "exclusiveMinimum": 0},
                    "per": {"type": "string", "enum": ["account", "person", "contact"]},
                },
            },
            "when": {"type": "array", "items": {"type": "string"}},
            "reason": {"type": "string"},
            "steps": {
                "type": "array",
                "items": {"type": "object", "description": "one key: the step kind"},
            },
            "stop_on": {
                "type": "array",
                "items": {
                    "type": "string",
                    "enum": ["reply", "opt_out", "escalation", "meeting", "cancel"],
                },
            },
            "cooldown_days": {"type": "integer", "minimum": 0},
        },
    }
    props["policy_rules"]["items"] = {
        "type": "object",
        "description": policy_reference(),
        "required": ["id", "action", "reason"],
        "properties": {
            "id": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"},
            "when": {"type": "array", "items": {"type": "string"}},
            "action": {
                "type": "string",
                "enum": ["skip", "auto_send", "research_first", "approve", "escalate", "wait"],
            },
            "kind": {"type": "string"},
            "waits_for": {"type": "string"},
            "reason": {"type": "string"},
        },
    }
    return schema


def _fields(fields: dict[str, Any]) -> str:
    return "; ".join(
        f"{name} ({f.kind}{': ' + '|'.join(f.choices) if f.choices else ''})"
        for name, f in fields.items()
    )


def play_reference() -> str:
    lines = [
        "A play: trigger (event, where conditions over the event's fields, count, "
        "within_days, per), when (conditions over the subject), reason (with placeholders "
        + ", ".join("{" + p + "}" for p in PLACEHOLDERS)
        + "), steps (in order), stop_on.",
        "Conditions are 'field OP value' with OP one of == != >= <= > < in [a, b], and "
        "for free-text fields contains / matches.",
    ]
    for source, fields in EVENT_FIELDS.items():
        lines.append(f"{source} event fields: {_fields(fields)}")
    lines.append(f"subject fields (when): {_fields(SUBJECT_FIELDS)}")
    lines.append(
        "steps, each an object with one key: "
        + "; ".join(f"{name}: {text}" for name, (_, text) in STEP_KINDS.items())
        + ". Options: research {}; alert {text}; draft {purpose: follow_up|comment}; "
        "send {purpose: follow_up}; task {kind: voice_note|linkedin_message|call|"
        "custom_message|post_comment, title}; escalate {kind: review|voice_note|"
        "custom_message|pricing_dispute|exec_call|contract_amendment|legal_review, "
        "question}; wait {business_days} or {days}."
    )
    return "\n".join(lines)


def policy_reference() -> str:
    return (
        "A routing-policy rule: id, when (conditions 'field OP value'), action "
        "(skip|auto_send|research_first|approve|escalate with kind|wait with waits_for), "
        "reason (with {field} placeholders). Fields: " + _fields(ROUTING_FIELDS)
    )


def apply_proposal(plays_data: Any, policy_data: Any, proposal: Proposal) -> tuple[Any, Any]:
    """The files' data with the proposal merged in (inputs are not changed)."""
    plays = copy.deepcopy(plays_data) or {}
    plays.setdefault("plays", [])
    for play in proposal.plays:
        _put(plays["plays"], play, before_last=False)
    policy = copy.deepcopy(policy_data) or {}
    policy.setdefault("rules", [])
    for rule in proposal.policy_rules:
        _put(policy["rules"], rule, before_last=True)
    return plays, policy


def _put(entries: list[dict[str, Any]], entry: dict[str, Any], *, before_last: bool) -> None:
    for i, have in enumerate(entries):
        if have.get("id") == entry.get("id"):
            entries[i] = entry
            return
    if before_last and entries:
        entries.insert(len(entries) - 1, entry)
    else:
        entries.append(entry)


def check_proposal(
    plays_data: Any, policy_data: Any, proposal: Proposal, *, plays_path: str, policy_path: str
) -> Checked:
    """Merge and check; each error says which play or rule and why."""
    new_plays, new_policy = apply_proposal(plays_data, policy_data, proposal)
    errors: list[dict[str, str]] = []
    book: PlayBook | None = None
    policy: Policy | None = None
    try:
        book = plays_from_data(new_plays, plays_path)
    except ConfigFileInvalid as exc:
        errors.append({"instruction": _entry_of(exc), "reason": _reason(exc)})
    try:
        policy = policy_from_data(new_policy, policy_path)
        for rule_id, why in policy_conflicts(policy):
            errors.append({"instruction": f"policy rule {rule_id}", "reason": why})
    except ConfigFileInvalid as exc:
        errors.append({"instruction": _entry_of(exc), "reason": _reason(exc)})
    return Checked(
        plays_data=new_plays,
        policy_data=new_policy,
        book=book,
        policy=policy,
        changed_plays=[str(p.get("id")) for p in proposal.plays],
        changed_rules=[str(r.get("id")) for r in proposal.policy_rules],
        errors=errors,
    )


def _entry_of(exc: ConfigFileInvalid) -> str:
    return f"{exc.path}: {exc.where}" if getattr(exc, "where", "") else str(exc.path)


def _reason(exc: ConfigFileInvalid) -> str:
    return getattr(exc, "reason", str(exc))


def policy_conflicts(policy: Policy) -> list[tuple[str, str]]:
    """Rules that would send where twoloop never sends automatically."""
    found: list[tuple[str, str]] = []
    for rule in policy.rules:
        if rule.action != "auto_send":
            continue
        for cond in rule.conditions:
            if cond.field == "grounded" and cond.holds({"grounded": False}):
                found.append((rule.id, "it auto-sends drafts whose claims are not grounded"))
            if cond.field == "contact_found" and cond.holds({"contact_found": False}):
                found.append((rule.id, "it auto-sends where nobody was chosen to write to"))
            if cond.field == "escalated" and cond.holds({"escalated": True}):
                found.append((rule.id, "it auto-sends while the account is escalated"))
            if cond.field == "personalization" and cond.op in ("<", "<="):
                found.append((rule.id, "it auto-sends drafts below a personalization bar"))
    return found


# ---------------------------------------------------------------- the files' text


_ENTRY = re.compile(r"^  - id:\s*(?P<id>[A-Za-z0-9_]+)\s*$")


class _Dumper(yaml.SafeDumper):
    """Block mappings, indented sequences, flow lists of plain values: the shipped
    files' style."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _list(dumper: yaml.SafeDumper, items: list[Any]) -> yaml.Node:
    flat = all(not isinstance(i, dict | list) for i in items)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", items, flow_style=flat)


_Dumper.add_representer(list, _list)


def _dump(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, width=88, default_flow_style=False)


def render_entries(entries: list[dict[str, Any]]) -> str:
    """Entries as they sit in a list two spaces in (the shipped files' layout)."""
    text = _dump(entries)
    return "".join("  " + line if line.strip() else line for line in text.splitlines(True))


def edited_text(text: str, data: Any, changed: list[dict[str, Any]], *, before_last: bool) -> str:
    """``text`` with the ``changed`` entries of its list replaced (same id) or added
    (at the end, or before the last entry with ``before_last``), comments and
    untouched entries kept. If the edited text does not read back as ``data`` (a
    layout this does not know), the whole file is written out again, with a header
    saying its comments could not be kept."""
    out = text if text.endswith("\n") or not text else text + "\n"
    for entry in changed:
        lines = out.splitlines(True)
        starts = [i for i, line in enumerate(lines) if _ENTRY.match(line)]
        ids = {m["id"]: i for i, line in enumerate(lines) if (m := _ENTRY.match(line))}
        block = render_entries([entry])
        start = ids.get(str(entry.get("id")))
        if start is not None:
            later = [s for s in starts if s > start]
            end = _before_comments(lines, later[0]) if later else len(lines)
            # Keep the blank line that separates it from the next entry.
            while end > start and not lines[end - 1].strip():
                end -= 1
            lines[start:end] = [block]
        elif before_last and starts:
            at = _before_comments(lines, starts[-1])
            lines[at:at] = [block, "\n"]
        else:
            lines.append("\n" + block)
        out = "".join(lines)
    return _verified(out, data)


def _before_comments(lines: list[str], index: int) -> int:
    """Move ``index`` up past the comment lines that introduce the entry there."""
    while index > 0 and lines[index - 1].lstrip().startswith("#"):
        index -= 1
    return index


def _verified(text: str, data: Any) -> str:
    try:
        if yaml.safe_load(text) == data:
            return text
    except yaml.YAMLError:
        pass
    header = "# Written by twoloop plays write (the earlier comments could not be kept).\n"
    return header + _dump(data)


def unified_diff(before: str, after: str, name: str) -> str:
    return "".join(
        difflib.unified_diff(
            before.splitlines(True), after.splitlines(True), f"{name} (now)", f"{name} (proposed)"
        )
    )
