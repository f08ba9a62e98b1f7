"""From signals to needs: what the extractors read, where they agree, and the
sentences behind the matches people killed.

Examples run on the test suite's hand-built graph (``tests/support/analysis_world.py``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from itertools import combinations

import polars as pl

from app.analysis.frames import decisions
from graph_model.store import Filter, GraphStore


def findings(
    store: GraphStore,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    accounts: Sequence[str] | None = None,
) -> pl.DataFrame:
    """One row per (signal, need, extractor) an extractor found: the signal's kind,
    source and date, the need, the confidence and the verbatim evidence sentence.
    ``since``/``until`` bound the signal's ``occurred_at``; ``accounts`` keeps the
    signals of those accounts and of the people who work there (an AM's book).

    >>> findings(store).select("signal_id", "need_id", "extractor").rows()
    [('s-hiring', 'pipe', 'claude:test'), ('s-hiring', 'pipe', 'rules'),
     ('s-post', 'pipe', 'rules')]
    """
    signals = _signals(store, since, until, accounts)
    # Every finding, joined to the signals in the span: one read, however many signals.
    frame = _indicates(store.edges("INDICATES")).join(
        signals.select("signal_id", "kind", "source", "occurred_at"), on="signal_id"
    )
    return frame.sort(["signal_id", "need_id", "extractor"])


def extraction_coverage(
    store: GraphStore,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    accounts: Sequence[str] | None = None,
) -> pl.DataFrame:
    """Per signal kind and source: how many signals there are, how many some
    extractor has read (``read``), how many revealed at least one need
    (``with_need``), the share of read ones that did (``coverage``), and the findings
    per extractor (``by_<extractor>``), largest kinds first. ``since``, ``until`` and
    ``accounts`` choose the signals as ``findings`` does.

    >>> extraction_coverage(store).select("kind", "signals", "with_need", "by_rules").rows()
    [('hiring', 1, 1, 1), ('news', 1, 0, 0), ('social_post', 1, 1, 1)]
    >>> extraction_coverage(store, accounts=["globex"])["signals"].sum()
    0
    """
    signals = _signals(store, since, until, accounts)
    found = findings(store, since=since, until=until, accounts=accounts)
    with_need = found.select("signal_id").unique().with_columns(pl.lit(True).alias("__need"))
    frame = signals.join(with_need, on="signal_id", how="left").with_columns(
        pl.col("source").fill_null("(unknown)"),
        (pl.col("read_by").list.len().fill_null(0) > 0).alias("__read"),
        pl.col("__need").fill_null(False),
    )
    per = frame.group_by("kind", "source").agg(
        pl.len().cast(pl.Int64).alias("signals"),
        pl.col("__read").sum().cast(pl.Int64).alias("read"),
        pl.col("__need").sum().cast(pl.Int64).alias("with_need"),
    )
    extractors = sorted(found["extractor"].unique().to_list())
    if extractors:
        counts = (
            found.group_by("kind", "source", "extractor")
            .agg(pl.len().cast(pl.Int64).alias("n"))
            .pivot(on="extractor", index=["kind", "source"], values="n")
            .rename({e: f"by_{e}" for e in extractors})
        )
        per = per.join(counts, on=["kind", "source"], how="left").with_columns(
            pl.col(f"by_{e}").fill_null(0) for e in extractors
        )
    return per.with_columns(
        pl.when(pl.col("read") > 0).then(pl.col("with_need") / pl.col("read")).alias("coverage")
    ).sort(["signals", "kind", "source"], descending=[True, False, False])


def extractor_agreement(store: GraphStore) -> pl.DataFrame:
    """For each pair of extractors, over the (signal, need) findings: how many both
    found, how many only one did, and the Jaccard overlap. Each extractor is compared
    on the signals both of them read (``read_by``), so a newer extractor is not blamed
    for signals it never saw (an extractor no signal records as a reader, such as
    the rules extractor, reads them all).

    >>> extractor_agreement(store).rows()
    [('claude:test', 'rules', 1, 0, 1, 0.5)]
    """
    found = findings(store)
    schema = {
        "a": pl.String,
        "b": pl.String,
        "both": pl.Int64,
        "only_a": pl.Int64,
        "only_b": pl.Int64,
        "jaccard": pl.Float64,
    }
    extractors = sorted(found["extractor"].unique().to_list())
    if len(extractors) < 2:
        return pl.DataFrame(schema=schema)
    signals = store.get_nodes("Signal", found["signal_id"].unique(), fields=["read_by"])
    read_by = {s: set(r or []) for s, r in signals.select("signal_id", "read_by").iter_rows()}
    pairs: dict[str, set[tuple[str, str]]] = {
        e: set(found.filter(pl.col("extractor") == e).select("signal_id", "need_id").iter_rows())
        for e in extractors
    }
    # An extractor no signal records in read_by (the rules extractor: it rereads every
    # signal on each run) is taken to have read them all.
    tracked = set().union(*read_by.values()) if read_by else set()
    rows = []
    for a, b in combinations(extractors, 2):
        # A signal counts when both read it.
        def seen(pair: tuple[str, str], a: str = a, b: str = b) -> bool:
            readers = read_by.get(pair[0], set())
            return all(e not in tracked or e in readers for e in (a, b))

        in_a = {p for p in pairs[a] if seen(p)}
        in_b = {p for p in pairs[b] if seen(p)}
        union = in_a | in_b
        both = len(in_a & in_b)
        jaccard = both / len(union) if union else None
        rows.append((a, b, both, len(in_a - in_b), len(in_b - in_a), jaccard))
    return pl.DataFrame(rows, schema=schema, orient="row")


def killed_evidence(
    store: GraphStore,
    *,
    ams: Sequence[str] | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> pl.DataFrame:
    """The sentences behind the matches people killed: per killed match, each signal
    of its account whose need the capability addresses, with the extractor's
    sentence, and the reason the AM gave for the kill (kills made within
    ``since``/``until``). Where a kill keeps coming back to one phrasing, an
    extractor is reading it wrongly.

    >>> killed = killed_evidence(store)
    >>> killed.select("capability_id", "signal_id", "extractor", "reason").rows()
    [('ingest', 's-hiring', 'claude:test', 'they just bought a rival'),
     ('ingest', 's-hiring', 'rules', 'they just bought a rival'),
     ('ingest', 's-post', 'rules', 'they just bought a rival')]
    """
    killed = decisions(store, ams=ams, since=since, until=until).filter(
        pl.col("kind").is_in(["kill", "cancel"]) & pl.col("match_id").is_not_null()
    )
    killed = killed.sort("decided_at").unique("match_id", keep="last")
    schema = {
        "match_id": pl.String,
        "account_id": pl.String,
        "capability_id": pl.String,
        "am_id": pl.String,
        "reason": pl.String,
        "signal_id": pl.String,
        "need_id": pl.String,
        "extractor": pl.String,
        "confidence": pl.Float64,
        "evidence": pl.String,
    }
    if killed.is_empty():
        return pl.DataFrame(schema=schema)
    addresses = store.edges(
        "ADDRESSES", touching=killed["capability_id"].unique(), side="source"
    ).select(pl.col("src").alias("capability_id"), pl.col("dst").alias("need_id"))
    signal_of = signals_of(store, killed["account_id"].unique().to_list())
    indicates = _indicates(
        store.edges("INDICATES", touching=signal_of["signal_id"].unique(), side="source")
    )
    return (
        killed.select("match_id", "account_id", "capability_id", "am_id", "reason")
        .join(addresses, on="capability_id")
        .join(signal_of, on="account_id")
        .join(indicates, on=["signal_id", "need_id"])
        .select([pl.col(c).cast(t) for c, t in schema.items()])
        .sort(["match_id", "signal_id", "extractor"])
    )


def signals_of(store: GraphStore, accounts: Sequence[str]) -> pl.DataFrame:
    """account_id, signal_id: the signals these accounts emitted, and those the
    people who work there emitted.

    >>> signals_of(store, ["acme"]).sort("signal_id")["signal_id"].to_list()
    ['s-hiring', 's-old', 's-post']
    """
    emitted = store.edges("EMITTED", touching=list(accounts), side="source", label="Account")
    staff = store.edges("WORKS_AT", touching=list(accounts), side="target", label="Account")
    by_people = store.edges(
        "EMITTED", touching=staff["src"].unique(), side="source", label="Person"
    )
    return pl.concat(
        [
            emitted.select(pl.col("src").alias("account_id"), pl.col("dst").alias("signal_id")),
            by_people.join(
                staff.select(pl.col("src"), pl.col("dst").alias("account_id")), on="src"
            ).select("account_id", pl.col("dst").alias("signal_id")),
        ]
    ).unique()


def _signals(
    store: GraphStore,
    since: dt.datetime | None,
    until: dt.datetime | None,
    accounts: Sequence[str] | None = None,
) -> pl.DataFrame:
    where: list[Filter] = []
    if since is not None:
        where.append(Filter("occurred_at", "gte", since))
    if until is not None:
        where.append(Filter("occurred_at", "lte", until))
    # Not the signals' text: a 100k-account graph holds millions of them.
    frame = store.nodes(
        "Signal", where or None, fields=["kind", "source", "occurred_at", "read_by"]
    )
    if accounts is not None:
        theirs = signals_of(store, accounts)["signal_id"].unique()
        frame = frame.filter(pl.col("signal_id").is_in(theirs.implode()))
    return frame.select(
        "signal_id", pl.col("kind").cast(pl.String), "source", "occurred_at", "read_by"
    )


def _indicates(edges: pl.DataFrame) -> pl.DataFrame:
    """INDICATES edges as findings: signal_id, need_id, extractor, confidence, evidence."""
    return edges.select(
        pl.col("src").alias("signal_id"),
        pl.col("dst").alias("need_id"),
        "extractor",
        pl.col("confidence").cast(pl.Float64),
        "evidence",
    )
