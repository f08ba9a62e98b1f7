"""Job locks on both stores: one ingest (or loop) at a time, across processes on the
embedded store and across machines on Neo4j (a lease in the database that expires
when its holder dies and is renewed while it lives)."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from graph_model.errors import JobLocked, WriteConflict
from graph_model.locks import acquire_lease, job_lock, release_lease, renew_lease
from graph_model.store import GraphStore
from ingest.config import load_config
from ingest.pipeline import Ingestor

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "ingest"
NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
MINUTE = dt.timedelta(minutes=1)


def test_a_job_runs_once_at_a_time_and_names_the_holder(store: GraphStore) -> None:
    with job_lock(store, "loop") as held:
        refused = pytest.raises(JobLocked, match=r"another loop run \(pid \d+")
        with refused, job_lock(store, "loop"):
            pass
        with job_lock(store, "ingest"):  # another job is another lock
            held.check()
    with job_lock(store, "loop"):  # released
        pass


def test_another_machine_holding_the_ingest_lease_stops_an_ingest(
    neo4j_store: GraphStore,
) -> None:
    """The Neo4j ingest lock was a file on this machine: a second machine ingested into
    the same database at once. Now the lock is a lease in the database."""
    acquire_lease(neo4j_store, "ingest", "ingest-host-b:4242:cafe", ttl=dt.timedelta(hours=1))
    config = load_config(FIXTURES / "ingest.yaml")
    with pytest.raises(JobLocked, match="another ingest run \\(pid 4242 on ingest-host-b\\)"):
        Ingestor(neo4j_store, config).run()
    assert neo4j_store.counts().nodes["Account"] == 0


def test_a_lease_expires_is_taken_over_and_its_old_holder_knows(neo4j_store: GraphStore) -> None:
    a, b = "host-a:1:aaaa", "host-b:2:bbbb"
    version = acquire_lease(neo4j_store, "loop", a, ttl=10 * MINUTE, now=NOW)
    with pytest.raises(JobLocked, match="pid 1 on host-a"):
        acquire_lease(neo4j_store, "loop", b, now=NOW + 5 * MINUTE)
    version = renew_lease(neo4j_store, "loop", a, version, ttl=10 * MINUTE, now=NOW + 8 * MINUTE)
    with pytest.raises(JobLocked):
        acquire_lease(neo4j_store, "loop", b, now=NOW + 15 * MINUTE)  # renewed until 18'
    taken = acquire_lease(neo4j_store, "loop", b, now=NOW + 19 * MINUTE)
    with pytest.raises(WriteConflict):
        renew_lease(neo4j_store, "loop", a, version, now=NOW + 20 * MINUTE)
    release_lease(neo4j_store, "loop", a, version)  # not a's any more: left alone
    with pytest.raises(JobLocked, match="pid 2 on host-b"):
        acquire_lease(neo4j_store, "loop", a, now=NOW + 20 * MINUTE)
    release_lease(neo4j_store, "loop", b, taken)
    acquire_lease(neo4j_store, "loop", a, now=NOW + 20 * MINUTE)


def test_two_machines_racing_for_a_free_lease_get_one_holder(neo4j_store: GraphStore) -> None:
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    barrier = Barrier(6)

    def take(i: int) -> bool:
        barrier.wait()
        try:
            acquire_lease(neo4j_store, "ingest", f"host-{i}:{i}:x", now=NOW)
            return True
        except JobLocked:
            return False

    with ThreadPoolExecutor(6) as pool:
        assert sum(pool.map(take, range(6))) == 1


def test_a_killed_holder_lets_its_lease_expire_and_a_live_one_keeps_it(
    neo4j_store: GraphStore, neo4j_uri: str
) -> None:
    script = (
        "import datetime as dt, sys, time\n"
        "from graph_model import connect\n"
        "from graph_model.locks import job_lock\n"
        "with connect(sys.argv[1]) as store:\n"
        "    with job_lock(store, 'loop', ttl=dt.timedelta(seconds=float(sys.argv[2]))):\n"
        "        print('held', flush=True)\n"
        "        time.sleep(120)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    holder = subprocess.Popen(
        [sys.executable, "-c", script, neo4j_uri, "1.5"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        time.sleep(3.5)  # two lifetimes: it renewed meanwhile
        with pytest.raises(JobLocked, match=f"pid {holder.pid}"), job_lock(neo4j_store, "loop"):
            pass
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        # It died on this machine: its lease is stale at once (another machine's would
        # wait for it to expire, see above).
        with job_lock(neo4j_store, "loop") as held:
            held.check()
    finally:
        holder.kill()
        holder.wait(timeout=10)
