"""Benchmark: the six analysts' notebooks on a 100k-account graph with a past.

    python bench/notebooks.py                                   # both stores
    python bench/notebooks.py --store embedded --accounts 20000 --json
    python bench/notebooks.py --store embedded --only backtest  # one notebook

Prepared once per size and kept under ``--work-dir`` for reruns (timed, reported
as ``prepared``, not part of any notebook figure): the product's own path,
``twoloop demo --accounts N --history 4`` into an embedded store, with
``TWOLOOP_OFFLINE_EXTRACTOR=rules`` (the offline paraphrase extractor's first
full pass takes hours at this size; see ``matching.indicates.choose_extractors``).

Each store then runs in its own process, on its own copy of that graph:

- ``embedded``: the prepared directory copied;
- ``neo4j-bulk`` (``--store neo4j``): the prepared graph written as importer files
  and imported into a fresh dev Neo4j (``neo4j-admin database import``), as
  ``bench/matching_speed.py`` does; constraints created.

Timed: each notebook through ``app.notebooks.run`` (what ``twoloop notebooks run
NAME --graph URI`` does) with its default parameters, in a process of its own, so
the kernel's peak RSS is that notebook's: the kernel is the runner's child, and
its peak is the VmHWM of the runner's children, sampled every 0.2 s until ``run``
returns (``getrusage(RUSAGE_CHILDREN)`` only as a fallback: jupyter_client does not
always reap the kernel before returning, and ru_maxrss carries a parent's peak
across fork and exec).
Reported per notebook: the wall time of the whole run (the runner process from
start to exit: interpreter, kernel start, every cell, the HTML export), the
seconds ``run`` itself reports (kernel start to last cell), the kernel's peak
RSS; then the sums. For Neo4j the server's peak RSS is reported too.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench._shared import (  # noqa: E402
    ChildFailed,
    meta,
    parser_for,
    report,
    run_per_store,
    vm_hwm_mb,
)

NOTEBOOKS = (
    "graph_tour",
    "match_quality",
    "signals_to_needs",
    "people_and_champions",
    "policy_whatif",
    "backtest",
)
HISTORY_WEEKS = 4


def progress(text: str) -> None:
    print(f"bench: {text}", file=sys.stderr, flush=True)


def prepare(work: Path, accounts: int) -> tuple[Path, dict[str, Any]]:
    """The demo world with four simulated weeks, built once per size."""
    sample = work / f"demo-sample-{accounts}"
    graph = work / f"demo-graph-{accounts}"
    done = graph / ".prepared.json"
    if done.exists():
        return graph, json.loads(done.read_text())
    shutil.rmtree(graph, ignore_errors=True)
    shutil.rmtree(sample, ignore_errors=True)
    shutil.rmtree(work / f"demo-mail-{accounts}", ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "TWOLOOP_OFFLINE_EXTRACTOR": "rules", "PYTHONPATH": str(REPO)}
    env.pop("TWOLOOP_GRAPH_URI", None)
    command = [
        str(Path(sys.executable).with_name("twoloop")),
        "demo",
        "--accounts",
        str(accounts),
        "--history",
        str(HISTORY_WEEKS),
        "--graph",
        str(graph),
        "--sample-dir",
        str(sample),
        "--mail-dir",
        str(work / f"demo-mail-{accounts}"),
        "--json",
    ]
    progress(f"preparing: {' '.join(command[1:])} (TWOLOOP_OFFLINE_EXTRACTOR=rules)")
    t = time.perf_counter()
    log = work / f"demo-{accounts}.log"
    with log.open("w") as err:
        proc = subprocess.run(command, env=env, stdout=subprocess.PIPE, stderr=err, text=True)
    seconds = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"bench: twoloop demo exited {proc.returncode}; see {log}")
    (work / f"demo-{accounts}.json").write_text(proc.stdout)
    from graph_model import connect

    with connect(str(graph)) as store:
        counts = store.counts()
    info = {
        "accounts": accounts,
        "history_weeks": HISTORY_WEEKS,
        "demo_s": round(seconds, 1),
        "demo_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024),
        "nodes": sum(counts.nodes.values()),
        "edges": sum(counts.edges.values()),
        **{
            column: counts.nodes.get(label, 0)
            for label, column in (
                ("Account", "accounts_stored"),
                ("Person", "people"),
                ("Signal", "signals"),
                ("Match", "matches"),
                ("Decision", "decisions"),
                ("OutboxMessage", "messages"),
            )
        },
    }
    done.write_text(json.dumps(info))
    return graph, info


def _descendants(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            kids = [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
        for kid in kids:
            found += [kid, *_descendants(kid)]
    return found


def _watch_children(peak: dict[int, float], stop: threading.Event) -> None:
    """VmHWM of every process below this one, until ``stop``: jupyter_client does not
    always reap the kernel before ``run`` returns, and an unreaped child is not in
    ``RUSAGE_CHILDREN``."""
    while not stop.wait(0.2):
        for pid in _descendants(os.getpid()):
            hwm = vm_hwm_mb(pid)
            if hwm is not None:
                peak[pid] = max(peak.get(pid, 0.0), hwm)


def one_notebook(name: str, uri: str, out: Path, timeout: int) -> dict[str, Any]:
    """Run in its own process: one notebook, its kernel's peak RSS."""
    from app import notebooks

    peak: dict[int, float] = {}
    stop = threading.Event()
    watcher = threading.Thread(target=_watch_children, args=(peak, stop), daemon=True)
    watcher.start()
    try:
        result = notebooks.run(name, out=out, graph=uri, timeout=timeout)
    finally:
        stop.set()
        watcher.join()
    # VmHWM is the kernel's own; ru_maxrss carries a parent's peak across fork and
    # exec (a Neo4j child that wrote importer files), so it is only the fallback.
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    kernel = max(peak.values(), default=reaped)
    return {
        "notebook": name,
        "run_s": round(result.seconds, 1),
        "kernel_peak_rss_mb": round(kernel),
        "figures": len(result.figures),
    }


