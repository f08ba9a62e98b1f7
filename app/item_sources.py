"""What an item on a book rests on, as the items page shows it: the records
(``Source``) a claim's evidence, a research statement or a play's step cites, read
from the graph as text (graph text is untrusted: the page shows it as text)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from graph_model.store import GraphStore

# A research statement's cites ("signal:<id>") and the labels they name.
CITED_LABELS = {
    "signal": "Signal",
    "opportunity": "Opportunity",
    "person": "Person",
    "account": "Account",
    "match": "Match",
    "escalation": "Escalation",
}


@dataclass(frozen=True)
class Source:
    """One record an evidence path goes through: what it is (signal, deal, person,
    peer account, need, technology, industry, account manager), its text, date and
    source."""

    kind: str
    key: str
    text: str
    date: dt.date | None = None
    source: str | None = None
    url: str | None = None


def rows_by_key(store: GraphStore, label: str, keys: Any) -> dict[str, dict[str, Any]]:
    keys = [k for k in keys if k]
    if not keys:
        return {}
    frame = store.get_nodes(label, sorted(set(keys)))
    key = store.registry.node(label).key
    return {row[key]: row for row in frame.iter_rows(named=True)}


def claims_of(text: str | None) -> list[dict[str, Any]]:
    try:
        claims = json.loads(text or "[]")
    except json.JSONDecodeError:
        return []
    return [c for c in claims if isinstance(c, dict)] if isinstance(claims, list) else []


def source_of(label: str, key: str, r: dict[str, Any]) -> Source:
    if label == "Signal":
        text = "\n".join(t for t in (r.get("title"), r.get("text")) if t)
        kind = str(r["kind"]).replace("_", " ")
        when = r["occurred_at"].date() if r.get("occurred_at") else None
        return Source(f"signal ({kind})", key, text, when, r.get("source"), r.get("url"))
    if label == "Opportunity":
        text = f"{r['name']} ({r['stage']}, {r['status']})"
        return Source("deal", key, text, r.get("close_date"), "CRM")
    if label == "Person":
        text = r["full_name"] + (f", {r['title']}" if r.get("title") else "")
        return Source("person", key, text, None, "CRM")
    if label == "Account":
        return Source("peer account", key, str(r["name"]), None, "CRM")
    if label == "AccountManager":
        return Source("account manager", key, str(r["full_name"]), None, "CRM")
    return Source(label.lower(), key, str(r.get("name") or key), None, "catalog")
