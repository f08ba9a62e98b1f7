"""Incremental matching: rescore only the accounts something happened to.

An account is rescored when

- **its inputs changed**: a change set in the journal (``graph_model.changes``,
  written by ingest, extraction and the escalation triggers in the commits that
  made the changes) names a node or edge that lies on one of its metapaths. Each
  changed node is followed along every metapath it can sit on, toward the
  account end; each changed edge from its end nearer the account. Conditions are
  not applied while following (the state before the change may have met them),
  so the set is a superset, never a subset. Two simplifications, both caught by a
  full rescore: an account's own properties are its own input only (a renamed
  peer's name in another account's explanation stays until that one is
  rescored), and a ``share_of`` denominator (the size of an industry or a book)
  counts as changed only for accounts whose own path changed;
- **time alone could change it**: its ``ScoredAccount.recheck_at`` has come
  (``matching.recheck``: a decaying score nearing a threshold, a gate window
  opening or closing);
- it was **never scored**, or was scored with **another model version**.

A change to the capability side (the catalog: capabilities, needs) asks for a
full rescore. ``plan_incremental`` returns the accounts and why; the match run
deletes the change sets it consumed in its last commit, so a crash before that
leaves them for the next run.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import polars as pl

from graph_model.changes import PendingChanges, pending_changes
from graph_model.store import Filter, GraphStore
from matching.metapaths import Metapath

# Labels only the capability side holds: a change there reaches every account.
CAPABILITY_SIDE = ("Capability", "Need")


@dataclass
class IncrementalPlan:
    accounts: list[str] = field(default_factory=list)
    full: bool = False
    reasons: dict[str, int] = field(default_factory=dict)
    changesets: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["accounts"] = len(self.accounts)
        out["changesets"] = len(self.changesets)
        return out


def plan_incremental(
    store: GraphStore,
    metapaths: Sequence[Metapath],
    *,
    model_version: str,
    now: dt.datetime,
) -> IncrementalPlan:
    """Which accounts to rescore now, and why (an account counts under its first
    reason: new, model, inputs, time)."""
    pending = pending_changes(store)
    plan = IncrementalPlan(changesets=pending.ids)
    every = set(store.nodes("Account").get_column("account_id").to_list())
    if pending.full or any(pending.nodes.get(label) for label in CAPABILITY_SIDE):
        plan.full = True
        plan.accounts = sorted(every)
        plan.reasons = {"full": len(every)}
        return plan
    scored = store.nodes("ScoredAccount")
    known = set(scored.get_column("account_id").to_list())
    why: dict[str, str] = {}
    for account in sorted(every - known):
        why[account] = "new"
    for account in scored.filter(pl.col("model_version") != model_version)["account_id"]:
        why.setdefault(account, "model")
    for account in sorted(affected_accounts(store, metapaths, pending) & every):
        why.setdefault(account, "inputs")
    due = store.nodes("ScoredAccount", [Filter("recheck_at", "lte", now)])
    for account in due.get_column("account_id").to_list():
        why.setdefault(account, "time")
    plan.accounts = sorted(a for a in why if a in every)
    plan.reasons = dict(Counter(why[a] for a in plan.accounts))
    return plan


def affected_accounts(
    store: GraphStore, metapaths: Sequence[Metapath], pending: PendingChanges
) -> set[str]:
    """Accounts whose metapaths pass through a changed node or edge."""
    found: set[str] = set(pending.nodes.get("Account", set()))
    for rel_type in ("OWNS", "ASSIGNED_TO"):  # who owns it: the match's assignment
        ends = pending.edges.get(rel_type)
        if ends:
            found |= ends["dst"]
    for mp in metapaths:
        order = list(mp.nodes)
        for index, alias in enumerate(order):
            label = mp.nodes[alias]
            keys = pending.nodes.get(label)
            if keys and label != "Account" and label not in CAPABILITY_SIDE:
                found |= _walk_to_account(store, mp, index, keys)
        for index, hop in enumerate(mp.hops):
            ends = pending.edges.get(hop.edge_type)
            if not ends:
                continue
            # The end nearer the account: the stored target when the hop is stored in
            # path order, else its source.
            keys = ends["dst"] if hop.forward else ends["src"]
            found |= _walk_to_account(store, mp, index + 1, keys)
    # People at an account are its contacts even when no metapath passes them.
    people = pending.nodes.get("Person")
    if people:
        works = store.edges("WORKS_AT", sorted(people), side="source")
        found |= set(works.get_column("dst").to_list())
    return found


def _walk_to_account(store: GraphStore, mp: Metapath, index: int, keys: set[str]) -> set[str]:
    """Follow the path from the node at ``index`` (path order) to the account end."""
    current = set(keys)
    for hop in mp.hops[index:]:
        if not current:
            break
        from_label, to_label = mp.nodes[hop.from_alias], mp.nodes[hop.to_alias]
        side, far, far_label = (
            ("source", "dst", "dst_label") if hop.forward else ("target", "src", "src_label")
        )
        edges = store.edges(hop.edge_type, sorted(current), side=side, label=from_label)
        current = set(edges.filter(pl.col(far_label) == to_label).get_column(far).to_list())
    return current
