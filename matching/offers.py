"""Accounts that sell what a capability does: the account's own description (what
the company does, from the CRM) read by the same extractors as signals. A company
that describes itself by a need ("Cut fleet fuel spend by a fifth with routes that
avoid idling vehicles") is a vendor of a remedy for it, not a buyer, however often
its news and job ads repeat the need's words; the ``sells_it`` gate blocks its
pairs with the capabilities that address the need.

A description says what the company is, not what it struggles with, so every
finding counts here, denials and seller's language included. Only accounts whose
record changed since the last match run are read again (the change journal), all
of them when the journal asks for everything or nothing was read before.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import polars as pl

from graph_model.changes import pending_changes
from graph_model.store import GraphStore
from matching.edgesets import replace_edges
from matching.extract import Extractor, RulesExtractor, needs_from_frame
from matching.paraphrase import ParaphraseExtractor

_IDENTITY = ["src", "dst"]


@dataclass
class OfferReport:
    descriptions_read: int = 0
    written: int = 0
    removed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def link_offers(
    store: GraphStore, extractors: Sequence[Extractor], *, now: dt.datetime
) -> OfferReport:
    """Write DESCRIBED_BY edges (account -> need) from the descriptions of the accounts
    that changed (or of every account on a first or full run)."""
    report = OfferReport()
    # The run's offline extractors read descriptions (a paid one reads signals only;
    # with no offline one, the rules do).
    offline = [e for e in extractors if isinstance(e, RulesExtractor | ParaphraseExtractor)]
    if not offline:
        offline = [RulesExtractor(needs_from_frame(store.nodes("Need")))]
    pending = pending_changes(store)
    first = store.edges("DESCRIBED_BY").is_empty()
    if pending.full or first:
        accounts = store.nodes("Account")
    else:
        changed = sorted(pending.nodes.get("Account", set()))
        accounts = store.get_nodes("Account", changed) if changed else store.nodes("Account")[:0]
    texts = accounts.filter(pl.col("description").fill_null("").str.strip_chars() != "").select(
        pl.col("account_id").alias("signal_id"),
        pl.lit("description").alias("kind"),
        pl.lit(None, dtype=pl.String).alias("title"),
        pl.col("description").alias("text"),
        pl.lit([], dtype=pl.List(pl.String)).alias("read_by"),
    )
    report.descriptions_read = texts.height
    found = []
    for extractor in offline:
        findings, _stats = extractor.extract(texts, keep_denied=True)
        found.append(findings.select("src", "dst", "confidence", "evidence"))
    new = (
        pl.concat(found)
        .sort(["src", "dst", "confidence"], descending=[False, False, True])
        .unique(_IDENTITY, keep="first", maintain_order=True)
        if found
        else pl.DataFrame(schema={"src": pl.String, "dst": pl.String})
    )
    read = accounts["account_id"]
    existing = store.edges("DESCRIBED_BY", read.to_list() if not first else None, side="source")
    existing = existing.filter(pl.col("src").is_in(read.implode()))
    report.written, report.removed = replace_edges(
        store,
        "DESCRIBED_BY",
        existing=existing,
        wanted=new,
        compare=["src", "dst", "confidence", "evidence"],
        origin="descriptions",
        now=now,
    )
    return report
