"""What a policy would do to the current matches, before anything is switched on."""

from __future__ import annotations

from collections import Counter
from typing import Any

from graph_model.store import GraphStore
from routing.context import current_matches, routed, routing_frame
from routing.policy import Policy


def simulate(store: GraphStore, policy: Policy, *, am: str | None = None) -> dict[str, Any]:
    """Per action and per rule, how many proposed matches it would get, with one
    example each (the highest-scoring match) and its reason."""
    frame = routing_frame(store, current_matches(store, am=am)).sort(
        ["score", "match_id"], descending=[True, False]
    )
    actions: Counter[str] = Counter()
    rules: Counter[str] = Counter()
    examples: dict[str, dict[str, Any]] = {}
    for row, rule, why in routed(frame, policy):
        actions[rule.label] += 1
        rules[rule.id] += 1
        examples.setdefault(
            rule.id,
            {
                "match_id": row["match_id"],
                "account_id": row["account_id"],
                "capability_id": row["capability_id"],
                "score": row["score"],
                "reason": why,
            },
        )
    return {
        "policy": policy.path,
        "am": am,
        "matches": frame.height,
        "actions": dict(sorted(actions.items(), key=lambda kv: (-kv[1], kv[0]))),
        "rules": [
            {
                "rule": rule.id,
                "action": rule.action,
                "kind": rule.kind,
                "matches": rules.get(rule.id, 0),
                "example": examples.get(rule.id),
            }
            for rule in policy.rules
        ],
    }
