"""What an inbound reply says, by rules: ``routing/replies.yaml`` lists, per class
(unsubscribe, out of office, wrong person, not now, interested, question), the
case-insensitive patterns that mean it and where to look (subject, body); the
first class in file order that matches wins, else the file's default. The
classifier interface (``ReplyClassifier``) is shared with the Claude classifier
(``routing.claude_replies``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from graph_model.errors import ConfigFileInvalid
from graph_model.vocabulary import ReplyClass
from graph_model.yamlfile import read_yaml, validate
from routing.escalation import compile_patterns

DEFAULT_FILE = Path(__file__).with_name("replies.yaml")
FIELDS = ("subject", "body")


@dataclass(frozen=True)
class ReplyRule:
    classification: str
    fields: tuple[str, ...]
    patterns: tuple[re.Pattern[str], ...]
    confidence: float


@dataclass(frozen=True)
class ReplyRules:
    path: str
    rules: tuple[ReplyRule, ...]
    default: str
    default_confidence: float


class _RuleEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    class_: ReplyClass = Field(alias="class")
    in_: list[str] = Field(alias="in", min_length=1)
    patterns: list[str] = Field(min_length=1)
    confidence: float = Field(default=0.8, ge=0.0, le=1.0)


class _RulesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    default: ReplyClass = ReplyClass.other
    default_confidence: float = Field(default=0.3, ge=0.0, le=1.0)
    classes: list[_RuleEntry] = Field(min_length=1)


def load_reply_rules(path: Path = DEFAULT_FILE) -> ReplyRules:
    """The reply rules file, validated; errors name the file and the entry."""
    data = validate(_RulesFile, read_yaml(path), str(path))
    rules = []
    seen: set[str] = set()
    for i, entry in enumerate(data.classes):
        where = f"classes.{i}({entry.class_.value})"
        if entry.class_.value in seen:
            raise ConfigFileInvalid(str(path), where, "this class is listed twice")
        seen.add(entry.class_.value)
        for name in entry.in_:
            if name not in FIELDS:
                raise ConfigFileInvalid(
                    str(path), where, f"'in' entry {name!r} is not subject or body"
                )
        compiled = compile_patterns(entry.patterns, path=path, where=where)
        rules.append(ReplyRule(entry.class_.value, tuple(entry.in_), compiled, entry.confidence))
    return ReplyRules(str(path), tuple(rules), data.default.value, data.default_confidence)


@dataclass(frozen=True)
class ReplyText:
    """What a classifier reads: the reply, and the subject of what it answers."""

    subject: str
    body: str
    from_address: str | None = None
    answers_subject: str | None = None


@dataclass(frozen=True)
class Verdict:
    classification: str
    confidence: float
    rationale: str
    classifier: str


class ReplyClassifier(Protocol):
    """Classifies a reply; ``name`` is recorded on it ("rules", "claude:<model>")."""

    name: str

    def classify(self, reply: ReplyText) -> Verdict: ...


def classify_by_rules(reply: ReplyText, rules: ReplyRules) -> Verdict:
    """The first class (in file order) one of whose patterns matches; else the default."""
    texts = {"subject": reply.subject or "", "body": reply.body or ""}
    for rule in rules.rules:
        for name in rule.fields:
            for pattern in rule.patterns:
                found = pattern.search(texts[name])
                if found:
                    quoted = " ".join(found.group(0).split())[:60]
                    return Verdict(
                        rule.classification,
                        rule.confidence,
                        f"rule {rule.classification}: {name} says {quoted!r}",
                        "rules",
                    )
    return Verdict(rules.default, rules.default_confidence, "no rule matched", "rules")


class RulesClassifier:
    """The offline classifier: ``routing/replies.yaml``."""

    name = "rules"

    def __init__(self, rules: ReplyRules | None = None) -> None:
        self.rules = rules or load_reply_rules()

    def classify(self, reply: ReplyText) -> Verdict:
        return classify_by_rules(reply, self.rules)
