"""Benchmark: upsert ~1M nodes and ~2M edges of realistic shape into each store.

    python bench/store_write.py                          # both stores, full size
    python bench/store_write.py --store embedded --scale 0.1 --json

Shape (at --scale 1): 100k accounts, 500k people, 398k signals, 1k AMs, 1k
technologies (1M nodes); WORKS_AT 500k, REPORTS_TO 450k, EMITTED 400k
(accounts and people), USES 300k, PREVIOUSLY_AT 200k, OWNS 100k,
SUBSIDIARY_OF 50k (2M edges). Rows arrive as typed polars frames in ingest
sized calls (--chunk rows per upsert call), nodes first, then edges.

Each store runs in a child process so its peak RSS is its own; for Neo4j the
server's peak RSS (VmHWM of the JVM) is reported too. A separate pass times
validation alone, so the report says where the time goes. Neo4j runs on the
dev/test server from tools/neo4j unless --neo4j-uri names one.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench._shared import (  # noqa: E402
    ChildFailed,
    meta,
    parser_for,
    peak_rss_mb,
    report,
    run_per_store,
)
from graph_model import connect  # noqa: E402
from graph_model.schema import REGISTRY  # noqa: E402
from graph_model.settings import Settings  # noqa: E402
from graph_model.validation import validate_edges, validate_nodes  # noqa: E402

BASE = {
    "Account": 100_000,
    "Person": 500_000,
    "Signal": 398_000,
    "AccountManager": 1_000,
    "Technology": 1_000,
}
KINDS = ["funding", "hiring", "news", "job_change", "social_post", "web_visit", "intent_topic"]
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _ids(prefix: str, n: int) -> pl.Expr:
    return pl.format(prefix + "{}", pl.int_range(n, dtype=pl.Int64)).alias("id")


def _pick(n_from: int, salt: int) -> pl.Expr:
    """A deterministic pseudo-random index in [0, n_from) per row."""
    return (pl.int_range(pl.len(), dtype=pl.Int64).hash(salt) % n_from).cast(pl.Int64)


def node_frames(scale: float) -> dict[str, pl.DataFrame]:
    n = {k: max(10, int(v * scale)) for k, v in BASE.items()}
    accounts = pl.select(_ids("acc-", n["Account"])).select(
        pl.col("id").alias("account_id"),
        pl.format("Company {} Inc", pl.col("id")).alias("name"),
        pl.format("{}.example", pl.col("id")).alias("domain"),
        (_pick(5000, 7) + 5).alias("employees"),
        pl.when(_pick(10, 3) == 0)
        .then(pl.lit("A"))
        .when(_pick(10, 3) < 4)
        .then(pl.lit("B"))
        .otherwise(pl.lit("C"))
        .alias("tier"),
        pl.lit("prospect").alias("relationship"),
        pl.lit("US").alias("country"),
    )
    people = pl.select(_ids("p-", n["Person"])).select(
        pl.col("id").alias("person_id"),
        pl.format("Person {}", pl.col("id")).alias("full_name"),
        pl.format("{}@corp.example", pl.col("id")).alias("email"),
        pl.lit("Data Engineer").alias("title"),
        pl.lit("individual").alias("seniority"),
        pl.lit("Data").alias("department"),
    )
    signals = pl.select(_ids("sig-", n["Signal"])).select(
        pl.col("id").alias("signal_id"),
        pl.lit(pl.Series(KINDS)).gather(_pick(len(KINDS), 11)).alias("kind"),
        (pl.lit(T0) + pl.duration(minutes=_pick(500_000, 5))).alias("occurred_at"),
        pl.lit("news feed").alias("source"),
        pl.format("https://news.example/{}", pl.col("id")).alias("url"),
        pl.format("We are hiring engineers to fix our pipelines ({})", pl.col("id")).alias("text"),
        (_pick(100, 13).cast(pl.Float64) / 100).alias("strength"),
    )
    ams = pl.select(_ids("am-", n["AccountManager"])).select(
        pl.col("id").alias("am_id"),
        pl.format("AM {}", pl.col("id")).alias("full_name"),
        pl.format("{}@twoloop.example", pl.col("id")).alias("email"),
    )
    tech = pl.select(_ids("tech-", n["Technology"])).select(
        pl.col("id").alias("technology_id"),
        pl.format("Tool {}", pl.col("id")).alias("name"),
    )
    return {
        "Account": accounts,
        "Person": people,
        "Signal": signals,
        "AccountManager": ams,
        "Technology": tech,
    }


def edge_frames(scale: float) -> dict[str, pl.DataFrame]:
    n = {k: max(10, int(v * scale)) for k, v in BASE.items()}

    def pairs(
        count: int,
        src: tuple[str, int],
        dst: tuple[str, int],
        salt: int,
        sequential_src: bool = False,
    ) -> pl.DataFrame:
        src_index = (
            pl.int_range(pl.len(), dtype=pl.Int64) % src[1]
            if sequential_src
            else _pick(src[1], salt)
        )
        return (
            pl.select(pl.int_range(count))
            .select(
                pl.format(src[0] + "{}", src_index).alias("src"),
                pl.format(dst[0] + "{}", _pick(dst[1], salt * 31 + 1)).alias("dst"),
            )
            .unique(maintain_order=True)
        )

    people, accounts, signals = n["Person"], n["Account"], n["Signal"]
    works_at = pairs(people, ("p-", people), ("acc-", accounts), 17, sequential_src=True)
    reports = pairs(int(people * 0.9), ("p-", people), ("p-", people), 19, sequential_src=True)
    emitted_acc = pairs(int(signals * 0.75), ("acc-", accounts), ("sig-", signals), 23)
    emitted_p = pairs(signals - int(signals * 0.75), ("p-", people), ("sig-", signals), 29)
    return {
        "WORKS_AT": works_at.with_columns(pl.lit("Engineer").alias("title")),
        "REPORTS_TO": reports.with_columns(
            pl.lit("Person").alias("src_label"), pl.lit("Person").alias("dst_label")
        ),
        "EMITTED": pl.concat(
            [
                emitted_acc.with_columns(pl.lit("Account").alias("src_label")),
                emitted_p.with_columns(pl.lit("Person").alias("src_label")),
            ]
        ),
        "USES": pairs(
            int(accounts * 3), ("acc-", accounts), ("tech-", n["Technology"]), 31
        ).with_columns(pl.lit("job posts").alias("source")),
        "PREVIOUSLY_AT": pairs(int(people * 0.4), ("p-", people), ("acc-", accounts), 37),
        "OWNS": pairs(accounts, ("am-", n["AccountManager"]), ("acc-", accounts), 41),
        "SUBSIDIARY_OF": pairs(int(accounts * 0.5), ("acc-", accounts), ("acc-", accounts), 43),
    }


def chunks(frame: pl.DataFrame, size: int) -> Iterator[pl.DataFrame]:
    for start in range(0, frame.height, size):
        yield frame.slice(start, size)


def run_store(kind: str, uri: str, scale: float, chunk: int, batch_size: int) -> dict[str, object]:
    nodes, edges = node_frames(scale), edge_frames(scale)
    node_rows = sum(f.height for f in nodes.values())
    edge_rows = sum(f.height for f in edges.values())

    t = time.perf_counter()
    for label, frame in nodes.items():
        for piece in chunks(frame, chunk):
            validate_nodes(REGISTRY.node(label), piece)
    for rel_type, frame in edges.items():
        for piece in chunks(frame, chunk):
            validate_edges(REGISTRY.edge(rel_type), piece)
    validate_s = time.perf_counter() - t

    store = connect(uri, settings=Settings(batch_size=batch_size))
    store.ensure_schema()
    per_table: dict[str, int] = {}
    t = time.perf_counter()
    for label, frame in nodes.items():
        started = time.perf_counter()
        for piece in chunks(frame, chunk):
            store.upsert_nodes(label, piece)
        per_table[label] = round(frame.height / (time.perf_counter() - started))
    nodes_s = time.perf_counter() - t
    t = time.perf_counter()
    for rel_type, frame in edges.items():
        started = time.perf_counter()
        for piece in chunks(frame, chunk):
            store.upsert_edges(rel_type, piece)
        per_table[rel_type] = round(frame.height / (time.perf_counter() - started))
    edges_s = time.perf_counter() - t
    t = time.perf_counter()
    counts = store.counts()
    count_s = time.perf_counter() - t
    store.close()
    assert sum(counts.nodes.values()) == node_rows, counts.nodes
    assert sum(counts.edges.values()) == edge_rows, counts.edges
    return {
        "store": kind,
        "nodes": node_rows,
        "edges": edge_rows,
        "chunk_rows": chunk,
        "neo4j_batch_size": batch_size if kind == "neo4j" else None,
        "validate_s": round(validate_s, 2),
        "nodes_s": round(nodes_s, 2),
        "edges_s": round(edges_s, 2),
        "nodes_per_s": round(node_rows / nodes_s),
        "edges_per_s": round(edge_rows / edges_s),
        "rows_per_s": round((node_rows + edge_rows) / (nodes_s + edges_s)),
        "validate_rows_per_s": round((node_rows + edge_rows) / validate_s),
        "count_s": round(count_s, 2),
        "peak_rss_mb": round(peak_rss_mb()),
        "rows_per_s_by_table": per_table,
    }


def main() -> int:
    parser = parser_for(__doc__)
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = 1M nodes, 2M edges")
    parser.add_argument("--chunk", type=int, default=100_000, help="rows per upsert call")
    parser.add_argument("--batch-size", type=int, default=10_000, help="Neo4j rows per transaction")
    args = parser.parse_args()

    if args.child:
        result = run_store(args.store, args.uri, args.scale, args.chunk, args.batch_size)
        print(json.dumps(result))
        return 0

    kinds = ["embedded", "neo4j"] if args.store == "both" else [args.store]
    child_args = ["--scale", str(args.scale), "--chunk", str(args.chunk)]
    child_args += ["--batch-size", str(args.batch_size)]
    try:
        results = run_per_store(__file__, kinds, args.neo4j_uri, child_args)
    except ChildFailed as exc:
        return exc.returncode
    report(meta("bench/store_write.py"), results, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
