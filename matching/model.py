"""The match score: a logistic model over per-metapath evidence, and its versions.

The prior lives in ``prior.yaml`` (documented there). Every refit by
``twoloop learn`` is stored in the graph as a ``ScoreModel`` node, so every
worker and every store sees the same versions; exactly one is active, and
``match run`` scores with it (the prior when none is stored yet).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from graph_model.errors import ConfigFileInvalid
from graph_model.store import GraphStore, NotFound
from graph_model.yamlfile import read_yaml, validate
from matching.metapaths import Metapath

PRIOR_FILE = Path(__file__).with_name("prior.yaml")
PRIOR_VERSION = "prior"


class ScoreModelSpec(BaseModel):
    """Bias, one weight per evidence metapath and the surfacing thresholds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = PRIOR_VERSION
    bias: float
    weights: dict[str, float]
    # Not read: half-lives are declared beside the metapaths (metapaths.yaml). Versions
    # stored before that carry their own copy, kept so they still load.
    half_lives: dict[str, float] = Field(default_factory=dict)
    background: list[str] = Field(default_factory=list)
    surface_min_score: float = Field(default=0.1, ge=0.0, le=1.0)
    weak_below: float = Field(default=0.35, ge=0.0, le=1.0)

    def linear(self, features: Mapping[str, float]) -> float:
        return self.bias + sum(
            self.weights.get(name, 0.0) * transform(value) for name, value in features.items()
        )

    def score(self, features: Mapping[str, float]) -> float:
        """Score of one pair from its weighted sums per evidence metapath."""
        return sigmoid(self.linear(features))

    def score_expr(self, names: Sequence[str]) -> pl.Expr:
        """The score as a polars expression over columns ``w:<metapath>`` (weighted sums)."""
        z = pl.lit(self.bias)
        for name in names:
            weight = self.weights.get(name, 0.0)
            if weight:
                z = z + weight * pl.col(f"w:{name}").fill_null(0.0).log1p()
        return 1.0 / (1.0 + (-z).exp())

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, text: str) -> ScoreModelSpec:
        return cls.model_validate_json(text)


def transform(weighted_sum: float) -> float:
    return math.log1p(max(weighted_sum, 0.0))


def sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def load_prior(
    path: Path = PRIOR_FILE, metapaths: Sequence[Metapath] | None = None
) -> ScoreModelSpec:
    """Read the prior model; weights must name evidence metapaths."""
    data = read_yaml(path)
    if isinstance(data, dict):
        data.setdefault("version", PRIOR_VERSION)
    spec = validate(ScoreModelSpec, data, str(path))
    if metapaths is not None:
        evidence = {m.id for m in metapaths if m.role == "evidence"}
        for name in [*spec.weights, *spec.background]:
            if name not in evidence:
                raise ConfigFileInvalid(
                    str(path),
                    f"weights.{name}" if name in spec.weights else "background",
                    f"{name!r} is not an evidence metapath",
                    hint="evidence metapaths: " + ", ".join(sorted(evidence)),
                )
    return spec


# ------------------------------------------------------------------ versions in the graph


class ModelVersionNotFound(NotFound):
    pass


def model_versions(store: GraphStore) -> pl.DataFrame:
    """Stored ScoreModel versions, oldest first."""
    return store.nodes("ScoreModel").sort("version")


def active_model(store: GraphStore, prior: ScoreModelSpec) -> ScoreModelSpec:
    """The active stored version, or the prior when none is stored."""
    active = store.nodes("ScoreModel", {"active": True})
    if active.height == 0:
        return prior
    row = active.sort("version").row(-1, named=True)
    return ScoreModelSpec.from_json(row["weights"])


def save_version(
    store: GraphStore,
    spec: ScoreModelSpec,
    *,
    trained_on: int,
    metrics: Mapping[str, Any],
    parent: str,
    now: dt.datetime,
) -> ScoreModelSpec:
    """Store a new version and make it the active one (in one commit)."""
    versions = model_versions(store)
    number = int(versions["version"].max() or 0) + 1 if versions.height else 1  # type: ignore[operator]
    named = spec.model_copy(update={"version": f"v{number}"})
    with store.batch() as batch:
        if versions.height:
            batch.upsert_nodes(
                "ScoreModel", versions.with_columns(pl.lit(False).alias("active")).to_dicts()
            )
        batch.upsert_nodes(
            "ScoreModel",
            [
                {
                    "model_id": named.version,
                    "version": number,
                    "created_at": now,
                    "active": True,
                    "weights": named.to_json(),
                    "trained_on": trained_on,
                    "metrics": json.dumps(metrics, sort_keys=True),
                    "parent": parent,
                }
            ],
        )
    return named


def activate(store: GraphStore, version: str | None) -> str:
    """Make ``version`` (default: the one before the active one) active; returns its id.

    ``prior`` deactivates every stored version, so runs score with prior.yaml again.
    """
    versions = model_versions(store)
    if version is None:
        active = versions.filter(pl.col("active"))
        if active.height == 0:
            raise ModelVersionNotFound(
                "nothing to roll back: the prior is already in use",
                hint="twoloop learn creates versions",
            )
        current = int(active["version"].max())  # type: ignore[arg-type]
        earlier = versions.filter(pl.col("version") < current)
        version = earlier["model_id"][-1] if earlier.height else PRIOR_VERSION
    assert version is not None
    if version != PRIOR_VERSION and version not in set(versions["model_id"].to_list()):
        known = ", ".join([PRIOR_VERSION, *versions["model_id"].to_list()])
        raise ModelVersionNotFound(f"no score model {version!r}", hint=f"versions: {known}")
    if versions.height:
        store.upsert_nodes(
            "ScoreModel",
            versions.with_columns((pl.col("model_id") == version).alias("active")).to_dicts(),
        )
    return version
