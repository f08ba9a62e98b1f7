"""The fault suite (bench/faults.py) at a reduced size: ingest, the agent loop and
one or three relays killed at random points on both stores, then nothing lost,
duplicated, sent twice, sent over a cap or sent to a suppressed address. The full
size runs with ``python bench/faults.py``; its figures are in bench/RESULTS.md."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pytest

from bench.faults import KINDS, run_faults


@pytest.mark.parametrize("kind", ["embedded", "neo4j"])
def test_killed_ingest_loops_and_relays_do_no_damage(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    uri = request.getfixturevalue("_neo4j_schema") if kind == "neo4j" else None
    trials = 8 if kind == "embedded" else 4
    report = run_faults(tmp_path, trials=trials, accounts=40, seed=5, neo4j_uri=uri)
    summary = report.as_dict()
    assert summary["trials"] == trials
    assert set(summary["by_kind"]) == set(KINDS)
    assert sum(t.killed for t in report.trials) >= trials // 2  # the kills happened
    assert report.totals.clean, asdict(report.totals)
