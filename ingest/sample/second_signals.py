"""The second world's events (signals JSONL): what its companies say and do in public,
what the technographics feed sees, and their visits to the vendor's own site."""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path
from typing import Any

from ingest.sample.common import stamp
from ingest.sample.second_catalog import NEEDS, OFFER, OFFERS, SITE, page_slug
from ingest.sample.second_text import (
    CITIES,
    FILING,
    FORUM,
    HIRING,
    NOISE,
    POST,
    QUOTE,
    ROLES,
    VOICES,
)
from ingest.sample.second_world import TODAY, Company, SecondWorld

NOON = dt.time(12, 0, tzinfo=dt.UTC)
SALES_ROLES = ("Account Executive", "Sales Development Representative", "Solutions Engineer")


class _Feed:
    """Numbered events for one world, with the attribution a feed would give them."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.events: list[dict[str, Any]] = []

    def add(
        self,
        c: Company,
        kind: str,
        days_ago: int,
        *,
        title: str | None = None,
        text: str | None = None,
        source: str,
        url: str | None = None,
        technology: str | None = None,
        by_person: bool = False,
    ) -> None:
        rng = self.rng
        when = dt.datetime.combine(TODAY, NOON) - dt.timedelta(
            days=days_ago, minutes=rng.randint(0, 600)
        )
        event: dict[str, Any] = {"id": f"hx-{len(self.events) + 1:07d}", "kind": kind}
        people = [p for p in c.people if p.account == c.id][:3]
        if by_person and people:
            person = rng.choice(people)
            if rng.random() < 0.5:
                event["person_id"] = person.id
            else:
                event["person_email"] = person.email
        elif rng.random() < 0.7:
            event["account_id"] = c.id
        else:
            event["account_domain"] = rng.choice([c.domain, f"https://{c.domain}/"])
        event["occurred_at"] = stamp(when)
        event["source"] = source
        optional = {"url": url, "title": title, "text": text, "technology": technology}
        event.update({key: value for key, value in optional.items() if value})
        event["strength"] = round(rng.uniform(0.3, 1.0), 2)
        self.events.append(event)


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _complaint(feed: _Feed, c: Company, need: str, days_ago: int) -> None:
    rng = feed.rng
    voice = VOICES[need]
    said = rng.choice(voice.complaints)
    register = rng.random()
    if register < 0.3:
        feed.add(
            c,
            "post",
            days_ago,
            text=rng.choice(POST).format(c=_cap(said)),
            source="social",
            by_person=True,
        )
    elif register < 0.45:
        feed.add(
            c,
            "news",
            days_ago,
            title=f"{c.name} results",
            text=rng.choice(QUOTE).format(c=said),
            source="trade-press",
            url=f"https://tradepress.example/{c.domain}/{days_ago}",
        )
    elif register < 0.6:
        feed.add(
            c,
            "priority_statement",
            days_ago,
            title=f"{c.name} annual report",
            text=rng.choice(FILING).format(c=said),
            source="filings",
        )
    elif register < 0.72:
        feed.add(
            c,
            "post",
            days_ago,
            text=rng.choice(FORUM).format(c=_cap(said)),
            source="community-forum",
            by_person=True,
        )
    elif register < 0.9:
        role = rng.choice(ROLES)
        feed.add(
            c,
            "job_posting",
            days_ago,
            title=f"{c.name}: {role}",
            text=rng.choice(HIRING).format(name=c.name, role=role, d=rng.choice(voice.duties)),
            source="job-board",
            url=f"https://jobs.example/{c.domain}/{days_ago}",
        )
    else:
        feed.add(
            c,
            "intent",
            days_ago,
            title=f"Researching: {rng.choice(voice.topics)}",
            source="intent-provider",
        )


def _visits(feed: _Feed, c: Company, offer_id: str, count: int, within: int, page: str) -> None:
    for _ in range(count):
        feed.add(
            c,
            "page_view",
            feed.rng.randint(0, within),
            source="site-analytics",
            url=f"{SITE}/{page}/{page_slug(OFFER[offer_id])}",
        )


def world_events(world: SecondWorld, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed * 7 + 2)
    feed = _Feed(rng)
    won = {(d.account, d.offer): d for d in world.deals if d.status == "won"}
    lost = {(d.account, d.offer): d for d in world.deals if d.status == "lost"}
    for c in world.companies:
        start = len(feed.events)
        for need, shows in sorted(c.needs.items()):
            serving = [o.id for o in OFFERS if need in o.needs]
            if shows == "text":
                for _ in range(rng.randint(2, 4)):
                    _complaint(feed, c, need, rng.randint(0, 170))
                if rng.random() < 0.3:
                    _visits(feed, c, rng.choice(serving), rng.randint(1, 2), 60, "pricing")
            elif shows == "tech":
                shared = sorted({t for o in serving for t in OFFER[o].integrations} & set(c.tech))
                for tech in shared:
                    feed.add(
                        c,
                        "technology_install",
                        rng.randint(20, 400),
                        source="technographics",
                        technology=tech,
                    )
            elif shows == "visits":
                page = rng.choice(["pricing", "product"])
                _visits(feed, c, rng.choice(serving), rng.randint(3, 6), 60, page)
            # champion and parent: nothing in text, by design
        for need, outcome in sorted(c.solved.items()):
            serving = [o.id for o in OFFERS if need in o.needs]
            if outcome == "bought":
                offer = next(o for o in serving if (c.id, o) in won)
                closed = (TODAY - won[(c.id, offer)].close).days
                for _ in range(rng.randint(1, 3)):
                    _complaint(feed, c, need, closed + rng.randint(20, 200))
                _visits(feed, c, offer, rng.randint(1, 4), 90, "docs")
                feed.add(
                    c,
                    "support_ticket",
                    rng.randint(0, 120),
                    source="helpdesk",
                    title=f"{OFFER[offer].name}: a sensor shows offline",
                    text=f"Since Monday one device in our {OFFER[offer].name} setup "
                    "reports no data. Can you check?",
                )
            elif outcome == "fixed":
                fixed = rng.randint(150, 330)
                for _ in range(rng.randint(1, 3)):
                    _complaint(feed, c, need, fixed + rng.randint(30, 300))
                feed.add(
                    c,
                    "post",
                    fixed,
                    text=_cap(rng.choice(VOICES[need].fixed)) + ".",
                    source="social",
                    by_person=True,
                )
            else:
                offer = next(o for o in serving if (c.id, o) in lost)
                closed = (TODAY - lost[(c.id, offer)].close).days
                for _ in range(rng.randint(1, 2)):
                    _complaint(feed, c, need, closed + rng.randint(15, 120))
        for need in c.denies:
            feed.add(
                c,
                "post",
                rng.randint(0, 170),
                text=_cap(rng.choice(VOICES[need].denial)) + ".",
                source="social",
                by_person=True,
            )
        if c.sells:
            _vendor_events(feed, c, c.sells)
        for tech in c.tech:
            if rng.random() < 0.5:
                feed.add(
                    c,
                    "technology_install",
                    rng.randint(20, 700),
                    source="technographics",
                    technology=tech,
                )
        if rng.random() < 0.08:
            _visits(feed, c, rng.choice(OFFERS).id, 1, 170, "pricing")
        while len(feed.events) - start < 6 or rng.random() < 0.4:
            kind, title, text = rng.choice(NOISE)
            city = rng.choice(CITIES)
            feed.add(
                c,
                kind,
                rng.randint(0, 170),
                source={"post": "social", "job_posting": "job-board"}.get(kind, "newswire"),
                title=title.format(name=c.name, city=city) or None,
                text=text.format(name=c.name, city=city) if text else None,
            )
    return feed.events


def _vendor_events(feed: _Feed, c: Company, need: str) -> None:
    """A company that sells the remedy: its texts are full of the need's words."""
    rng = feed.rng
    voice = VOICES[need]
    phrases = NEEDS[need].phrases
    feed.add(
        c,
        "news",
        rng.randint(0, 120),
        title=f"{c.name} launches a new release",
        text=f"{c.name} today announced its spring release. {rng.choice(voice.pitch)}.",
        source="newswire",
        url=f"https://{c.domain}/press/{rng.randint(1, 999)}",
    )
    feed.add(
        c,
        "post",
        rng.randint(0, 120),
        text=f"Webinar next week: {phrases[0]} and how to beat it. {rng.choice(voice.pitch)}.",
        source="social",
        by_person=True,
    )
    role = rng.choice(SALES_ROLES)
    feed.add(
        c,
        "job_posting",
        rng.randint(0, 120),
        title=f"{c.name}: {role}",
        text=f"Sell our answer to {phrases[-1]}: {rng.choice(voice.pitch)}.",
        source="job-board",
        url=f"https://jobs.example/{c.domain}/{role}",
    )
    feed.add(
        c,
        "intent",
        rng.randint(0, 60),
        title=f"Researching: {phrases[0]}",
        source="intent-provider",
    )
    rival = next(o.id for o in OFFERS if need in o.needs)
    _visits(feed, c, rival, rng.randint(1, 4), 90, "pricing")


def write_events(path: Path, events: list[dict[str, Any]]) -> int:
    with path.open("w", encoding="utf-8") as handle:
        for event in events:
            handle.write(json.dumps(event, ensure_ascii=False) + "\n")
    return len(events)
