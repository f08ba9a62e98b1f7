"""Run an extractor over the graph's signals and keep its INDICATES edges current.

Each extractor owns its own edges (``INDICATES`` merges on ``extractor``), so
rules, paraphrase and Claude findings sit side by side and matching can weigh
them all.

- The rules extractor is cheap and deterministic: every run reads every signal,
  and its edge set is replaced (new edges written, changed ones updated, ones
  the current catalog no longer supports removed).
- A model extractor (paraphrase, Claude) reads each signal once: signals whose
  ``read_by`` lists it are skipped, and ``read_by`` is updated with its
  findings. That keeps the daily loop's cost to the day's new signals.

Reruns with nothing new change nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

import polars as pl

from graph_model.changes import journal
from graph_model.settings import Settings
from graph_model.store import GraphStore
from matching.extract import Extractor, RulesExtractor, needs_from_frame

_IDENTITY = ["src", "dst"]


@dataclass
class ExtractionReport:
    extractor: str
    signals_read: int = 0
    findings: int = 0
    written: int = 0
    removed: int = 0
    negated: int = 0
    rejected: int = 0
    requests: int = 0
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def choose_extractors(
    store: GraphStore, settings: Settings, *, use_claude: bool | None = None
) -> list[Extractor]:
    """Claude when a key is set (unless ``use_claude`` is False); else the rules
    extractor, with the paraphrase extractor beside it unless
    ``TWOLOOP_OFFLINE_EXTRACTOR=rules``."""
    needs = needs_from_frame(store.nodes("Need"))
    if use_claude is None:
        use_claude = bool(settings.anthropic_api_key)
    if use_claude:
        from matching.claude_extractor import ClaudeExtractor

        return [ClaudeExtractor(needs, settings)]
    if settings.offline_extractor == "rules":
        return [RulesExtractor(needs)]
    from matching.paraphrase import ParaphraseExtractor

    return [RulesExtractor(needs), ParaphraseExtractor(needs)]


def run_extraction(
    store: GraphStore,
    extractor: Extractor,
    *,
    signal_ids: list[str] | None = None,
    limit: int | None = None,
) -> ExtractionReport:
    """Extract needs from the store's signals (or the given ones) and write the edges."""
    report = ExtractionReport(extractor=extractor.name)
    signals = store.nodes("Signal") if signal_ids is None else store.get_nodes("Signal", signal_ids)
    once = not isinstance(extractor, RulesExtractor)
    if once:
        signals = signals.filter(~pl.col("read_by").list.contains(extractor.name))
    if limit is not None:
        signals = signals.head(limit)
    report.signals_read = signals.height
    if not signals.height:
        return report
    findings, stats = extractor.extract(signals)
    report.findings, report.negated = findings.height, stats.negated
    report.rejected, report.requests, report.notes = stats.rejected, stats.requests, stats.notes

    read_everything = signal_ids is None and limit is None and not once
    # A full read compares against every edge; passing all signal ids would only slow it.
    touching = None if read_everything else signals["signal_id"].to_list()
    existing = store.edges("INDICATES", touching, side="source")
    existing = existing.filter(pl.col("extractor") == extractor.name)
    stale = existing.join(findings.select(_IDENTITY), on=_IDENTITY, how="anti")
    compare = ["src", "dst", "confidence", "evidence"]
    changed = findings.join(existing.select(compare), on=compare, how="anti", nulls_equal=True)
    with store.batch() as write:
        if stale.height:
            write.delete_edges("INDICATES", stale.select("src", "dst", "extractor"))
        if changed.height:
            write.upsert_edges("INDICATES", changed, source=extractor.name)
        if once:
            marked = signals.with_columns(
                pl.col("read_by")
                .list.concat(pl.lit([extractor.name]))
                .list.unique(maintain_order=True)
            )
            write.upsert_nodes("Signal", marked)
        # The signals whose needs changed: incremental matching rescores their accounts.
        ends = pl.concat([stale.select("src", "dst"), changed.select("src", "dst")])
        edges = {"INDICATES": {side: ends[side].unique().to_list() for side in ("src", "dst")}}
        journal(write, f"extract:{extractor.name}", {"edges": edges}, now=_now())
    report.removed, report.written = stale.height, changed.height
    return report


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
