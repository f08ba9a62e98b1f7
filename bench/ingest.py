"""Benchmark: ingest a sample world (100k accounts, 1M contacts, 2M signals) into each store.

    python bench/ingest.py                               # both stores, full size
    python bench/ingest.py --store embedded --accounts 10000 --json
    python bench/ingest.py --store neo4j-bulk --json     # first load through neo4j-admin

The sample files are written once (``twoloop sample``, not timed) and every store
ingests the same files with the sample's own ingest.yaml, in a child process so
its peak RSS is its own (for Neo4j the server's peak RSS is reported too).

Per stage, summed over all sources: ``read`` (files to text frames) and ``plan``
(mapping, typing, validation, resolution, dedupe, endpoint checks) are
"parse + validate + resolve"; ``write`` is the batched transactions. Rows/s are
input rows (rows_in over every source) per second of that stage.

``neo4j-bulk`` is the first-load path into an empty Neo4j: ingest into an
embedded staging store, write it as importer files (``twoloop graph export
--format neo4j-import``), stop a fresh dev Neo4j, run ``neo4j-admin database
import full``, start it and create the constraints. Its end-to-end time covers
every one of those steps; the graph counts must equal the staging store's.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
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
from ingest.config import load_config  # noqa: E402
from ingest.pipeline import Ingestor  # noqa: E402
from ingest.sample import write_sample  # noqa: E402


def run_store(kind: str, uri: str, sample: Path) -> dict[str, Any]:
    store = connect(uri)
    store.ensure_schema()
    config = load_config(sample / "ingest.yaml")
    t = time.perf_counter()
    report = Ingestor(store, config).run()
    wall = time.perf_counter() - t
    counts = store.counts()
    store.close()
    if not report.ok:
        raise SystemExit(f"ingest failed: {[s.error for s in report.sources if s.error]}")
    rows = sum(s.rows_in for s in report.sources)
    stage = {k: 0.0 for k in ("read", "plan", "write")}
    for s in report.sources:
        for k, v in s.stage_seconds.items():
            stage[k] += v
    parse = stage["read"] + stage["plan"]
    return {
        "store": kind,
        "rows_in": rows,
        "loaded": sum(s.loaded for s in report.sources),
        "quarantined": sum(s.quarantined for s in report.sources),
        "duplicates": sum(s.duplicates for s in report.sources),
        "balanced": all(s.balanced for s in report.sources),
        "nodes": sum(counts.nodes.values()),
        "edges": sum(counts.edges.values()),
        "wall_s": round(wall, 1),
        "read_s": round(stage["read"], 1),
        "plan_s": round(stage["plan"], 1),
        "write_s": round(stage["write"], 1),
        "parse_validate_resolve_rows_per_s": round(rows / parse),
        "write_rows_per_s": round(rows / stage["write"]),
        "end_to_end_rows_per_s": round(rows / wall),
        "peak_rss_mb": round(peak_rss_mb()),
        "by_source": {
            s.source: {"rows_in": s.rows_in, "seconds": s.seconds, **s.stage_seconds}
            for s in report.sources
        },
    }


def run_bulk(uri: str, sample: Path, neo4j_home: Path) -> dict[str, Any]:
    from bench._shared import neo4jctl
    from graph_model.neo4j_import import write_import_files

    t = time.perf_counter()
    result = run_store("neo4j-bulk", uri, sample)
    staging = connect(uri)
    t_export = time.perf_counter()
    files = write_import_files(staging, Path(uri).parent / "import")
    t_import = time.perf_counter()
    server = neo4jctl().import_files(neo4j_home, files.out)
    t_schema = time.perf_counter()
    with connect(server.uri) as imported:
        imported.ensure_schema()
        t_done = time.perf_counter()
        counts = imported.counts()
    if counts != staging.counts():
        raise SystemExit(
            f"imported counts differ from the staging store: {counts} vs {staging.counts()}"
        )
    staging.close()
    wall = t_done - t
    rows = result["rows_in"]
    log = (neo4j_home / "import.log").read_text(errors="replace")
    peak = re.search(r"Peak memory usage: (.+)", log)
    return {
        **result,
        "staging_ingest_s": result["wall_s"],
        "export_s": round(t_import - t_export, 1),
        "import_and_restart_s": round(t_schema - t_import, 1),
        "constraints_s": round(t_done - t_schema, 1),
        "importer_peak_memory": peak.group(1).strip() if peak else None,
        "wall_s": round(wall, 1),
        "end_to_end_rows_per_s": round(rows / wall),
        "peak_rss_mb": round(peak_rss_mb()),
    }


def main() -> int:
    parser = parser_for(__doc__, extra_stores=("neo4j-bulk",))
    parser.add_argument("--neo4j-home", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--contacts-per-account", type=int, default=10)
    parser.add_argument("--signals-per-account", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--sample-dir", default=None, help="reuse (or keep) the sample here")
    args = parser.parse_args()

    if args.child:
        if args.store == "neo4j-bulk":
            outcome = run_bulk(args.uri, Path(args.sample_dir), args.neo4j_home)
        else:
            outcome = run_store(args.store, args.uri, Path(args.sample_dir))
        print(json.dumps(outcome))
        return 0

    keep = args.sample_dir is not None
    sample = Path(args.sample_dir or tempfile.mkdtemp(prefix="twoloop-sample-"))
    sample_meta: dict[str, Any] = {}
    if not (sample / "ingest.yaml").exists():
        t = time.perf_counter()
        summary = write_sample(
            sample,
            accounts=args.accounts,
            seed=args.seed,
            contacts_per_account=args.contacts_per_account,
            signals_per_account=args.signals_per_account,
        )
        sample_meta = {**summary.as_dict(), "generate_s": round(time.perf_counter() - t, 1)}
        print(f"bench: sample written in {sample_meta['generate_s']}s", file=sys.stderr)

    kinds = ["embedded", "neo4j"] if args.store == "both" else [args.store]
    try:
        results = run_per_store(__file__, kinds, args.neo4j_uri, ["--sample-dir", str(sample)])
    except ChildFailed as exc:
        return exc.returncode
    finally:
        if not keep:
            shutil.rmtree(sample, ignore_errors=True)
    report(meta("bench/ingest.py", sample=sample_meta), results, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
