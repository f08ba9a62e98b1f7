"""Starting the console: the Streamlit command line and its ``[auth]`` secrets,
from twoloop's settings (``twoloop console``).

Streamlit reads its OpenID Connect settings from a secrets file; twoloop writes
one from ``TWOLOOP_CONSOLE_*`` into a private directory (0700, the file 0600)
for the life of the server, so the client secret and cookie secret live in one
place: twoloop's settings.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from app.console.auth import is_loopback
from graph_model.errors import ConfigError
from graph_model.settings import Settings

MAIN = Path(__file__).with_name("main.py")
_OIDC_REQUIRED = (
    "console_oidc_metadata_url",
    "console_oidc_client_id",
    "console_oidc_client_secret",
    "console_cookie_secret",
)


def check(settings: Settings) -> None:
    """Refuse settings the console cannot safely start with, naming the setting."""
    if settings.console_auth == "dev":
        if not is_loopback(settings.console_host):
            raise ConfigError(
                "TWOLOOP_CONSOLE_HOST",
                f"dev sign-in lets anyone act as anyone, so it listens only on a loopback "
                f"address, not {settings.console_host}",
                hint="use 127.0.0.1, or sign in through OpenID Connect (TWOLOOP_CONSOLE_AUTH=oidc)",
            )
        return
    for name in _OIDC_REQUIRED:
        if not getattr(settings, name):
            raise ConfigError(
                "TWOLOOP_" + name.upper(),
                "OpenID Connect sign-in needs it",
                hint="set it, or try the console locally with twoloop console --dev",
            )
    if len(settings.console_cookie_secret or "") < 32:
        raise ConfigError("TWOLOOP_CONSOLE_COOKIE_SECRET", "needs at least 32 characters (random)")


def redirect_uri(settings: Settings) -> str:
    if settings.console_redirect_uri:
        return settings.console_redirect_uri
    host = settings.console_host
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{settings.console_port}/oauth2callback"


def secrets_toml(settings: Settings) -> str:
    """Streamlit's ``[auth]`` section for OpenID Connect sign-in (TOML strings are
    JSON-compatible when quoted this way)."""
    values = {
        "redirect_uri": redirect_uri(settings),
        "cookie_secret": settings.console_cookie_secret or "",
        "client_id": settings.console_oidc_client_id or "",
        "client_secret": settings.console_oidc_client_secret or "",
        "server_metadata_url": settings.console_oidc_metadata_url or "",
    }
    lines = ["[auth]"] + [f"{k} = {json.dumps(v)}" for k, v in values.items()]
    return "\n".join(lines) + "\n"


def write_secrets(settings: Settings, directory: Path) -> Path:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = directory / "secrets.toml"
    body = secrets_toml(settings) if settings.console_auth == "oidc" else ""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(body)
    return path


def streamlit_command(settings: Settings, secrets: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(MAIN),
        "--server.address",
        settings.console_host,
        "--server.port",
        str(settings.console_port),
        "--server.headless",
        "true",
        "--server.fileWatcherType",
        "none",
        "--server.runOnSave",
        "false",
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "viewer",
        "--global.developmentMode",
        "false",
        "--secrets.files",
        str(secrets),
    ]


def console_environment(settings: Settings) -> dict[str, str]:
    """The environment the Streamlit process reads twoloop's settings from."""
    env = dict(os.environ)
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        key = "TWOLOOP_" + name.upper()
        env[key] = ",".join(value) if isinstance(value, tuple) else str(value)
    return env
