"""``twoloop replies``: read replies (mailbox, then threading and classifying), list
them, mark one handled."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from app.cli.common import (
    AmOption,
    GraphOption,
    JsonOption,
    NowOption,
    _acted_by,
    _now,
    _open,
    _print_json,
    app,
    console,
)
from app.human_loop import handle_reply
from app.replies import ReplySetup, choose_reply_classifier, configured_mailbox, read_replies
from graph_model.settings import load_settings
from routing.replies import REPLY_STATUSES, list_replies, reply_summary

replies_app = typer.Typer(
    help="Inbound replies to our sends: read them (mailbox and CRM activities), list them, "
    "mark one handled."
)
app.add_typer(replies_app, name="replies")


@replies_app.command("read")
def replies_read(
    imap: Annotated[
        str | None,
        typer.Option(
            "--imap",
            help="The mailbox to read, as imap://USER@HOST:PORT/INBOX (or imaps://, "
            "imap+starttls://); default: TWOLOOP_IMAP_URL, and without it only the "
            "activities already in the graph (CRM exports) are threaded.",
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Classify and count, but fetch and change nothing."),
    ] = False,
    now: NowOption = None,
    graph: GraphOption = None,
    json_output: JsonOption = False,
) -> None:
    """Fetch new mail, then thread and classify every inbound email that answers one of
    our sends: unsubscribes suppress at once, interested replies go to the AM."""
    settings = load_settings()
    setup = ReplySetup(
        mailbox=configured_mailbox(settings, imap), classifier=choose_reply_classifier(settings)
    )
    with _open(graph) as store:
        result = read_replies(store, setup, now=_now(now), dry_run=dry_run)
    if json_output:
        _print_json(result)
        return
    box = result["mailbox"]
    if box is not None:
        console.print(
            Text(
                f"{box['source']}: {box['fetched']} fetched, {box['stored']} stored, "
                f"{box['known']} already known, {box['unrelated']} unrelated, "
                f"{box['malformed']} malformed"
            )
        )
        for problem in box["problems"]:
            console.print(Text(f"  malformed: {problem}"))
    verb = "would thread" if dry_run else "threaded"
    console.print(
        Text(f"{verb} {len(result['replies'])} new replies (classifier {result['classifier']})")
    )
    for kind, n in result["by_class"].items():
        console.print(Text(f"  {kind:<14} {n:>5}"))
    for address in result["suppressed"]:
        console.print(Text(f"  suppressed {address}"))
    for escalation in result["escalated"]:
        console.print(Text(f"  escalated {escalation}"))
    for reason in result["fallbacks"]:
        console.print(Text(f"  fell back to the rules: {reason}"))


@replies_app.command("list")
def replies_list(
    am: Annotated[
        str | None,
        typer.Option("--am", help="Only replies to this AM's sends.", show_default=False),
    ] = None,
    status: Annotated[
        str, typer.Option("--status", help="open, handled or all.", show_default=True)
    ] = "open",
    graph: GraphOption = None,
    json_output: JsonOption = False,
) -> None:
    """Replies, newest first, with their class and what was done."""
    if status not in REPLY_STATUSES:
        raise typer.BadParameter("choose open, handled or all", param_hint="--status")
    with _open(graph) as store:
        rows = list_replies(store, am=am, status=status)
    if json_output:
        _print_json({**reply_summary(rows), "items": rows.drop("body").to_dicts()})
        return
    if not rows.height:
        console.print(Text(f"no {status} replies" if status != "all" else "no replies"))
        return
    table = Table(title=f"{status} replies" + (f" to {am}" if am else ""))
    for column in ("received", "reply", "account", "from", "class", "status", "actions"):
        table.add_column(column, overflow="fold")
    for r in rows.iter_rows(named=True):
        table.add_row(
            f"{r['received_at']:%Y-%m-%d %H:%M}",
            r["reply_id"],
            r["account_id"],
            Text(r["from_address"] or "-"),
            f"{r['classification']} ({r['classifier']})",
            r["status"],
            Text("; ".join(r["actions"]) or "-"),
        )
    console.print(table)


@replies_app.command("handle")
def replies_handle(
    reply_id: Annotated[str, typer.Argument(help="The reply (r-...).")],
    am: AmOption,
    note: Annotated[
        str | None, typer.Option("--note", help="What you did about it.", show_default=False)
    ] = None,
    now: NowOption = None,
    graph: GraphOption = None,
    json_output: JsonOption = False,
) -> None:
    """Mark a reply handled (a Decision records who, in what right, and for whom)."""
    with _open(graph) as store:
        result = handle_reply(store, reply_id, actor=am, now=_now(now), note=note)
    if json_output:
        _print_json(result)
        return
    by = _acted_by(result["by"], result["role"], result["on_behalf_of"])
    console.print(Text(f"{reply_id} handled by {by} ({result['decision_id']})"))
