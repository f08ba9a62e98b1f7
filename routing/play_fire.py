"""When plays fire: event patterns matched over the graph's events.

``find_fires`` walks each enabled play's events in time order, per subject (an
account, a person, or a match's contact): at each event that completes the
pattern (``count`` matching events inside ``within_days``) whose subject passes
the play's filters, the play fires, unless it fired for that subject within its
``cooldown_days`` or a run of it is still going there. It reads and writes
nothing else, so ``twoloop plays simulate`` and the engine share it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from graph_model.store import GraphStore
from routing.play_events import read_events, subjects
from routing.plays import Play, PlayBook

OPEN_RUN = ("active", "waiting", "needs_am")


@dataclass
class Fire:
    """One play firing for one subject."""

    play: Play
    run_id: str
    subject: str
    at: dt.datetime
    events: list[str]
    account_id: str
    am_id: str | None
    person_id: str | None
    match_id: str | None
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def reason(self) -> str:
        return self.play.why(self.values)

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "play": self.play.id,
            "subject": self.subject,
            "at": self.at.isoformat(),
            "account_id": self.account_id,
            "account": self.values.get("account"),
            "person_id": self.person_id,
            "person": self.values.get("person"),
            "match_id": self.match_id,
            "am_id": self.am_id,
            "events": self.events,
            "reason": self.reason,
            "steps": self.play.outline(),
        }


def run_id(play_id: str, subject: str, anchor: str) -> str:
    return "pr-" + hashlib.sha1(f"{play_id}\x1f{subject}\x1f{anchor}".encode()).hexdigest()[:20]


def subject_key(per: str, event: dict[str, Any]) -> str | None:
    if per == "account":
        return f"account:{event['account_id']}"
    if per == "person":
        return f"person:{event['person_id']}" if event.get("person_id") else None
    if event.get("match_id") and event.get("person_id"):
        return f"contact:{event['match_id']}/{event['person_id']}"
    return None


def find_fires(
    store: GraphStore,
    book: PlayBook,
    *,
    start: dt.datetime,
    end: dt.datetime,
    runs: pl.DataFrame | None = None,
    am: str | None = None,
    plays: Sequence[Play] | None = None,
) -> list[Fire]:
    """Every firing of ``plays`` (the book's enabled ones) at events in
    ``[start, end]``, oldest first. ``runs`` (PlayRun nodes) are the firings
    already stored: they count for cooldowns and open runs, and are not found
    again. With ``am``, only that AM's."""
    chosen = list(plays if plays is not None else book.enabled)
    if not chosen:
        return []
    lookback: dict[str, dt.timedelta] = {}
    for play in chosen:
        src = play.trigger.event
        lookback[src] = max(lookback.get(src, dt.timedelta(0)), play.trigger.window)
    events = {src: read_events(store, src, start - back, end) for src, back in lookback.items()}
    last, known = _history(runs)
    candidates: list[tuple[Play, str, dict[str, Any], list[dict[str, Any]]]] = []
    for play in chosen:
        hits = [e for e in events[play.trigger.event] if play.trigger.matches(e)]
        groups: dict[str, list[dict[str, Any]]] = {}
        for e in hits:
            key = subject_key(play.trigger.per, e)
            if key is not None:
                groups.setdefault(key, []).append(e)
        for key, group in groups.items():
            for i, e in enumerate(group):
                if e["at"] < start:
                    continue
                inside = [g for g in group[: i + 1] if g["at"] > e["at"] - play.trigger.window]
                if play.trigger.count == 1:
                    inside = [e]
                if len(inside) >= play.trigger.count:
                    candidates.append((play, key, e, inside))
    about = subjects(store, [anchor for _, _, anchor, _ in candidates])
    fires: list[Fire] = []
    order = sorted(
        range(len(candidates)),
        key=lambda i: (candidates[i][2]["at"], candidates[i][0].id, candidates[i][1]),
    )
    for i in order:
        play, key, anchor, inside = candidates[i]
        who = about[i]
        rid = run_id(play.id, key, anchor["event"])
        if rid in known:
            continue
        if who.get("am_id") is None or (am is not None and who["am_id"] != am):
            continue
        if not play.applies(who):
            continue
        previous = last.get((play.id, key))
        if previous is not None:
            fired_at, still_open = previous
            if still_open or anchor["at"] - fired_at < dt.timedelta(days=play.cooldown_days):
                continue
        values = {
            **who,
            "count": len(inside),
            "within_days": play.trigger.within_days,
            "play": play.id,
        }
        fire = Fire(
            play=play,
            run_id=rid,
            subject=key,
            at=anchor["at"],
            events=[e["event"] for e in inside],
            account_id=anchor["account_id"],
            am_id=who["am_id"],
            person_id=who.get("person_id"),
            match_id=who.get("match_id"),
            values=values,
        )
        fires.append(fire)
        # A simulated or new firing counts for the cooldown like a stored one; it
        # is not "open" for the rest of the window (its run's fate is unknown).
        last[(play.id, key)] = (anchor["at"], False)
    return fires


def _history(
    runs: pl.DataFrame | None,
) -> tuple[dict[tuple[str, str], tuple[dt.datetime, bool]], set[str]]:
    last: dict[tuple[str, str], tuple[dt.datetime, bool]] = {}
    if runs is None or runs.is_empty():
        return last, set()
    for r in runs.sort("fired_at").iter_rows(named=True):
        key = (r["play_id"], r["subject"])
        was = last.get(key)
        still_open = r["status"] in OPEN_RUN or (was is not None and was[1])
        last[key] = (r["fired_at"], still_open)
    return last, set(runs["run_id"].to_list())


def add_business_days(start: dt.datetime, days: int) -> dt.datetime:
    """``days`` working days (Monday to Friday) after ``start``, at the same time of
    day; public holidays are not known."""
    when = start
    left = days
    while left > 0:
        when += dt.timedelta(days=1)
        if when.weekday() < 5:
            left -= 1
    return when


def simulate_plays(
    store: GraphStore,
    book: PlayBook,
    *,
    now: dt.datetime,
    days: int,
    am: str | None = None,
    examples: int = 3,
) -> dict[str, Any]:
    """What the book's enabled plays would have fired over the last ``days`` (as if
    none had run before), per play and per AM, with examples; writes nothing.
    Filters read the accounts and people as they are now."""
    fires = find_fires(store, book, start=now - dt.timedelta(days=days), end=now, am=am)
    by_play: dict[str, list[Fire]] = {}
    for f in fires:
        by_play.setdefault(f.play.id, []).append(f)
    am_names = store.names(
        "AccountManager", sorted({f.am_id for f in fires if f.am_id}), field="full_name"
    )
    per_am: dict[str, dict[str, int]] = {}
    for f in fires:
        row = per_am.setdefault(f.am_id or "", {})
        row[f.play.id] = row.get(f.play.id, 0) + 1
    return {
        "plays": book.path,
        "from": (now - dt.timedelta(days=days)).isoformat(),
        "until": now.isoformat(),
        "days": days,
        "am": am,
        "fired": len(fires),
        "per_play": [
            {
                "play": p.id,
                "description": p.description,
                "steps": p.outline(),
                "enabled": p.enabled,
                "fired": len(by_play.get(p.id, [])),
                "by_am": _count_by_am(by_play.get(p.id, [])),
                "examples": [f.as_dict() for f in by_play.get(p.id, [])[:examples]],
            }
            for p in book.plays
        ],
        "per_am": [
            {"am_id": a, "am": am_names.get(a, a), "fired": sum(c.values()), "plays": c}
            for a, c in sorted(per_am.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
        ],
    }


def _count_by_am(fires: list[Fire]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for f in fires:
        counts[f.am_id or ""] = counts.get(f.am_id or "", 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
