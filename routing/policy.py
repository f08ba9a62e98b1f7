"""The routing policy: ordered rules that give each match exactly one action.

A policy is a YAML file (the shipped one is ``routing/policy.yaml``)::

    rules:
      - id: weak_fit
        when: [weak == true]
        action: skip
        reason: "weak case (score {score}): not worth anyone's time yet"
      ...
      - id: default
        action: escalate
        kind: custom_message
        reason: "no rule fits: a person decides instead of the agent guessing"

Rules are tried in order; the first whose conditions all hold fires, and the
match gets its action, the rule id and the rule's reason with ``{field}``
placeholders filled from the match. Conditions compare one routing field
(``ROUTING_FIELDS``) with a literal: ``==``, ``!=``, ``>=``, ``<=``, ``>``,
``<``, or ``in [a, b]``. The last rule must have no conditions (the default),
so every match gets an action.

``check_policy`` refuses, naming the file, the rule and the reason: unknown
fields, a value of the wrong type for its field (or outside its choices), an
action's missing or stray ``kind``, duplicate ids, a missing default, and
unreachable rules (an earlier rule fires on every match this one would).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from graph_model.errors import ConfigFileInvalid
from graph_model.vocabulary import EscalationKind
from graph_model.yamlfile import read_yaml, validate

DEFAULT_FILE = Path(__file__).with_name("policy.yaml")

Action = Literal["skip", "auto_send", "research_first", "approve", "escalate", "wait"]
ESCALATION_KINDS = tuple(k.value for k in EscalationKind)


@dataclass(frozen=True)
class RoutingField:
    kind: Literal["bool", "float", "int", "str"]
    description: str
    choices: tuple[str, ...] = ()


# What a rule can look at. Each match's values are computed from the graph by
# ``routing.context``; a field that cannot be known reads as null, and a
# condition on a null value never holds.
ROUTING_FIELDS: dict[str, RoutingField] = {
    "score": RoutingField("float", "the match score, 0 to 1"),
    "weak": RoutingField("bool", "the match says its case is weak"),
    "background_only": RoutingField(
        "bool", "only background fit (industry, technology, lookalikes, the AM's record)"
    ),
    "intent": RoutingField(
        "float",
        "weighted sum of need evidence and buyer priority (confidence x strength x recency)",
    ),
    "champion": RoutingField("bool", "a past buyer of the capability now works there"),
    "tier": RoutingField("str", "the account's tier", ("A", "B", "C", "none")),
    "relationship": RoutingField(
        "str",
        "the account's relationship",
        ("prospect", "customer", "former_customer", "partner"),
    ),
    "open_deal": RoutingField("bool", "any deal with the account is open"),
    "contact_found": RoutingField("bool", "a person to write to was chosen"),
    "contact_senior": RoutingField("bool", "the chosen contact is a VP or an executive"),
    "escalated": RoutingField(
        "bool", "the account has an open escalation (all automation for it stops)"
    ),
    "escalation": RoutingField(
        "str", "the kind of the account's open escalation", ESCALATION_KINDS
    ),
    "grounded": RoutingField(
        "bool", "every claim of the draft cites the match's evidence (null before drafting)"
    ),
    "personalization": RoutingField(
        "float", "the draft's personalization score, 0 to 1 (null before drafting)"
    ),
}

_CONDITION = re.compile(
    r"^(?P<field>[a-z][a-z0-9_]*)\s*(?P<op>==|!=|>=|<=|>|<|in\b|contains\b|matches\b)"
    r"\s*(?P<value>.+)$"
)
TEXT_OPS = ("contains", "matches")
_PLACEHOLDER = re.compile(r"\{(?P<field>[a-z][a-z0-9_]*)\}")


@dataclass(frozen=True)
class Condition:
    field: str
    op: str
    value: Any  # a literal, or a tuple of literals for ``in``

    def holds(self, values: Mapping[str, Any]) -> bool:
        have = values.get(self.field)
        if have is None:
            return False
        if self.op == "in":
            return bool(have in self.value)
        if self.op == "contains":
            return str(self.value).lower() in str(have).lower()
        if self.op == "matches":
            return re.search(str(self.value), str(have), re.IGNORECASE) is not None
        if self.op == "==":
            return bool(have == self.value)
        if self.op == "!=":
            return bool(have != self.value)
        if self.op == ">=":
            return bool(have >= self.value)
        if self.op == "<=":
            return bool(have <= self.value)
        if self.op == ">":
            return bool(have > self.value)
        return bool(have < self.value)

    def implied_by(self, other: Condition) -> bool:
        """Whenever ``other`` holds, so does this one (a sufficient test, used to
        find rules an earlier rule always beats)."""
        if self.field != other.field:
            return False
        if self == other:
            return True
        if other.op == "==":  # other pins one value
            return self.holds({self.field: other.value})
        if other.op == "in":
            return all(self.holds({self.field: v}) for v in other.value)
        # Numeric bounds: other's range lies inside this one's.
        if self.op in (">=", ">") and other.op in (">=", ">"):
            return bool(
                other.value > self.value
                or (other.value == self.value and (self.op == ">=" or other.op == ">"))
            )
        if self.op in ("<=", "<") and other.op in ("<=", "<"):
            return bool(
                other.value < self.value
                or (other.value == self.value and (self.op == "<=" or other.op == "<"))
            )
        return False


@dataclass(frozen=True)
class Rule:
    id: str
    conditions: tuple[Condition, ...]
    action: Action
    kind: str | None
    reason: str

    @property
    def label(self) -> str:
        """The action as counted and shown: ``escalate:voice_note``, ``skip``."""
        return f"{self.action}:{self.kind}" if self.kind else self.action

    def fires(self, values: Mapping[str, Any]) -> bool:
        return all(c.holds(values) for c in self.conditions)

    def shadowed_by(self, earlier: Rule) -> bool:
        """``earlier`` fires on every match this rule would: each of its conditions
        follows from this rule's."""
        return all(any(c.implied_by(mine) for mine in self.conditions) for c in earlier.conditions)

    def why(self, values: Mapping[str, Any]) -> str:
        def fill(m: re.Match[str]) -> str:
            value = values.get(m["field"])
            if value is None:
                return "unknown"
            if isinstance(value, float):
                return f"{value:.2f}"
            return str(value).replace("_", " ") if isinstance(value, str) else str(value)

        return _PLACEHOLDER.sub(fill, self.reason)


