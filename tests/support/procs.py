"""Processes that die for real: a relay run in a child process that sends itself
SIGKILL at a chosen point (``python -m tests.support.procs relay ...``), so tests
see what ``kill -9`` leaves behind (no ``finally`` runs, no buffers flushed)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from routing.sending import SendingConfig

REPO = Path(__file__).resolve().parents[2]


def write_sending(config: SendingConfig, path: Path) -> Path:
    path.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    return path


def relay_args(
    graph: str,
    smtp: tuple[str, int],
    sending: Path,
    *,
    now: dt.datetime,
    worker: str,
    kill_at: str | None = None,
    kill_after: int = 1,
) -> list[str]:
    """The command line of a relay pass in a process of its own; with ``kill_at``
    ("checked", "claimed", "sent", "marked") it SIGKILLs itself the ``kill_after``-th
    time it reaches that stage."""
    args = [
        sys.executable,
        "-m",
        "tests.support.procs",
        "relay",
        "--graph",
        graph,
        "--smtp",
        f"{smtp[0]}:{smtp[1]}",
        "--sending",
        str(sending),
        "--now",
        now.isoformat(),
        "--worker",
        worker,
    ]
    if kill_at:
        args += ["--kill-at", kill_at, "--kill-after", str(kill_after)]
    return args


def run_relay(
    graph: str,
    smtp: tuple[str, int],
    sending: Path,
    *,
    now: dt.datetime,
    worker: str,
    kill_at: str | None = None,
    kill_after: int = 1,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run one relay pass in a child process (see ``relay_args``) and wait for it."""
    args = relay_args(
        graph, smtp, sending, now=now, worker=worker, kill_at=kill_at, kill_after=kill_after
    )
    return subprocess.run(
        args, cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False
    )


def _relay(ns: argparse.Namespace) -> int:
    from graph_model import connect
    from routing.channels.smtp import SmtpChannel
    from routing.outbox import Relay
    from routing.sending import load_sending

    host, port = ns.smtp.rsplit(":", 1)
    seen = {"n": 0}

    def fault(stage: str, message: dict[str, Any]) -> None:
        if stage == ns.kill_at:
            seen["n"] += 1
            if seen["n"] >= ns.kill_after:
                os.kill(os.getpid(), signal.SIGKILL)

    with connect(ns.graph) as store, SmtpChannel(host, int(port)) as channel:
        relay = Relay(store, channel, load_sending(Path(ns.sending)), worker=ns.worker, fault=fault)
        result = relay.run(dt.datetime.fromisoformat(ns.now))
    print(json.dumps(result.as_dict()))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.procs")
    sub = parser.add_subparsers(dest="command", required=True)
    relay = sub.add_parser("relay")
    relay.add_argument("--graph", required=True)
    relay.add_argument("--smtp", required=True)
    relay.add_argument("--sending", required=True)
    relay.add_argument("--now", required=True)
    relay.add_argument("--worker", default="proc")
    relay.add_argument("--kill-at", default=None)
    relay.add_argument("--kill-after", type=int, default=1)
    ns = parser.parse_args(argv)
    return _relay(ns)


if __name__ == "__main__":
    raise SystemExit(main())
