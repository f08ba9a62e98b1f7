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

import functools
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


@functools.lru_cache(maxsize=65536)
def _fit_of(
    title: str | None, department: str | None, seniority: str | None, persona: _Persona
) -> tuple[float, tuple[str, ...]]:
    """``persona_fit`` memoised: titles repeat across thousands of people."""
    score, parts = persona_fit(
        {"title": title, "department": department, "seniority": seniority}, persona
    )
    return score, tuple(parts)


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
    # A person's older CRM record (at the old employer, with the old address) points to
    # the newer one (SAME_AS): the newer record is the one to contact.
    newer: dict[str, str] = {}
    if by_id:
        same = store.edges("SAME_AS", touching=list(by_id), side="source", label="Person")
        newer = dict(same.select("src", "dst").iter_rows())
    staff: dict[str, list[str]] = {}
    for src, dst in works.select("src", "dst").iter_rows():
        if src in by_id and src not in newer and not by_id[src].get("do_not_contact"):
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
    for row in instances.filter(pl.col("metapath").is_in(list(_VOICES))).iter_rows(named=True):
        person = json.loads(row["nodes"]).get("p")
        person = newer.get(person, person) if person else None
        if person:
            voiced.setdefault((row["account_id"], row["capability_id"]), []).append(
                (row["metapath"], person, row["sentence"])
            )
    chosen: dict[tuple[str, str], ContactChoice] = {}
    rest: list[tuple[str, str]] = []
    for account, capability in pairs.select("account_id", "capability_id").iter_rows():
        choice = _from_evidence(voiced.get((account, capability), []), staff.get(account, []))
        if choice is not None:
            chosen[(account, capability)] = choice
        else:
            rest.append((account, capability))
    chosen.update(_by_persona(rest, staff, by_id, personas))
    return chosen


def _by_persona(
    pairs: Sequence[tuple[str, str]],
    staff: Mapping[str, list[str]],
    by_id: Mapping[str, Mapping[str, Any]],
    personas: Mapping[str, tuple[str, _Persona]],
) -> dict[tuple[str, str], ContactChoice]:
    """The best persona fit per pair, for many pairs at once: each distinct (title,
    department, seniority, capability) is scored once, then one join and one sort
    pick the person (best fit, then an email, then the more senior, then the lower
    id)."""
    if not pairs:
        return {}
    people = pl.DataFrame(
        [
            {
                "account_id": account,
                "person_id": pid,
                "title": by_id[pid].get("title") or "",
                "department": by_id[pid].get("department") or "",
                "seniority": by_id[pid].get("seniority") or "",
                "no_email": 0 if by_id[pid].get("email") else 1,
            }
            for account in {a for a, _ in pairs}
            for pid in staff.get(account, [])
        ],
        schema={
            "account_id": pl.String,
            "person_id": pl.String,
            "title": pl.String,
            "department": pl.String,
            "seniority": pl.String,
            "no_email": pl.Int8,
        },
    )
    wanted = pl.DataFrame(
        pairs, schema={"account_id": pl.String, "capability_id": pl.String}, orient="row"
    )
    kinds = ["title", "department", "seniority"]
    fits = []
    for capability in wanted["capability_id"].unique().to_list():
        _name, persona = personas.get(capability, (capability, _Persona((), (), ())))
        for title, department, seniority in people.select(kinds).unique().iter_rows():
            score, parts = _fit_of(title or None, department or None, seniority or None, persona)
            if any(p.startswith(("title", "department")) for p in parts):  # not seniority alone
                fits.append((capability, title, department, seniority, score, ", ".join(parts)))
    if not fits:
        return {}
    fit = pl.DataFrame(
        fits,
        schema=["capability_id", *kinds, "fit", "parts"],
        orient="row",
    )
    rank = pl.col("seniority").replace_strict(_SENIORITY_RANK, default=-1, return_dtype=pl.Int64)
    best = (
        wanted.join(people, on="account_id")
        .join(fit, on=["capability_id", *kinds])
        .sort(
            ["account_id", "capability_id", "fit", "no_email", rank, "person_id"],
            descending=[False, False, True, False, True, False],
        )
        .group_by(["account_id", "capability_id"], maintain_order=True)
        .first()
    )
    chosen = {}
    for account, capability, pid, parts in best.select(
        "account_id", "capability_id", "person_id", "parts"
    ).iter_rows():
        person = by_id[pid]
        who = person["full_name"] + (f" ({person['title']})" if person.get("title") else "")
        name = personas.get(capability, (capability, None))[0]
        chosen[(account, capability)] = ContactChoice(
            pid, f"{who} fits the {name} buyer persona: {parts}"
        )
    return chosen


# Evidence that names a person worth contacting first, best first.
_VOICES = {
    "champion_deal": "Champion",
    "champion_declared": "Champion",
    "champion_move": "Champion",
    "buyer_priority": "Raised the need",
}


def _from_evidence(
    found: Sequence[tuple[str, str, str]], candidates: Sequence[str]
) -> ContactChoice | None:
    allowed = set(candidates)
    for wanted, label in _VOICES.items():
        for metapath, person, sentence in sorted(found, key=lambda f: (f[0], f[1])):
            if metapath == wanted and person in allowed:
                return ContactChoice(person, f"{label}: {sentence}")
    return None
