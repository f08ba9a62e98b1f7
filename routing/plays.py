"""Plays: motions that react to what happens, as data.

A plays file (the shipped one is ``routing/plays.yaml``) lists plays. Each has a
trigger, filters, steps and stop conditions::

    plays:
      - id: pricing_page_twice
        trigger:
          event: signal               # signal, activity, reply, decision or send
          where: [kind == web_visit, url contains /pricing]
          count: 2                    # this many matching events ...
          within_days: 7              # ... inside this window
          per: account                # counted per account, person or contact
        when: [tier == A]             # filters on who it is about
        reason: "{account} visited the pricing page {count} times in {within_days} days"
        steps:
          - research: {}
          - escalate: {kind: review, question: "Read the research on {account} first."}
        stop_on: [reply, meeting]

Conditions are ``field OP value`` as in the routing policy, over the event's
fields (``EVENT_FIELDS[event]``) in ``where`` and the subject's (``SUBJECT_FIELDS``)
in ``when``; text fields also take ``contains`` and ``matches``. Steps run in
order (``STEP_KINDS``); a run waits at ``wait`` until the time has passed and at
a step that needs a person (a draft to approve, an escalation to resolve) for as
long as the person takes: nothing is sent because a person was slow. Every run
stops on an opt-out and on the AM's cancel; ``stop_on`` adds more.

``load_plays`` refuses, naming the file, the play and why: unknown fields or
steps, values of the wrong type, a count without a window, a ``per`` the event
cannot give, placeholders nothing fills, a trailing wait, and plays that would
send where twoloop never sends (``do_not_send_conflicts``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from graph_model.errors import ConfigFileInvalid
from graph_model.settings import Settings
from graph_model.vocabulary import (
    ActivityKind,
    DecisionKind,
    Direction,
    ReplyClass,
    Seniority,
    SignalKind,
)
from graph_model.yamlfile import read_yaml, validate
from routing.policy import ESCALATION_KINDS, Condition, RoutingField, parse_condition

DEFAULT_FILE = Path(__file__).with_name("plays.yaml")

EventSource = Literal["signal", "activity", "reply", "decision", "send"]
Per = Literal["account", "person", "contact"]
StopOn = Literal["reply", "opt_out", "escalation", "meeting", "cancel"]
# Every run stops on these, whatever its play says.
ALWAYS_STOP_ON: tuple[str, ...] = ("opt_out", "cancel")


def _choices(enum: Any) -> tuple[str, ...]:
    return tuple(item.value for item in enum)


# What ``where`` can look at, per event source (``routing.play_events`` reads them).
EVENT_FIELDS: dict[str, dict[str, RoutingField]] = {
    "signal": {
        "kind": RoutingField("str", "the signal's kind", _choices(SignalKind)),
        "source": RoutingField("str", "where the signal came from"),
        "url": RoutingField("str", "the signal's address (a visited page, a post)"),
        "title": RoutingField("str", "the signal's title"),
        "text": RoutingField("str", "the signal's text (untrusted)"),
        "strength": RoutingField("float", "the signal's strength, 0 to 1"),
        "by": RoutingField("str", "who emitted it", ("account", "person")),
        "solves": RoutingField(
            "bool", "it indicates a need one of our capabilities addresses (a problem we solve)"
        ),
        "need": RoutingField("str", "the name of the need it indicates most surely"),
        "capability": RoutingField(
            "str", "the name of the capability it is about (a page viewed, a need addressed)"
        ),
    },
    "activity": {
        "kind": RoutingField("str", "the activity's kind", _choices(ActivityKind)),
        "direction": RoutingField("str", "inbound or outbound", _choices(Direction)),
        "subject": RoutingField("str", "the activity's subject"),
        "summary": RoutingField("str", "the activity's text (untrusted)"),
        "referrer_in_network": RoutingField(
            "bool",
            "someone involved who works elsewhere (a referrer) shares a deal or an activity "
            "with the account's AM",
        ),
    },
    "reply": {
        "classification": RoutingField("str", "what the reply says", _choices(ReplyClass)),
        "subject": RoutingField("str", "the reply's subject"),
    },
    "decision": {
        "kind": RoutingField("str", "what was decided", _choices(DecisionKind)),
        "reason_code": RoutingField("str", "the kill's or cancel's reason code"),
        "item": RoutingField(
            "str",
            "what it was about",
            ("match", "draft", "escalation", "task", "send", "play", "reply"),
        ),
    },
    "send": {
        "purpose": RoutingField(
            "str", "what the sent message was", ("outreach", "follow_up", "comment")
        ),
        "subject": RoutingField("str", "the sent message's subject"),
    },
}

# What ``when`` can look at: the account, the person (if the event has one) and
# the account's best current match (or the contact's match).
SUBJECT_FIELDS: dict[str, RoutingField] = {
    "tier": RoutingField("str", "the account's tier", ("A", "B", "C", "none")),
    "relationship": RoutingField(
        "str",
        "the account's relationship",
        ("prospect", "customer", "former_customer", "partner"),
    ),
    "in_icp": RoutingField("bool", "the account is inside the ideal-customer profile"),
    "employees": RoutingField("int", "the account's employees"),
    "country": RoutingField("str", "the account's country"),
    "open_deal": RoutingField("bool", "a deal with the account is open"),
    "escalated": RoutingField("bool", "the account has an open blocking escalation"),
    "seniority": RoutingField("str", "the person's seniority", _choices(Seniority)),
    "department": RoutingField("str", "the person's department"),
    "title": RoutingField("str", "the person's title"),
    "persona": RoutingField(
        "bool", "the person fits a buyer persona of the capability in question"
    ),
    "do_not_contact": RoutingField("bool", "the person asked not to be contacted"),
    "score": RoutingField("float", "the match's score (the account's best current match)"),
    "route": RoutingField(
        "str",
        "the match's current route",
        ("skip", "auto_send", "research_first", "approve", "escalate", "wait"),
    ),
}

# What a reason, an alert, a task title or a question can name.
PLACEHOLDERS = (
    "account",
    "person",
    "am",
    "capability",
    "need",
    "referrer",
    "count",
    "within_days",
    "event",
    "play",
)
_PLACEHOLDER = re.compile(r"\{(?P<name>[a-z_]+)\}")

TASK_KINDS = ("voice_note", "linkedin_message", "call", "custom_message", "post_comment")
# A play escalates for a person's judgment; opt-outs and replies open their own.
PLAY_ESCALATIONS = tuple(k for k in ESCALATION_KINDS if k not in ("opt_out", "reply"))


class _Research(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Alert(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1)


class _Draft(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # First-touch outreach is the routing policy's; plays follow up and comment.
    purpose: Literal["follow_up", "comment"]


class _Send(BaseModel):
    model_config = ConfigDict(extra="forbid")

    purpose: Literal["follow_up"] = "follow_up"


class _Task(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["voice_note", "linkedin_message", "call", "custom_message", "post_comment"]
    title: str = Field(min_length=1)


class _Escalate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str
    question: str = Field(min_length=1)


class _Wait(BaseModel):
    model_config = ConfigDict(extra="forbid")

    business_days: int | None = Field(default=None, ge=1, le=60)
    days: int | None = Field(default=None, ge=1, le=90)


STEP_KINDS: dict[str, tuple[type[BaseModel], str]] = {
    "research": (_Research, "write a research summary of the account for the AM"),
    "alert": (_Alert, "tell the AM, in the play's words"),
    "draft": (_Draft, "write a draft to approve: a follow-up email or a suggested comment"),
    "send": (
        _Send,
        "write a draft and send it if the policy lets the agent act on the match and the "
        "draft passes every check; otherwise it waits for approval like a draft",
    ),
    "task": (_Task, "give the AM a task (voice note, LinkedIn message, call, post a comment)"),
    "escalate": (_Escalate, "hand the account to the AM with a question; automation stops"),
    "wait": (_Wait, "wait N business days (or days); stop conditions still apply"),
}


@dataclass(frozen=True)
class Trigger:
    event: str
    where: tuple[Condition, ...]
    count: int
    within_days: float | None
    per: str

    def matches(self, values: dict[str, Any]) -> bool:
        return all(c.holds(values) for c in self.where)

    @property
    def window(self) -> dt.timedelta:
        return dt.timedelta(days=self.within_days or 0)


@dataclass(frozen=True)
class Step:
    kind: str
    options: dict[str, Any]

    def describe(self) -> str:
        o = self.options
        if self.kind == "wait":
            if o.get("business_days"):
                return f"wait {o['business_days']} business days"
            return f"wait {o['days']} days"
        if self.kind in ("draft", "send"):
            purpose = str(o["purpose"]).replace("_", "-")
            return f"{'draft' if self.kind == 'draft' else 'send (within guardrails)'} {purpose}"
        if self.kind == "task":
            return f"task: {o['kind'].replace('_', ' ')}"
        if self.kind == "escalate":
            return f"escalate: {o['kind'].replace('_', ' ')}"
        return self.kind


@dataclass(frozen=True)
class Play:
    id: str
    description: str
    trigger: Trigger
    when: tuple[Condition, ...]
    steps: tuple[Step, ...]
    stop_on: tuple[str, ...]
    reason: str
    cooldown_days: int
    enabled: bool = True

    def applies(self, subject: dict[str, Any]) -> bool:
        return all(c.holds(subject) for c in self.when)

    def stops_on(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*self.stop_on, *ALWAYS_STOP_ON)))

    def why(self, values: dict[str, Any]) -> str:
        return fill(self.reason, values)

    def outline(self) -> str:
        return " -> ".join(step.describe() for step in self.steps)


@dataclass(frozen=True)
class PlayBook:
    path: str
    max_age_days: int
    plays: tuple[Play, ...]
    digest: str = ""
    warnings: tuple[str, ...] = field(default=())

    def get(self, play_id: str) -> Play:
        for play in self.plays:
            if play.id == play_id:
                return play
        raise KeyError(play_id)

    @property
    def enabled(self) -> tuple[Play, ...]:
        return tuple(p for p in self.plays if p.enabled)


def fill(template: str, values: dict[str, Any]) -> str:
    """``template`` with ``{name}`` filled from ``values`` (``someone``/``unknown``
    where a value is missing)."""

    def one(m: re.Match[str]) -> str:
        value = values.get(m["name"])
        if value is None or value == "":
            return "someone" if m["name"] in ("person", "referrer") else "unknown"
        if isinstance(value, float):
            return f"{value:g}"
        return str(value)

    return _PLACEHOLDER.sub(one, template)


class _TriggerEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event: EventSource
    where: list[str] = Field(default_factory=list)
    count: int = Field(default=1, ge=1, le=100)
    within_days: float | None = Field(default=None, gt=0, le=365)
    per: Per = "account"


class _PlayEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str = ""
    trigger: _TriggerEntry
    when: list[str] = Field(default_factory=list)
    reason: str = Field(min_length=1)
    steps: list[dict[str, Any]] = Field(min_length=1)
    stop_on: list[StopOn] = Field(default_factory=list)
    cooldown_days: int = Field(default=30, ge=0, le=365)
    enabled: bool = True


class _PlaysFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_age_days: int = Field(default=14, ge=1, le=365)
    plays: list[_PlayEntry] = Field(default_factory=list)


# The events that can give each ``per``: a person needs an event with a person,
# a contact (a match and a person) a send or a reply.
_PER_SOURCES = {
    "account": {"signal", "activity", "reply", "decision", "send"},
    "person": {"signal", "activity", "reply", "send"},
    "contact": {"reply", "send"},
}


def configured_plays(path: Path | None, settings: Settings) -> PlayBook | None:
    """The plays file given, else the configured one (``TWOLOOP_PLAYS_FILE``, else
    the shipped one); None when the setting is ``off``."""
    if path is not None:
        return load_plays(path)
    setting = settings.plays_file
    if setting and setting.strip().lower() == "off":
        return None
    return load_plays(Path(setting) if setting else DEFAULT_FILE)


def load_plays(path: Path = DEFAULT_FILE) -> PlayBook:
    """Read and check a plays file; every problem names the file, the play and why."""
    return plays_from_data(read_yaml(path), str(path), digest_of=path.read_bytes())


def plays_from_data(raw: Any, where: str, *, digest_of: bytes | None = None) -> PlayBook:
    """Check plays given as data (a file's contents, or a model's proposal) the way
    ``load_plays`` checks a file; ``where`` names it in errors."""
    _no_bare_on(raw, where)
    data = validate(_PlaysFile, raw, where)
    plays: list[Play] = []
    seen: set[str] = set()
    for i, entry in enumerate(data.plays):
        play = _play(entry, where, f"plays.{i}({entry.id})")
        if play.id in seen:
            raise ConfigFileInvalid(
                where, f"plays.{i}({entry.id})", f"duplicate play id {play.id!r}"
            )
        seen.add(play.id)
        plays.append(play)
    body = digest_of if digest_of is not None else repr(raw).encode()
    digest = "sha1:" + hashlib.sha1(body).hexdigest()[:16]
    return PlayBook(where, data.max_age_days, tuple(plays), digest)


def _no_bare_on(raw: Any, where: str) -> None:
    """YAML reads a bare ``on:`` key as true: say so, naming the play, instead of the
    validator's puzzling "Keys should be strings"."""
    plays = raw.get("plays") if isinstance(raw, dict) else None
    for i, entry in enumerate(plays if isinstance(plays, list) else []):
        if not isinstance(entry, dict):
            continue
        trigger = entry.get("trigger")
        for place, mapping in (("", entry), (".trigger", trigger)):
            if isinstance(mapping, dict) and True in mapping:
                raise ConfigFileInvalid(
                    where,
                    f"plays.{i}({entry.get('id', '?')}){place}",
                    "a key `on:` reads as true in YAML",
                    hint="the trigger's key is `event:` (e.g. event: signal)",
                )


