"""The scheduled agent loop: every step of the agent loop, in order, as one recorded
run under one lock, for cron, systemd or ``twoloop ingest schedule``.

Steps (each idempotent, each committing its own work):

1. ``ingest``: the config's sources (``ingest run``); only new or changed rows
   are written, and each commit journals what it changed.
2. ``replies``: new mail from the mailbox (``TWOLOOP_IMAP_URL``), then every inbound
   email that answers one of our sends is threaded, classified and acted on
   (``app.replies``): an unsubscribe suppresses before anything is matched or sent,
   an interested reply holds the account for its AM. A mailbox that cannot be read
   fails the step, so nothing is sent while replies cannot be seen.
3. ``extract``: signals -> needs (Claude with a key, else the rules); only
   changed edges are written, and journalled.
4. ``triggers``: escalation triggers in what was ingested (before matching, so a
   person an opt-out marked do-not-contact is never chosen as a contact by the
   same run).
5. ``match``: incremental (``matching.incremental``): the accounts whose inputs
   changed, whose time-decayed score or gate window is due, or that were never
   scored with the active model; ``full=True`` rescores every account.
6. ``handoff``: routes, drafts, releases to the outbox, escalations and tasks
   (``twoloop run`` without its relay; its trigger check finds nothing new).
7. ``relay``: sends what is due (skipped without an SMTP server).
8. ``plays``: one tick of the plays (``twoloop plays run``): what recent events
   (this run's sends among them) fire, and every open run advanced; skipped when
   plays are off. Last, so a plays file that does not check fails only this step;
   a message a play's ``send`` step releases goes out with the next relay.

The run is a ``LoopRun`` node, updated after every step with the step's status,
counts, error and seconds. It stops at the first failed step and exits with that
step's code (README "Exit codes"); another loop holding the lock is exit 75. A
run killed at any point leaves its LoopRun ``running``: the next run marks it
interrupted and, every step being idempotent, converges to the state of an
uninterrupted run.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import socket
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import polars as pl

from app.agent_loop import run_agent_loop
from app.replies import ReplySetup, read_replies
from drafting.model import Drafter
from drafting.offline import OfflineDrafter
from graph_model.errors import IngestFailed, TwoloopError
from graph_model.locks import job_lock
from graph_model.settings import Settings, load_settings
from graph_model.store import GraphStore
from ingest.config import IngestConfig
from ingest.pipeline import Ingestor, run_summary_line
from matching.derived import link_derived
from matching.extract import Extractor, RulesExtractor, needs_from_frame
from matching.incremental import plan_incremental
from matching.indicates import run_extraction
from matching.recheck import Thresholds
from matching.run import Matcher, run_matching
from routing.channels import Channel
from routing.escalation import TriggerBook, detect_escalations
from routing.outbox import Relay
from routing.play_runs import run_plays
from routing.plays import PlayBook, load_plays
from routing.policy import Policy, load_policy
from routing.sending import SendingConfig, load_sending

STEPS = ("ingest", "replies", "extract", "triggers", "match", "handoff", "relay", "plays")
StepStatus = Literal["ok", "failed", "skipped"]


class Undelivered(TwoloopError):
    """The relay could not hand messages to SMTP (they wait and are tried again)."""

    transient = True
    exit_code = 3


class RefusedBySmtp(TwoloopError):
    """SMTP refused messages for good."""

    exit_code = 1


@dataclass
class StepReport:
    name: str
    status: StepStatus = "ok"
    seconds: float = 0.0
    counts: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    exit_code: int = 0


@dataclass
class LoopRunReport:
    run_id: str
    store: str
    started_at: dt.datetime
    as_of: dt.datetime
    full: bool
    status: str = "running"
    steps: list[StepReport] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def exit_code(self) -> int:
        return next((s.exit_code for s in self.steps if s.status == "failed"), 0)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "exit_code": self.exit_code}


@dataclass
class LoopSetup:
    """What the loop runs with; the CLI builds it from the settings."""

    policy: Policy
    drafter: Drafter
    sending: SendingConfig
    min_personalization: float
    extractors: Callable[[GraphStore], list[Extractor]]
    config: IngestConfig | None = None
    channel: Channel | None = None
    alerts: Channel | None = None
    triggers: TriggerBook | None = None
    plays: PlayBook | None = None
    # The plays file did not check: the plays step fails with this, nothing else does.
    plays_error: TwoloopError | None = None
    settings: Settings | None = None
    replies: ReplySetup | None = None

    @classmethod
    def offline(cls, config: IngestConfig | None = None) -> LoopSetup:
        """The shipped policy, plays and send-time rules, the offline drafter and the
        rules extractor alone (no model to load), no channels: a loop that needs no key
        and sends nothing (tests, benchmarks, a first look)."""
        return cls(
            policy=load_policy(),
            drafter=OfflineDrafter(),
            sending=load_sending(),
            min_personalization=load_settings().draft_min_personalization,
            extractors=lambda store: [RulesExtractor(needs_from_frame(store.nodes("Need")))],
            config=config,
            plays=load_plays(),
        )


# Called after each step has committed (tests kill the process there).
StepHook = Callable[[str], None]


def new_loop_run_id(now: dt.datetime) -> str:
    nonce = hashlib.sha1(f"{now.isoformat()}{os.getpid()}{time.perf_counter_ns()}".encode())
    return f"loop-{now:%Y%m%dT%H%M%SZ}-{nonce.hexdigest()[:6]}"


def run_loop(
    store: GraphStore,
    setup: LoopSetup,
    *,
    now: dt.datetime | None = None,
    full: bool = False,
    after_step: StepHook | None = None,
    progress: Callable[[str], None] | None = None,
) -> LoopRunReport:
    """One run of the whole agent loop under the store's ``loop`` lock."""
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    started = time.perf_counter()
    with job_lock(store, "loop") as held:
        _close_interrupted(store)
        report = LoopRunReport(new_loop_run_id(now), store.uri, dt.datetime.now(dt.UTC), now, full)
        _record(store, report)
        steps: dict[str, Callable[[], dict[str, Any] | str]] = {
            "ingest": lambda: _ingest(store, setup),
            "replies": lambda: _replies(store, setup, now),
            "extract": lambda: _extract(store, setup, now),
            "triggers": lambda: _triggers(store, setup, now),
            "match": lambda: _match(store, setup, now, full),
            "handoff": lambda: _handoff(store, setup, now),
            "plays": lambda: _plays(store, setup, now),
            "relay": lambda: _relay(store, setup, now, report.run_id),
        }
        for name in STEPS:
            held.check()
            if progress is not None:
                progress(name)
            step = StepReport(name)
            t0 = time.perf_counter()
            try:
                outcome = steps[name]()
                if isinstance(outcome, str):
                    step.status, step.error = "skipped", outcome
                else:
                    step.counts = outcome
            except TwoloopError as exc:
                step.status, step.error, step.exit_code = "failed", str(exc), exc.exit_code
            step.seconds = round(time.perf_counter() - t0, 3)
            report.steps.append(step)
            report.status = "failed" if step.status == "failed" else "running"
            _record(store, report)
            if after_step is not None:
                after_step(name)
            if step.status == "failed":
                break
        report.status = "failed" if report.exit_code else "succeeded"
        report.seconds = round(time.perf_counter() - started, 3)
        _record(store, report, finished=True)
    return report


