"""Benchmark: the scheduled agent loop run twice in a row on a sample world.

    python bench/loop.py                        # 3,000 accounts, 3 repeats, embedded store
    python bench/loop.py --accounts 1000 --repeats 1 --json

Each repeat starts from an empty embedded store and runs ``run_loop`` (what
``twoloop loop run --config world/ingest.yaml`` does, without an SMTP server) at
the sample's as-of time, then again an hour later. The first run loads the whole
world and matches every account; the second finds nothing new in the files,
extracts nothing new and rescores only the accounts time or the first run's
triggers call for. Reported: each run's seconds (median over repeats), the
seconds of each step, and what each run wrote. The claim checked: the second run
takes a fraction of the first and writes only what changed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from app.loop import STEPS, LoopSetup, run_loop  # noqa: E402
from bench._shared import meta, peak_rss_mb  # noqa: E402
from graph_model import connect  # noqa: E402
from ingest.config import load_config  # noqa: E402
from ingest.sample import AS_OF, write_sample  # noqa: E402


def setup(world: Path) -> LoopSetup:
    return LoopSetup.offline(load_config(world / "ingest.yaml"))


def written(report: Any) -> dict[str, Any]:
    steps = {s.name: s.counts for s in report.steps}
    return {
        "ingest_written": steps["ingest"].get("written"),
        "extract_written": steps["extract"].get("written", 0) + steps["extract"].get("removed", 0),
        "match_accounts": steps["match"].get("accounts"),
        "match_reasons": steps["match"].get("reasons"),
        "matches_written": steps["match"].get("written"),
        "routes_written": steps["handoff"].get("routes_written"),
        "drafted": steps["handoff"].get("drafted"),
        "released": steps["handoff"].get("released"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="The agent loop run twice in a row.")
    parser.add_argument("--accounts", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--work-dir", type=Path, default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="twoloop-loop-"))
    world = work / "world"
    if not (world / "ingest.yaml").exists():
        write_sample(world, accounts=args.accounts, seed=7)
    runs: dict[str, list[float]] = {"first": [], "second": []}
    steps: dict[str, dict[str, list[float]]] = {"first": {}, "second": {}}
    what: dict[str, Any] = {}
    for i in range(args.repeats):
        graph = work / f"graph-{i}"
        shutil.rmtree(graph, ignore_errors=True)
        shutil.rmtree(world / "quarantine", ignore_errors=True)
        with connect(str(graph)) as store:
            for name, now in (("first", AS_OF), ("second", AS_OF + dt.timedelta(hours=1))):
                started = time.perf_counter()
                report = run_loop(store, setup(world), now=now)
                runs[name].append(time.perf_counter() - started)
                assert report.status == "succeeded", report.as_dict()
                for s in report.steps:
                    steps[name].setdefault(s.name, []).append(s.seconds)
                what[name] = written(report)
        shutil.rmtree(graph, ignore_errors=True)
    first, second = statistics.median(runs["first"]), statistics.median(runs["second"])
    out = {
        **meta("bench/loop.py", accounts=args.accounts),
        "repeats": args.repeats,
        "first_seconds": round(first, 2),
        "second_seconds": round(second, 2),
        "second_over_first": round(second / first, 3),
        "steps": {
            name: {s: round(statistics.median(v), 2) for s, v in per.items()}
            for name, per in steps.items()
        },
        "written": what,
        "peak_rss_mb": round(peak_rss_mb()),
    }
    if args.json:
        print(json.dumps(out, indent=2, default=str))
        return
    print(f"{out['date']} {out['machine']}: {out['command']}")
    print(
        f"  first run {first:.2f}s, second run {second:.2f}s "
        f"({out['second_over_first']:.1%} of the first; medians of {args.repeats})"
    )
    for name in ("first", "second"):
        per = "  ".join(f"{s} {out['steps'][name].get(s, 0):.2f}s" for s in STEPS)
        print(f"  {name:<6} {per}")
        print(f"         wrote {what[name]}")
    print(f"  peak RSS {out['peak_rss_mb']:,} MB")


if __name__ == "__main__":
    main()
