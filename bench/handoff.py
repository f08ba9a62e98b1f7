"""Benchmark: the handoff's throughput on the embedded store.

    python bench/handoff.py                       # 3,000-account sample world, 2,000 messages
    python bench/handoff.py --accounts 1000 --messages 500 --json

Prepared once, not timed: a sample world ingested into an embedded store, needs
extracted by the rules extractor, matched as of the sample's date.

Timed, each ``--repeats`` times (median reported):

- ``route+draft``: every proposed match routed by the shipped policy, then a draft
  request read from the graph, an offline draft and its checks (grounding,
  personalization, injection rules) for every one of them, whatever its route
  (the strictest reading of "route + offline draft"). Target >= 1,000 matches/s.
- ``loop dry run``: ``run_agent_loop(dry_run=True)``, the whole batch as
  ``twoloop run --dry-run`` does it (triggers, route, draft what is routed to be
  drafted, checks). Per proposed match.
- ``relay``: ``--messages`` released messages (distinct recipients) sent by one
  relay into a real local SMTP server (aiosmtpd on loopback): claims, send-time
  guardrails, one SMTP connection, marks. Target >= 200 messages/s.
"""

from __future__ import annotations

import argparse
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

from app.agent_loop import run_agent_loop  # noqa: E402
from bench._shared import meta, peak_rss_mb  # noqa: E402
from drafting.guard import check_draft  # noqa: E402
from drafting.offline import OfflineDrafter  # noqa: E402
from drafting.requests import draft_requests  # noqa: E402
from graph_model import connect  # noqa: E402
from graph_model.store import GraphStore  # noqa: E402
from ingest.config import load_config  # noqa: E402
from ingest.pipeline import Ingestor  # noqa: E402
from ingest.sample import AS_OF, write_sample  # noqa: E402
from matching.extract import RulesExtractor, needs_from_frame  # noqa: E402
from matching.indicates import run_extraction  # noqa: E402
from matching.run import run_matching  # noqa: E402
from routing.channels.smtp import SmtpChannel  # noqa: E402
from routing.context import current_matches, routed, routing_frame  # noqa: E402
from routing.outbox import Relay, release_draft  # noqa: E402
from routing.policy import load_policy  # noqa: E402
from routing.sending import load_sending  # noqa: E402
from tests.support.servers import smtp_server  # noqa: E402

SENDING = load_sending()
FAST = SENDING.model_copy(
    update={
        "caps": SENDING.caps.model_copy(update={"per_mailbox": 1_000_000, "per_domain": 1_000_000})
    }
)


def prepare(work: Path, accounts: int) -> Path:
    graph = work / "graph"
    if (graph / "manifest.json").exists():
        return graph
    write_sample(work / "sample", accounts=accounts, seed=7)
    with connect(str(graph)) as store:
        store.ensure_schema()
        Ingestor(store, load_config(work / "sample" / "ingest.yaml")).run()
        run_extraction(store, RulesExtractor(needs_from_frame(store.nodes("Need"))))
        run_matching(store, as_of=AS_OF)
    return graph


def route_and_draft_all(store: GraphStore) -> int:
    policy = load_policy()
    frame = routing_frame(store, current_matches(store))
    actions = [rule.action for _, rule, _ in routed(frame, policy)]
    drafter = OfflineDrafter()
    for request in draft_requests(store, frame):
        check_draft(request, drafter.draft(request), link_domains=SENDING.link_domains)
    return len(actions)


def loop_dry_run(store: GraphStore) -> int:
    report = run_agent_loop(
        store,
        policy=load_policy(),
        drafter=OfflineDrafter(),
        sending=SENDING,
        now=AS_OF,
        min_personalization=0.5,
        dry_run=True,
    )
    return int(report.routes["matches"])


def release_messages(store: GraphStore, n: int) -> None:
    match_id = store.nodes("Match", limit=1)["match_id"][0]
    am = store.nodes("AccountManager", limit=1).row(0, named=True)
    with store.batch() as write:
        for i in range(n):
            draft = {
                "draft_id": f"dr-bench{i:06d}",
                "match_id": match_id,
                "am_id": am["am_id"],
                "subject": f"Hello {i}",
                "body": f"Hi Person {i},\n\nA short note.\n\n{am['full_name']}",
                "status": "pending",
                "drafter": "offline",
                "created_at": AS_OF,
                "to_address": f"p{i}@bench{i}.example",
                "from_address": am["email"],
            }
            write.upsert_nodes("Draft", [draft])
            release_draft(
                write,
                draft,
                account_id=f"bench-account-{i}",
                released_by="bench",
                role="agent",
                config=FAST,
                now=AS_OF,
                expect_status=None,
            )


def relay_messages(graph: Path, n: int) -> tuple[float, int, int]:
    with connect(str(graph)) as store:
        release_messages(store, n)
        with smtp_server() as server, SmtpChannel(server.host, server.port, starttls=False) as ch:
            started = time.perf_counter()
            report = Relay(store, ch, FAST, worker="bench").run(AS_OF)
            seconds = time.perf_counter() - started
            return seconds, report.sent, len(server.messages)


def main() -> None:
    parser = argparse.ArgumentParser(description="The handoff's throughput (route, draft, relay).")
    parser.add_argument("--accounts", type=int, default=3000)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--work-dir", type=Path, default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="twoloop-handoff-"))
    work.mkdir(parents=True, exist_ok=True)
    graph = prepare(work, args.accounts)
    results: dict[str, Any] = {}
    with connect(str(graph)) as store:
        for name, fn in (("route+draft", route_and_draft_all), ("loop dry run", loop_dry_run)):
            rates, count = [], 0
            for _ in range(args.repeats):
                started = time.perf_counter()
                count = fn(store)
                rates.append(count / (time.perf_counter() - started))
            results[name] = {"matches": count, "per_second": round(statistics.median(rates))}
    rates, sent = [], 0
    for i in range(args.repeats):
        copy = work / f"relay-{i}"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(graph, copy)
        seconds, sent, received = relay_messages(copy, args.messages)
        assert sent == received == args.messages, (sent, received)
        rates.append(sent / seconds)
        shutil.rmtree(copy)
    results["relay"] = {"messages": sent, "per_second": round(statistics.median(rates))}
    out = {
        **meta("bench/handoff.py", accounts=args.accounts),
        "results": results,
        "peak_rss_mb": round(peak_rss_mb()),
    }
    if args.json:
        print(json.dumps(out, indent=2))
        return
    print(f"{out['date']} {out['machine']}: {out['command']}")
    for name, r in results.items():
        what = "messages" if name == "relay" else "matches"
        print(
            f"  {name:<14} {r['per_second']:>8,}/s  ({r[what]:,} {what}, median of {args.repeats})"
        )
    print(f"  peak RSS {out['peak_rss_mb']:,} MB")


if __name__ == "__main__":
    main()
