"""The human loop's commands: an AM's queue, and approve, edit, cancel, defer, kill,
resolve and reassign on its items."""

from __future__ import annotations

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
    _acted_by,
    _now,
    _open,
    _print_json,
    app,
    console,
)
from app.cli.learn import DecisionChoice, ReasonCodeOption, decide_command
from app.human_loop import (
    SendOutcome,
    approve_draft,
    cancel_draft,
    edit_draft,
    resolve_item,
    settle_send,
    work_queue,
)
from app.reassign import reassign
from drafting.style import configured_style_writer
from graph_model.settings import load_settings
from routing.sending import configured_sending


@app.command("queue")
def queue_command(
    am: AmOption,
    of: Annotated[
        str | None,
        typer.Option(
            "--for",
            help="Whose queue: one of your reports' (managers) or anyone's (admins); "
            "default: your own.",
            show_default=False,
        ),
    ] = None,
    now: NowOption = None,
    graph: GraphOption = None,
    json_output: JsonOption = False,
) -> None:
    """What waits for an AM, oldest first: drafts to approve, escalations to resolve,
    tasks (voice notes, research), sends to confirm, replies to read, and play runs
    that wait or left something to read; with why (the play's reason, what a reply
    says)."""
    with _open(graph) as store:
        items = work_queue(store, am, now=_now(now), of=of)
    whose = of or am
    if json_output:
        _print_json({"am": whose, "items": items})
        return
    if not items:
        console.print(Text(f"nothing waits for {whose}"))
        return
    table = Table(title=f"queue of {whose} (oldest first)")
    for column in ("age", "type", "item", "account", "what", "why"):
        table.add_column(column, overflow="fold")
    for item in items:
        # Graph text: rich would read [brackets] in it as markup.
        table.add_row(
            item["age"],
            item["type"],
            item["item"],
            Text(str(item["account"])),
            Text(str(item["what"])),
            Text(str(item["why"])),
        )
    console.print(table)


def _acted(result: dict[str, Any], json_output: bool) -> None:
    if json_output:
        _print_json(result)
        return
    what = result.get("decision") or result.get("status")
    key = next(k for k in ("draft_id", "escalation_id", "task_id", "message_id") if k in result)
    extra = (
        f"; outbox message {result['message_id']}"
        if result.get("message_id") and key != "message_id"
        else ""
    )
    by = _acted_by(result["by"], result["role"], result["on_behalf_of"])
    console.print(Text.assemble((str(what), "green"), f" {result[key]} by {by}{extra}"))


@app.command("approve")
def approve_command(
    draft_id: Annotated[str, typer.Argument(help="The draft id (see twoloop queue).")],
    am: AmOption,
    now: NowOption = None,
    graph: GraphOption = None,
    json_output: JsonOption = False,
) -> None:
    """Approve a pending draft as written: it goes to the outbox (exit 5 if someone
    already decided it, 77 if it is not on your book)."""
    settings = load_settings()
    with _open(graph) as store:
        result = approve_draft(
            store, draft_id, actor=am, now=_now(now), sending=configured_sending(settings)
        )
    _acted(result, json_output)


@app.command("edit")
def edit_command(
    draft_id: Annotated[str, typer.Argument(help="The draft id (see twoloop queue).")],
    am: AmOption,
    body_file: Annotated[
        Path | None,
        typer.Option("--body-file", help="A file with the new body.", show_default=False),
    ] = None,
    subject: Annotated[
        str | None, typer.Option("--subject", help="A new subject.", show_default=False)
    ] = None,
    confirm: Annotated[
        bool,
        typer.Option(
            "--confirm",
            help="Send it although the draft guard stops it (links outside link_domains, "
            "other addresses, prices, discounts, promises, held CRM text); the decision "
            "records what you confirmed.",
        ),
    ] = False,
    now: NowOption = None,
    graph: GraphOption = None,
    json_output: JsonOption = False,
) -> None:
    """Send a pending draft with your changes, after the same guard as drafting (exit 2
    listing what it found, unless --confirm); your own edits teach your style notes."""
    body = body_file.read_text() if body_file else None
    settings = load_settings()
    writer = configured_style_writer(settings)
    with _open(graph) as store:
        result = edit_draft(
            store,
            draft_id,
            actor=am,
            now=_now(now),
            sending=configured_sending(settings),
            subject=subject,
            body=body,
            style_writer=writer,
            confirm=confirm,
        )
    _acted(result, json_output)


@app.command("cancel")
def cancel_command(
    draft_id: Annotated[str, typer.Argument(help="The draft id (see twoloop queue).")],
    am: AmOption,
    reason: Annotated[
        str | None,
        typer.Option("--reason", help="Why it must not go out, in your words.", show_default=False),
    ] = None,
    reason_code: ReasonCodeOption = None,
    now: NowOption = None,
    graph: GraphOption = None,
    json_output: JsonOption = False,
) -> None:
    """Never send a pending draft; its match is killed with the reason (your words,
    a --reason-code, or both)."""
    with _open(graph) as store:
        result = cancel_draft(
            store,
            draft_id,
            actor=am,
            now=_now(now),
            reason=reason,
            reason_code=reason_code,
        )
    _acted(result, json_output)


