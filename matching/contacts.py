"""Who to contact about a match: the best person at the account, with the reason.

Order of preference, for one (account, capability):

1. A champion: someone who bought the capability at a previous employer and now
   works at the account (the ``champion_move`` evidence).
2. Someone who raised the need themself (the ``buyer_priority`` evidence).
3. The best fit to the capability's buyer personas from the catalog: a title the
   persona lists (exactly, or nearly), its department, its seniority.

People marked do-not-contact are never chosen. Among equals, someone with an
email address, then the more senior, then the lower id wins, so the choice is
stable. When nobody fits a persona at all, there is no contact and routing
sees that.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl
from rapidfuzz import fuzz

from graph_model.store import GraphStore

_SENIORITY_RANK = {"individual": 0, "manager": 1, "director": 2, "vp": 3, "executive": 4}
_NEAR_TITLE = 88
_WORD = re.compile(r"[a-z0-9]+")
_FILLER = {"of", "and", "the", "for", "&"}


@dataclass(frozen=True)
class ContactChoice:
    person_id: str
    reason: str


@dataclass(frozen=True)
class _Persona:
    titles: tuple[str, ...]
    departments: tuple[str, ...]
    seniorities: tuple[str, ...]


def persona_fit(person: Mapping[str, Any], persona: _Persona) -> tuple[float, list[str]]:
    """How well a person fits a persona (0 = not at all), and which parts matched."""
    score = 0.0
    parts: list[str] = []
    title = (person.get("title") or "").strip()
    if title and persona.titles:
        folded = title.casefold()
        exact = [t for t in persona.titles if t.casefold() == folded]
        near = [t for t in persona.titles if _near_title(folded, t.casefold())]
        if exact:
            score += 3.0
            parts.append(f"title {title}")
        elif near:
            score += 2.0
            parts.append(f"title {title} (close to {near[0]})")
    department = (person.get("department") or "").strip()
    if department and department.casefold() in {d.casefold() for d in persona.departments}:
        score += 1.0
        parts.append(f"department {department}")
    seniority = person.get("seniority")
    if seniority and seniority in persona.seniorities:
        score += 1.0
        parts.append(f"seniority {seniority}")
    return score, parts


def _near_title(title: str, persona_title: str) -> bool:
    """Every word of the persona's title is in the person's ("Senior VP Data Platform"
    for "VP Data"), or the two read almost the same ("Head of Data Eng")."""
    words = set(_WORD.findall(title)) - _FILLER
    wanted = set(_WORD.findall(persona_title)) - _FILLER
    if wanted and wanted <= words:
        return True
    return fuzz.token_sort_ratio(title, persona_title) >= _NEAR_TITLE


def choose_contacts(
    store: GraphStore,
    pairs: pl.DataFrame,
    instances: pl.DataFrame,
    capabilities: pl.DataFrame,
) -> dict[tuple[str, str], ContactChoice]:
    """The contact per (account_id, capability_id) of ``pairs``, where one is found.

    ``instances`` are the explained path instances (with ``metapath``, ``nodes`` JSON
    and ``sentence``) of those pairs; ``capabilities`` the Capability nodes.
    """
    if pairs.height == 0:
        return {}
    accounts = pairs["account_id"].unique().to_list()
    works = store.edges("WORKS_AT", touching=accounts, side="target", label="Account")
    people = store.get_nodes("Person", works["src"].unique().to_list()) if works.height else None
    by_id: dict[str, dict[str, Any]] = (
        {row["person_id"]: row for row in people.iter_rows(named=True)}
        if people is not None
        else {}
    )
    staff: dict[str, list[str]] = {}
    for src, dst in works.select("src", "dst").iter_rows():
        if src in by_id and not by_id[src].get("do_not_contact"):
            staff.setdefault(dst, []).append(src)
    personas = {
        row["capability_id"]: (
            row["name"],
            _Persona(
                tuple(row["persona_titles"] or ()),
                tuple(row["persona_departments"] or ()),
                tuple(row["persona_seniorities"] or ()),
            ),
        )
        for row in capabilities.iter_rows(named=True)
    }
    voiced: dict[tuple[str, str], list[tuple[str, str, str]]] = {}
    for row in instances.filter(
        pl.col("metapath").is_in(["champion_move", "buyer_priority"])
    ).iter_rows(named=True):
        person = json.loads(row["nodes"]).get("p")
        if person:
            voiced.setdefault((row["account_id"], row["capability_id"]), []).append(
                (row["metapath"], person, row["sentence"])
            )
    chosen: dict[tuple[str, str], ContactChoice] = {}
    for account, capability in pairs.select("account_id", "capability_id").iter_rows():
        name, persona = personas.get(capability, (capability, _Persona((), (), ())))
        candidates = staff.get(account, [])
        choice = _from_evidence(voiced.get((account, capability), []), candidates)
        if choice is None:
            choice = _from_persona(name, persona, [by_id[p] for p in candidates])
        if choice is not None:
            chosen[(account, capability)] = choice
    return chosen


def _from_evidence(
    found: Sequence[tuple[str, str, str]], candidates: Sequence[str]
) -> ContactChoice | None:
    allowed = set(candidates)
    for wanted, label in (("champion_move", "Champion"), ("buyer_priority", "Raised the need")):
        for metapath, person, sentence in sorted(found, key=lambda f: (f[0], f[1])):
            if metapath == wanted and person in allowed:
                return ContactChoice(person, f"{label}: {sentence}")
    return None


def _from_persona(
    capability_name: str, persona: _Persona, people: Sequence[Mapping[str, Any]]
) -> ContactChoice | None:
    fits = []
    for person in people:
        score, parts = persona_fit(person, persona)
        if any(p.startswith(("title", "department")) for p in parts):  # not seniority alone
            fits.append((person, score, parts))
    if not fits:
        return None
    # Best fit, then someone with an email, then the more senior, then the lower id.
    person, _, parts = min(
        fits,
        key=lambda f: (
            -f[1],
            0 if f[0].get("email") else 1,
            -_SENIORITY_RANK.get(f[0].get("seniority") or "", -1),
            f[0]["person_id"],
        ),
    )
    who = person["full_name"] + (f" ({person['title']})" if person.get("title") else "")
    return ContactChoice(
        person["person_id"],
        f"{who} fits the {capability_name} buyer persona: " + ", ".join(parts),
    )
