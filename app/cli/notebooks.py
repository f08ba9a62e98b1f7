"""``twoloop notebooks``: JupyterLab on the analysts' notebooks, and scheduled runs."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from app.cli.common import GraphOption, JsonOption, _print_json, _progress, app, console
from app.notebooks import (
    DEFAULT_TIMEOUT,
    NOTEBOOK_DIR,
    NotebookError,
    describe,
    kernel_environment,
    lab_command,
    notebook_paths,
    parse_value,
    run,
    store_location,
)
from graph_model import connect
from graph_model.settings import load_settings

notebooks_app = typer.Typer(
    help="The analysts' notebooks: open them in JupyterLab, list them, run one as a report.",
    invoke_without_command=True,
)
app.add_typer(notebooks_app, name="notebooks")

DirOption = Annotated[
    Path,
    typer.Option("--dir", help="The notebooks' directory.", show_default=False),
]


@notebooks_app.callback()
def notebooks_command(
    ctx: typer.Context,
    graph: GraphOption = None,
    port: Annotated[
        int | None,
        typer.Option("--port", min=1, max=65535, help="JupyterLab's port (default 8888 or free)."),
    ] = None,
    host: Annotated[str, typer.Option("--host", help="Listen address.")] = "127.0.0.1",
    browser: Annotated[
        bool, typer.Option("--browser/--no-browser", help="Open a browser tab.")
    ] = True,
    directory: DirOption = NOTEBOOK_DIR,
) -> None:
    """Open JupyterLab on the notebooks with the project's Python (its kernel imports
    twoloop) and the configured store: the kernels get TWOLOOP_GRAPH_URI, so every
    notebook reads the graph --graph names (default: the settings' store, the one
    `twoloop demo` fills)."""
    if ctx.invoked_subcommand is not None:
        return
    uri = store_location(graph or load_settings().graph_uri)
    with connect(uri) as store:
        empty = store.counts().nodes.get("Match", 0) == 0
    if empty:
        console.print(
            Text(
                f"note: the graph at {uri} has no matches yet; the notebooks need some: "
                "run `twoloop demo --history 4` first (a sample world with four simulated "
                "weeks of the human loop)"
            ),
            soft_wrap=True,
        )
    env = kernel_environment(uri)
    console.print(
        Text(f"JupyterLab on {directory} (graph {uri}); stop it with Ctrl-C"), soft_wrap=True
    )
    process = subprocess.Popen(
        lab_command(directory.resolve(), port=port, browser=browser, host=host), env=env
    )

    def stop(signum: int, _frame: object) -> None:
        process.send_signal(signal.SIGTERM if signum == signal.SIGTERM else signal.SIGINT)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    code = process.wait()
    raise typer.Exit(0 if code in (0, -signal.SIGTERM, -signal.SIGINT, 130) else code)


@notebooks_app.command("list")
def list_command(directory: DirOption = NOTEBOOK_DIR, json_output: JsonOption = False) -> None:
    """The notebooks, the question each answers and its parameters."""
    infos = [describe(p) for p in notebook_paths(directory)]
    if json_output:
        _print_json([i.as_dict() for i in infos])
        return
    table = Table(title=f"notebooks in {directory}")
    for column in ("name", "answers", "parameters"):
        table.add_column(column)
    for info in infos:
        table.add_row(
            Text(info.name),
            Text(f"{info.title}\n{info.question}"),
            Text(", ".join(p.name for p in info.parameters)),
        )
    console.print(table)


@notebooks_app.command("run")
def run_command(
    name: Annotated[str, typer.Argument(help="A notebook's name (graph_tour) or path.")],
    parameter: Annotated[
        list[str] | None,
        typer.Option(
            "-p",
            "--parameter",
            help="name=value for the notebook's parameters cell (repeatable); values are "
            "Python literals (None, 3, 'x') or plain text.",
        ),
    ] = None,
    out: Annotated[
        Path,
        typer.Option("--out", help="Where the executed notebook, the HTML and the charts go."),
    ] = Path(".twoloop/reports"),
    graph: GraphOption = None,
    html: Annotated[bool, typer.Option("--html/--no-html", help="Also export HTML.")] = True,
    code: Annotated[
        bool, typer.Option("--code/--no-code", help="Show the code cells in the HTML report.")
    ] = False,
    timeout: Annotated[
        int, typer.Option("--timeout", min=1, help="Seconds one cell may take.")
    ] = DEFAULT_TIMEOUT,
    directory: DirOption = NOTEBOOK_DIR,
    json_output: JsonOption = False,
) -> None:
    """Run one notebook in a fresh kernel with these parameters and keep the executed
    copy (out/NAME.ipynb), an HTML report (out/NAME.html) and its charts as PNG
    (out/NAME/*.png), for a scheduled report.

    Exit codes: 0 done; 1 a cell raised (the executed copy shows where); 2 an unknown
    notebook or parameter.
    """
    values: dict[str, object] = {}
    for item in parameter or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip().isidentifier():
            raise NotebookError(f"-p {item!r}: expected name=value")
        values[key.strip()] = parse_value(value)
    with _progress(json_output) as progress:
        progress.add_task(f"running {name}", total=None)
        result = run(
            name,
            values=values,
            out=out,
            graph=graph,
            html=html,
            code=code,
            timeout=timeout,
            directory=directory,
        )
    if json_output:
        _print_json(result.as_dict())
        return
    console.print(
        Text(
            f"ran {result.name} in {result.seconds:.1f} s: {result.notebook}"
            + (f", {result.html}" if result.html else "")
            + (
                f", {len(result.figures)} charts in {result.figures[0].parent}"
                if result.figures
                else ""
            )
        ),
        soft_wrap=True,
    )