def _play(entry: _PlayEntry, path: str, where: str) -> Play:
    def fail(reason: str, *, hint: str | None = None) -> ConfigFileInvalid:
        return ConfigFileInvalid(path, where, reason, hint=hint)

    t = entry.trigger
    if t.event not in _PER_SOURCES[t.per]:
        raise fail(
            f"per {t.per}: a {t.event} event does not name a {t.per}",
            hint=f"{t.per} works with: " + ", ".join(sorted(_PER_SOURCES[t.per])),
        )
    if t.count > 1 and t.within_days is None:
        raise fail(f"count {t.count} needs within_days (the window to count in)")
    where_ = tuple(parse_condition(c, EVENT_FIELDS[t.event], fail, text_ops=True) for c in t.where)
    when = tuple(parse_condition(c, SUBJECT_FIELDS, fail, text_ops=True) for c in entry.when)
    trigger = Trigger(t.event, where_, t.count, t.within_days, t.per)
    steps = tuple(_step(raw, n, fail) for n, raw in enumerate(entry.steps))
    if steps[-1].kind == "wait":
        raise fail("the last step is a wait: nothing follows it", hint="end with the step to take")
    texts = [entry.reason] + [
        str(s.options.get(k))
        for s in steps
        for k in ("text", "title", "question")
        if k in s.options
    ]
    for text in texts:
        for m in _PLACEHOLDER.finditer(text):
            if m["name"] not in PLACEHOLDERS:
                raise fail(
                    f"placeholder {{{m['name']}}} is not one twoloop fills",
                    hint="placeholders: " + ", ".join(PLACEHOLDERS),
                )
    play = Play(
        id=entry.id,
        description=entry.description.strip(),
        trigger=trigger,
        when=when,
        steps=steps,
        stop_on=tuple(entry.stop_on),
        reason=entry.reason,
        cooldown_days=entry.cooldown_days,
        enabled=entry.enabled,
    )
    conflicts = do_not_send_conflicts(play)
    if conflicts:
        raise fail(
            "conflicts with the do-not-send checks: " + "; ".join(conflicts),
            hint="twoloop never sends past these; change the play so a person decides",
        )
    for n, step in enumerate(steps):
        purpose = step.options.get("purpose")
        if purpose == "follow_up" and t.event != "send":
            raise fail(f"steps.{n}.{step.kind}: a follow-up follows a send (trigger event: send)")
        if purpose == "comment" and t.event != "signal":
            raise fail(
                f"steps.{n}.{step.kind}: a suggested comment answers a post (trigger event: signal)"
            )
    return play


