"""Cron schedules from ``ingest.yaml``, run in the foreground for teams without cron.

Each schedule names a five-field cron expression, a time zone and the sources it
runs (all of them by default), or ``job: loop`` for the whole agent loop. The
scheduler sleeps until the next fire time, runs that schedule under its lock (the
store's ingest lock, or the loop's), logs one line per source or loop run, and
goes on. A run that finds its lock taken is skipped and logged, never queued
twice. SIGTERM and Ctrl-C stop it between runs.
"""

from __future__ import annotations

import datetime as dt
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from graph_model.errors import ConfigFileInvalid, JobLocked
from graph_model.store import GraphStore
from ingest.config import IngestConfig, Schedule
from ingest.pipeline import Ingestor


def check_schedules(config: IngestConfig) -> None:
    for i, sched in enumerate(config.schedules):
        if not croniter.is_valid(sched.cron) or len(sched.cron.split()) != 5:
            raise ConfigFileInvalid(
                str(config.config_path),
                f"schedules[{i}].cron",
                f"{sched.cron!r} is not a five-field cron expression",
                hint="minute hour day-of-month month day-of-week, e.g. '30 2 * * *'",
            )
        try:
            ZoneInfo(sched.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigFileInvalid(
                str(config.config_path),
                f"schedules[{i}].timezone",
                f"unknown time zone {sched.timezone!r}",
            ) from None


def next_fire(sched: Schedule, after: dt.datetime) -> dt.datetime:
    local = after.astimezone(ZoneInfo(sched.timezone))
    fire = croniter(sched.cron, local).get_next(dt.datetime)
    return fire.astimezone(dt.UTC)


def upcoming(config: IngestConfig, after: dt.datetime, count: int) -> list[tuple[dt.datetime, str]]:
    """The next ``count`` (time, schedule name) pairs across all schedules, in order."""
    check_schedules(config)
    out: list[tuple[dt.datetime, str]] = []
    for sched in config.schedules:
        t = after
        for _ in range(count):
            t = next_fire(sched, t)
            out.append((t, sched.name))
    return sorted(out)[:count]


@dataclass
class ScheduledRun:
    schedule: str
    due: dt.datetime
    # An ingest run's RunReport, or what ``run_loop`` returned for a loop schedule.
    report: Any
    skipped: str | None = None


class Scheduler:
    def __init__(
        self,
        store: GraphStore,
        config: IngestConfig,
        *,
        on_run: Callable[[ScheduledRun], None],
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        loop: Callable[[], Any] | None = None,
    ) -> None:
        check_schedules(config)
        for i, sched in enumerate(config.schedules):
            if sched.job == "loop" and loop is None:
                raise ConfigFileInvalid(
                    str(config.config_path),
                    f"schedules[{i}].job",
                    "this scheduler cannot run the agent loop",
                    hint="twoloop ingest schedule runs loop schedules",
                )
        if not config.schedules:
            raise ConfigFileInvalid(
                str(config.config_path),
                "schedules",
                "no schedules to run",
                hint="add e.g. {name: nightly, cron: '30 2 * * *'}",
            )
        self.store = store
        self.config = config
        self.on_run = on_run
        self.clock = clock
        self.loop = loop
        self.stop = threading.Event()

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        self.stop.set()

    def run(self, *, run_now: bool = False, max_runs: int | None = None) -> int:
        """Run until stopped (or ``max_runs`` schedule firings); returns how many ran."""
        previous = signal.signal(signal.SIGTERM, self._handle)
        done = 0
        try:
            now = self.clock()
            due = {s.name: (now if run_now else next_fire(s, now)) for s in self.config.schedules}
            while not self.stop.is_set() and (max_runs is None or done < max_runs):
                name = min(due, key=lambda n: due[n])
                wait = (due[name] - self.clock()).total_seconds()
                if wait > 0 and self.stop.wait(wait):
                    break
                sched = next(s for s in self.config.schedules if s.name == name)
                try:
                    if sched.job == "loop" and self.loop is not None:
                        report: Any = self.loop()
                    else:
                        report = Ingestor(self.store, self.config).run(sched.sources)
                    self.on_run(ScheduledRun(name, due[name], report))
                except JobLocked as exc:
                    self.on_run(ScheduledRun(name, due[name], None, skipped=str(exc)))
                done += 1
                due[name] = next_fire(sched, max(self.clock(), due[name]))
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
        return done
