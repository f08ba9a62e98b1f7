"""``twoloop plays``: check a plays file, simulate it, run it, and act on its runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from app.cli.common import (
    AmOption,
    GraphOption,
    JsonOption,
    NowOption,
    _now,
    _open,
    _print_json,
    _progress,
    app,
    console,
)
from app.cli.policy import _cond
from app.play_decisions import PlayDecision
from graph_model.settings import load_settings
from graph_model.store import Filter
from routing.play_fire import simulate_plays
from routing.plays import (
    EVENT_FIELDS,
    PLACEHOLDERS,
    STEP_KINDS,
    SUBJECT_FIELDS,
    PlayBook,
    configured_plays,
)

plays_app = typer.Typer(
    help="Plays: motions that react to what happens (check, simulate, run, list, read, cancel).",
    no_args_is_help=True,
)
app.add_typer(plays_app, name="plays")

PlaysOption = Annotated[
    Path | None,
    typer.Option(
        "--plays",
        help="A plays YAML file (default: TWOLOOP_PLAYS_FILE, else routing/plays.yaml).",
        show_default=False,
    ),
]


def _book(path: Path | None) -> PlayBook:
    book = configured_plays(path, load_settings())
    if book is None:
        console.print("plays are off (TWOLOOP_PLAYS_FILE=off); give --plays FILE to use one")
        raise typer.Exit(0)
    return book


def play_summary(book: PlayBook) -> list[dict[str, Any]]:
    return [
        {
            "play": p.id,
            "description": p.description,
            "enabled": p.enabled,
            "trigger": {
                "event": p.trigger.event,
                "where": [_cond(c) for c in p.trigger.where],
                "count": p.trigger.count,
                "within_days": p.trigger.within_days,
                "per": p.trigger.per,
            },
            "when": [_cond(c) for c in p.when],
            "steps": [s.describe() for s in p.steps],
            "stop_on": list(p.stops_on()),
            "cooldown_days": p.cooldown_days,
        }
        for p in book.plays
    ]


@plays_app.command("check")
def plays_check(
    plays: PlaysOption = None,
    fields: Annotated[
        bool, typer.Option("--fields", help="Also list the fields and steps a play can use.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Check a plays file: triggers, filters, steps, placeholders, do-not-send conflicts."""
    book = _book(plays)
    summary = play_summary(book)
    reference = {
        "events": {
            src: {
                n: {"type": f.kind, "description": f.description, "choices": list(f.choices)}
                for n, f in fs.items()
            }
            for src, fs in EVENT_FIELDS.items()
        },
        "subject": {
            n: {"type": f.kind, "description": f.description, "choices": list(f.choices)}
            for n, f in SUBJECT_FIELDS.items()
        },
        "steps": {name: text for name, (_, text) in STEP_KINDS.items()},
        "play": {
            "trigger": "event (signal, activity, reply, decision, send), where, count, "
            "within_days (needed with a count above 1), per (account, person, contact)",
            "when": "conditions on the subject fields",
            "reason": "what the AM reads; placeholders: "
            + ", ".join("{" + p + "}" for p in PLACEHOLDERS),
            "stop_on": "reply, opt_out, escalation, meeting, cancel "
            "(opt_out and cancel always apply)",
            "cooldown_days": "fire at most once per subject in this many days (default 30)",
            "enabled": "false keeps the play in the file without running it",
            "max_age_days": "(file level) events older than this never fire a play (default 14)",
        },
    }
    if json_output:
        _print_json(
            {
                "plays": book.path,
                "ok": True,
                "digest": book.digest,
                "items": summary,
                **({"fields": reference} if fields else {}),
            }
        )
        return
    console.print(f"[green]ok[/] {book.path}: {len(summary)} plays", highlight=False)
    for p in summary:
        t = p["trigger"]
        pattern = f"{t['count']}x " if t["count"] > 1 else ""
        window = f" in {t['within_days']:g} days" if t["within_days"] else ""
        where = " and ".join(t["where"]) or "any"
        when = " and ".join(p["when"])
        off = "" if p["enabled"] else " (off)"
        console.print(f"  {p['play']}{off}", markup=False)
        console.print(
            f"    on {pattern}{t['event']} ({where}){window}, per {t['per']}"
            + (f", when {when}" if when else ""),
            markup=False,
            soft_wrap=True,
        )
        console.print(
            "    " + " -> ".join(p["steps"]) + "; stops on " + ", ".join(p["stop_on"]),
            markup=False,
            soft_wrap=True,
        )
    if fields:
        for src, fs in reference["events"].items():
            console.print(f"{src} event fields:")
            for n, f in fs.items():
                choices = f" ({', '.join(f['choices'])})" if f["choices"] else ""
                console.print(
                    f"  {n:<20} {f['type']:<6} {f['description']}{choices}",
                    markup=False,
                    soft_wrap=True,
                )
        console.print("subject fields (when):")
        for n, f in reference["subject"].items():
            choices = f" ({', '.join(f['choices'])})" if f["choices"] else ""
            console.print(
                f"  {n:<20} {f['type']:<6} {f['description']}{choices}",
                markup=False,
                soft_wrap=True,
            )
        console.print("steps:")
        for n, text in reference["steps"].items():
            console.print(f"  {n:<10} {text}", markup=False, soft_wrap=True)
        console.print("a play's keys:")
        for n, text in reference["play"].items():
            console.print(f"  {n:<14} {text}", markup=False, soft_wrap=True)


