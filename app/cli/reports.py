"""Console views of reports that more than one command prints (a command group and
``twoloop demo``): graph counts, an ingest run, an AM's queue, an agent-loop batch."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text

from app.agent_loop import LoopReport
from app.cli.common import console
from graph_model.store import GraphCounts
from ingest.pipeline import RunReport, run_summary_line


def _counts_table(title: str, counts: GraphCounts) -> Table:
    table = Table(title=title, show_lines=False)
    table.add_column("kind")
    table.add_column("name")
    table.add_column("count", justify="right")
    for label, n in counts.nodes.items():
        table.add_row("node", label, f"{n:,}")
    for rel_type, n in counts.edges.items():
        table.add_row("edge", rel_type, f"{n:,}")
    total_nodes = sum(counts.nodes.values())
    total_edges = sum(counts.edges.values())
    table.add_section()
    table.add_row("total", f"{total_nodes:,} nodes", f"{total_edges:,} edges")
    return table


def _print_ingest_report(report: RunReport) -> None:
    table = Table(title=f"ingest run {report.run_id}")
    for column in (
        "source",
        "status",
        "rows in",
        "loaded",
        "quarantined",
        "duplicates",
        "review",
        "seconds",
    ):
        table.add_column(column, justify="left" if column in ("source", "status") else "right")
    for s in report.sources:
        status = "[green]ok[/]" if s.status == "succeeded" else f"[red]{s.status}[/]"
        table.add_row(
            s.source,
            status,
            f"{s.rows_in:,}",
            f"{s.loaded:,}",
            f"{s.quarantined:,}" + (f" ({s.known_rejects:,} known)" if s.known_rejects else ""),
            f"{s.duplicates:,}",
            f"{s.review:,}",
            f"{s.seconds:.1f}",
        )
    console.print(table)
    for s in report.sources:
        if s.quarantine_file or s.review_file or s.error or s.warnings:
            console.print(Text(run_summary_line(s)))


def _print_queue(rows: list[dict[str, Any]]) -> None:
    for i, row in enumerate(rows, 1):
        flag = " [yellow](weak)[/]" if row["weak"] else ""
        console.print(
            Text.assemble(
                (f"{i:>2}. {row['score']:.2f} ", "bold"),
                f"{row['account']} ({row['account_id']}) <- {row['capability']}  "
                f"[{row['match_id']}]",
            ),
            soft_wrap=True,
            end="",
        )
        console.print(flag)
        console.print(Text("    " + row["explanation"]), soft_wrap=True)
        for line in row["evidence"]:
            console.print(Text("    - " + line), soft_wrap=True)
        if row["contact"]:
            console.print(Text("    contact: " + row["contact"]["reason"]), soft_wrap=True)
        else:
            console.print("    contact: nobody at the account fits the buyer personas")


def _print_loop(report: LoopReport, *, per_action: int) -> None:
    verb = "would be" if report.dry_run else "were"
    if report.offline:
        console.print(
            "[yellow]offline:[/] no Claude API key is set, so drafts come from the offline "
            "drafter (composed from the evidence, labelled offline)"
        )
    esc = report.escalations
    console.print(
        f"escalation triggers: {esc.get('opened', 0)} new escalations {verb} opened "
        f"({', '.join(f'{k} {v}' for k, v in esc.get('by_kind', {}).items()) or 'none'}) "
        f"from {esc.get('texts', 0):,} recent texts"
    )
    console.print(
        f"{report.routes.get('matches', 0)} proposed matches routed (policy "
        f"{report.routes.get('digest')}); {report.drafted} drafts written by {report.drafter}"
    )
    table = Table(
        title="routed per action" + (" (dry run: nothing stored or sent)" if report.dry_run else "")
    )
    table.add_column("action")
    table.add_column("matches", justify="right")
    for action, n in report.actions.items():
        table.add_row(action, str(n))
    if report.already_handled:
        table.add_row("handed over earlier", str(report.already_handled))
    console.print(table)
    if not report.dry_run:
        relay = report.relay
        console.print(
            f"released to the outbox {report.released}, awaiting approval "
            f"{report.awaiting_approval}, escalated {report.escalated}, tasks {report.tasks}, "
            f"alerts {report.alerts}; relay sent {relay.get('sent', 0)}, deferred "
            f"{relay.get('deferred', 0)}, suppressed {relay.get('suppressed', 0)}, blocked "
            f"{relay.get('blocked', 0)}"
        )
    # The strongest few of each action, so every kind of handoff shows.
    by_action: dict[str, list[dict[str, Any]]] = {}
    for m in sorted(report.matches, key=lambda m: -float(m.get("score") or 0.0)):
        if "action" in m:
            by_action.setdefault(m["action"], []).append(m)
    for action in report.actions:
        rows = by_action.get(action, [])
        console.print(Text(f"\n{action} ({len(rows)})", style="bold"))
        for m in rows[:per_action]:
            console.print(
                Text(
                    f"  {m.get('score', 0):.2f} {m['account_id']} <- {m['capability_id']} "
                    f"[{m['rule']}] {m['reason']}"
                )
            )
        if len(rows) > per_action:
            console.print(f"  ... and {len(rows) - per_action} more (--json lists them all)")
