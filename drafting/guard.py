"""Checks every draft gets before anyone can send it.

Grounding: there is at least one claim, every claim cites at least one evidence
id, every cited id is one of the match's evidence items, and every claim is in
the body (claims are the body's factual sentences, not a separate story).

Personalization (0 to 1, four equal parts): the body names the account; it
greets the contact by first name; a claim cites foreground evidence (something
happening at the account now, not background fit); the body mentions a
specific fact from the cited evidence (the need, technology, peer, person...).

Post-validation treats the draft as untrusted output (a signal may have tried
to instruct the model): links outside the allowlist, any email address other
than the sender's, forward/BCC/copy instructions, prices, discounts and
contract promises are violations. A draft with violations is rejected and goes
to a person; recipients and sender never come from the draft at all.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from drafting.model import DraftContent, DraftRequest

URL = re.compile(r"\b(?:https?://|www\.)[^\s<>\"')\]]+", re.IGNORECASE)
BARE_DOMAIN_LINK = re.compile(
    r"\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|io|net|org|co|ai|xyz|ru|info|biz|ly)/\S*", re.IGNORECASE
)
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
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
    # Personalization parts, for the record and the tests.
    parts: dict[str, bool] = field(default_factory=dict)

    @property
    def rejected(self) -> bool:
        return bool(self.violations)

    def sendable(self, min_personalization: float) -> bool:
        """May go out without a person: grounded, personal enough, nothing found."""
        return self.grounded and self.personalization >= min_personalization and not self.rejected


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


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
    allowed = {d.lower().lstrip(".") for d in link_domains}
    for link in [*URL.findall(text), *BARE_DOMAIN_LINK.findall(text)]:
        host = urlsplit(link if "://" in link else f"https://{link}").hostname or ""
        if not any(host == d or host.endswith("." + d) for d in allowed):
            violations.append(f"link outside the allowlist: {host or link}")
    sender = (request.from_address or "").lower()
    for address in EMAIL.findall(text):
        if address.lower() != sender:
            violations.append(f"an email address the draft must not carry: {address}")
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
        parts=parts,
    )
