"""``twoloop demo``: sample world -> ingest -> extract -> match -> one dry-run agent batch."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from app.agent_loop import LoopReport
from app.cli.agent_setup import agent_batch
from app.cli.common import (
    GraphOption,
    JsonOption,
    _ingest_progress,
    _open,
    _print_json,
    _progress,
    app,
    console,
)
from app.cli.reports import _counts_table, _print_ingest_report, _print_loop, _print_queue
from app.demo_history import HistoryReport, simulate_history
from app.example_graph import load_example_graph
from graph_model.settings import load_settings
from ingest.config import load_config
from ingest.pipeline import Ingestor
from ingest.sample import AS_OF as SAMPLE_AS_OF
from ingest.sample import write_sample
from matching.derived import link_derived
from matching.indicates import choose_extractors, run_extraction
from matching.model import load_prior
from matching.read import top_matches
from matching.run import Matcher, run_matching
from routing.policy import DEFAULT_FILE as DEFAULT_POLICY
from routing.sending import configured_sending


@app.command("demo")
def demo(
    graph: GraphOption = None,
    sample_dir: Annotated[
        Path, typer.Option("--sample-dir", help="Where the sample world is written.")
    ] = Path(".twoloop/sample"),
    accounts: Annotated[int, typer.Option("--accounts", min=1, help="Sample size.")] = 300,
    example: Annotated[
        bool, typer.Option("--example", help="Load the tiny hand-built example graph instead.")
    ] = False,
    history: Annotated[
        int,
        typer.Option(
            "--history",
            min=0,
            help="Then simulate this many weeks of the human loop (AMs decide, drafts are "
            "approved and sent into a Maildir, replies and deals follow, the score is "
            "refit): a demo world with a past, for the notebooks. 0: none.",
        ),
    ] = 0,
    mail_dir: Annotated[
        Path | None,
        typer.Option(
            "--mail-dir",
            help="With --history: the Maildir the simulated sends go to "
            "(default: demo-mail beside the sample directory).",
            show_default=False,
        ),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Write a sample world, ingest it, extract needs, match, print ranked, explained
    matches for the first AMs' queues, then run one agent-loop batch in dry run and
    print the routed matches with their reasons. With --history WEEKS, then simulate
    that many weeks of AMs working their queues (clearly labelled as simulated).

    Idempotent: a second run leaves the same graph (the sample is regenerated from
    the same seed; ingest upserts; matching is scored as of the sample's date; the
    simulated history is seeded and decides nothing twice).
    """
    if example and history:
        raise typer.BadParameter(
            "the simulated history runs on the sample world, not the example graph",
            param_hint="--history",
        )
    with _open(graph) as store:
        store.ensure_schema()
        if example:
            written = load_example_graph(store)
            counts = store.counts()
            if json_output:
                _print_json({"graph": store.uri, "records_written": written, **counts.as_dict()})
                return
            console.print(f"[green]example graph written[/] to {store.uri} ({written} records)")
            console.print(_counts_table("example graph", counts))
            return
        summary = write_sample(sample_dir, accounts=accounts, seed=7)
        config = load_config(sample_dir / "ingest.yaml")
        with _ingest_progress(json_output) as hook:
            report = Ingestor(store, config, progress=hook).run()
        counts = store.counts()
        if not json_output:
            console.print(
                f"[green]sample world[/] {summary.accounts:,} accounts, {summary.contacts:,} "
                f"contacts, {summary.signals:,} signals in {sample_dir}"
            )
            _print_ingest_report(report)
            console.print(_counts_table(f"graph {store.uri}", counts))
        if not report.ok:
            raise typer.Exit(1)
        # The agent loop's matching half: needs from signals, then ranked, explained matches.
        settings = load_settings()
        extractors = choose_extractors(store, settings)
        with _progress(json_output) as progress:
            extracted = []
            for extractor in extractors:
                progress.add_task(f"extracting needs ({extractor.name})", total=None)
                extracted.append(run_extraction(store, extractor))
            link_derived(store, extractors=extractors)
            progress.add_task("matching", total=None)
            # A history refits the score at its end; the demo's matches stay scored with
            # the prior, so a second run leaves the same graph.
            matcher = Matcher(store, as_of=SAMPLE_AS_OF, model=load_prior()) if history else None
            matched = run_matching(store, as_of=SAMPLE_AS_OF, matcher=matcher)
            progress.add_task("agent loop (dry run)", total=None)
            loop = agent_batch(
                store, policy=DEFAULT_POLICY, now=SAMPLE_AS_OF, am=None, dry_run=True
            )
            # The console's world: the same batch stored, never sent (no channel).
            progress.add_task("agent loop (stored for the console, nothing sent)", total=None)
            stored = agent_batch(
                store, policy=DEFAULT_POLICY, now=SAMPLE_AS_OF, am=None, dry_run=False, send=False
            )
            simulated = None
            if history:
                progress.add_task(f"simulating {history} weeks of the human loop", total=None)
                simulated = simulate_history(
                    store,
                    sample_dir,
                    start=SAMPLE_AS_OF,
                    weeks=history,
                    seed=7,
                    sending=configured_sending(settings),
                    mail_dir=mail_dir,
                )
        queues = {
            am: top_matches(store, am, limit=3, today=SAMPLE_AS_OF.date())
            for am in sorted(matched.by_am)[:2]
        }
        if json_output:
            _print_json(
                {
                    "sample": summary.as_dict(),
                    "ingest": report.as_dict(),
                    **counts.as_dict(),
                    "extraction": [r.as_dict() for r in extracted],
                    "matching": matched.as_dict(),
                    "queues": queues,
                    "agent_loop": loop.as_dict(),
                    "stored": _stored(stored),
                    **({"history": simulated.as_dict()} if simulated else {}),
                    "console": console_command(graph),
                }
            )
            return
        names = [e.name for e in extractors]
        if "claude" not in names:
            console.print(
                f"[yellow]offline:[/] no Claude API key is set, so needs come from the offline "
                f"extractors ({', '.join(names)})"
            )
        console.print(
            f"[green]matched[/] as of {SAMPLE_AS_OF.date()} with model "
            f"{matched.model_version}: {matched.surfaced:,} matches surfaced "
            f"({matched.weak:,} weak) from {matched.pairs:,} pairs; "
            f"{sum(r.findings for r in extracted):,} need findings in the signals "
            f"({', '.join(f'{r.extractor} {r.findings:,}' for r in extracted)})"
        )
        for am, rows in queues.items():
            console.print(f"\n[bold]top matches for {am}[/]")
            _print_queue(rows)
        console.print("\n[bold]agent loop, dry run[/] (twoloop run does it for real)")
        _print_loop(loop, per_action=3)
        waiting = _stored(stored)
        console.print(
            f"\n[bold]the same batch, stored for the AMs[/] (nothing sent: the demo has no "
            f"channel): {waiting['awaiting_approval']} drafts wait for approval, "
            f"{waiting['escalated']} escalations and {waiting['tasks']} tasks are in the queues"
        )
        if simulated:
            _print_history(simulated)
        console.print("\n[bold]work the queues in the console[/] (dev sign-in, this machine only):")
        console.print(Text(f"  {console_command(graph)}"), soft_wrap=True)


