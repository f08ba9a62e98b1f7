"""Entity resolution: reconcile names against a vocabulary, deduplicate people.

Reconciling is conservative: an exact match (after ``compact_key``) or a
confident fuzzy match merges; a near miss goes to review and is never merged
silently; a fuzzy match that two vocabulary entries score almost equally on is
a near miss too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import polars as pl
from rapidfuzz import fuzz, process

from graph_model.errors import ConfigError
from ingest.normalise import compact_key, email_key


class Resolution(StrEnum):
    exact = "exact"
    merged = "merged"
    review = "review"
    unmatched = "unmatched"


@dataclass(frozen=True)
class FuzzyThresholds:
    """Scores are rapidfuzz ``ratio`` (0-100) on compact keys."""

    merge_at: float = 92.0
    review_at: float = 80.0
    # When the runner-up names another entry and scores within this margin of the
    # best, the match is ambiguous and goes to review.
    ambiguity_margin: float = 3.0

    def __post_init__(self) -> None:
        if not 0 <= self.review_at <= self.merge_at <= 100:
            raise ConfigError(
                "fuzzy thresholds",
                f"need 0 <= review_at ({self.review_at}) <= merge_at ({self.merge_at}) <= 100",
            )


RECONCILE_SCHEMA = {
    "name": pl.String,
    "canonical": pl.String,
    "candidate": pl.String,
    "score": pl.Float64,
    "resolution": pl.String,
}


def reconcile(
    names: pl.Series | Sequence[str],
    vocabulary: Sequence[str],
    thresholds: FuzzyThresholds = FuzzyThresholds(),
) -> pl.DataFrame:
    """Resolve each distinct name against ``vocabulary``.

    Returns one row per distinct non-null name: ``canonical`` (set only for
    exact and merged), ``candidate`` (the best vocabulary entry, also for review),
    ``score`` and ``resolution`` (exact, merged, review, unmatched).
    """
    by_key: dict[str, str] = {}
    for entry, key in zip(vocabulary, _compact_all(list(vocabulary)), strict=True):
        by_key.setdefault(key, entry)
    keys = [k for k in by_key if k]
    distinct = (
        pl.Series("name", list(names), dtype=pl.String).drop_nulls().unique(maintain_order=True)
    )
    rows = []
    for name, key in zip(distinct.to_list(), _compact_all(distinct.to_list()), strict=True):
        if key in by_key:
            entry = by_key[key]
            rows.append((name, entry, entry, 100.0, Resolution.exact.value))
            continue
        best = process.extract(key, keys, scorer=fuzz.ratio, limit=2) if key and keys else []
        if not best:
            rows.append((name, None, None, 0.0, Resolution.unmatched.value))
            continue
        candidate, score = by_key[best[0][0]], float(best[0][1])
        ambiguous = len(best) > 1 and score - float(best[1][1]) < thresholds.ambiguity_margin
        if score >= thresholds.merge_at and not ambiguous:
            rows.append((name, candidate, candidate, score, Resolution.merged.value))
        elif score >= thresholds.review_at:
            rows.append((name, None, candidate, score, Resolution.review.value))
        else:
            rows.append((name, None, candidate, score, Resolution.unmatched.value))
    return pl.DataFrame(rows, schema=RECONCILE_SCHEMA, orient="row")


def _compact_all(texts: list[str]) -> list[str]:
    column = pl.Series("t", texts, dtype=pl.String).to_frame()
    return [k or "" for k in column.select(compact_key("t")).to_series().to_list()]


def dedupe_people(
    people: pl.DataFrame, email_column: str = "email"
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One person per email address: the most complete record wins (ties: the later row).

    Rows without a valid email cannot be deduplicated safely and are all kept.
    Returns (kept, duplicates); ``duplicates`` has the dropped rows and the
    ``email_key`` they collapsed into.
    """
    ranked = people.with_row_index("__row").with_columns(
        email_key(email_column).alias("email_key"),
        pl.sum_horizontal(pl.exclude("__row").is_not_null()).alias("__filled"),
    )
    with_email = ranked.filter(pl.col("email_key").is_not_null())
    winners = (
        with_email.sort(["__filled", "__row"], descending=[True, True])
        .unique(subset=["email_key"], keep="first")
        .select("__row")
    )
    kept = pl.concat(
        [ranked.join(winners, on="__row", how="semi"), ranked.filter(pl.col("email_key").is_null())]
    ).sort("__row")
    duplicates = with_email.join(winners, on="__row", how="anti").sort("__row")
    drop = ["__row", "__filled"]
    return kept.drop(drop), duplicates.drop(drop)
