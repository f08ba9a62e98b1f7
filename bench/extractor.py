"""Throughput of the offline extractors on realistic signal texts, extrapolated to 2M signals.

The signals are a ``twoloop sample`` world's (``write_sample``: job posts, posts,
news, filings, tickets, visits, with their titles), read from its signals.jsonl.
For each repeat: the rules extractor over all of them, then the paraphrase
extractor (sentences split, denials and sellers skipped, identical sentences
embedded once), and the paraphrase extractor's worst case, where no two
sentences are alike (every candidate sentence embedded). The model is loaded
once, timed apart. Medians of the repeats.

The daily loop's budget for extraction is stated in bench/RESULTS.md: the
paraphrase extractor reads each signal once (``read_by``), so a day costs only
the day's new signals.

    .venv/bin/python bench/extractor.py --accounts 1000 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import polars as pl  # noqa: E402

from bench._shared import meta, peak_rss_mb  # noqa: E402
from bench.paraphrase_quality import sample_catalog_needs  # noqa: E402
from ingest.sample import write_sample  # noqa: E402
from matching.extract import ExtractionStats, RulesExtractor  # noqa: E402
from matching.paraphrase import ParaphraseExtractor  # noqa: E402

WORLD_SIGNALS = 2_000_000


def sample_signals(accounts: int, work: Path) -> pl.DataFrame:
    write_sample(work / "world", accounts=accounts, seed=7)
    rows = []
    # The world's input is dirty on purpose: lines that are not JSON are skipped here.
    for line in (work / "world" / "signals" / "signals.jsonl").read_text().splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(event, dict):
            rows.append((str(len(rows)), event.get("kind"), event.get("title"), event.get("text")))
    schema = {"signal_id": pl.String, "kind": pl.String, "title": pl.String, "text": pl.String}
    return pl.DataFrame(rows, schema=schema, orient="row")


CPU: list[float] = []


def timed(fn: Any) -> tuple[float, Any]:
    """Wall seconds (and the process's CPU seconds, kept in CPU: the machine is shared)."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    CPU.append(time.process_time() - c0)
    return time.perf_counter() - t0, out


def main() -> None:
    parser = argparse.ArgumentParser(description="Offline extractors' throughput.")
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        signals = sample_signals(args.accounts, Path(tmp))
    needs = sample_catalog_needs()
    load_s, paraphrase = timed(lambda: ParaphraseExtractor(needs))
    rules = RulesExtractor(needs)
    runs: dict[str, list[float]] = {"rules": [], "paraphrase": [], "paraphrase, all distinct": []}
    cpu: dict[str, list[float]] = {name: [] for name in runs}
    found: dict[str, int] = {}
    notes: list[str] = []
    for _ in range(args.repeats):
        seconds, (frame, _) = timed(lambda: rules.extract(signals))
        runs["rules"].append(seconds)
        cpu["rules"].append(CPU[-1])
        found["rules"] = frame.height
        seconds, (frame, stats) = timed(lambda: paraphrase.extract(signals))
        runs["paraphrase"].append(seconds)
        cpu["paraphrase"].append(CPU[-1])
        found["paraphrase"] = frame.height
        notes = stats.notes

        def every_sentence() -> int:
            candidates = paraphrase.candidates(signals, ExtractionStats())
            paraphrase.similarities([s.text for s in candidates])
            return len(candidates)

        seconds, sentences = timed(every_sentence)
        runs["paraphrase, all distinct"].append(seconds)
        cpu["paraphrase, all distinct"].append(CPU[-1])
        found["sentences embedded, all distinct"] = sentences
    rates = {name: signals.height / statistics.median(s) for name, s in runs.items()}
    cpu_rates = {name: signals.height / statistics.median(s) for name, s in cpu.items()}
    results = {
        "meta": meta("bench/extractor.py", signals=signals.height, accounts=args.accounts),
        "model_load_s": round(load_s, 2),
        "seconds": {k: [round(x, 2) for x in v] for k, v in runs.items()},
        "cpu_seconds": {k: [round(x, 2) for x in v] for k, v in cpu.items()},
        "signals_per_s": {k: round(v) for k, v in rates.items()},
        "signals_per_cpu_s": {k: round(v) for k, v in cpu_rates.items()},
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "findings": found,
        "paraphrase_notes": notes,
        "hours_for_2M_signals": {k: round(WORLD_SIGNALS / v / 3600, 2) for k, v in rates.items()},
        "cpu_hours_for_2M_signals": {
            k: round(WORLD_SIGNALS / v / 3600, 2) for k, v in cpu_rates.items()
        },
        "peak_rss_mb": round(peak_rss_mb()),
    }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
