"""The agent-loop commands: ``twoloop route``, ``twoloop run`` (one batch) and
``twoloop relay`` (send the due outbox)."""

from __future__ import annotations

import datetime as dt
import os
from typing import Annotated

import typer
from rich.text import Text

from app.cli.agent_setup import agent_batch, email_channel
from app.cli.common import (
    GraphOption,
    JsonOption,
    NowOption,
    PolicyOption,
    _now,
    _open,
    _print_json,
    _progress,
    app,
    console,
    err_console,
)
from app.cli.reports import _print_loop
from graph_model.errors import ConfigError
from graph_model.settings import load_settings
from routing.outbox import Relay
from routing.policy import DEFAULT_FILE as DEFAULT_POLICY
from routing.policy import load_policy
from routing.route import route_matches
from routing.sending import configured_sending


@app.command("route")
def route_command(
    policy: PolicyOption = DEFAULT_POLICY,
    am: Annotated[
        str | None, typer.Option("--am", help="Only this AM's matches.", show_default=False)
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be stored; store nothing.")
    ] = False,
    graph: GraphOption = None,
    json_output: JsonOption = False,
) -> None:
    """Give every proposed match one action, with its rule and reason, and store it."""
    checked = load_policy(policy)
    with _open(graph) as store:
        report = route_matches(store, checked, now=dt.datetime.now(dt.UTC), am=am, dry_run=dry_run)
    if json_output:
        _print_json(report.as_dict())
        return
    verb = "would store" if dry_run else "stored"
    console.print(
        f"{report.matches} proposed matches: {verb} {report.written} new routes, "
        f"{report.unchanged} unchanged (policy {report.digest})"
    )
    for action, n in report.actions.items():
        console.print(f"  {action:<28} {n:>7}")


@app.command("run")
def run_command(
    policy: PolicyOption = DEFAULT_POLICY,
    am: Annotated[
        str | None, typer.Option("--am", help="Only this AM's matches.", show_default=False)
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Route and draft, but store and send nothing.")
    ] = False,
    now: NowOption = None,
    limit: Annotated[
        int, typer.Option("--limit", min=0, help="Routed matches to print per action.")
    ] = 5,
    graph: GraphOption = None,
    json_output: JsonOption = False,
) -> None:
    """One agent-loop batch: escalation triggers, route, draft, check, then execute
    (auto_send goes to the outbox and the relay sends it; approvals, escalations and
    tasks go to the AM's queue). Running it again sends nothing twice.

    Without TWOLOOP_SMTP_HOST no email goes out: released messages wait in the outbox.
    """
    when = _now(now)
    with _open(graph) as store, _progress(json_output) as progress:
        progress.add_task("agent loop: triggers, route, draft, execute", total=None)
        report = agent_batch(store, policy=policy, now=when, am=am, dry_run=dry_run)
    if json_output:
        _print_json(report.as_dict())
    else:
        _print_loop(report, per_action=limit)
        if not load_settings().smtp_host and report.released:
            console.print("[yellow]no TWOLOOP_SMTP_HOST:[/] released emails wait in the outbox")
    _exit_if_undelivered(report.relay.get("retry", 0), report.relay.get("rejected", 0))


@app.command("relay")
def relay_command(
    now: NowOption = None,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="Send at most this many.")
    ] = None,
    graph: GraphOption = None,
    json_output: JsonOption = False,
) -> None:
    """Send the due outbox messages through SMTP, once each, with the send-time
    guardrails (suppression, escalations, caps, quiet hours, sender domain, footer)."""
    settings = load_settings()
    channel = email_channel(settings)
    if channel is None:
        raise ConfigError("TWOLOOP_SMTP_HOST", "is not set; the relay has nowhere to send")
    with _open(graph) as store, channel:
        report = Relay(
            store, channel, configured_sending(settings), worker=f"relay-{os.getpid()}"
        ).run(_now(now), limit=limit)
    if json_output:
        _print_json(report.as_dict())
    else:
        console.print(
            f"{report.due} due: sent {report.sent}, deferred {report.deferred}, suppressed "
            f"{report.suppressed}, blocked {report.blocked}, retry later {report.retry}, "
            f"rejected by SMTP {report.rejected}, unconfirmed {report.unconfirmed}, taken by "
            f"another relay {report.conflicts}"
        )
        for note in report.notes:
            console.print(Text(f"  {note}"))
    _exit_if_undelivered(report.retry, report.rejected)


def _exit_if_undelivered(retry: int, rejected: int) -> None:
    """Cron and systemd see it: exit 3 while SMTP only failed for now (the messages wait
    and are tried again), 1 if it refused some for good."""
    if retry or rejected:
        err_console.print(
            Text.assemble(
                ("error: ", "bold red"),
                f"{retry + rejected} message(s) could not be handed to SMTP "
                f"({retry} to retry, {rejected} refused)",
            )
        )
        raise typer.Exit(1 if rejected else 3)
