"""What a write changes, and the change journal.

- ``changed_nodes`` / ``changed_edges``: of the records about to be written, the
  ones that differ from what the store holds (new, or some property changed), so
  a rerun over unchanged input writes nothing.
- ``journal``: a ``ChangeSet`` added to the same commit, naming the keys per
  label that the commit changed. Incremental matching reads the journal to find
  the accounts whose inputs changed and deletes the change sets it consumed, in
  the commit that records its own result; a crash in between leaves them to the
  next run. A commit that changes more than ``MAX_KEYS`` keys is journalled as
  ``full`` (everything is rescored), which is what a first load needs anyway.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from graph_model.store import GraphStore, WriteBatch
from graph_model.validation import validate_edges, validate_nodes

MAX_KEYS = 20_000
LABEL = "ChangeSet"


def _hashes(frame: pl.DataFrame) -> pl.Series:
    # Within one process, over frames of the registry's columns and types.
    return frame.hash_rows(seed=7)


def changed_nodes(store: GraphStore, label: str, records: pl.DataFrame) -> pl.DataFrame:
    """The typed records (validated, the registry's columns) that are new or differ
    from the stored nodes with their keys."""
    spec = store.registry.node(label)
    typed = validate_nodes(spec, records)
    schema = spec.frame_schema()
    typed = typed.select([pl.col(c).cast(t) for c, t in schema.items()])
    present = store.existing_keys(label, typed.get_column(spec.key))
    if not present:
        return typed
    stored = store.get_nodes(label, sorted(present)).select(
        [pl.col(c).cast(t) for c, t in schema.items()]
    )
    same = _hashes(typed).is_in(_hashes(stored).implode())
    return typed.filter(~same)


def changed_edges(store: GraphStore, rel_type: str, records: pl.DataFrame) -> pl.DataFrame:
    """The typed edge records that are new or differ from the stored edges."""
    spec = store.registry.edge(rel_type)
    typed = validate_edges(spec, records)
    columns = list(spec.frame_schema())
    typed = typed.select(columns)
    stored = store.edges(rel_type, typed.get_column("src").unique(), side="source")
    if stored.is_empty():
        return typed
    stored = stored.select([pl.col(c).cast(typed.schema[c]) for c in columns])
    same = _hashes(typed).is_in(_hashes(stored).implode())
    return typed.filter(~same)


def existing_edges(store: GraphStore, rel_type: str, identity: pl.DataFrame) -> pl.DataFrame:
    """Of these edge identities (src, dst and merge_on columns), the ones stored."""
    spec = store.registry.edge(rel_type)
    stored = store.edges(rel_type, identity.get_column("src").unique(), side="source")
    on = [c for c in spec.identity if c in identity.columns]
    return identity.join(stored.select(on).unique(), on=on, how="semi", nulls_equal=True)


def touched(
    store: GraphStore, nodes: Mapping[str, pl.DataFrame], edges: Mapping[str, pl.DataFrame]
) -> dict[str, Any]:
    """What written node and edge frames changed, as the journal keeps it: node keys
    per label, and each edge type's source and target keys (a reader walking a path
    needs to know which end is which)."""
    out: dict[str, Any] = {"nodes": {}, "edges": {}}
    for label, frame in nodes.items():
        key = store.registry.node(label).key
        out["nodes"][label] = sorted(set(frame.get_column(key).drop_nulls().to_list()))
    for rel_type, frame in edges.items():
        out["edges"][rel_type] = {
            side: sorted(set(frame.get_column(side).drop_nulls().to_list()))
            for side in ("src", "dst")
        }
    return out


def _size(changed: Mapping[str, Any]) -> int:
    return sum(len(ks) for ks in changed.get("nodes", {}).values()) + sum(
        len(ends["src"]) + len(ends["dst"]) for ends in changed.get("edges", {}).values()
    )


def journal(
    write: WriteBatch,
    origin: str,
    changed: Mapping[str, Any],
    *,
    now: dt.datetime,
    full: bool = False,
) -> None:
    """Add a change set to ``write`` (nothing when nothing changed and not ``full``).
    ``changed`` is ``{"nodes": {label: keys}, "edges": {type: {"src": keys, "dst":
    keys}}}`` (either part may be left out)."""
    size = _size(changed)
    if not size and not full:
        return
    full = full or size > MAX_KEYS
    ident = hashlib.sha1(f"{origin}\x1f{now.isoformat()}\x1f{uuid.uuid4()}".encode()).hexdigest()
    listed = {
        "nodes": {k: sorted(set(v)) for k, v in changed.get("nodes", {}).items() if v},
        "edges": {
            k: {side: sorted(set(v[side])) for side in ("src", "dst")}
            for k, v in changed.get("edges", {}).items()
            if v["src"] or v["dst"]
        },
    }
    write.upsert_nodes(
        LABEL,
        [
            {
                "changeset_id": f"cs-{ident[:20]}",
                "origin": origin,
                "created_at": now,
                "full": full,
                "size": size,
                "keys": "{}" if full else json.dumps(listed, sort_keys=True),
            }
        ],
    )


@dataclass
class PendingChanges:
    """The journal as it stands: change set ids, whether any asks for everything, and
    the changed keys merged."""

    ids: list[str] = field(default_factory=list)
    full: bool = False
    nodes: dict[str, set[str]] = field(default_factory=dict)
    edges: dict[str, dict[str, set[str]]] = field(default_factory=dict)


def pending_changes(store: GraphStore) -> PendingChanges:
    sets = store.nodes(LABEL)
    pending = PendingChanges(
        ids=sets.get_column("changeset_id").to_list(),
        full=bool(sets.height and sets.get_column("full").any()),
    )
    for text in sets.get_column("keys").to_list():
        data = json.loads(text)
        for label, keys in data.get("nodes", {}).items():
            pending.nodes.setdefault(label, set()).update(keys)
        for rel_type, ends in data.get("edges", {}).items():
            mine = pending.edges.setdefault(rel_type, {"src": set(), "dst": set()})
            for side in ("src", "dst"):
                mine[side].update(ends[side])
    return pending


def consume(write: WriteBatch, ids: Iterable[str]) -> None:
    """Delete change sets a rescoring has taken into account (in its commit)."""
    ids = list(ids)
    if ids:
        write.delete_nodes(LABEL, ids)