@dataclass(frozen=True)
class Policy:
    path: str
    rules: tuple[Rule, ...]
    # "sha1:" + the file's digest: which policy a stored route came from.
    digest: str = ""

    def thresholds(self, field: str) -> list[float]:
        """The numbers the rules compare ``field`` with (``score >= 0.8``): where a
        value decaying over time would change a route."""
        return sorted(
            {
                float(c.value)
                for rule in self.rules
                for c in rule.conditions
                if c.field == field
                and c.op in (">=", "<=", ">", "<")
                and isinstance(c.value, int | float)
                and not isinstance(c.value, bool)
            }
        )

    def route(self, values: Mapping[str, Any]) -> tuple[Rule, str]:
        """The first rule that fires, and its reason filled in."""
        for rule in self.rules:
            if rule.fires(values):
                return rule, rule.why(values)
        raise AssertionError("a checked policy ends with a rule without conditions")


# Rules every policy starts with, whatever its file says: while an account is
# escalated, nothing is automated for it.
BUILT_IN_RULES = (
    Rule(
        "account_escalated",
        (Condition("escalated", "==", True),),
        "wait",
        "escalation_resolved",
        "an open {escalation} escalation on the account stops all automation until a "
        "person resolves it",
    ),
)


class _RuleEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    when: list[str] = Field(default_factory=list)
    action: Action
    kind: str | None = None
    waits_for: str | None = None
    reason: str = Field(min_length=1)


class _PolicyFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: list[_RuleEntry] = Field(min_length=1)


def load_policy(path: Path = DEFAULT_FILE) -> Policy:
    """Read and check a policy file; every problem names the file, the rule and why."""
    return policy_from_data(read_yaml(path), str(path), digest_of=path.read_bytes())