def _print_history(report: HistoryReport) -> None:
    decisions = ", ".join(f"{n} {kind}" for kind, n in report.decisions.items()) or "none"
    drafts = ", ".join(f"{n} {what}" for what, n in report.drafts.items())
    console.print(
        f"\n[bold]simulated history[/] ([yellow]SIMULATED[/]: made up by twoloop demo "
        f"--history, seed {report.seed}): {report.weeks} weeks from {report.start[:10]} "
        f"to {report.end[:10]}"
    )
    lines = [
        f"  decisions on matches: {decisions}",
        f"  drafts: {drafts}",
        f"  sent: {report.sent} ({report.in_mail_dir} in the Maildir {report.mail_dir}; "
        f"{report.waiting} still waiting in the outbox)",
        f"  replies: {report.replies} ("
        + ", ".join(f"{n} {c.replace('_', ' ')}" for c, n in report.replies_by_class.items())
        + f"); opportunities opened: {report.opportunities}",
        "  plays: "
        + (
            "; ".join(
                f"{play} " + ", ".join(f"{n} {s}" for s, n in sorted(by.items()))
                for play, by in sorted(report.plays.items())
            )
            or "none fired"
        ),
        f"  score model: learned {report.learned} from {report.learned_from} decisions"
        if report.learned
        else f"  score model: not refit ({report.learn_refused})",
    ]
    if report.already_there:
        lines.append(
            f"  weeks {', '.join(map(str, report.already_there))} were already simulated "
            "in this graph: nothing was decided again"
        )
    lines.append(
        f"  its days run to {report.end[:10]}: to see them as they stand then, add "
        f"--now {report.end[:19]}+00:00 (twoloop queue, plays simulate, "
        "plays run)"
    )
    for line in lines:
        console.print(Text(line), soft_wrap=True)


def _stored(report: LoopReport) -> dict[str, int]:
    return {
        "awaiting_approval": report.awaiting_approval,
        "escalated": report.escalated,
        "tasks": report.tasks,
        "queued_to_send": report.released,
    }


def console_command(graph: str | None) -> str:
    """The one command that opens the console on the demo world."""
    where = f" --graph {shlex.quote(graph)}" if graph else ""
    return f"twoloop console --dev{where}"
