"""The offline drafter: a short email composed from the match's evidence, without a
model. Every sentence that states a fact is a claim citing the evidence it comes
from; nothing from a signal's text is copied into the email (only names the graph
holds), so untrusted words cannot reach a recipient this way."""

from __future__ import annotations

from drafting.model import Claim, DraftContent, DraftRequest, EvidenceItem
from drafting.style import apply_layout_notes

NAME = "offline"


def _sentence(item: EvidenceItem, request: DraftRequest) -> str | None:
    f = item.facts
    account, capability = request.account_name, request.capability_name
    if item.metapath == "need_evidence" and f.get("need"):
        return (
            f"{account}'s recent {f.get('signal_kind', 'news')} points to "
            f"{f['need'].lower()} being on your plate."
        )
    if item.metapath == "buyer_priority" and f.get("need"):
        who = f.get("person") or "someone on your team"
        who = "You" if who == request.contact_name else who
        return f"{who} mentioned {f['need'].lower()} recently."
    if item.metapath.startswith("champion_") and f.get("person"):
        who = "You" if f["person"] == request.contact_name else f["person"]
        return f"{who} worked with {capability} at {f.get('peer', 'a previous company')}."
    if item.metapath == "tech_fit" and f.get("technology"):
        return f"{capability} works with {f['technology']}, which {account} runs."
    if item.metapath == "lookalike_wins" and f.get("peer"):
        return f"{f['peer']}, also in {f.get('industry', 'your industry')}, uses {capability}."
    if item.metapath == "industry_fit" and f.get("industry"):
        return f"{capability} is built for teams in {f['industry']}."
    return None


def evidence_sentence(item: EvidenceItem, request: DraftRequest) -> str | None:
    """The sentence the offline drafter says about one evidence item (None: nothing)."""
    return _sentence(item, request)


class OfflineDrafter:
    name = NAME

    def draft(self, request: DraftRequest) -> DraftContent:
        am_first = request.am_name.split()[0] if request.am_name else ""
        layout = apply_layout_notes(
            request.style_notes, first_name=request.contact_first_name, am_first=am_first
        )
        most = 3 if layout.get("words", 999) >= 90 else 1
        claims: list[Claim] = []
        seen: set[str] = set()
        # Foreground evidence first: what is happening now beats background fit.
        ordered = sorted(request.evidence, key=lambda e: (not e.foreground, int(e.id[1:])))
        for item in ordered:
            text = _sentence(item, request)
            if text and text not in seen:
                seen.add(text)
                claims.append(Claim(text=text, evidence=[item.id]))
            if len(claims) == most:
                break
        hello = layout.get("greeting") or (
            f"Hi {request.contact_first_name}," if request.contact_first_name else "Hello,"
        )
        topic = next(
            (e.facts["need"] for e in ordered if e.facts.get("need")), request.capability_name
        )
        body = "\n\n".join(
            part
            for part in (
                hello,
                " ".join(c.text for c in claims),
                f"{request.capability_name}: {request.capability_description}".rstrip(": ")
                if request.capability_description and "words" not in layout
                else "",
                "Would a 20-minute call next week be useful to see whether it fits "
                f"{request.account_name}?",
                layout.get("sign_off") or am_first,
            )
            if part
        )
        return DraftContent(subject=f"{topic} at {request.account_name}", body=body, claims=claims)