@app.command("defer")
def defer_command(
    match_id: Annotated[str, typer.Argument(help="The match id.")],
    am: AmOption,
    until: Annotated[str, typer.Option("--until", help="ISO date the match comes back.")],
    now: NowOption = None,
    graph: GraphOption = None,
    json_output: JsonOption = False,
) -> None:
    """Not now: the match comes back to the queue on --until (same as decide defer)."""
    decide_command(
        DecisionChoice.defer,
        match_id,
        am,
        until=until,
        now=now,
        graph=graph,
        json_output=json_output,
    )


@app.command("kill")
def kill_command(
    match_id: Annotated[str, typer.Argument(help="The match id.")],
    am: AmOption,
    reason: Annotated[
        str | None,
        typer.Option(
            "--reason", help="Why it is not worth pursuing, in your words.", show_default=False
        ),
    ] = None,
    reason_code: ReasonCodeOption = None,
    now: NowOption = None,
    graph: GraphOption = None,
    json_output: JsonOption = False,
) -> None:
    """Not worth pursuing, with a reason and/or a reason code (same as decide kill)."""
    decide_command(
        DecisionChoice.kill,
        match_id,
        am,
        until=None,
        reason=reason,
        now=now,
        graph=graph,
        json_output=json_output,
        reason_code=reason_code,
    )


@app.command("resolve")
def resolve_command(
    item_id: Annotated[
        str,
        typer.Argument(help="An escalation (e-...), task (t-...) or unconfirmed send (msg-...)."),
    ],
    am: AmOption,
    answer: Annotated[
        str | None,
        typer.Option(
            "--answer",
            help="Your answer to the escalation's question, or what was done for a task.",
            show_default=False,
        ),
    ] = None,
    sent: Annotated[
        bool, typer.Option("--sent", help="Unconfirmed send: it went out (no resend).")
    ] = False,
    not_sent: Annotated[
        bool,
        typer.Option(
            "--not-sent",
            help="Unconfirmed send: it did not go out; queue it again (same message and "
            "Message-ID).",
        ),
    ] = False,
    cancel: Annotated[
        bool, typer.Option("--cancel", help="Unconfirmed send: never send it.")
    ] = False,
    now: NowOption = None,
    graph: GraphOption = None,
    json_output: JsonOption = False,
) -> None:
    """Take an escalation off the account (automation resumes), finish a task, or settle
    an unconfirmed send with --sent, --not-sent or --cancel."""
    choices: list[tuple[SendOutcome, bool]] = [
        ("sent", sent),
        ("not_sent", not_sent),
        ("cancel", cancel),
    ]
    outcomes: list[SendOutcome] = [o for o, on in choices if on]
    if len(outcomes) > 1:
        raise typer.BadParameter("give one of --sent, --not-sent, --cancel")
    with _open(graph) as store:
        if outcomes and item_id.startswith("msg-"):
            result = settle_send(store, item_id, outcomes[0], actor=am, now=_now(now), note=answer)
        elif outcomes:
            raise typer.BadParameter(
                "--sent, --not-sent and --cancel settle unconfirmed sends (msg-...)"
            )
        else:
            result = resolve_item(store, item_id, actor=am, now=_now(now), answer=answer or "")
    _acted(result, json_output)


@app.command("reassign")
def reassign_command(
    item_id: Annotated[
        str,
        typer.Argument(help="A match (m-...), draft (dr-...), escalation (e-...) or task (t-...)."),
    ],
    to: Annotated[str, typer.Option("--to", help="The AM whose queue it moves to (an am_id).")],
    am: AmOption,
    note: Annotated[
        str | None,
        typer.Option(
            "--note", help="Why, for the record (the decision's reason).", show_default=False
        ),
    ] = None,
    now: NowOption = None,
    graph: GraphOption = None,
    json_output: JsonOption = False,
) -> None:
    """Move open work to another AM's queue: a match travels with its pending draft,
    open escalation and tasks. A manager of the owner or an admin may, onto a book
    they may act on; an AM may hand their own work only to someone they manage.

    Exit codes: 0 moved; 2 already theirs; 4 no such item or AM; 5 decided or moved
    meanwhile (nothing changed); 77 you may not.
    """
    with _open(graph) as store:
        result = reassign(store, item_id, to, actor=am, now=_now(now), note=note)
    if json_output:
        _print_json(result.as_dict())
        return
    by = _acted_by(result.by, result.role, result.on_behalf_of)
    also = [m for m in result.moved if m != result.item]
    extra = f" with {', '.join(also)}" if also else ""
    console.print(
        Text.assemble(
            ("reassigned", "green"),
            f" {result.item}{extra} from {result.from_am or 'nobody'} to {result.to_am} by {by}"
            f" ({result.decision_id})",
        )
    )
