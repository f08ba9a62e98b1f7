"""What a drafter is given and what it gives back.

A ``DraftRequest`` is everything a draft may rest on, read from the graph by
code: the account, the capability, the contact and the sending AM (recipient
and sender come from here, never from a model), and the match's evidence as
numbered items (``E1``, ``E2``, ...) that claims cite. Quotes in evidence are
untrusted text from signals: drafters pass them on as data, never as
instructions. A ``DraftContent`` is the answer: subject, body and claims.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

# Metapaths that show something happening at the account now (not background fit).
FOREGROUND = (
    "need_evidence",
    "buyer_priority",
    "site_visit",
    "site_visit_person",
    "champion_deal",
    "champion_declared",
    "champion_move",
)


@dataclass(frozen=True)
class EvidenceItem:
    id: str  # "E1", "E2", ... in the match's evidence order
    metapath: str
    sentence: str
    # Names of the things on the path (need, technology, industry, peer, person, ...).
    facts: dict[str, str] = field(default_factory=dict)
    # Untrusted text the path rests on (a signal's words), if any.
    quote: str | None = None
    url: str | None = None

    @property
    def foreground(self) -> bool:
        return self.metapath in FOREGROUND


@dataclass(frozen=True)
class DraftRequest:
    match_id: str
    batch_id: str
    account_id: str
    account_name: str
    capability_id: str
    capability_name: str
    capability_description: str
    am_id: str
    am_name: str
    from_address: str
    evidence: tuple[EvidenceItem, ...]
    person_id: str | None = None
    contact_name: str | None = None
    contact_title: str | None = None
    to_address: str | None = None
    style_notes: tuple[str, ...] = ()

    @property
    def contact_first_name(self) -> str | None:
        return self.contact_name.split()[0] if self.contact_name else None

    def item(self, evidence_id: str) -> EvidenceItem | None:
        return next((e for e in self.evidence if e.id == evidence_id), None)


class Claim(BaseModel):
    """One factual statement of the draft and the evidence ids it rests on."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=600)
    evidence: list[str] = Field(min_length=1)


class DraftContent(BaseModel):
    """A drafter's answer (the Claude drafter's forced tool input)."""

    model_config = ConfigDict(extra="forbid")

    subject: str = Field(min_length=1, max_length=150)
    body: str = Field(min_length=1, max_length=4000)
    claims: list[Claim]


class Drafter(Protocol):
    """Turns a match's request into subject, body and cited claims."""

    name: str  # "offline" or "claude:<model>"

    def draft(self, request: DraftRequest) -> DraftContent: ...
