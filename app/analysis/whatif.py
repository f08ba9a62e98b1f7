"""Policy what-if: route the current matches with a changed policy and compare.

Nothing is written: the matches waiting for a route (``status`` proposed) are read
with the fields the policy looks at (``routing.context``), and each policy's first
firing rule is computed in memory, as ``twoloop policy simulate`` does.

Examples run on the test suite's hand-built graph (``tests/support/analysis_world.py``).
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import polars as pl

from graph_model.store import GraphStore
from routing.context import current_matches, routed, routing_frame
from routing.policy import DEFAULT_FILE, Policy, load_policy

# The Match properties routing_frame reads.
MATCH_FIELDS = ("account_id", "capability_id", "score", "status", "weak", "features")

# Actions that put an item in front of a person: the AM's workload.
PERSON_ACTIONS = ("approve", "escalate")


def policy_from_text(text: str, *, name: str = "what-if") -> Policy:
    """A policy from YAML text, checked exactly like a policy file (unknown fields,
    unreachable rules, no default), for trying a change without writing one.

    >>> shipped = DEFAULT_FILE.read_text()
    >>> bolder = policy_from_text(shipped.replace("score >= 0.35", "score >= 0.2"))
    >>> [r.id for r in bolder.rules] == [r.id for r in load_policy().rules]
    True
    """
    with tempfile.TemporaryDirectory(prefix="twoloop-whatif-") as directory:
        path = Path(directory) / f"{name}.yaml"
        path.write_text(text, encoding="utf-8")
        return load_policy(path)


def policy_whatif(
    store: GraphStore,
    policy: Policy,
    *,
    baseline: Policy | None = None,
    am: str | None = None,
    scope: Literal["waiting", "all"] = "waiting",
) -> pl.DataFrame:
    """One row per match (of one AM's accounts with ``am``): its action and rule under
    ``baseline`` (default: the shipped policy) and under ``policy``, the reason the
    new rule writes, and ``changed``. ``scope`` is ``waiting`` (the matches the next
    batch routes: still proposed) or ``all`` (every stored match, as if routed again
    today: what the policy would have sent).

    >>> text = DEFAULT_FILE.read_text()
    >>> at = text.index("id: open_deal")  # an open deal: auto_send instead of approve
    >>> deals_send = text[:at] + text[at:].replace("action: approve", "action: auto_send", 1)
    >>> frame = policy_whatif(store, policy_from_text(deals_send))
    >>> frame.select("account_id", "capability_id", "action_before", "action_after").rows()
    [('acme', 'vault', 'approve', 'auto_send')]
    >>> policy_whatif(store, load_policy(), scope="all").height  # the decided ones too
    3
    """
    baseline = baseline or load_policy(DEFAULT_FILE)
    if scope == "waiting":
        chosen = current_matches(store, am=am)
    elif scope == "all":
        # What routing looks at, not each match's explanation and evidence.
        chosen = store.nodes("Match", fields=MATCH_FIELDS)
        if am is not None:
            owned = store.edges("ASSIGNED_TO", touching=[am], side="target", label="AccountManager")
            chosen = chosen.filter(pl.col("match_id").is_in(owned["src"].implode()))
    else:
        raise ValueError(f"unknown scope {scope!r} (waiting or all)")
    frame = routing_frame(store, chosen)
    schema = {
        "match_id": pl.String,
        "account_id": pl.String,
        "capability_id": pl.String,
        "am_id": pl.String,
        "score": pl.Float64,
        "action_before": pl.String,
        "rule_before": pl.String,
        "action_after": pl.String,
        "rule_after": pl.String,
        "reason_after": pl.String,
    }
    if frame.is_empty():
        return pl.DataFrame(schema={**schema, "changed": pl.Boolean})
    before = {row["match_id"]: rule for row, rule, _ in routed(frame, baseline)}
    rows = []
    for row, rule, why in routed(frame, policy):
        old = before[row["match_id"]]
        rows.append(
            (
                row["match_id"],
                row["account_id"],
                row["capability_id"],
                None,
                row["score"],
                old.action,
                old.id,
                rule.action,
                rule.id,
                why,
            )
        )
    out = pl.DataFrame(rows, schema=schema, orient="row")
    assigned = store.edges("ASSIGNED_TO", touching=out["match_id"], side="source", label="Match")
    owners = dict(assigned.select("src", "dst").iter_rows())
    return out.with_columns(
        pl.col("match_id")
        .replace_strict(owners, default=None, return_dtype=pl.String)
        .alias("am_id"),
        (
            (pl.col("action_before") != pl.col("action_after"))
            | (pl.col("rule_before") != pl.col("rule_after"))
        ).alias("changed"),
    ).sort("match_id")


def whatif_by_am(frame: pl.DataFrame) -> pl.DataFrame:
    """A ``policy_whatif`` frame summed per AM: matches per action before and after,
    the AM's workload (items a person must act on: approvals and escalations) and
    what the agent would send on its own (``auto_send``; the send guardrails, caps
    and suppressions still apply at the outbox).

    >>> by_am = whatif_by_am(policy_whatif(store, load_policy()))
    >>> by_am.select("am_id", "matches", "workload_before", "workload_after", "sends_after").rows()
    [('am-1', 1, 1, 1, 0)]
    """
    actions = sorted(set(frame["action_before"].to_list()) | set(frame["action_after"].to_list()))
    counts = []
    for when in ("before", "after"):
        column = pl.col(f"action_{when}")
        counts += [
            (column == action).sum().cast(pl.Int64).alias(f"{action}_{when}") for action in actions
        ]
        counts += [
            column.is_in(PERSON_ACTIONS).sum().cast(pl.Int64).alias(f"workload_{when}"),
            (column == "auto_send").sum().cast(pl.Int64).alias(f"sends_{when}"),
        ]
    return (
        frame.with_columns(pl.col("am_id").fill_null("(nobody)"))
        .group_by("am_id")
        .agg(
            pl.len().cast(pl.Int64).alias("matches"),
            pl.col("changed").sum().cast(pl.Int64),
            *counts,
        )
        .sort("am_id")
    )


def action_changes(frame: pl.DataFrame) -> pl.DataFrame:
    """How many matches move from each action to each other one (the diagonal left
    out): the shape of a policy change at a glance.

    >>> action_changes(policy_whatif(store, load_policy())).height
    0
    """
    return (
        frame.filter(pl.col("action_before") != pl.col("action_after"))
        .group_by("action_before", "action_after")
        .agg(pl.len().cast(pl.Int64).alias("matches"))
        .sort(["matches", "action_before", "action_after"], descending=[True, False, False])
    )


def summarize(frame: pl.DataFrame) -> Mapping[str, int]:
    """Totals of a ``policy_whatif`` frame: matches, changed, sends and workload
    before and after.

    >>> dict(summarize(policy_whatif(store, load_policy())))
    {'matches': 1, 'changed': 0, 'sends_before': 0, 'sends_after': 0, 'workload_before': 1,
     'workload_after': 1}
    """
    return {
        "matches": frame.height,
        "changed": int(frame["changed"].sum()) if frame.height else 0,
        "sends_before": int((frame["action_before"] == "auto_send").sum()),
        "sends_after": int((frame["action_after"] == "auto_send").sum()),
        "workload_before": int(frame["action_before"].is_in(PERSON_ACTIONS).sum()),
        "workload_after": int(frame["action_after"].is_in(PERSON_ACTIONS).sum()),
    }
