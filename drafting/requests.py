"""Draft requests for a batch of matches, read from the graph in a few batched reads.

Recipient (the match's contact) and sender (the AM the match is assigned to) are
set here, from the graph. Evidence items are the match's evidence paths in
order (``E1`` first), each with the names of the nodes on it and, for paths
through a signal, the signal's own (untrusted) words.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import polars as pl

from drafting.model import DraftRequest, EvidenceItem
from graph_model.store import GraphStore
from matching.metapaths import load_metapaths

# What the name of a node on an evidence path is called in ``EvidenceItem.facts``.
_FACT = {
    "Need": ("need", "name"),
    "Technology": ("technology", "name"),
    "Industry": ("industry", "name"),
    "Person": ("person", "full_name"),
    "AccountManager": ("am", "full_name"),
    "Opportunity": ("deal", "name"),
}
QUOTE_CHARS = 600


def draft_requests(
    store: GraphStore, matches: pl.DataFrame, *, style: dict[str, list[str]] | None = None
) -> list[DraftRequest]:
    """One request per match row (Match nodes), in the frame's order."""
    if matches.is_empty():
        return []
    style = style or {}
    labels = {m.id: m.nodes for m in load_metapaths()}
    ids = matches["match_id"]
    accounts = _by_key(store, "Account", matches["account_id"])
    capabilities = _by_key(store, "Capability", matches["capability_id"])
    assigned = store.edges("ASSIGNED_TO", touching=ids, side="source", label="Match")
    am_of = dict(zip(assigned["src"], assigned["dst"], strict=True))
    ams = _by_key(store, "AccountManager", assigned["dst"])
    contact = store.edges("CONTACT", touching=ids, side="source", label="Match")
    person_of = dict(zip(contact["src"], contact["dst"], strict=True))
    paths = {
        row["match_id"]: json.loads(row["evidence_paths"] or "[]")
        for row in matches.select("match_id", "evidence_paths").iter_rows(named=True)
    }
    # Every node named on any path, by label, read once.
    wanted: dict[str, set[str]] = defaultdict(set)
    for match_paths in paths.values():
        for p in match_paths:
            for alias, key in p["nodes"].items():
                label = labels.get(p["metapath"], {}).get(alias)
                if label and label != "Capability":
                    wanted[label].add(key)
    wanted["Person"].update(person_of.values())
    named = {label: _by_key(store, label, sorted(keys)) for label, keys in wanted.items()}
    requests = []
    for row in matches.iter_rows(named=True):
        account = accounts.get(row["account_id"], {})
        capability = capabilities.get(row["capability_id"], {})
        am = ams.get(am_of.get(row["match_id"], ""), {})
        person = named.get("Person", {}).get(person_of.get(row["match_id"], ""), {})
        items = tuple(
            _item(i, p, sentence, labels.get(p["metapath"], {}), named, row["account_id"])
            for i, (p, sentence) in enumerate(
                zip(paths[row["match_id"]], row["evidence"], strict=False), start=1
            )
        )
        requests.append(
            DraftRequest(
                match_id=row["match_id"],
                batch_id=row["batch_id"],
                account_id=row["account_id"],
                account_name=account.get("name", row["account_id"]),
                capability_id=row["capability_id"],
                capability_name=capability.get("name", row["capability_id"]),
                capability_description=capability.get("description") or "",
                am_id=am.get("am_id", ""),
                am_name=am.get("full_name", ""),
                from_address=am.get("email", ""),
                evidence=items,
                person_id=person.get("person_id"),
                contact_name=person.get("full_name"),
                contact_title=person.get("title"),
                to_address=person.get("email"),
                style_notes=tuple(style.get(am.get("am_id", ""), ())),
            )
        )
    return requests


def _by_key(store: GraphStore, label: str, keys: Any) -> dict[str, dict[str, Any]]:
    frame = store.get_nodes(label, keys)
    key = store.registry.node(label).key
    return {row[key]: row for row in frame.iter_rows(named=True)}


def _item(
    index: int,
    path: dict[str, Any],
    sentence: str,
    labels: dict[str, str],
    named: dict[str, dict[str, dict[str, Any]]],
    account_id: str,
) -> EvidenceItem:
    facts: dict[str, str] = {}
    quote = url = None
    for alias, key in path["nodes"].items():
        label = labels.get(alias)
        node = named.get(label or "", {}).get(key)
        if node is None:
            continue
        if label == "Account" and key != account_id:
            facts["peer"] = node["name"]
        elif label == "Signal":
            facts["signal_kind"] = str(node["kind"]).replace("_", " ")
            facts["signal_date"] = node["occurred_at"].date().isoformat()
            text = " ".join(t for t in (node.get("title"), node.get("text")) if t)
            quote = text[:QUOTE_CHARS] or None
            url = node.get("url")
        elif label in _FACT:
            name, field = _FACT[label]
            facts[name] = str(node[field])
    return EvidenceItem(
        id=f"E{index}",
        metapath=path["metapath"],
        sentence=sentence,
        facts=facts,
        quote=quote,
        url=url,
    )