# ------------------------------------------------------------------ steps


def _ingest(store: GraphStore, setup: LoopSetup) -> dict[str, Any] | str:
    if setup.config is None:
        return "no ingest config given (--config)"
    run = Ingestor(store, setup.config).run()
    counts = {
        s.source: {
            "rows_in": s.rows_in,
            "loaded": s.loaded,
            "written": s.written,
            "quarantined": s.quarantined,
            "known_rejects": s.known_rejects,
        }
        for s in run.sources
    }
    failed = next((s for s in run.sources if s.status != "succeeded"), None)
    if failed is not None:
        raise IngestFailed(run_summary_line(failed))
    return {"written": sum(c["written"] for c in counts.values()), "sources": counts}


def _replies(store: GraphStore, setup: LoopSetup, now: dt.datetime) -> dict[str, Any]:
    found = read_replies(store, setup.replies or ReplySetup(), now=now)
    box = found["mailbox"]
    return {
        "fetched": box["fetched"] if box else None,
        "malformed": box["malformed"] if box else None,
        "threaded": len(found["replies"]),
        "by_class": found["by_class"],
        "suppressed": len(found["suppressed"]),
        "escalated": len(found["escalated"]),
        "fallbacks": len(found["fallbacks"]),
    }


def _extract(store: GraphStore, setup: LoopSetup, now: dt.datetime) -> dict[str, Any]:
    extractors = setup.extractors(store)
    reports = [run_extraction(store, extractor) for extractor in extractors]
    derived = link_derived(store, now=now, extractors=extractors)
    return {
        "extractors": [r.extractor for r in reports],
        "signals_read": {r.extractor: r.signals_read for r in reports},
        "written": sum(r.written for r in reports),
        "removed": sum(r.removed for r in reports),
        **derived.as_dict(),
    }


def _triggers(store: GraphStore, setup: LoopSetup, now: dt.datetime) -> dict[str, Any]:
    found = detect_escalations(store, now=now, book=setup.triggers).as_dict()
    found.pop("escalations", None)
    return found


