"""The decisions API: what an AM decides about a match, stored for the record and
for learning.

- ``validate``: the match is worth pursuing (a positive label for learning).
- ``defer``: not now; it comes back to the queue on ``defer_until`` (no label).
- ``kill``: not worth pursuing, with a reason (a negative label): a code from
  ``REASON_CODES`` (so reasons can be counted), the person's own words, or both.

The actor is checked against the match's owner (``app.actors``: the AM it is
assigned to, their managers, or an admin) before anything else about the match
is said. Each decision is a Decision node linked to the match (DECIDED_ON) and,
when the actor is an AM, to them (DECIDED_BY); it names the actor, their role and
the owner they acted for, and carries the match's features, score and model
version as the actor saw them, so a later rescoring does not change what was
learned from. The decision and the match's new status are written in one commit.
A match that is already validated or killed cannot be decided again: that is a
conflict, and the error says who decided it and when. The check is a
compare-and-set in the same commit, so two people deciding at once cannot both
win.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any, Literal

from app.actors import Acting, Actor, act_on, authorize, identify, match_owner
from graph_model.errors import DecisionConflict, DecisionRejected, NotAuthorized, WriteConflict
from graph_model.store import GraphStore, NotFound, WriteBatch

MatchDecision = Literal["validate", "defer", "kill"]
# Why a match is killed or a draft cancelled, from a fixed list (Decision.reason_code);
# the person's own words stay in ``reason``.
REASON_CODES: dict[str, str] = {
    "no_need": "No need for it",
    "bad_timing": "Bad timing",
    "wrong_contact": "Wrong contact",
    "existing_relationship": "Existing relationship: a person handles it",
    "competitor": "They use or chose a competitor",
    "bad_data": "Bad data (account, person or signal)",
    "other": "Other",
}


class MatchChanged(DecisionConflict):
    """The match changed between the actor loading it and deciding on it."""


_STATUS = {"validate": "validated", "defer": "deferred", "kill": "killed"}
OPEN_STATUSES = ("proposed", "deferred")


@dataclass(frozen=True)
class DecisionRecord:
    decision_id: str
    match_id: str
    kind: str
    actor: str
    role: str
    on_behalf_of: str | None
    decided_at: dt.datetime
    status: str
    reason: str | None
    defer_until: dt.date | None
    reason_code: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def decide(
    store: GraphStore,
    match_id: str,
    kind: MatchDecision,
    *,
    actor: str | Actor,
    reason: str | None = None,
    defer_until: dt.date | None = None,
    reason_code: str | None = None,
    seen: Mapping[str, Any] | None = None,
    now: dt.datetime | None = None,
) -> DecisionRecord:
    """Record a decision on a match by ``actor`` (its owner, a manager of the owner,
    or an admin) and move the match to its new status. A kill needs a ``reason`` or a
    ``reason_code`` (one of ``REASON_CODES``).

    ``seen`` is the match as the actor saw it (``status``, ``batch_id``, ``score``:
    ``app.why.MatchWhy.seen``). When given, a match that changed since (a new run
    rescored it, someone decided it) is refused with ``MatchChanged`` saying what
    changed, also when the change lands while this decision commits."""
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    if kind not in _STATUS:
        raise DecisionRejected(f"unknown decision {kind!r} (validate, defer or kill)")
    if not isinstance(actor, Actor):
        actor = identify(store, actor, action=kind, item=match_id)
    match = store.get_node("Match", match_id, hint="twoloop match top --am ID lists them")
    acting = act_on(store, actor, action=kind, item=match_id, owner=match_owner(store, match_id))
    _check_arguments(kind, reason, reason_code, defer_until, now)
    if seen is not None and _changes(seen, match):
        raise MatchChanged(_changed(store, seen, match))
    if match["status"] not in OPEN_STATUSES:
        raise DecisionConflict(_conflict(store, match))
    decision_id = _decision_id(match_id, kind, acting, now)
    status = _STATUS[kind]
    with conflict_on_match(store, match_id, seen), store.batch() as write:
        # Compare-and-set: someone deciding meanwhile makes this a conflict.
        if seen is not None:
            write.expect("Match", match_id, "status", [seen["status"]])
            write.expect("Match", match_id, "batch_id", [seen["batch_id"]])
        else:
            write.expect("Match", match_id, "status", list(OPEN_STATUSES))
        write.upsert_nodes(
            "Decision",
            [_decision_row(match, kind, acting, now, reason, reason_code, defer_until)],
        )
        write.upsert_edges(
            "DECIDED_ON", [{"src": decision_id, "dst_label": "Match", "dst": match_id}]
        )
        decided_by(write, decision_id, acting)
        write.upsert_nodes(
            "Match",
            [
                {
                    **match,
                    "status": status,
                    "defer_until": defer_until if kind == "defer" else None,
                }
            ],
        )
    return DecisionRecord(
        decision_id=decision_id,
        match_id=match_id,
        kind=kind,
        actor=acting.actor,
        role=acting.role,
        on_behalf_of=acting.on_behalf_of,
        decided_at=now,
        status=status,
        reason=reason.strip() if reason else None,
        defer_until=defer_until if kind == "defer" else None,
        reason_code=reason_code,
    )


def check_reason_code(reason_code: str | None, kind: str) -> None:
    """A reason code is one of ``REASON_CODES``, and only a kill or a cancel has one."""
    if reason_code is None:
        return
    if kind not in ("kill", "cancel"):
        raise DecisionRejected(f"a {kind} takes no reason code (only a kill or a cancel does)")
    if reason_code not in REASON_CODES:
        raise DecisionRejected(
            f"unknown reason code {reason_code!r} (one of {', '.join(REASON_CODES)})"
        )


@contextmanager
def conflict_on_match(
    store: GraphStore, match_id: str, seen: Mapping[str, Any] | None = None
) -> Iterator[None]:
    """A lost race on a match, told as who decided it first (or, for an actor who
    said what they saw, what changed since)."""
    try:
        yield
    except WriteConflict:
        rows = store.get_nodes("Match", [match_id])
        if rows.height == 0:
            raise NotFound(f"match {match_id} is gone (a new match run removed it)") from None
        now = rows.row(0, named=True)
        if seen is not None and _changes(seen, now):
            raise MatchChanged(_changed(store, seen, now)) from None
        raise DecisionConflict(_conflict(store, now)) from None


def _changes(seen: Mapping[str, Any], match: Mapping[str, Any]) -> list[str]:
    """What differs between the match as seen and as stored, in words."""
    told: list[str] = []
    if seen.get("status") != match["status"]:
        told.append(f"its status went from {seen.get('status')} to {match['status']}")
    if seen.get("batch_id") != match["batch_id"]:
        score = seen.get("score")
        was = f"{score:.2f}" if isinstance(score, int | float) else "?"
        told.append(
            f"a new match run ({match['batch_id']}, model {match['model_version']}) rescored "
            f"it from {was} to {match['score']:.2f}"
        )
    return told


def _changed(store: GraphStore, seen: Mapping[str, Any], match: Mapping[str, Any]) -> str:
    text = f"match {match['match_id']} changed since you loaded it: " + "; ".join(
        _changes(seen, match)
    )
    return (
        text
        + last_decision(store, "Match", match["match_id"])
        + ("; nothing was changed: look at it again and decide")
    )


def _conflict(store: GraphStore, match: dict[str, Any]) -> str:
    text = f"match {match['match_id']} is already {match['status']}"
    return text + last_decision(store, "Match", match["match_id"]) + "; nothing was changed"


def decided_by(write: WriteBatch, decision_id: str, acting: Acting) -> None:
    """DECIDED_BY to the actor, when they are an AccountManager."""
    if acting.am_id is not None:
        write.upsert_edges("DECIDED_BY", [{"src": decision_id, "dst": acting.am_id}])


def last_decision(store: GraphStore, label: str, key: str) -> str:
    """`` (approve by am-3 as manager of am-1 at 2026-11-20 12:00 UTC)``: the latest
    decision on an item, for a conflict message; empty when there is none."""
    on = store.edges("DECIDED_ON", touching=[key], side="target", label=label)
    if on.height == 0:
        return ""
    last = store.get_nodes("Decision", on["src"]).sort("decided_at").row(-1, named=True)
    if last["actor"]:
        who = Acting(last["actor"], last["role"] or "am", last["on_behalf_of"]).describe()
    else:  # decided before decisions named their actor
        by = store.edges("DECIDED_BY", touching=[last["decision_id"]], side="source")
        who = by["dst"][0] if by.height else "someone"
    return f" ({last['kind']} by {who} at {last['decided_at']:%Y-%m-%d %H:%M} UTC)"


@dataclass
class BulkResult:
    """What a bulk decision did to each match: decided, or why not."""

    kind: str
    decided: list[str]
    refused: dict[str, str]  # not on the actor's book: NotAuthorized's message
    conflicts: dict[str, str]  # already decided, or gone

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


BULK_CHUNK = 500


def decide_many(
    store: GraphStore,
    match_ids: Sequence[str],
    kind: MatchDecision,
    *,
    actor: str | Actor,
    reason: str | None = None,
    reason_code: str | None = None,
    defer_until: dt.date | None = None,
    now: dt.datetime | None = None,
) -> BulkResult:
    """The same decision on many matches (bulk defer or kill from the queue), with
    the same checks as ``decide``, in one commit per ``BULK_CHUNK`` matches. A match
    off the actor's book is refused and one already decided is a conflict, each
    reported by id; the others are decided. A chunk that loses a race is redone one
    match at a time, so each match ends decided once or reported."""
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    if kind not in _STATUS:
        raise DecisionRejected(f"unknown decision {kind!r} (validate, defer or kill)")
    ids = list(dict.fromkeys(match_ids))
    if not isinstance(actor, Actor):
        actor = identify(store, actor, action=kind, item=f"{len(ids)} matches")
    result = BulkResult(kind=kind, decided=[], refused={}, conflicts={})
    if not ids:
        return result
    # The arguments are checked once, on the first match, by decide's own rules.
    _check_arguments(kind, reason, reason_code, defer_until, now)
    for start in range(0, len(ids), BULK_CHUNK):
        _decide_chunk(
            store,
            ids[start : start + BULK_CHUNK],
            kind,
            actor,
            result,
            now=now,
            reason=reason,
            reason_code=reason_code,
            defer_until=defer_until,
        )
    return result


def _check_arguments(
    kind: str,
    reason: str | None,
    reason_code: str | None,
    defer_until: dt.date | None,
    now: dt.datetime,
) -> None:
    check_reason_code(reason_code, kind)
    if kind == "kill" and not ((reason and reason.strip()) or reason_code):
        raise DecisionRejected("a kill needs a reason (it is what the ranking learns from)")
    if kind == "defer":
        if defer_until is None:
            raise DecisionRejected("a defer needs a date to come back (defer_until)")
        if defer_until <= now.date():
            raise DecisionRejected(f"defer_until {defer_until} is not in the future")


def _decide_chunk(
    store: GraphStore,
    ids: list[str],
    kind: MatchDecision,
    actor: Actor,
    result: BulkResult,
    *,
    now: dt.datetime,
    reason: str | None,
    reason_code: str | None,
    defer_until: dt.date | None,
) -> None:
    matches = {r["match_id"]: r for r in store.get_nodes("Match", ids).iter_rows(named=True)}
    owners = store.edges("ASSIGNED_TO", touching=ids, side="source", label="Match")
    owner_of = dict(owners.select("src", "dst").iter_rows())
    allowed: list[tuple[dict[str, Any], Acting]] = []
    for match_id in ids:
        try:
            acting = authorize(
                store, actor, action=kind, item=match_id, owner=owner_of.get(match_id)
            )
        except NotAuthorized as exc:
            result.refused[match_id] = str(exc)
            continue
        match = matches.get(match_id)
        if match is None:
            result.conflicts[match_id] = f"match {match_id} is gone (a new match run removed it)"
        elif match["status"] not in OPEN_STATUSES:
            result.conflicts[match_id] = _conflict(store, match)
        else:
            allowed.append((match, acting))
    if not allowed:
        return
    status = _STATUS[kind]
    try:
        with store.batch() as write:
            for match, _ in allowed:
                write.expect("Match", match["match_id"], "status", list(OPEN_STATUSES))
            decisions = [
                _decision_row(match, kind, acting, now, reason, reason_code, defer_until)
                for match, acting in allowed
            ]
            write.upsert_nodes("Decision", decisions)
            write.upsert_edges(
                "DECIDED_ON",
                [
                    {"src": d["decision_id"], "dst_label": "Match", "dst": m["match_id"]}
                    for d, (m, _) in zip(decisions, allowed, strict=True)
                ],
            )
            by = [
                {"src": d["decision_id"], "dst": a.am_id}
                for d, (_, a) in zip(decisions, allowed, strict=True)
                if a.am_id is not None
            ]
            if by:
                write.upsert_edges("DECIDED_BY", by)
            write.upsert_nodes(
                "Match",
                [
                    {
                        **match,
                        "status": status,
                        "defer_until": defer_until if kind == "defer" else None,
                    }
                    for match, _ in allowed
                ],
            )
    except WriteConflict:
        # Someone decided one of them meanwhile: sort it out one match at a time.
        for match, _ in allowed:
            try:
                decide(
                    store,
                    match["match_id"],
                    kind,
                    actor=actor,
                    reason=reason,
                    reason_code=reason_code,
                    defer_until=defer_until,
                    now=now,
                )
                result.decided.append(match["match_id"])
            except (DecisionConflict, NotFound) as exc:
                result.conflicts[match["match_id"]] = str(exc)
        return
    result.decided.extend(match["match_id"] for match, _ in allowed)


def _decision_row(
    match: Mapping[str, Any],
    kind: str,
    acting: Acting,
    now: dt.datetime,
    reason: str | None,
    reason_code: str | None,
    defer_until: dt.date | None,
) -> dict[str, Any]:
    """The Decision node: who decided what and why, and the match as they saw it
    (features, score, model) so later rescoring does not change what is learned."""
    return {
        "decision_id": _decision_id(match["match_id"], kind, acting, now),
        "kind": kind,
        "decided_at": now,
        **acting.audit(),
        "reason": reason.strip() if reason else None,
        "reason_code": reason_code,
        "defer_until": defer_until if kind == "defer" else None,
        "features": match["features"],
        "score": match["score"],
        "model_version": match["model_version"],
    }


def _decision_id(match_id: str, kind: str, acting: Acting, now: dt.datetime) -> str:
    digest = hashlib.sha1(f"{match_id}\x1f{kind}\x1f{acting.actor}\x1f{now.isoformat()}".encode())
    return f"d-{digest.hexdigest()[:20]}"


# ---------------------------------------------------------------- any decision


def decision_key(subject: str, kind: str) -> str:
    return "d-" + hashlib.sha1(f"{subject}\x1f{kind}".encode()).hexdigest()[:20]


def write_decision(
    write: WriteBatch,
    decision_id: str,
    kind: str,
    acting: Acting,
    *,
    now: dt.datetime,
    on: list[tuple[str, str]],
    **fields: Any,
) -> None:
    """A Decision naming who acted, in what right and for whom, on these items."""
    write.upsert_nodes(
        "Decision",
        [{"decision_id": decision_id, "kind": kind, "decided_at": now, **acting.audit(), **fields}],
    )
    write.upsert_edges(
        "DECIDED_ON",
        [{"src": decision_id, "dst_label": label, "dst": key} for label, key in on],
    )
    decided_by(write, decision_id, acting)


def acted(acting: Acting, now: dt.datetime) -> dict[str, Any]:
    return {"by": acting.actor, "role": acting.role, "on_behalf_of": acting.on_behalf_of, "at": now}
