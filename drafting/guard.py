"""Checks every draft gets before anyone can send it.

Grounding: there is at least one claim, every claim cites at least one evidence
id, every cited id is one of the match's evidence items, and every claim is in
the body (claims are the body's factual sentences, not a separate story).

Personalization (0 to 1, four equal parts): the body names the account; it
greets the contact by first name; a claim cites foreground evidence (something
happening at the account now, not background fit); the body mentions a
specific fact from the cited evidence (the need, technology, peer, person...).

Post-validation treats the draft as untrusted output (a signal may have tried
to instruct the model): links outside the allowlist (hosts the public-suffix list
or the special-use names know, with or without a scheme or a path; see
``drafting.links``), any email address other than the sender's, forward/BCC/copy
instructions, prices, discounts and contract promises are violations. A draft
with violations is rejected and goes to a person; recipients and sender never
come from the draft at all.

Names and titles from the CRM (the account, the contact, the AM, and the peer
accounts, people, deals and industries on the evidence) are untrusted too: one
that carries a link, an email address or markup is a hold, whatever the draft
says. A held draft is not sendable: a person checks it. A link or address in the
draft that a held name carries is part of the hold, not a violation (the CRM put
it there, not the model); anything else stays a violation. Hosts the vendor's
own catalog names (a capability's name or description, a technology or need on the
evidence: "ASP.NET") are not links the model was talked into either.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from drafting.links import KINDS, Found, carried, find_links
from drafting.model import DraftContent, DraftRequest

# Request fields that come from the CRM, and what the hold calls them.
UNTRUSTED_FIELDS = {
    "account_name": "the account name",
    "contact_name": "the contact name",
    "contact_title": "the contact title",
    "am_name": "the account manager name",
}
# Evidence facts named by CRM records (technologies and needs come from the catalog).
UNTRUSTED_FACTS = {
    "peer": "the peer account name",
    "person": "the person's name",
    "am": "the account manager name",
    "deal": "the deal name",
    "industry": "the industry name",
}
# Evidence facts named by catalog records: the vendor's own words, like the capability's.
VENDOR_FACTS = ("technology", "need")
HOLD_END = "CRM text is untrusted, a person checks it"
# What a hold calls one and several of each kind it found.
_NAMED = {
    "markup": ("markup", "markup"),
    "URL": ("a URL", "URLs"),
    "domain": ("a domain", "domains"),
    "email address": ("an email address", "email addresses"),
}
SHOWN_CHARS = 120
FORWARD = re.compile(
    r"\b(bcc|cc\s*:|cc\b[^.?!]{0,30}@|forward (this|it|the|to)|send (a copy|this|it) to|"
    r"loop in|reply to [^.?!]*@|copy (in|to))\b",
    re.IGNORECASE,
)
PRICE = re.compile(
    r"([$€£¥]\s?\d)|(\b\d[\d,.]*\s?(usd|eur|gbp|dollars|euros|pounds)\b)|"
    r"(\bper (seat|user|month|year)\b)|(\bpric(e|es|ing) (is|of|at|starts?)\b)",
    re.IGNORECASE,
)
DISCOUNT = re.compile(
    r"(\b\d{1,3}\s?% (off|discount)\b)|(\bdiscount)|(\bfree (trial|months?|of charge|upgrade)\b)|"
    r"(\bcoupon\b)|(\bpromo(tion)? code\b)",
    re.IGNORECASE,
)
PROMISE = re.compile(
    r"\b(guarantee[ds]?|we (will|'ll) (waive|refund|match|sign|amend|cover)|"
    r"no (lock-?in|commitment|contract)|cancel any ?time|money[- ]back|"
    r"(contract|agreement|sla) (terms? )?(will|can) be (changed|amended|waived))\b",
    re.IGNORECASE,
)


@dataclass
class DraftCheck:
    grounded: bool
    personalization: float
    violations: list[str] = field(default_factory=list)
    # Why a person must check it though nothing was injected (untrusted CRM names).
    holds: list[str] = field(default_factory=list)
    # Personalization parts, for the record and the tests.
    parts: dict[str, bool] = field(default_factory=dict)

    @property
    def rejected(self) -> bool:
        return bool(self.violations)

    def sendable(self, min_personalization: float) -> bool:
        """May go out without a person: grounded, personal enough, nothing found or held."""
        return (
            self.grounded
            and self.personalization >= min_personalization
            and not self.rejected
            and not self.holds
        )


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def _crm_texts(request: DraftRequest) -> Iterator[tuple[str, str]]:
    """(what it is, text) for every CRM-sourced name and title on the request."""
    for name, what in UNTRUSTED_FIELDS.items():
        value = getattr(request, name)
        if value:
            yield what, value
    for item in request.evidence:
        for fact, what in UNTRUSTED_FACTS.items():
            if item.facts.get(fact):
                yield f"{what} in {item.id}", item.facts[fact]


def _listing(found: list[Found]) -> str:
    """``markup (<b>) and a domain (evil.example)``."""
    parts = []
    for kind in KINDS:
        texts = list(dict.fromkeys(f.text for f in found if f.kind == kind))
        if texts:
            parts.append(f"{_NAMED[kind][len(texts) > 1]} ({', '.join(texts)})")
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _shown(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= SHOWN_CHARS else flat[: SHOWN_CHARS - 3] + "..."


def crm_holds(request: DraftRequest) -> tuple[list[str], list[Found]]:
    """Holds for CRM names and titles that carry links, addresses or markup, and what
    they carry."""
    holds: list[str] = []
    everything: list[Found] = []
    for what, text in _crm_texts(request):
        found = carried(text)
        if found:
            holds.append(f"{what} '{_shown(text)}' carries {_listing(found)}: {HOLD_END}")
            everything.extend(found)
    return list(dict.fromkeys(holds)), everything


def _vendor_hosts(request: DraftRequest) -> set[str]:
    """Hosts the vendor's catalog names on the request ("ASP.NET", "Socket.IO"): a
    draft repeating them is not a link the model was talked into."""
    texts = [request.capability_name, request.capability_description]
    texts += [e.facts[f] for e in request.evidence for f in VENDOR_FACTS if e.facts.get(f)]
    return {f.host for text in texts for f in find_links(text) if f.host}


def _allowed(host: str, allowed: set[str]) -> bool:
    return any(host == d or host.endswith("." + d) for d in allowed)


def check_draft(
    request: DraftRequest, content: DraftContent, *, link_domains: Iterable[str] = ()
) -> DraftCheck:
    body, text = content.body, f"{content.subject}\n{content.body}"
    known = {e.id for e in request.evidence}
    violations: list[str] = []
    grounded = bool(content.claims)
    for i, claim in enumerate(content.claims, start=1):
        unknown = [e for e in claim.evidence if e not in known]
        if unknown:
            grounded = False
            violations.append(
                f"claim {i} cites evidence the match does not have: {', '.join(unknown)}"
            )
        if not claim.evidence:
            grounded = False
        if _norm(claim.text) not in _norm(body):
            grounded = False
    holds, held = crm_holds(request)
    held_addresses = {f.text for f in held if f.kind == "email address"}
    # Hosts that are not the model's doing: the CRM's (held) and the vendor's own.
    excused = {f.host for f in held if f.host and f.kind != "email address"}
    excused |= _vendor_hosts(request)
    allowed = {d.lower().strip(".") for d in link_domains}
    sender = (request.from_address or "").lower()
    for found in find_links(text):
        if found.kind == "email address":
            if found.text != sender and found.text not in held_addresses:
                violations.append(f"an email address the draft must not carry: {found.text}")
        elif found.host is None or not (_allowed(found.host, allowed) or found.host in excused):
            violations.append(f"link outside the allowlist: {found.host or found.text}")
    for name, pattern in (
        ("a forward, copy or BCC instruction", FORWARD),
        ("a price", PRICE),
        ("a discount or free offer", DISCOUNT),
        ("a contract promise", PROMISE),
    ):
        found = pattern.search(text)
        if found:
            violations.append(f"{name}: {found.group(0).strip()!r}")
    cited = {e for c in content.claims for e in c.evidence if e in known}
    facts = {
        v.lower()
        for e in request.evidence
        if e.id in cited
        for k, v in e.facts.items()
        if k not in ("signal_kind", "signal_date") and len(v) > 2
    }
    lowered = body.lower()
    first = request.contact_first_name
    parts = {
        "names_account": request.account_name.lower() in lowered,
        "greets_contact": bool(first)
        and re.search(rf"\b(hi|hello|dear|hey)\s+{re.escape(first or '')}\b", body, re.I)
        is not None,
        "cites_current_evidence": any(
            (item := request.item(e)) is not None and item.foreground for e in cited
        ),
        "mentions_a_fact": any(f in lowered for f in facts),
    }
    score = sum(parts.values()) / len(parts)
    return DraftCheck(
        grounded=grounded,
        personalization=round(score, 2),
        violations=list(dict.fromkeys(violations)),
        holds=holds,
        parts=parts,
    )
