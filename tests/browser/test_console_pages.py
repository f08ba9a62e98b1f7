"""Every page of the console opens in a real browser for an AM and for a manager,
without an error, and is kept as a screenshot."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from app.console.screens.items import TITLE as ITEMS_TITLE
from tests.support.browser import ConsoleServer, screenshot, settle, sign_in

pytestmark = pytest.mark.browser

# Sidebar order: (the page's link, its heading, its screenshot's name; the queue's
# is taken by the sign-in test).
PAGES = [
    ("Queue", "Queue", None),
    ("Why", "Why", "why-empty"),
    ("Drafts and escalations", ITEMS_TITLE, "items"),
    ("Team", "Team", "team"),
    ("Outcomes", "Outcomes", "outcomes"),
]


@pytest.mark.parametrize(("person", "manager"), [("005A00000", False), ("005M0000", True)])
def test_every_page_opens_without_an_error(
    page: Page, console: ConsoleServer, person: str, manager: bool
) -> None:
    sign_in(page, person, console)
    nav = page.get_by_test_id("stSidebarNav")
    pages = [p for p in PAGES if manager or p[0] != "Team"]
    expect(nav.get_by_role("link")).to_have_text([link for link, _, _ in pages])
    for link, heading, name in pages:
        nav.get_by_role("link", name=link, exact=True).click()
        settle(page)
        expect(nav.locator('a[aria-current="page"]')).to_have_text(link)
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
        expect(page.get_by_test_id("stException")).to_have_count(0)
        if name and not manager:
            screenshot(page, name)
