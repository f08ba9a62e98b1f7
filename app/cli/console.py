"""``twoloop console``: the AM console (Streamlit) on the configured host, port and store."""

from __future__ import annotations

import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from app.cli.common import GraphOption, app, console
from app.console.serve import (
    check,
    console_environment,
    redirect_uri,
    streamlit_command,
    write_secrets,
)
from graph_model.settings import load_settings


@app.command("console")
def console_command(
    graph: GraphOption = None,
    host: Annotated[
        str | None,
        typer.Option("--host", help="Listen address (TWOLOOP_CONSOLE_HOST).", show_default=False),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            "--port", min=1, max=65535, help="Port (TWOLOOP_CONSOLE_PORT).", show_default=False
        ),
    ] = None,
    dev: Annotated[
        bool,
        typer.Option(
            "--dev",
            help="Dev sign-in: pick a user from a list, no provider (loopback only, with a "
            "banner). Same as TWOLOOP_CONSOLE_AUTH=dev.",
        ),
    ] = False,
) -> None:
    """Serve the AM console: the queue, the why panel, drafts, escalations, the team
    and outcomes, signed in through OpenID Connect (or --dev on this machine)."""
    overrides: dict[str, object] = {}
    if graph:
        overrides["graph_uri"] = graph
    if host:
        overrides["console_host"] = host
    if port:
        overrides["console_port"] = port
    if dev:
        overrides["console_auth"] = "dev"
    settings = load_settings().model_copy(update=overrides)
    check(settings)
    with tempfile.TemporaryDirectory(prefix="twoloop-console-") as private:
        secrets = write_secrets(settings, Path(private))
        where = f"http://{settings.console_host}:{settings.console_port}/"
        how = (
            "dev sign-in"
            if settings.console_auth == "dev"
            else f"sign-in via {redirect_uri(settings)}"
        )
        console.print(Text(f"twoloop console on {where} ({how}; graph {settings.graph_uri})"))
        process = subprocess.Popen(
            streamlit_command(settings, secrets), env=console_environment(settings)
        )

        def stop(signum: int, _frame: object) -> None:
            process.send_signal(signum)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        code = process.wait()
    raise typer.Exit(0 if code in (0, -signal.SIGTERM, -signal.SIGINT) else code)