def _step(raw: dict[str, Any], n: int, fail: Any) -> Step:
    if not isinstance(raw, dict) or len(raw) != 1:
        raise fail(
            f"steps.{n}: a step is one of {', '.join(STEP_KINDS)} with its options, "
            "e.g. `- wait: {business_days: 5}`"
        )
    ((kind, options),) = raw.items()
    if kind not in STEP_KINDS:
        raise fail(f"steps.{n}: unknown step {kind!r}", hint="steps: " + ", ".join(STEP_KINDS))
    model, _ = STEP_KINDS[kind]
    try:
        parsed = model.model_validate(options or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise fail(f"steps.{n}.{kind}{'.' + loc if loc else ''}: {first['msg']}") from None
    values = parsed.model_dump()
    if kind == "wait" and (values["business_days"] is None) == (values["days"] is None):
        raise fail(f"steps.{n}.wait: give business_days or days (one of them)")
    if kind == "escalate" and values["kind"] not in PLAY_ESCALATIONS:
        raise fail(
            f"steps.{n}.escalate.kind: {values['kind']!r} is not one a play opens",
            hint="kinds: " + ", ".join(PLAY_ESCALATIONS),
        )
    return Step(kind, {k: v for k, v in values.items() if v is not None})


def do_not_send_conflicts(play: Play) -> list[str]:
    """Why a play would send where twoloop never sends (empty: it would not).

    The send step obeys the policy and the outbox's checks at run time; these are
    the plays that ask for something those checks exist to refuse."""
    sends = [s for s in play.steps if s.kind == "send"]
    writes = [s for s in play.steps if s.kind in ("send", "draft")]
    found: list[str] = []
    if sends and play.trigger.event == "reply":
        found.append("it sends in answer to a reply: a person answers replies, never the agent")
    for cond in (*play.when, *play.trigger.where):
        if writes and cond.field == "do_not_contact" and cond.holds({"do_not_contact": True}):
            found.append("it writes to people who asked not to be contacted")
        if sends and cond.field == "escalated" and cond.holds({"escalated": True}):
            found.append("it sends while the account is escalated: all automation stops then")
        if (
            sends
            and cond.field == "classification"
            and cond.holds({"classification": "unsubscribe"})
        ):
            found.append("it sends after an unsubscribe")
    follow_ups = [s for s in writes if s.options.get("purpose") == "follow_up"]
    if follow_ups and "reply" not in play.stop_on:
        found.append("a follow-up that does not stop on a reply (add reply to stop_on)")
    return found
