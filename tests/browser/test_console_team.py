"""The team page in a real browser: a manager sees each report's queue and pace;
an account manager without reports has no team page."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from graph_model import connect
from tests.support.browser import ConsoleServer, World, screenshot, settle, sign_in, table_rows

pytestmark = pytest.mark.browser

MANAGER = "005M0000"
AM = "005A00000"


def nav(page: Page, title: str):
    return page.get_by_test_id("stSidebarNav").get_by_role("link", name=title, exact=True)


def test_a_manager_sees_their_reports_on_the_team_page(
    page: Page, console: ConsoleServer, world: World
) -> None:
    with connect(str(world.graph)) as store:
        reports = store.edges("REPORTS_TO", touching=[MANAGER], side="target")
        reports = sorted(reports.filter(reports["src_label"] == "AccountManager")["src"].to_list())
    assert reports, "the demo world's AMs report to its director"
    sign_in(page, MANAGER, console)

    nav(page, "Team").click()
    expect(page.get_by_role("heading", name="Team", exact=True)).to_be_visible()
    expect(page).to_have_url(re.compile(r"/team$"))
    settle(page)
    shown = table_rows(page)
    assert reports == sorted(row["am_id"] for row in shown if row["am_id"] != MANAGER)
    screenshot(page, "team")


def test_an_am_without_reports_has_no_team_page(page: Page, console: ConsoleServer) -> None:
    sign_in(page, AM, console)
    expect(nav(page, "Queue")).to_be_visible()
    expect(nav(page, "Team")).to_have_count(0)

    page.goto(f"{console.url}team")
    settle(page)
    expect(page.get_by_role("heading", name="Team", exact=True)).to_have_count(0)
