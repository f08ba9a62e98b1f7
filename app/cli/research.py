"""``twoloop research``: the research summary on an account for its AM, each
statement with the signals, deals and people it cites."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from app.actors import act_on
from app.cli.common import GraphOption, JsonOption, NowOption, _now, _open, _print_json, app
from drafting.research import render_research, write_research
from graph_model.errors import DecisionRejected
from matching.owners import account_owners


@app.command("research")
def research_command(
    account_id: Annotated[str, typer.Argument(help="The Account id.")],
    actor: Annotated[
        str | None,
        typer.Option(
            "--as",
            "--am",
            help="Who asks: your AccountManager id or email (the owner, their manager, or "
            "an admin); default: the account's owner.",
            show_default=False,
        ),
    ] = None,
    match_id: Annotated[
        str | None,
        typer.Option("--match", help="The match the research is for (its contact first)."),
    ] = None,
    now: NowOption = None,
    graph: GraphOption = None,
    json_output: JsonOption = False,
) -> None:
    """What an AM should know about an account before acting: what is happening, who
    matters, what we could offer, what to watch out for. Written by Claude when a key
    is set, else offline (and it says so); stored, once a day per account."""
    when = _now(now)
    with _open(graph) as store:
        store.get_node("Account", account_id, hint="give an Account id")
        owner = account_owners(store, [account_id]).get(account_id)
        am_id = owner
        if actor is not None:
            acting = act_on(
                store, actor, action="research", item=f"account {account_id}", owner=owner
            )
            am_id = owner or acting.am_id
        if am_id is None:
            raise DecisionRejected(
                f"account {account_id} has no owner to write the research for",
                hint="give --as with your AccountManager id",
            )
        row = write_research(store, account_id=account_id, am_id=am_id, now=when, match_id=match_id)
    if json_output:
        _print_json({**row, "statements": json.loads(row["statements"] or "[]")})
        return
    typer.echo(render_research(row))