def policy_from_data(raw: Any, path: str, *, digest_of: bytes | None = None) -> Policy:
    """Check a policy given as data (a file's contents, or a model's proposal) the way
    ``load_policy`` checks a file; ``path`` names it in errors."""
    data = validate(_PolicyFile, raw, path)
    rules: list[Rule] = list(BUILT_IN_RULES)
    seen: set[str] = {r.id for r in BUILT_IN_RULES}
    for i, entry in enumerate(data.rules):
        where = f"rules.{i}({entry.id})"

        def fail(reason: str, *, hint: str | None = None, where: str = where) -> ConfigFileInvalid:
            return ConfigFileInvalid(str(path), where, reason, hint=hint)

        if entry.id in seen:
            built_in = " (a built-in rule)" if entry.id in {r.id for r in BUILT_IN_RULES} else ""
            raise fail(f"duplicate rule id {entry.id!r}{built_in}")
        seen.add(entry.id)
        kind = _kind(entry, fail)
        conditions = tuple(parse_condition(text, ROUTING_FIELDS, fail) for text in entry.when)
        for m in _PLACEHOLDER.finditer(entry.reason):
            if m["field"] not in ROUTING_FIELDS:
                raise fail(
                    f"reason placeholder {{{m['field']}}} is not a routing field",
                    hint="fields: " + ", ".join(sorted(ROUTING_FIELDS)),
                )
        rule = Rule(entry.id, conditions, entry.action, kind, entry.reason)
        for earlier in rules:
            if rule.shadowed_by(earlier):
                raise fail(
                    f"unreachable: rule {earlier.id!r} comes first and fires on every match "
                    "this one would",
                    hint="move the narrower rule above the broader one",
                )
        rules.append(rule)
    if rules[-1].conditions:
        raise ConfigFileInvalid(
            str(path),
            f"rules.{len(data.rules) - 1}({rules[-1].id})",
            "the last rule must have no conditions (the default), so every match gets an action",
            hint="add a last rule without `when`, e.g. escalate: a person decides",
        )
    body = digest_of if digest_of is not None else repr(raw).encode()
    digest = "sha1:" + hashlib.sha1(body).hexdigest()[:16]
    return Policy(str(path), tuple(rules), digest)


def _kind(entry: _RuleEntry, fail: Any) -> str | None:
    if entry.action == "escalate":
        if entry.kind not in ESCALATION_KINDS:
            raise fail(
                f"escalate needs a kind, one of {', '.join(ESCALATION_KINDS)}"
                + (f" (not {entry.kind!r})" if entry.kind else "")
            )
        if entry.waits_for:
            raise fail("waits_for belongs to wait, not escalate")
        return entry.kind
    if entry.action == "wait":
        if not entry.waits_for or entry.kind:
            raise fail("wait needs waits_for (what it waits for) and no kind")
        return entry.waits_for
    if entry.kind or entry.waits_for:
        raise fail(f"{entry.action} takes no kind or waits_for")
    return None


def parse_condition(
    text: str, fields: Mapping[str, RoutingField], fail: Any, *, text_ops: bool = False
) -> Condition:
    """One ``field OP value`` condition over ``fields``; with ``text_ops``, string
    fields also take ``contains`` (a case-insensitive substring) and ``matches`` (a
    case-insensitive regular expression)."""
    ops = "== != >= <= > < in" + (" contains matches" if text_ops else "")
    m = _CONDITION.match(str(text).strip())
    if not m or (m["op"] in TEXT_OPS and not text_ops):
        raise fail(f"condition {text!r}: expected 'field OP value' (OP: {ops})")
    name, op, raw = m["field"], m["op"], m["value"].strip()
    spec = fields.get(name)
    if spec is None:
        raise fail(
            f"condition {text!r}: unknown field {name!r}",
            hint="fields: " + ", ".join(sorted(fields)),
        )
    if op in TEXT_OPS:
        if spec.kind != "str" or spec.choices:
            kind = f"one of {', '.join(spec.choices)}" if spec.choices else spec.kind
            raise fail(f"condition {text!r}: {name} is {kind}; {op} reads free text")
        raw = raw.strip().strip("'\"")
        if op == "matches":
            try:
                re.compile(raw)
            except re.error as exc:
                raise fail(f"condition {text!r}: not a regular expression ({exc})") from None
        return Condition(name, op, raw)
    if op == "in":
        items = [v.strip() for v in raw.strip("[]").split(",") if v.strip()]
        if not raw.startswith("[") or not items:
            raise fail(f"condition {text!r}: 'in' takes a list like [a, b]")
        return Condition(name, op, tuple(_literal(v, name, spec, text, fail) for v in items))
    if op in (">=", "<=", ">", "<") and spec.kind not in ("float", "int"):
        raise fail(f"condition {text!r}: {name} is {spec.kind}; {op} compares numbers")
    return Condition(name, op, _literal(raw, name, spec, text, fail))


def _literal(raw: str, name: str, spec: RoutingField, text: str, fail: Any) -> Any:
    raw = raw.strip().strip("'\"")
    if spec.kind == "bool":
        if raw not in ("true", "false"):
            raise fail(f"condition {text!r}: {name} is true or false, not {raw!r}")
        return raw == "true"
    if spec.kind in ("float", "int"):
        try:
            return float(raw) if spec.kind == "float" else int(raw)
        except ValueError:
            raise fail(f"condition {text!r}: {name} is a number, not {raw!r}") from None
    if spec.choices and raw not in spec.choices:
        raise fail(f"condition {text!r}: {name} is one of {', '.join(spec.choices)}, not {raw!r}")
    return raw
