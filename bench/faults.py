"""Fault suite: kill ingest, the agent loop and relays at random points, then check
that nothing was lost, duplicated, sent twice, sent over a cap or sent to a
suppressed address.

    python bench/faults.py                          # 60 trials on the embedded store
    python bench/faults.py --trials 20 --neo4j-uri bolt://127.0.0.1:7687 --json

Each trial is one of four kinds, in turn:

- ``ingest``: ``twoloop ingest run`` on a sample world (small batches, so there are
  many commits to land between), SIGKILLed after a random delay, then run again;
  the graph is compared with one uninterrupted ingest of the same world.
- ``loop``: ``twoloop loop run`` (ingest, extract, match, hand off; no SMTP)
  SIGKILLed after a random delay, then run again; compared with one uninterrupted
  loop run at the same ``--now``.
- ``relay`` and ``relays x3``: one or three relays at once, each in a process of its
  own, sending 60 released messages (three per contact, so the caps bind; some
  recipients suppressed or do-not-contact) into a real SMTP server; most are
  SIGKILLed at a random stage (caps counted, claimed, sent, marked) after a random
  number of messages. Then, as an operator would: the leases expire, every
  unconfirmed send is settled by what the SMTP server actually received (``--sent``
  or ``--not-sent``), and relays run on later days until nothing is due.

Counted over all trials (every count must be 0): rows lost (in the reference, not
in the graph), duplicate rows (one key twice), unexpected rows (in the graph, not in
the reference), rows whose values differ, emails received twice (by Message-ID),
emails over a cap (per contact, account, domain, mailbox, rolling 24 hours, at
the relay's clock), emails to suppressed or do-not-contact addresses, and
messages never sent that should have been.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from app.human_loop import settle_send  # noqa: E402
from bench._shared import meta, wipe_neo4j  # noqa: E402
from graph_model import connect  # noqa: E402
from graph_model.schema import REGISTRY  # noqa: E402
from graph_model.store import GraphStore  # noqa: E402
from ingest.sample import AS_OF, write_sample  # noqa: E402
from routing.channels.smtp import message_id_header  # noqa: E402
from routing.guardrails import DAY, domain_of  # noqa: E402
from routing.outbox import release_draft  # noqa: E402
from routing.sending import load_sending  # noqa: E402
from tests.support.procs import relay_args, run_relay, write_sending  # noqa: E402
from tests.support.servers import SmtpServer, smtp_server  # noqa: E402

KINDS = ("ingest", "loop", "relay", "relays x3")
STAGES = ("checked", "claimed", "sent", "marked")
# Bookkeeping that differs between two runs of the same work, and wall-clock times.
BOOKKEEPING = {"IngestRun", "LoopRun", "Lease", "ChangeSet"}
WALL_CLOCK = {"ScoredAccount": ["scored_at"], "QuarantinedRow": ["first_run", "first_seen"]}
CAPS = {"contact": 1, "account": 2, "domain": 3, "mailbox": 40}
MINUTE = dt.timedelta(minutes=1)
SENDING = load_sending().model_copy(
    update={
        "from_domains": ["vendor.example"],
        "caps": load_sending().caps.model_copy(update={f"per_{k}": v for k, v in CAPS.items()}),
        # Never quiet: the trials run at one instant and on later days.
        "quiet_hours": load_sending().quiet_hours.model_copy(
            update={"start": dt.time(3, 0), "end": dt.time(3, 0), "weekends": False}
        ),
    }
)


@dataclass
class Counts:
    lost_rows: int = 0
    duplicate_rows: int = 0
    unexpected_rows: int = 0
    differing_rows: int = 0
    duplicate_sends: int = 0
    sends_over_cap: int = 0
    sends_to_suppressed: int = 0
    unsent_messages: int = 0

    def add(self, other: Counts) -> None:
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)

    @property
    def clean(self) -> bool:
        return not any(asdict(self).values())


@dataclass
class TrialResult:
    trial: int
    kind: str
    killed: int  # processes that died by SIGKILL
    counts: Counts
    seconds: float
    note: str = ""


@dataclass
class FaultReport:
    store: str
    trials: list[TrialResult] = field(default_factory=list)

    @property
    def totals(self) -> Counts:
        total = Counts()
        for t in self.trials:
            total.add(t.counts)
        return total

    def as_dict(self) -> dict[str, Any]:
        by_kind: dict[str, dict[str, int]] = {}
        for t in self.trials:
            entry = by_kind.setdefault(t.kind, {"trials": 0, "killed": 0})
            entry["trials"] += 1
            entry["killed"] += t.killed
        return {
            "store": self.store,
            "trials": len(self.trials),
            "by_kind": by_kind,
            "totals": asdict(self.totals),
            "clean": self.totals.clean,
            "failures": [asdict(t) for t in self.trials if not t.counts.clean],
        }


# ------------------------------------------------------------------ graph state


def graph_state(store: GraphStore) -> dict[str, pl.DataFrame]:
    """Every table but the bookkeeping, without wall-clock columns."""
    out: dict[str, pl.DataFrame] = {}
    for label in REGISTRY.nodes:
        if label not in BOOKKEEPING:
            out[f"node:{label}"] = store.nodes(label).drop(WALL_CLOCK.get(label, []))
    for rel in REGISTRY.edges:
        out[f"edge:{rel}"] = store.edges(rel)
    return out


def compare(reference: dict[str, pl.DataFrame], actual: dict[str, pl.DataFrame]) -> Counts:
    counts = Counts()
    for name, expected in reference.items():
        got = actual[name]
        kind, _, label = name.partition(":")
        identity = (
            list(REGISTRY.node(label).identity)
            if kind == "node"
            else list(REGISTRY.edge(label).identity)
        )
        counts.duplicate_rows += got.height - got.unique(identity).height
        counts.lost_rows += expected.join(got, on=identity, how="anti", nulls_equal=True).height
        counts.unexpected_rows += got.join(
            expected, on=identity, how="anti", nulls_equal=True
        ).height
        both = expected.join(got.select(identity), on=identity, how="semi", nulls_equal=True)
        same = both.join(got, on=list(both.columns), how="semi", nulls_equal=True)
        counts.differing_rows += both.height - same.height
    return counts


# ------------------------------------------------------------------ stores


@contextmanager
def fresh_store(work: Path, name: str, neo4j_uri: str | None) -> Iterator[str]:
    """A new, empty store's URI: a directory, or the wiped Neo4j."""
    if neo4j_uri:
        wipe_neo4j(neo4j_uri)
        with connect(neo4j_uri) as store:
            store.ensure_schema()
        yield neo4j_uri
        return
    path = work / name
    shutil.rmtree(path, ignore_errors=True)
    yield str(path)
    shutil.rmtree(path, ignore_errors=True)