def _match(store: GraphStore, setup: LoopSetup, now: dt.datetime, full: bool) -> dict[str, Any]:
    matcher = Matcher(store, as_of=now)
    thresholds = Thresholds(
        score=setup.policy.thresholds("score"), intent=setup.policy.thresholds("intent")
    )
    if full:
        run = run_matching(store, as_of=now, matcher=matcher, thresholds=thresholds)
        plan: dict[str, Any] = {"full": True, "reasons": {"full": run.accounts}}
    else:
        planned = plan_incremental(
            store, matcher.metapaths, model_version=matcher.model.version, now=now
        )
        run = run_matching(
            store,
            as_of=now,
            matcher=matcher,
            accounts=None if planned.full else planned.accounts,
            thresholds=thresholds,
            consumes=planned.changesets,
        )
        plan = {"full": planned.full, "reasons": planned.reasons}
    return {
        **plan,
        "accounts": run.accounts,
        "surfaced": run.surfaced,
        "written": run.written,
        "removed": run.removed,
        "model_version": run.model_version,
        "next_recheck": run.recheck_due,
    }


def _handoff(store: GraphStore, setup: LoopSetup, now: dt.datetime) -> dict[str, Any]:
    loop = run_agent_loop(
        store,
        policy=setup.policy,
        drafter=setup.drafter,
        sending=setup.sending,
        now=now,
        min_personalization=setup.min_personalization,
        channel=None,  # the relay is a step of its own
        alerts=setup.alerts,
        triggers=setup.triggers,
    )
    return {
        "routes_written": loop.routes.get("written", 0),
        "routes_unchanged": loop.routes.get("unchanged", 0),
        "actions": loop.actions,
        "drafted": loop.drafted,
        "released": loop.released,
        "awaiting_approval": loop.awaiting_approval,
        "escalated": loop.escalated,
        "tasks": loop.tasks,
        "alerts": loop.alerts,
        "drafter": loop.drafter,
    }


def _plays(store: GraphStore, setup: LoopSetup, now: dt.datetime) -> dict[str, Any] | str:
    if setup.plays_error is not None:
        raise setup.plays_error
    if setup.plays is None:
        return "plays are off (TWOLOOP_PLAYS_FILE=off)"
    report = run_plays(
        store,
        setup.plays,
        now=now,
        sending=setup.sending,
        min_personalization=setup.min_personalization,
        settings=setup.settings,
    )
    return {
        "fired": sum(report.fired.values()),
        "advanced": report.advanced,
        "stopped": sum(report.stopped.values()),
        "research": report.research,
        "drafts": report.drafts,
        "sent": report.sent,
        "tasks": report.tasks,
        "escalations": report.escalations,
        "open_runs": report.status,
    }


def _relay(
    store: GraphStore, setup: LoopSetup, now: dt.datetime, run_id: str
) -> dict[str, Any] | str:
    if setup.channel is None:
        return "no TWOLOOP_SMTP_HOST: released messages wait in the outbox"
    worker = f"{run_id}@{socket.gethostname()}:{os.getpid()}"
    report = Relay(store, setup.channel, setup.sending, worker=worker).run(now)
    counts = report.as_dict()
    if report.rejected:
        raise RefusedBySmtp(f"SMTP refused {report.rejected} message(s) for good: {counts}")
    if report.retry:
        raise Undelivered(f"{report.retry} message(s) could not be handed to SMTP; they wait")
    return counts


# ------------------------------------------------------------------ the record


def _record(store: GraphStore, report: LoopRunReport, *, finished: bool = False) -> None:
    store.upsert_nodes(
        "LoopRun",
        [
            {
                "run_id": report.run_id,
                "started_at": report.started_at,
                "as_of": report.as_of,
                "finished_at": dt.datetime.now(dt.UTC) if finished else None,
                "status": report.status,
                "holder": f"{socket.gethostname()}:{os.getpid()}",
                "full": report.full,
                "steps": json.dumps([asdict(s) for s in report.steps], default=str),
                "error": next((s.error for s in report.steps if s.status == "failed"), None),
            }
        ],
    )


def _close_interrupted(store: GraphStore) -> None:
    """Runs still 'running' while we hold the loop lock were cut off: say so."""
    stale = store.nodes("LoopRun", {"status": "running"})
    if stale.height:
        store.upsert_nodes(
            "LoopRun",
            stale.with_columns(
                pl.lit("failed").alias("status"),
                pl.lit(dt.datetime.now(dt.UTC)).cast(pl.Datetime("us", "UTC")).alias("finished_at"),
                pl.lit("interrupted: the process stopped before the run finished").alias("error"),
            ),
        )


def recent_runs(store: GraphStore, limit: int = 10) -> list[dict[str, Any]]:
    """The latest loop runs, newest first, with their steps."""
    runs = store.nodes("LoopRun").sort("started_at", descending=True).head(limit)
    return [{**r, "steps": json.loads(r["steps"])} for r in runs.iter_rows(named=True)]
