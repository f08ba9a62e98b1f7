"""Benchmark: a full match run over 100k accounts x 50 capabilities, and `match explain`.

    python bench/matching_speed.py                                   # both stores
    python bench/matching_speed.py --store embedded --accounts 20000 --json

Prepared once and not timed (kept under ``--work-dir`` for reruns): a sample world
with 50 capabilities (``twoloop sample --capabilities 50``), ingested into an
embedded store, needs extracted by the rules extractor. Each store then runs in
its own process, on its own copy of that graph:

- ``embedded``: the prepared directory copied;
- ``neo4j-bulk``: the prepared graph written as importer files and imported into
  a fresh dev Neo4j (``neo4j-admin database import``), constraints created.

Timed in the child: ``run_matching`` over every account (the CLI's ``match run``:
evaluation, score, explanations, contacts, Match nodes written in batches), then
``explain_pair`` for 200 stored matches drawn at random (``match explain``, the
stored path), reported as p50/p95/max. Peak RSS is the child's; for Neo4j the
server's peak RSS is reported too.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

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
from graph_model.store import GraphStore  # noqa: E402
from ingest.config import load_config  # noqa: E402
from ingest.pipeline import Ingestor  # noqa: E402
from ingest.sample import AS_OF, write_sample  # noqa: E402
from matching.extract import RulesExtractor, needs_from_frame  # noqa: E402
from matching.indicates import run_extraction  # noqa: E402
from matching.read import explain_pair  # noqa: E402
from matching.run import run_matching  # noqa: E402

EXPLAINS = 200


def prepare(work: Path, accounts: int, capabilities: int) -> tuple[Path, dict[str, Any]]:
    """The sample world and its extracted graph, built once per size."""
    sample = work / f"sample-{accounts}x{capabilities}"
    graph = work / f"graph-{accounts}x{capabilities}"
    done = graph / ".prepared.json"
    if done.exists():
        return graph, json.loads(done.read_text())
    shutil.rmtree(graph, ignore_errors=True)
    t = time.perf_counter()
    if not (sample / "ingest.yaml").exists():
        write_sample(sample, accounts=accounts, seed=7, capabilities=capabilities)
    t_ingest = time.perf_counter()
    with connect(str(graph)) as store:
        store.ensure_schema()
        ingested = Ingestor(store, load_config(sample / "ingest.yaml")).run()
        if not ingested.ok:
            raise SystemExit("bench: the sample world did not ingest cleanly")
        t_extract = time.perf_counter()
        extractor = RulesExtractor(needs_from_frame(store.nodes("Need")))
        extracted = run_extraction(store, extractor)
        counts = store.counts()
    info = {
        "accounts": accounts,
        "capabilities": capabilities,
        "nodes": sum(counts.nodes.values()),
        "edges": sum(counts.edges.values()),
        "indicates": counts.edges.get("INDICATES", 0),
        "sample_s": round(t_ingest - t, 1),
        "ingest_s": round(t_extract - t_ingest, 1),
        "extract_s": round(time.perf_counter() - t_extract, 1),
        "indicates_written": extracted.written,
    }
    done.write_text(json.dumps(info))
    return graph, info


def timed_run(kind: str, store: GraphStore, accounts: int) -> dict[str, Any]:
    t = time.perf_counter()
    result = run_matching(store, as_of=AS_OF)
    wall = time.perf_counter() - t
    matches = store.nodes("Match").select("account_id", "capability_id")
    rng = random.Random(5)
    picked = rng.sample(matches.rows(), k=min(EXPLAINS, matches.height))
    latencies = []
    for account, capability in picked:
        t = time.perf_counter()
        explained = explain_pair(store, account, capability)
        latencies.append((time.perf_counter() - t) * 1000)
        if not explained.get("evidence"):
            raise SystemExit(f"bench: stored match {account}/{capability} has no evidence")
    latencies.sort()
    return {
        "store": kind,
        "accounts": accounts,
        "pairs": result.pairs,
        "surfaced": result.surfaced,
        "written": result.written,
        "batches": result.batches,
        "match_run_s": round(wall, 1),
        "accounts_per_s": round(accounts / wall),
        "explain_ms_p50": round(statistics.median(latencies), 1),
        "explain_ms_p95": round(latencies[int(0.95 * (len(latencies) - 1))], 1),
        "explain_ms_max": round(latencies[-1], 1),
        "peak_rss_mb": round(peak_rss_mb()),
    }


def child(kind: str, uri: str, prepared: Path, neo4j_home: Path | None) -> dict[str, Any]:
    with connect(str(prepared)) as staging:
        accounts = staging.counts().nodes.get("Account", 0)
    if kind == "embedded":
        shutil.copytree(prepared, uri)
        with connect(uri) as store:
            return timed_run(kind, store, accounts)
    from bench._shared import neo4jctl
    from graph_model.neo4j_import import write_import_files

    assert neo4j_home is not None
    t = time.perf_counter()
    with connect(str(prepared)) as staging:
        files = write_import_files(staging, Path(uri).parent / "import")
    server = neo4jctl().import_files(neo4j_home, files.out)
    with connect(server.uri) as store:
        store.ensure_schema()
        load_s = time.perf_counter() - t
        return {**timed_run("neo4j", store, accounts), "bulk_load_s": round(load_s, 1)}


def main() -> int:
    parser = parser_for(__doc__, extra_stores=("neo4j-bulk",))
    parser.add_argument("--neo4j-home", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--capabilities", type=int, default=50)
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=Path(".twoloop/bench"),
        help="where the prepared sample and graph are kept between runs",
    )
    parser.add_argument("--prepared", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        outcome = child(args.store, args.uri, args.prepared, args.neo4j_home)
        print(json.dumps(outcome))
        return 0

    if args.neo4j_uri:
        parser.error(
            "--neo4j-uri is not supported here: the graph is bulk-imported into a fresh "
            "dev Neo4j the benchmark starts (and stops) itself"
        )
    t = time.perf_counter()
    prepared, info = prepare(args.work_dir, args.accounts, args.capabilities)
    print(f"bench: prepared graph {prepared} ({time.perf_counter() - t:.0f}s)", file=sys.stderr)
    kinds = ["embedded", "neo4j-bulk"] if args.store in ("both", "neo4j") else [args.store]
    try:
        results = run_per_store(__file__, kinds, None, ["--prepared", str(prepared.absolute())])
    except ChildFailed as exc:
        return exc.returncode
    report(meta("bench/matching_speed.py", prepared=info), results, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