@plays_app.command("simulate")
def plays_simulate(
    plays: PlaysOption = None,
    days: Annotated[int, typer.Option("--days", min=1, max=365, help="How far back to look.")] = 30,
    am: Annotated[
        str | None, typer.Option("--am", help="Only this AM's.", show_default=False)
    ] = None,
    now: NowOption = None,
    graph: GraphOption = None,
    json_output: JsonOption = False,
) -> None:
    """What the plays would have fired over the last N days, per play and per AM; writes nothing."""
    book = _book(plays)
    with _open(graph) as store, _progress(json_output) as progress:
        if am is not None and not store.existing_keys("AccountManager", [am]):
            raise typer.BadParameter(f"no AccountManager {am!r}", param_hint="--am")
        progress.add_task(f"replaying {days} days of events", total=None)
        result = simulate_plays(store, book, now=_now(now), days=days, am=am)
    if json_output:
        _print_json(result)
        return
    who = f" for {am}" if am else ""
    console.print(
        f"{result['fired']} plays would have fired in the last {days} days{who} "
        f"(to {result['until'][:10]}) under {result['plays']}",
        highlight=False,
    )
    table = Table(title="per play")
    for column in ("play", "fired", "steps", "example"):
        table.add_column(column, justify="right" if column == "fired" else "left", overflow="fold")
    for p in result["per_play"]:
        ex = p["examples"][0] if p["examples"] else None
        table.add_row(
            p["play"] + ("" if p["enabled"] else " (off)"),
            str(p["fired"]),
            p["steps"],
            Text(f"{ex['at'][:10]} {ex['reason']}") if ex else "-",
        )
    console.print(table)
    if result["per_am"]:
        by_am = Table(title="per AM")
        for column in ("AM", "fired", "plays"):
            by_am.add_column(column)
        for row in result["per_am"]:
            by_am.add_row(
                f"{row['am']} ({row['am_id']})",
                str(row["fired"]),
                ", ".join(f"{k} {v}" for k, v in row["plays"].items()),
            )
        console.print(by_am)


@plays_app.command("run")
def plays_run(
    plays: PlaysOption = None,
    now: NowOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would fire now; store and send nothing.")
    ] = False,
    graph: GraphOption = None,
    json_output: JsonOption = False,
) -> None:
    """One tick of the plays: fire what the recent events call for, advance every open
    run (stop, wait, research, draft, task, escalate). `twoloop loop run` does this too."""
    from routing.play_runs import run_plays
    from routing.sending import configured_sending

    book = _book(plays)
    settings = load_settings()
    with _open(graph) as store, _progress(json_output) as progress:
        progress.add_task("plays", total=None)
        report = run_plays(
            store,
            book,
            now=_now(now),
            sending=configured_sending(settings),
            min_personalization=settings.draft_min_personalization,
            settings=settings,
            dry_run=dry_run,
        )
    if json_output:
        _print_json(report.as_dict())
        return
    fired = sum(report.fired.values())
    verb = "would fire" if dry_run else "fired"
    console.print(
        f"{fired} plays {verb}"
        + (": " + ", ".join(f"{k} {v}" for k, v in report.fired.items()) if fired else ""),
        highlight=False,
    )
    if dry_run:
        for r in report.runs:
            console.print(f"  {r['play']}: {r['reason']}", markup=False, soft_wrap=True)
        return
    console.print(
        f"runs advanced {report.advanced}: research {report.research}, alerts {report.alerts}, "
        f"drafts {report.drafts}, sent {report.sent}, tasks {report.tasks}, "
        f"escalations {report.escalations}",
        highlight=False,
    )
    for why, n in report.stopped.items():
        console.print(f"  stopped {n}: {why}", markup=False)
    if report.status:
        console.print(
            "open runs: " + ", ".join(f"{k} {v}" for k, v in sorted(report.status.items())),
            highlight=False,
        )
    for play, n in report.left_alone.items():
        console.print(
            f"  left alone: {n} open run(s) of {play}, a play this file does not have "
            "(twoloop plays list; plays cancel stops one)",
            markup=False,
            soft_wrap=True,
        )
    for note in report.notes:
        console.print(f"  note: {note}", markup=False, soft_wrap=True)


