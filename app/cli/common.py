"""What every command shares: the root Typer app and its one-line errors, the common
options, the JSON and progress output, and ``--now``/``--am`` parsing."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text
from typer.core import TyperGroup

from graph_model import connect
from graph_model.errors import TwoloopError
from graph_model.store import GraphStore
from ingest.pipeline import ProgressHook

console = Console()
err_console = Console(stderr=True)


class _ErrorsAsOneLine(TyperGroup):
    """Print TwoloopError as one clear line and exit with its code."""

    def invoke(self, ctx: Any) -> Any:  # typer vendors click; its Context type is private
        try:
            return super().invoke(ctx)
        except TwoloopError as exc:
            line = " ".join(str(exc).split())
            # Text, not markup: the message may quote data with [brackets] in it.
            err_console.print(Text.assemble(("error: ", "bold red"), line), soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None


app = typer.Typer(
    cls=_ErrorsAsOneLine,
    help="twoloop: knowledge-graph matching for account managers, with an explicit "
    "handoff between the agent loop and the human loop.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


GraphOption = Annotated[
    str | None,
    typer.Option(
        "--graph",
        envvar="TWOLOOP_GRAPH_URI",
        help="Graph store: a directory (embedded) or neo4j://, neo4j+s://, bolt:// URI. "
        "Default: .twoloop/graph",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def _open(graph: str | None) -> GraphStore:
    return connect(graph)


def _print_json(payload: Any) -> None:
    sys.stdout.write(json.dumps(payload, indent=2, default=_json_default) + "\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def _progress(disabled: bool) -> Progress:
    """A progress display on stderr (stdout stays clean for --json); gone when done."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        disable=disabled,
        transient=True,
    )


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        from importlib.metadata import version as dist_version

        console.print(f"twoloop {dist_version('twoloop')}")
        raise typer.Exit(0)


@contextlib.contextmanager
def _ingest_progress(disabled: bool) -> Iterator[ProgressHook]:
    with _progress(disabled) as progress:
        tasks: dict[tuple[str, str], TaskID] = {}

        def hook(source: str, stage: str, done: int, total: int) -> None:
            key = (source, stage)
            if key not in tasks:
                tasks[key] = progress.add_task(f"{source}: {stage}", total=total or 1)
            progress.update(tasks[key], completed=done, total=total or 1)

        yield hook


PolicyOption = Annotated[
    Path,
    typer.Option(
        "--policy", help="A routing policy YAML file (default: the shipped routing/policy.yaml)."
    ),
]


NowOption = Annotated[
    str | None,
    typer.Option(
        "--now",
        help="Act as of this ISO time (with a time zone); default: the current time.",
        show_default=False,
    ),
]
AmOption = Annotated[
    str,
    typer.Option(
        "--am",
        "--as",
        help="Who acts: your AccountManager id (or email). An AM acts on their own book, a "
        "manager on their reports' books, an admin (TWOLOOP_ADMINS) on any, on behalf of "
        "its owner; anyone else is refused (exit 77).",
    ),
]


def _now(value: str | None) -> dt.datetime:
    if value is None:
        return dt.datetime.now(dt.UTC)
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not an ISO time", param_hint="--now") from None
    if when.tzinfo is None:
        raise typer.BadParameter(
            "give a time zone, e.g. 2026-11-20T12:00+00:00", param_hint="--now"
        )
    return when.astimezone(dt.UTC)


def _acted_by(actor: str, role: str, on_behalf_of: str | None) -> str:
    """``am-1``, or ``am-3 (manager, for am-1)``."""
    if role == "am":
        return actor
    return f"{actor} ({role}, for {on_behalf_of})" if on_behalf_of else f"{actor} ({role})"
