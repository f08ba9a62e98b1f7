"""The ``twoloop`` command: one sub-app per area, ``--help`` everywhere, ``--json`` for data.

Errors that twoloop raises on purpose print as one line on stderr and exit
non-zero with the error type's exit code; nothing prints a traceback.

One module per command group; each registers its commands on the apps in
``common`` when imported. The import order below is the order ``twoloop --help``
lists the commands in.
"""

from __future__ import annotations

# isort: off
from app.cli import graph  # noqa: F401
from app.cli import demo  # noqa: F401
from app.cli import ingest  # noqa: F401
from app.cli import sample  # noqa: F401
from app.cli import match  # noqa: F401
from app.cli import learn  # noqa: F401
from app.cli import backtest  # noqa: F401
from app.cli import policy  # noqa: F401
from app.cli import plays  # noqa: F401
from app.cli import workflows  # noqa: F401
from app.cli import agent  # noqa: F401
from app.cli import loop  # noqa: F401
from app.cli import human  # noqa: F401
from app.cli import research  # noqa: F401
from app.cli import replies  # noqa: F401
from app.cli import console  # noqa: F401
from app.cli import notebooks  # noqa: F401

# isort: on
from app.cli.agent_setup import agent_batch, choose_drafter, email_channel, loop_setup
from app.cli.common import app
from app.cli.graph import schema_as_dict

__all__ = [
    "agent_batch",
    "app",
    "choose_drafter",
    "email_channel",
    "loop_setup",
    "main",
    "schema_as_dict",
]


def main() -> None:
    app()
