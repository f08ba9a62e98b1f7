"""The scheduled agent loop on both stores: one recorded run of every step under one
lock; a second run writes only what changed; incremental matching rescoring what
its inputs or time call for; kill -9 after any step converges to an uninterrupted
run; exit codes for cron."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from app.loop import STEPS, LoopSetup, recent_runs, run_loop
from bench.faults import compare, graph_state
from graph_model import connect
from graph_model.errors import JobLocked
from graph_model.locks import job_lock
from graph_model.store import GraphStore
from ingest.config import load_config
from ingest.sample import AS_OF, write_sample

REPO = Path(__file__).resolve().parents[2]
NOW = AS_OF
HOUR = dt.timedelta(hours=1)


@pytest.fixture(scope="module")
def sample_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("loop-world") / "world"
    write_sample(out, accounts=80, seed=11)
    return out


@pytest.fixture
def world(sample_world: Path, tmp_path: Path) -> Path:
    target = tmp_path / "world"
    shutil.copytree(sample_world, target)
    return target


def setup_for(world: Path) -> LoopSetup:
    return LoopSetup.offline(load_config(world / "ingest.yaml"))


def steps_of(report: Any) -> dict[str, Any]:
    return {s.name: s for s in report.steps}


HANDED_OVER = ("node:Draft", "node:OutboxMessage", "node:Escalation", "node:Task")


def state(store: GraphStore) -> dict[str, pl.DataFrame]:
    """Every table but the bookkeeping two runs of the same work differ in."""
    return graph_state(store)


def assert_same_state(a: dict[str, pl.DataFrame], b: dict[str, pl.DataFrame]) -> None:
    differences = compare(a, b)
    assert differences.clean, differences


def test_a_second_loop_run_writes_only_what_changed(store: GraphStore, world: Path) -> None:
    first = run_loop(store, setup_for(world), now=NOW)
    assert first.status == "succeeded" and first.exit_code == 0
    assert [s.name for s in first.steps] == list(STEPS)
    done = steps_of(first)
    assert done["ingest"].counts["written"] > 1000
    assert done["match"].counts["full"] is True and done["match"].counts["surfaced"] > 0
    assert done["handoff"].counts["drafted"] > 0
    assert done["relay"].status == "skipped"  # no SMTP server configured
    before = state(store)

    second = run_loop(store, setup_for(world), now=NOW + HOUR)
    again = steps_of(second)
    assert second.status == "succeeded"
    assert again["ingest"].counts["written"] == 0
    assert again["extract"].counts["written"] == 0 and again["extract"].counts["removed"] == 0
    match = again["match"].counts
    assert match["full"] is False
    # Only what time calls for an hour later, if anything; never the whole book (the
    # first run's opt-out triggers ran before its match step, which took them in).
    assert set(match["reasons"]) <= {"time"} and match["accounts"] <= 5
    assert again["handoff"].counts["drafted"] == 0 and again["handoff"].counts["released"] == 0
    # Matches, routes, drafts and the outbox are the ones the first run wrote, except
    # for the few accounts time asked to rescore.
    after = state(store)
    assert_same_state(
        {k: before[k] for k in HANDED_OVER},
        {k: after[k] for k in HANDED_OVER},
    )
    assert after["node:Route"].height - before["node:Route"].height <= match["accounts"] * 12
    third = steps_of(run_loop(store, setup_for(world), now=NOW + 2 * HOUR))["match"].counts
    assert set(third["reasons"]) <= {"time"} and third["accounts"] <= 5
    runs = recent_runs(store)
    assert [r["status"] for r in runs] == ["succeeded"] * 3
    assert [s["name"] for s in runs[0]["steps"]] == list(STEPS)


def test_a_new_signal_rescores_only_its_account(store: GraphStore, world: Path) -> None:
    run_loop(store, setup_for(world), now=NOW)
    account = store.nodes("Account").sort("account_id").row(3, named=True)
    feed = next((world / "signals").glob("*.jsonl"))
    with feed.open("a") as handle:
        event = {
            "id": "fresh-1",
            "kind": "priority_statement",
            "account_id": account["account_id"],
            "occurred_at": (NOW + dt.timedelta(minutes=30)).isoformat(),
            "source": "press",
            "title": "Our priority for next year",
            "text": "A priority for next year: change data capture for every database.",
            "strength": 0.9,
        }
        handle.write(json.dumps(event) + "\n")
    second = run_loop(store, setup_for(world), now=NOW + HOUR)
    done = steps_of(second)
    assert done["ingest"].counts["written"] >= 2  # the signal and its EMITTED edge
    match = done["match"].counts
    assert match["reasons"].get("inputs", 0) >= 1 and match["accounts"] <= 5
    scored = store.get_node("ScoredAccount", account["account_id"])
    assert scored["as_of"] == NOW + HOUR
    assert store.nodes("ChangeSet").height == 0  # the journal was consumed


def test_time_alone_rescores_an_account_when_its_recheck_comes(
    store: GraphStore, world: Path
) -> None:
    run_loop(store, setup_for(world), now=NOW)
    scored = store.nodes("ScoredAccount").filter(pl.col("recheck_at").is_not_null())
    assert scored.height > 0
    first_due = scored["recheck_at"].min()
    assert isinstance(first_due, dt.datetime)
    due_then = scored.filter(pl.col("recheck_at") <= first_due + HOUR)
    later = run_loop(store, setup_for(world), now=first_due + HOUR)
    match = steps_of(later)["match"].counts
    assert match["reasons"].get("time", 0) >= due_then.height
    for account in due_then["account_id"].to_list():
        assert store.get_node("ScoredAccount", account)["as_of"] == first_due + HOUR


def test_the_loop_holds_its_own_lock(store: GraphStore, world: Path) -> None:
    with job_lock(store, "loop"), pytest.raises(JobLocked, match="another loop run"):
        run_loop(store, setup_for(world), now=NOW)
    assert store.nodes("LoopRun").height == 0


def test_a_failing_step_stops_the_run_with_its_exit_code(store: GraphStore, world: Path) -> None:
    (world / "crm" / "Account.csv").write_text("Id,Name\n")  # required columns missing
    report = run_loop(store, setup_for(world), now=NOW)
    assert report.status == "failed" and report.exit_code == 1
    assert [s.name for s in report.steps] == ["ingest"]
    (run,) = recent_runs(store)
    assert run["status"] == "failed" and "OwnerId" in run["error"]


# ---------------------------------------------------------------- kill -9 at every step


def _loop_process(graph: str, world: Path, now: dt.datetime, kill_after: str | None) -> int:
    args = [sys.executable, "-m", "tests.integration.test_loop", graph, str(world), now.isoformat()]
    if kill_after:
        args.append(kill_after)
    proc = subprocess.run(
        args,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=300,
        check=False,
        capture_output=True,
        text=True,
    )
    assert proc.returncode in (0, -signal.SIGKILL), proc.stderr
    return proc.returncode


@pytest.mark.parametrize("step", STEPS)
def test_kill_9_after_any_step_then_a_rerun_equals_an_uninterrupted_run(
    store: GraphStore, world: Path, tmp_path: Path, step: str
) -> None:
    reference = str(tmp_path / "reference")
    assert _loop_process(reference, world, NOW, None) == 0
    expected = state(connect(reference))
    killed = _loop_process(store.uri, world, NOW, step)
    assert killed == -signal.SIGKILL
    assert _loop_process(store.uri, world, NOW, None) == 0
    assert_same_state(expected, state(store))
    runs = recent_runs(store)
    assert [r["status"] for r in runs] == ["succeeded", "failed"]
    assert "interrupted" in runs[1]["error"]


def _main(argv: list[str]) -> None:
    """A loop run in a process of its own; with a step name it kills itself (SIGKILL)
    right after that step committed."""
    graph, world, now = argv[0], Path(argv[1]), dt.datetime.fromisoformat(argv[2])
    kill_after = argv[3] if len(argv) > 3 else None

    def after(step: str) -> None:
        if step == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)

    with connect(graph) as store:
        store.ensure_schema()
        run_loop(store, setup_for(world), now=now, after_step=after)


if __name__ == "__main__":
    _main(sys.argv[1:])


def test_a_plays_file_that_does_not_check_fails_only_the_plays_step(
    store: GraphStore, world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.cli.agent_setup import loop_setup
    from routing.policy import DEFAULT_FILE

    bad = tmp_path / "plays.yaml"
    bad.write_text(
        "plays:\n  - id: x\n    trigger: {event: signal}\n    reason: r\n    steps: []\n"
    )
    monkeypatch.setenv("TWOLOOP_PLAYS_FILE", str(bad))
    setup = loop_setup(DEFAULT_FILE, world / "ingest.yaml")
    report = run_loop(store, setup, now=NOW)
    done = steps_of(report)
    assert [s.name for s in report.steps] == list(STEPS)
    assert all(done[s].status in ("ok", "skipped") for s in STEPS if s != "plays")
    assert done["plays"].status == "failed" and str(bad) in (done["plays"].error or "")
    assert report.exit_code == 2