def twoloop(args: list[str], *, kill_after: float | None = None) -> tuple[int, float]:
    """Run the CLI in a process of its own; with ``kill_after`` seconds, SIGKILL it
    then (if it is still running). Returns its exit code and how long it ran."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("TWOLOOP_SMTP_HOST", None)
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _, err = proc.communicate(timeout=kill_after)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate()
    if proc.returncode not in (0, -signal.SIGKILL):
        raise RuntimeError(f"twoloop {' '.join(args)} exited {proc.returncode}: {err}")
    return proc.returncode, time.perf_counter() - started


# ------------------------------------------------------------------ ingest and loop


@dataclass
class World:
    config: Path
    startup: float  # seconds before a CLI process does any work
    ingest_seconds: float = 0.0
    loop_seconds: float = 0.0
    ingest_reference: dict[str, pl.DataFrame] = field(default_factory=dict)
    loop_reference: dict[str, pl.DataFrame] = field(default_factory=dict)


def prepare_world(work: Path, accounts: int, neo4j_uri: str | None) -> World:
    out = work / "world"
    write_sample(out, accounts=accounts, seed=23)
    config = yaml.safe_load((out / "ingest.yaml").read_text())
    config["batch_rows"] = 500  # many commits to be killed between
    (out / "faults.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", "import app.cli"],
        cwd=REPO,
        check=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    world = World(out / "faults.yaml", time.perf_counter() - started)
    with fresh_store(work, "reference", neo4j_uri) as uri:
        _, world.ingest_seconds = twoloop(
            ["ingest", "run", "--config", str(world.config), "--graph", uri]
        )
        with connect(uri) as store:
            world.ingest_reference = graph_state(store)
    with fresh_store(work, "reference", neo4j_uri) as uri:
        _, world.loop_seconds = twoloop(_loop_args(world, uri))
        with connect(uri) as store:
            world.loop_reference = graph_state(store)
    # Kill within a warm run's time: the first runs warmed the store up (Neo4j's JIT).
    with fresh_store(work, "reference", neo4j_uri) as uri:
        _, world.ingest_seconds = twoloop(
            ["ingest", "run", "--config", str(world.config), "--graph", uri]
        )
    return world


def _loop_args(world: World, uri: str) -> list[str]:
    return [
        "loop",
        "run",
        "--config",
        str(world.config),
        "--graph",
        uri,
        "--now",
        AS_OF.isoformat(),
        "--json",
    ]


def killed_and_rerun(
    rng: random.Random, work: Path, world: World, neo4j_uri: str | None, kind: str
) -> tuple[int, Counts]:
    args_of = (
        (lambda uri: ["ingest", "run", "--config", str(world.config), "--graph", uri])
        if kind == "ingest"
        else (lambda uri: _loop_args(world, uri))
    )
    seconds = world.ingest_seconds if kind == "ingest" else world.loop_seconds
    reference = world.ingest_reference if kind == "ingest" else world.loop_reference
    with fresh_store(work, "trial", neo4j_uri) as uri:
        # Past the interpreter's start, before the work's usual end.
        delay = world.startup + rng.uniform(0.0, 0.9) * (seconds - world.startup)
        code, _ = twoloop(args_of(uri), kill_after=delay)
        twoloop(args_of(uri))  # the rerun: the next cron firing
        with connect(uri) as store:
            return int(code == -signal.SIGKILL), compare(reference, graph_state(store))


# ------------------------------------------------------------------ relays


def release_messages(store: GraphStore, rng: random.Random) -> set[str]:
    """60 released messages: 3 to each of 20 contacts at 10 accounts (two per
    account) on 5 domains, from 2 mailboxes, each due at a random minute around
    AS_OF (so relays running at different minutes pick different messages for the
    same contact). Returns the addresses that must never receive anything
    (suppressed, on a suppressed domain, or do-not-contact)."""
    store.ensure_schema()
    store.upsert_nodes(
        "AccountManager",
        [
            {"am_id": f"am{i}", "full_name": f"Ada {i}", "email": f"ada{i}@vendor.example"}
            for i in range(2)
        ],
    )
    store.upsert_nodes(
        "Account", [{"account_id": f"acc{a}", "name": f"Account {a}"} for a in range(10)]
    )
    people = [
        {
            "person_id": f"p{c}",
            "full_name": f"Pat {c}",
            "email": f"Pat{c}@Mail.Dom{c % 5}.example"
            if c % 7 == 3
            else f"pat{c}@dom{c % 5}.example",
            "do_not_contact": c == 5,
        }
        for c in range(20)
    ]
    store.upsert_nodes("Person", people)
    store.upsert_nodes(
        "Suppression",
        [
            {"address": "pat2@dom2.example", "reason": "asked", "added_at": AS_OF},
            {"address": "@mail.dom3.example", "reason": "legal", "added_at": AS_OF},
        ],
    )
    with store.batch() as write:
        for i in range(60):
            c = i % 20
            draft = {
                "draft_id": f"dr-fault{i:03d}",
                "match_id": f"m-fault{i:03d}",
                "am_id": f"am{c % 2}",
                "subject": f"Note {i}",
                "body": f"Hi Pat,\n\nNote {i}.\n\nAda",
                "status": "pending",
                "drafter": "offline",
                "created_at": AS_OF - dt.timedelta(minutes=60 - i),
                "person_id": f"p{c}",
                "to_address": people[c]["email"],
                "from_address": f"ada{c % 2}@vendor.example",
            }
            write.upsert_nodes("Draft", [draft])
            message = release_draft(
                write,
                draft,
                account_id=f"acc{c // 2}",
                released_by="agent:faults",
                role="agent",
                config=SENDING,
                now=AS_OF - dt.timedelta(minutes=60 - i),
                expect_status=None,
            )
            due = AS_OF + dt.timedelta(seconds=rng.uniform(-600, 600))
            write.upsert_nodes("OutboxMessage", [{**message, "not_before": due}])
    forbidden = {"pat2@dom2.example", people[5]["email"].lower()}
    forbidden |= {
        p["email"].lower() for p in people if p["email"].lower().endswith("mail.dom3.example")
    }
    return forbidden


def relay_trial(
    rng: random.Random, work: Path, neo4j_uri: str | None, relays: int, sending: Path
) -> tuple[int, Counts, str]:
    with fresh_store(work, "relay", neo4j_uri) as uri, smtp_server() as smtp:
        with connect(uri) as store:
            forbidden = release_messages(store, rng)
        killed = 0
        plans = []
        for _ in range(relays):
            if rng.random() < 0.75:
                plans.append((rng.choice(STAGES), rng.randint(1, 6)))
            else:
                plans.append((None, 1))
        # At once, each at its own minute of the next ten (within the lease).
        procs = [
            _start_relay(
                uri, smtp, sending, AS_OF + rng.uniform(0, 10) * MINUTE, f"r{r}", stage, after
            )
            for r, (stage, after) in enumerate(plans)
        ]
        for proc in procs:
            _, err = proc.communicate(timeout=300)
            killed += int(proc.returncode == -signal.SIGKILL)
            if proc.returncode not in (0, -signal.SIGKILL, 3):
                raise RuntimeError(f"relay exited {proc.returncode}: {err}")
        # The operator: leases expire, each unconfirmed send is settled by the truth.
        run_relay(
            uri,
            (smtp.host, smtp.port),
            sending,
            now=AS_OF + 25 * MINUTE,
            worker="sweep",
        )
        with connect(uri) as store:
            received = set(smtp.message_ids())
            for m in store.nodes("OutboxMessage", {"status": "unconfirmed"}).iter_rows(named=True):
                header = message_id_header(m["message_id"], m["from_address"])
                outcome = "sent" if header in received else "not_sent"
                settle_send(
                    store,
                    m["message_id"],
                    outcome,
                    actor=m["am_id"],
                    now=AS_OF + 26 * MINUTE,
                )
        # Later days: one to three relays at once until nothing is due.
        for day in range(1, 15):
            with connect(uri) as store:
                if store.nodes("OutboxMessage", {"status": "pending"}).is_empty():
                    break
            when = AS_OF + day * DAY + 27 * MINUTE
            racers = [
                _start_relay(uri, smtp, sending, when, f"d{day}-{k}", None, 1)
                for k in range(rng.randint(1, 3))
            ]
            for proc in racers:
                proc.communicate(timeout=300)
        with connect(uri) as store:
            counts = _check_sends(store, smtp, forbidden)
        return killed, counts, f"plans {plans}"


def _start_relay(
    uri: str,
    smtp: SmtpServer,
    sending: Path,
    now: dt.datetime,
    worker: str,
    stage: str | None,
    after: int,
) -> subprocess.Popen[str]:
    args = relay_args(
        uri,
        (smtp.host, smtp.port),
        sending,
        now=now,
        worker=worker,
        kill_at=stage,
        kill_after=after,
    )
    return subprocess.Popen(
        args,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _check_sends(store: GraphStore, smtp: SmtpServer, forbidden: set[str]) -> Counts:
    counts = Counts()
    received = Counter(smtp.message_ids())
    counts.duplicate_sends = sum(n - 1 for n in received.values() if n > 1)
    messages = store.nodes("OutboxMessage")
    by_header = {
        message_id_header(m["message_id"], m["from_address"]): m
        for m in messages.iter_rows(named=True)
    }
    sent = [by_header[h] for h in received if h in by_header]
    counts.sends_to_suppressed = sum(m["to_address"].lower() in forbidden for m in sent)
    # Caps at the relay's clock: sent_at (or claimed_at for one settled as sent).
    slots: dict[tuple[str, str], list[dt.datetime]] = {}
    for m in sent:
        at = m["sent_at"] or m["claimed_at"]
        for dim, key in (
            ("contact", m["person_id"] or m["to_address"].lower()),
            ("account", m["account_id"]),
            ("domain", domain_of(m["to_address"])),
            ("mailbox", m["from_address"].lower()),
        ):
            slots.setdefault((dim, key), []).append(at)
    for (dim, _), times in slots.items():
        times.sort()
        cap = CAPS[dim]
        over = max(
            (sum(1 for u in times[i:] if u - t < DAY) for i, t in enumerate(times)), default=0
        )
        counts.sends_over_cap += max(0, over - cap)
    # Every message that may go out went out: none left pending or in doubt.
    left = messages.filter(pl.col("status").is_in(["pending", "sending", "unconfirmed"]))
    counts.unsent_messages = left.height
    return counts


# ------------------------------------------------------------------ the suite


def run_faults(
    work: Path,
    *,
    trials: int,
    accounts: int = 150,
    seed: int = 15,
    neo4j_uri: str | None = None,
    kinds: tuple[str, ...] = KINDS,
    progress: Any = None,
) -> FaultReport:
    rng = random.Random(seed)
    work.mkdir(parents=True, exist_ok=True)
    world = prepare_world(work, accounts, neo4j_uri) if {"ingest", "loop"} & set(kinds) else None
    sending = write_sending(SENDING, work / "sending.yaml")
    report = FaultReport(store="neo4j" if neo4j_uri else "embedded")
    for trial in range(trials):
        kind = kinds[trial % len(kinds)]
        started = time.perf_counter()
        note = ""
        if kind in ("ingest", "loop"):
            assert world is not None
            killed, counts = killed_and_rerun(rng, work, world, neo4j_uri, kind)
        else:
            killed, counts, note = relay_trial(
                rng, work, neo4j_uri, 3 if kind == "relays x3" else 1, sending
            )
        result = TrialResult(
            trial, kind, killed, counts, round(time.perf_counter() - started, 2), note
        )
        report.trials.append(result)
        if progress is not None:
            progress(result)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description="Kill ingest, the loop and relays; count damage.")
    parser.add_argument("--trials", type=int, default=60)
    parser.add_argument("--accounts", type=int, default=150)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--neo4j-uri", default=None, help="a Neo4j to use (it is wiped)")
    parser.add_argument("--work-dir", type=Path, default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="twoloop-faults-"))

    def show(result: TrialResult) -> None:
        if not args.json:
            flag = "ok" if result.counts.clean else f"DAMAGE {asdict(result.counts)}"
            print(
                f"  trial {result.trial:>3} {result.kind:<10} killed {result.killed} "
                f"{result.seconds:6.1f}s {flag}",
                flush=True,
            )

    started = time.perf_counter()
    report = run_faults(
        work,
        trials=args.trials,
        accounts=args.accounts,
        seed=args.seed,
        neo4j_uri=args.neo4j_uri,
        progress=show,
    )
    out = {
        **meta("bench/faults.py", accounts=args.accounts),
        **report.as_dict(),
        "seconds": round(time.perf_counter() - started, 1),
    }
    if args.json:
        print(json.dumps(out, indent=2, default=str))
    else:
        print(f"{out['date']} {out['machine']}: {out['command']}")
        print(f"  {out['trials']} trials on {out['store']} in {out['seconds']}s: {out['by_kind']}")
        print(f"  totals: {out['totals']}")
    if not report.totals.clean:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
