"""Edges matching derives from what ingest stored, kept current on every extraction:

- **own-site visits** (``matching.site``): a web visit to one of the catalog's
  ``site_pages`` becomes ``VIEWED`` from the signal to the capability;
- **declared champions**: a job change whose ``championed`` column names what the
  person championed at the old employer (capability ids or names) becomes
  ``CHAMPIONED`` edges from the person to those capabilities, dated when they left.
  A name the catalog does not know is counted in the report and skipped;
- **owners** (``matching.owners``): the one owner of each account that counts;
- **vendors** (``matching.offers``): an account whose own description is about a
  need sells a remedy for it (``DESCRIBED_BY``).

Each run compares with the edges it wrote before: new ones written, ones the
inputs no longer support removed, a rerun with nothing new writes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import polars as pl

from graph_model.store import GraphStore
from matching.edgesets import replace_edges
from matching.extract import Extractor
from matching.offers import OfferReport, link_offers
from matching.owners import OwnerReport, link_owners
from matching.site import SiteReport, link_site_visits

_IDENTITY = ["src", "dst"]


@dataclass
class ChampionReport:
    moves_read: int = 0  # job changes that say what the person championed
    written: int = 0
    removed: int = 0
    unknown: list[str] = field(default_factory=list)  # names the catalog does not know

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DerivedReport:
    site: SiteReport
    champions: ChampionReport
    owners: OwnerReport
    offers: OfferReport

    def as_dict(self) -> dict[str, Any]:
        return {
            "site": self.site.as_dict(),
            "champions": self.champions.as_dict(),
            "owners": self.owners.as_dict(),
            "offers": self.offers.as_dict(),
        }


def link_derived(
    store: GraphStore,
    *,
    now: dt.datetime | None = None,
    extractors: Sequence[Extractor] = (),
) -> DerivedReport:
    """Bring every derived edge up to date; ``extractors`` (the run's offline ones)
    also read the descriptions of changed accounts (``matching.offers``)."""
    now = now or dt.datetime.now(dt.UTC)
    return DerivedReport(
        link_site_visits(store, now=now),
        link_champions(store, now=now),
        link_owners(store, now=now),
        link_offers(store, extractors, now=now),
    )


def declared_champions(moves: pl.DataFrame, capabilities: pl.DataFrame) -> pl.DataFrame:
    """CHAMPIONED edges (src person, dst capability, until) of job changes that name
    what the person championed, with ``unknown``: the names that match no capability
    (compared with ids and names, ignoring case and surrounding spaces)."""
    names = pl.concat(
        [
            capabilities.select(pl.col("capability_id").alias("__name"), "capability_id"),
            capabilities.select(pl.col("name").alias("__name"), "capability_id"),
        ]
    ).with_columns(pl.col("__name").str.strip_chars().str.to_lowercase())
    named = (
        moves.filter(pl.col("championed").list.len() > 0)
        .select("src", "until", pl.col("championed").alias("__name"))
        .explode("__name")
        .with_columns(pl.col("__name").str.strip_chars().str.to_lowercase())
        .join(names.unique("__name"), on="__name", how="left")
    )
    return named


def link_champions(store: GraphStore, *, now: dt.datetime) -> ChampionReport:
    report = ChampionReport()
    moves = store.edges("PREVIOUSLY_AT")
    capabilities = store.nodes("Capability").select("capability_id", "name")
    named = declared_champions(moves, capabilities)
    report.moves_read = moves.filter(pl.col("championed").list.len() > 0).height
    report.unknown = sorted(set(named.filter(pl.col("capability_id").is_null())["__name"]))
    found = (
        named.filter(pl.col("capability_id").is_not_null())
        .group_by("src", "capability_id")
        .agg(pl.col("until").max())
        .select(
            "src",
            pl.lit("Capability").alias("dst_label"),
            pl.col("capability_id").alias("dst"),
            "until",
            pl.lit("job_change").alias("source"),
        )
        .sort(_IDENTITY)
    )
    existing = store.edges("CHAMPIONED").filter(
        (pl.col("dst_label") == "Capability") & (pl.col("source") == "job_change")
    )
    report.written, report.removed = replace_edges(
        store,
        "CHAMPIONED",
        existing=existing,
        wanted=found,
        compare=["src", "dst", "until"],
        origin="job_changes",
        now=now,
        identity=["src", "dst_label", "dst"],
    )
    return report