def run_notebooks(uri: str, out: Path, only: list[str], timeout: int) -> list[dict[str, Any]]:
    rows = []
    for name in only:
        progress(f"{name} on {uri}")
        t = time.perf_counter()
        proc = subprocess.run(
            [
                sys.executable,
                __file__,
                "--notebook",
                name,
                "--uri",
                uri,
                "--out",
                str(out),
                "--timeout",
                str(timeout),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        wall = time.perf_counter() - t
        if proc.returncode != 0:
            raise SystemExit(f"bench: notebook {name} failed (exit {proc.returncode})")
        row = {**json.loads(proc.stdout.strip().splitlines()[-1]), "wall_s": round(wall, 1)}
        progress(f"{name}: {row['wall_s']}s wall, kernel peak {row['kernel_peak_rss_mb']} MB")
        rows.append(row)
    return rows


def summed(kind: str, rows: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "store": kind,
        "notebooks": rows,
        "total_wall_s": round(sum(r["wall_s"] for r in rows), 1),
        "total_run_s": round(sum(r["run_s"] for r in rows), 1),
        "max_kernel_peak_rss_mb": max((r["kernel_peak_rss_mb"] for r in rows), default=0),
        **extra,
    }


def child(
    kind: str,
    uri: str,
    prepared: Path,
    neo4j_home: Path | None,
    only: list[str],
    timeout: int,
) -> dict[str, Any]:
    out = Path(uri).parent / "reports"
    if kind == "embedded":
        t = time.perf_counter()
        shutil.copytree(prepared, uri)
        copy_s = time.perf_counter() - t
        return summed(kind, run_notebooks(uri, out, only, timeout), copy_s=round(copy_s, 1))
    from bench._shared import neo4jctl
    from graph_model import connect
    from graph_model.neo4j_import import write_import_files

    assert neo4j_home is not None
    t = time.perf_counter()
    with connect(str(prepared)) as staging:
        files = write_import_files(staging, Path(uri).parent / "import")
    server = neo4jctl().import_files(neo4j_home, files.out)
    with connect(server.uri) as store:
        store.ensure_schema()
    load_s = time.perf_counter() - t
    progress(f"bulk-loaded into {server.uri} in {load_s:.0f}s")
    rows = run_notebooks(server.uri, out, only, timeout)
    return summed("neo4j", rows, bulk_load_s=round(load_s, 1))


def main() -> int:
    parser = parser_for(__doc__, extra_stores=("neo4j-bulk",))
    parser.add_argument("--neo4j-home", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=Path(".twoloop/bench"),
        help="where the prepared demo world is kept between runs",
    )
    parser.add_argument(
        "--only", action="append", choices=NOTEBOOKS, help="run only this notebook (repeatable)"
    )
    parser.add_argument(
        "--timeout", type=int, default=3600, help="seconds one cell may take before it fails"
    )
    parser.add_argument("--prepared", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--notebook", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    only: list[str] = list(args.only or NOTEBOOKS)

    if args.notebook:
        print(json.dumps(one_notebook(args.notebook, args.uri, args.out, args.timeout)))
        return 0
    if args.child:
        outcome = child(args.store, args.uri, args.prepared, args.neo4j_home, only, args.timeout)
        print(json.dumps(outcome))
        return 0

    if args.neo4j_uri:
        parser.error(
            "--neo4j-uri is not supported here: the graph is bulk-imported into a fresh "
            "dev Neo4j the benchmark starts (and stops) itself"
        )
    t = time.perf_counter()
    prepared, info = prepare(args.work_dir, args.accounts)
    progress(f"prepared graph {prepared} ({time.perf_counter() - t:.0f}s)")
    # Neo4j is always a fresh bulk import of the prepared graph.
    kinds = {"both": ["embedded", "neo4j-bulk"], "embedded": ["embedded"]}.get(
        args.store, ["neo4j-bulk"]
    )
    child_args = ["--prepared", str(prepared.absolute()), "--timeout", str(args.timeout)]
    for name in only:
        child_args += ["--only", name]
    try:
        results = run_per_store(__file__, kinds, None, child_args, live_stderr=True)
    except ChildFailed as exc:
        return exc.returncode
    report(meta("bench/notebooks.py", prepared=info), results, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
