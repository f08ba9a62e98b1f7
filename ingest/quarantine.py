"""Quarantine: the rows a source could not load, in a file per run for people, and
remembered in the graph so a later run does not count them again.

A scheduled incremental source reads its bad lines on every run (a line that
cannot be parsed has no watermark to filter it by). Each quarantined row is
remembered as a ``QuarantinedRow`` keyed by its source, file and content, so a
later run that meets it again counts it as known, not as a new reject: the reject
rate is judged over new rows only, and the quarantine file lists new rejects only
(a known one points to the run that first quarantined it). A known row is still
planned every time, so one that was rejected for a missing account loads once the
account exists.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from pathlib import Path

import polars as pl

from graph_model.store import GraphStore, WriteBatch

LABEL = "QuarantinedRow"
QUARANTINE_SCHEMA = {
    "run_id": pl.String,
    "source": pl.String,
    "file": pl.String,
    "row": pl.Int64,
    "field": pl.String,
    "reason": pl.String,
    "record": pl.String,
}


def row_key(source: str, file: str, content: str) -> str:
    """The identity of a quarantined row: where it came from and what it says (not
    its line number, which moves when a file is rewritten)."""
    digest = hashlib.sha1(f"{source}\x1f{file}\x1f{content}".encode()).hexdigest()
    return f"q-{digest[:24]}"


def with_keys(source: str, rejects: pl.DataFrame, contents: list[str]) -> pl.DataFrame:
    """``rejects`` (QUARANTINE_SCHEMA rows) with the ``key`` of each, from its full
    content (``record`` may be cut short for the file)."""
    keys = [row_key(source, f, c) for f, c in zip(rejects["file"], contents, strict=True)]
    return rejects.with_columns(pl.Series("key", keys, dtype=pl.String))


def split_known(store: GraphStore, rejects: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(new, known) rejects: known ones were quarantined by an earlier run."""
    if rejects.is_empty():
        return rejects, rejects
    known = store.existing_keys(LABEL, rejects["key"].unique())
    seen = pl.col("key").is_in(sorted(known))
    return rejects.filter(~seen), rejects.filter(seen)


def remember(write: WriteBatch, rejects: pl.DataFrame, *, now: dt.datetime) -> None:
    """Add the new rejects to ``write``: the source's first commit (it passed its
    reject-rate check; a source that failed it remembers nothing)."""
    if rejects.is_empty():
        return
    write.upsert_nodes(
        LABEL,
        rejects.unique("key", keep="first").select(
            pl.col("key").alias("row_id"),
            "source",
            "file",
            "row",
            "field",
            "reason",
            pl.col("run_id").alias("first_run"),
            pl.lit(now).cast(pl.Datetime("us", "UTC")).alias("first_seen"),
        ),
    )


def atomic_csv(frame: pl.DataFrame, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    frame.write_csv(tmp)
    os.replace(tmp, path)