@plays_app.command("list")
def plays_list(
    am: Annotated[
        str | None, typer.Option("--am", help="Only this AM's runs.", show_default=False)
    ] = None,
    status: Annotated[
        str,
        typer.Option("--status", help="open (active, waiting, needs_am), done, stopped or all."),
    ] = "open",
    graph: GraphOption = None,
    json_output: JsonOption = False,
) -> None:
    """Play runs: which play, about whom, why it fired, and what it waits for."""
    wanted = {
        "open": ["active", "waiting", "needs_am"],
        "done": ["done"],
        "stopped": ["stopped"],
        "all": ["active", "waiting", "needs_am", "done", "stopped"],
    }
    if status not in wanted:
        raise typer.BadParameter("open, done, stopped or all", param_hint="--status")
    where = [Filter("status", "in", wanted[status])]
    if am:
        where.append(Filter("am_id", "eq", am))
    with _open(graph) as store:
        runs = store.nodes("PlayRun", where)
        names = store.names("Account", runs["account_id"].to_list()) if runs.height else {}
    rows = [
        {
            "run_id": r["run_id"],
            "play": r["play_id"],
            "am_id": r["am_id"],
            "account_id": r["account_id"],
            "account": names.get(r["account_id"], r["account_id"]),
            "person_id": r["person_id"],
            "match_id": r["match_id"],
            "fired_at": r["fired_at"],
            "status": r["status"],
            "waiting_for": r["waiting_for"],
            "wait_until": r["wait_until"],
            "reason": r["reason"],
            "stopped_reason": r["stopped_reason"],
            "steps_done": [e["kind"] for e in json.loads(r["log"] or "[]")],
        }
        for r in (
            runs.sort("fired_at", descending=True).iter_rows(named=True) if runs.height else []
        )
    ]
    if json_output:
        _print_json(rows)
        return
    if not rows:
        console.print(f"no {status} play runs" + (f" for {am}" if am else ""))
        return
    table = Table(title=f"{status} play runs" + (f" of {am}" if am else ""))
    for column in ("run", "play", "account", "status", "reason"):
        table.add_column(column, overflow="fold")
    for r in rows:
        state = r["status"]
        if r["status"] == "waiting" and r["wait_until"]:
            state += f" until {r['wait_until']:%Y-%m-%d}"
        elif r["waiting_for"]:
            state += f" ({r['waiting_for']})"
        elif r["stopped_reason"]:
            state += f": {r['stopped_reason']}"
        table.add_row(r["run_id"], r["play"], r["account"], Text(state), Text(r["reason"]))
    console.print(table)


def _settle(
    run_id: str,
    actor: str,
    decision: PlayDecision,
    reason: str | None,
    now: str | None,
    graph: str | None,
    json_output: bool,
) -> None:
    from app.play_decisions import settle_play_run

    with _open(graph) as store:
        result = settle_play_run(
            store,
            run_id,
            actor=actor,
            decision=decision,
            now=_now(now),
            reason=reason,
        )
    if json_output:
        _print_json(result)
        return
    console.print(
        f"{run_id}: {result['status']}"
        + (f" ({result['stopped_reason']})" if result.get("stopped_reason") else ""),
        markup=False,
    )


@plays_app.command("read")
def plays_read(
    run_id: Annotated[str, typer.Argument(help="The play run (twoloop plays list).")],
    actor: AmOption,
    now: NowOption = None,
    graph: GraphOption = None,
    json_output: JsonOption = False,
) -> None:
    """Mark what a play run left you (a research summary, an alert) as read: it is done."""
    _settle(run_id, actor, "read", None, now, graph, json_output)


@plays_app.command("cancel")
def plays_cancel(
    run_id: Annotated[str, typer.Argument(help="The play run (twoloop plays list).")],
    actor: AmOption,
    reason: Annotated[
        str | None, typer.Option("--reason", help="Why, in your words.", show_default=False)
    ] = None,
    now: NowOption = None,
    graph: GraphOption = None,
    json_output: JsonOption = False,
) -> None:
    """Stop a play run where it is: its pending draft is withdrawn, nothing it queued is sent."""
    _settle(run_id, actor, "cancel", reason, now, graph, json_output)
