"""Signing in to the console: through a real OpenID Connect provider, as someone
twoloop does not know, with dev sign-in, and the settings the console refuses."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from graph_model import connect
from tests.support.browser import (
    STRANGER,
    ConsoleServer,
    World,
    button,
    choose,
    clean_env,
    run_twoloop,
    screenshot,
    settle,
    sign_in,
    start_console,
)
from tests.support.servers import free_port

pytestmark = pytest.mark.browser

AM = "005A00000"


def current_page(page: Page):
    """The sidebar link of the page being shown."""
    return page.locator('[data-testid="stSidebarNav"] a[aria-current="page"]')


def test_an_am_signs_in_through_the_provider_and_sees_their_queue(
    page: Page, console: ConsoleServer, world: World
) -> None:
    page.goto(console.url)
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    screenshot(page, "signin")
    page.get_by_role("button", name="Sign in").click()
    # The provider's own page: one button per person it knows.
    expect(page.get_by_role("button", name=AM, exact=True)).to_be_visible()
    assert not page.url.startswith(console.url)
    page.get_by_role("button", name=AM, exact=True).click()

    expect(current_page(page)).to_have_text("Queue")
    expect(page.get_by_role("heading", name=re.compile("^queue$", re.IGNORECASE))).to_be_visible()
    expect(page.get_by_test_id("stSidebar")).to_contain_text(
        f"Signed in as {world.account_managers[AM]}"
    )
    screenshot(page, "queue")


def test_someone_twoloop_does_not_know_is_told_so_and_sees_no_data(
    page: Page, console: ConsoleServer, world: World
) -> None:
    sign_in(page, STRANGER["sub"], console)

    expect(page.get_by_text("twoloop does not know this sign-in")).to_be_visible()
    expect(page.get_by_text(f"Signed in as {STRANGER['email']}")).to_be_visible()
    screenshot(page, "signin-unknown")
    # No pages, no queue, nothing from the graph.
    expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)
    expect(page.get_by_role("heading", name=re.compile("queue", re.IGNORECASE))).to_have_count(0)
    shown = page.inner_text("body")
    with connect(str(world.graph)) as store:
        accounts = store.nodes("Account")["name"].to_list()
    assert not [name for name in accounts if name and name in shown]
    assert not [email for email in world.account_managers.values() if email in shown]


def test_dev_sign_in_shows_its_banner_and_lets_one_pick_an_am(
    page: Page, world: World, browser_logs: Path
) -> None:
    with start_console(world.graph, browser_logs, dev=True) as dev_console:
        page.goto(dev_console.url)
        expect(page.get_by_text("Dev sign-in", exact=False).first).to_be_visible()
        expect(page.get_by_role("button", name="Sign in")).to_have_count(0)
        screenshot(page, "dev-signin")

        page.get_by_label("Act as (dev sign-in)").click()
        page.get_by_role("option", name=re.compile(rf"\({AM}\)")).click()
        expect(current_page(page)).to_have_text("Queue")
        expect(page.get_by_text("Dev sign-in", exact=False).first).to_be_visible()
        settle(page)
        # Opening a match switches page; the person stays signed in (Streamlit drops
        # a widget's value on a page switch unless it persists: the why panel asked
        # "who are you" again).
        choose(page, "Item to open", "(match,", exact=False)
        button(page, "Open item").click()
        expect(page.get_by_role("heading", name="Why", exact=True)).to_be_visible()
        settle(page)
        expect(page.get_by_text("Pick who you are")).to_have_count(0)
        expect(button(page, "Validate")).to_be_visible()


def test_dev_sign_in_refuses_to_listen_beyond_loopback(tmp_path: Path) -> None:
    proc = run_twoloop(
        ["console", "--dev", "--host", "0.0.0.0", "--port", str(free_port())],
        clean_env(TWOLOOP_GRAPH_URI=str(tmp_path / "graph")),
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "TWOLOOP_CONSOLE_HOST" in proc.stderr


OIDC_SETTINGS = {
    "TWOLOOP_CONSOLE_OIDC_METADATA_URL": "http://127.0.0.1:9/.well-known/openid-configuration",
    "TWOLOOP_CONSOLE_OIDC_CLIENT_ID": "twoloop",
    "TWOLOOP_CONSOLE_OIDC_CLIENT_SECRET": "client-secret",
    "TWOLOOP_CONSOLE_COOKIE_SECRET": "x" * 32,
}


@pytest.mark.parametrize("missing", sorted(OIDC_SETTINGS))
def test_oidc_sign_in_without_a_provider_setting_refuses_to_start(
    missing: str, tmp_path: Path
) -> None:
    given = {k: v for k, v in OIDC_SETTINGS.items() if k != missing}
    proc = run_twoloop(
        ["console", "--port", str(free_port())],
        clean_env(TWOLOOP_GRAPH_URI=str(tmp_path / "graph"), TWOLOOP_CONSOLE_AUTH="oidc", **given),
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert missing in proc.stderr
