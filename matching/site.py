"""Visits to our own site as intent: a web visit whose URL is one of the catalog's
``site_pages`` for a capability (``https://vendor.example/pricing/etl*``) becomes a
``VIEWED`` edge from the signal to the capability, which the ``site_visit`` metapaths
count as evidence (each visit once, so three visits in a week weigh more than one).

Like the rules extractor, every run reads every web visit and replaces the edge
set: new edges written, edges the current catalog no longer supports removed. A
rerun with nothing new writes nothing.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from dataclasses import asdict, dataclass
from typing import Any

import polars as pl

from graph_model.store import GraphStore
from matching.edgesets import replace_edges

_IDENTITY = ["src", "dst"]


@dataclass
class SiteReport:
    visits_read: int = 0
    pages: int = 0  # site_pages patterns in the catalog
    written: int = 0
    removed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def page_regex(pattern: str) -> str:
    """A ``site_pages`` glob as a regular expression over a URL without its query,
    fragment and trailing slash, case-insensitive: ``*`` is any run of characters and
    a pattern with no scheme matches any scheme (``vendor.example/pricing*``)."""
    glob = pattern.strip().lower().rstrip("/")
    if "://" not in glob and not glob.startswith("*"):
        glob = "*://" + glob
    return "(?i)" + fnmatch.translate(glob).removeprefix("(?s:").removesuffix(")\\Z") + "$"


def site_edges(signals: pl.DataFrame, capabilities: pl.DataFrame) -> pl.DataFrame:
    """VIEWED edges (src signal, dst capability, page) of the web visits whose URL is
    one of a capability's pages."""
    schema = {"src": pl.String, "dst": pl.String, "page": pl.String}
    visits = signals.filter((pl.col("kind") == "web_visit") & pl.col("url").is_not_null()).select(
        pl.col("signal_id").alias("src"),
        pl.col("url").alias("page"),
        pl.col("url")
        .str.strip_chars()
        .str.replace(r"[?#].*$", "")
        .str.strip_chars_end("/")
        .alias("__url"),
    )
    found = []
    for cap, patterns in capabilities.select("capability_id", "site_pages").iter_rows():
        for pattern in patterns or []:
            hit = visits.filter(pl.col("__url").str.contains(page_regex(pattern)))
            found.append(hit.select("src", pl.lit(cap).alias("dst"), "page"))
    if not found:
        return pl.DataFrame(schema=schema)
    return pl.concat(found).unique(_IDENTITY, keep="first").sort(_IDENTITY).cast(schema)


def link_site_visits(store: GraphStore, *, now: dt.datetime | None = None) -> SiteReport:
    """Write the VIEWED edges of every web visit to our own pages; remove stale ones."""
    report = SiteReport()
    capabilities = store.nodes("Capability").select("capability_id", "site_pages")
    report.pages = int(capabilities["site_pages"].list.len().sum() or 0)
    signals = store.nodes("Signal", {"kind": "web_visit"}).select("signal_id", "kind", "url")
    report.visits_read = signals.height
    found = site_edges(signals, capabilities)
    existing = store.edges("VIEWED")
    report.written, report.removed = replace_edges(
        store,
        "VIEWED",
        existing=existing,
        wanted=found,
        compare=["src", "dst", "page"],
        origin="site_pages",
        now=now or dt.datetime.now(dt.UTC),
    )
    return report
