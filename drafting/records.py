"""Drafts as stored: one per match (the agent drafts a match once; the human loop
owns it from there), with the checks' results and the fixed recipient and sender."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from drafting.guard import DraftCheck
from drafting.model import DraftContent, DraftRequest


def draft_id(match_id: str) -> str:
    return "dr-" + hashlib.sha1(match_id.encode()).hexdigest()[:20]


def draft_record(
    request: DraftRequest,
    content: DraftContent,
    check: DraftCheck,
    *,
    drafter: str,
    now: dt.datetime,
    status: str = "pending",
) -> dict[str, Any]:
    return {
        "draft_id": draft_id(request.match_id),
        "match_id": request.match_id,
        "am_id": request.am_id,
        "subject": content.subject,
        "body": content.body,
        "status": "rejected" if check.rejected else status,
        "drafter": drafter,
        "created_at": now,
        "person_id": request.person_id,
        # From the graph, never from the model's answer.
        "to_address": request.to_address,
        "from_address": request.from_address,
        "claims": json.dumps([c.model_dump() for c in content.claims]),
        "grounded": check.grounded,
        "personalization": check.personalization,
        "violations": check.violations,
        "holds": check.holds,
        "original_body": None,
        "updated_at": now,
    }
