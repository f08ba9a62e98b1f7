"""Issue 16: what `twoloop console` starts with: refusals named by setting, and the
[auth] secrets Streamlit's st.login reads, written from twoloop's settings."""

from __future__ import annotations

import stat
import tomllib
from pathlib import Path

import pytest

from app.console.auth import is_loopback
from app.console.serve import check, redirect_uri, write_secrets
from graph_model.errors import ConfigError
from graph_model.settings import Settings

OIDC = {
    "console_oidc_metadata_url": "http://127.0.0.1:9400/.well-known/openid-configuration",
    "console_oidc_client_id": "twoloop",
    "console_oidc_client_secret": 'se"cret\\',
    "console_cookie_secret": "c" * 32,
}


def test_dev_sign_in_listens_only_on_loopback() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3")
    check(Settings(console_auth="dev", console_host="127.0.0.1"))
    with pytest.raises(ConfigError, match="TWOLOOP_CONSOLE_HOST"):
        check(Settings(console_auth="dev", console_host="0.0.0.0"))


@pytest.mark.parametrize("missing", sorted(OIDC))
def test_oidc_sign_in_names_each_missing_setting(missing: str) -> None:
    given = {k: v for k, v in OIDC.items() if k != missing}
    with pytest.raises(ConfigError, match="TWOLOOP_" + missing.upper()):
        check(Settings(console_auth="oidc", **given))  # type: ignore[arg-type]


def test_a_short_cookie_secret_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"TWOLOOP_CONSOLE_COOKIE_SECRET.*32"):
        check(Settings(console_auth="oidc", **{**OIDC, "console_cookie_secret": "short"}))  # type: ignore[arg-type]


def test_the_auth_secrets_are_private_and_read_back_exactly(tmp_path: Path) -> None:
    settings = Settings(console_auth="oidc", console_port=8600, **OIDC)  # type: ignore[arg-type]
    check(settings)
    path = write_secrets(settings, tmp_path / "private")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    auth = tomllib.loads(path.read_text())["auth"]
    assert auth == {
        "redirect_uri": "http://127.0.0.1:8600/oauth2callback",
        "cookie_secret": "c" * 32,
        "client_id": "twoloop",
        "client_secret": 'se"cret\\',
        "server_metadata_url": OIDC["console_oidc_metadata_url"],
    }
    given = Settings(console_redirect_uri="https://twoloop.example.com/oauth2callback")
    assert redirect_uri(given) == "https://twoloop.example.com/oauth2callback"
    # Dev sign-in writes no secrets at all.
    dev = write_secrets(Settings(console_auth="dev"), tmp_path / "dev")
    assert dev.read_text() == ""
