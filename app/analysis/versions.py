"""The score model's versions, with the held-out metrics stored when each was
learned: how learning from AM decisions changed the ranking.

Examples run on the test suite's hand-built graph (``tests/support/analysis_world.py``).
"""

from __future__ import annotations

import json

import polars as pl

from graph_model.store import GraphStore
from matching.model import PRIOR_VERSION, model_versions

METRICS = ("log_loss", "auc", "accuracy")


def learning_versions(store: GraphStore) -> pl.DataFrame:
    """The score model's versions, oldest first, with the held-out metrics stored when
    each was learned (``<metric>_before``: the model it replaced, ``<metric>_after``:
    this one, on the same held-out decisions) and which one is active. The first row
    is the prior (``prior.yaml``), active when no stored version is.

    >>> learning_versions(store).select("model_id", "active", "auc_before", "auc_after").rows()
    [('prior', True, None, None)]
    """
    stored = model_versions(store)
    schema: dict[str, pl.DataType] = {
        "model_id": pl.String(),
        "version": pl.Int64(),
        "created_at": pl.Datetime("us", "UTC"),
        "active": pl.Boolean(),
        "trained_on": pl.Int64(),
        "parent": pl.String(),
        **{f"{m}_{when}": pl.Float64() for m in METRICS for when in ("before", "after")},
        "strength": pl.Float64(),
    }
    rows: list[dict[str, object]] = [
        {
            "model_id": PRIOR_VERSION,
            "version": 0,
            "active": not bool(stored.height and stored["active"].any()),
            "trained_on": 0,
        }
    ]
    for row in stored.sort("version").iter_rows(named=True):
        metrics = json.loads(row["metrics"] or "{}")
        entry: dict[str, object] = {
            "model_id": row["model_id"],
            "version": row["version"],
            "created_at": row["created_at"],
            "active": bool(row["active"]),
            "trained_on": row["trained_on"],
            "parent": row["parent"],
            "strength": metrics.get("strength"),
        }
        for when in ("before", "after"):
            held = metrics.get(f"held_out_{when}") or {}
            for m in METRICS:
                value = held.get(m)
                entry[f"{m}_{when}"] = float(value) if value is not None else None
        rows.append(entry)
    return pl.DataFrame(rows, schema=schema)
