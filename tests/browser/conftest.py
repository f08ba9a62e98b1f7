"""Fixtures of the console's browser tests.

Debian's Chromium (``TWOLOOP_CHROMIUM``, default /usr/bin/chromium; make test
installs it) driven by playwright, never a downloaded browser; a missing one
fails the tests with the package's name, they never skip. People sign in through
a real OpenID Connect provider (oidc-provider-mock) to consoles started with
``twoloop console`` on the demo world.

Package scope: one world, one provider, one Chromium and one console for every
test here, stopped once the last browser test is done, not at the end of the
whole run. Tests that write get their module's own console on a copy of the world
(``fresh_console``), so they never see each other's decisions.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from graph_model import connect
from graph_model.settings import load_settings
from tests.support.browser import (
    NO_SAVE_DIALOG,
    REPO,
    STRANGER,
    TWOLOOP,
    ConsoleServer,
    Provider,
    ServerDidNotStart,
    World,
    clean_env,
    start_console,
    start_provider,
)

# Streamlit reruns on a busy 2-core machine can take seconds; nothing here is a timing test.
TIMEOUT_MS = 45_000
expect.set_options(timeout=TIMEOUT_MS)
FAILURES = REPO / ".twoloop" / "browser-failures"


@pytest.fixture(scope="package")
def browser_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("browser-logs")


@pytest.fixture(scope="package")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("browser-world")
    graph = root / "graph"
    proc = subprocess.run(
        [*TWOLOOP, "demo", "--graph", str(graph), "--sample-dir", str(root / "sample"), "--json"],
        cwd=root,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(f"twoloop demo failed ({proc.returncode}):\n{proc.stderr}", pytrace=False)
    json.loads(proc.stdout)  # the demo finished and said what it stored
    with connect(str(graph)) as store:
        people = store.nodes("AccountManager").sort("am_id")
    return World(
        graph=graph,
        account_managers=dict(
            zip(people["am_id"].to_list(), people["email"].to_list(), strict=True)
        ),
    )


@pytest.fixture(scope="package")
def oidc_provider(world: World, browser_logs: Path) -> Iterator[Provider]:
    """Every AccountManager of the world (sub = AM id, email as in the graph), and
    a stranger twoloop does not know (``STRANGER``)."""
    users = [{"sub": am, "email": email} for am, email in world.account_managers.items()]
    try:
        with start_provider([*users, STRANGER], browser_logs) as provider:
            yield provider
    except ServerDidNotStart as exc:
        pytest.fail(str(exc), pytrace=False)


def _serve(
    graph: Path, logs: Path, *, provider: Provider | None = None, dev: bool = False
) -> Iterator[ConsoleServer]:
    try:
        with start_console(graph, logs, provider=provider, dev=dev) as server:
            yield server
    except ServerDidNotStart as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="package")
def console(world: World, oidc_provider: Provider, browser_logs: Path) -> Iterator[ConsoleServer]:
    """One OpenID Connect console on the shared world, for tests that only read."""
    yield from _serve(world.graph, browser_logs, provider=oidc_provider)


@pytest.fixture(scope="module")
def fresh_console(
    world: World,
    oidc_provider: Provider,
    browser_logs: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ConsoleServer]:
    """An OpenID Connect console on this module's own copy of the world, for tests
    that write (``fresh_console.graph`` is the copy, to read what they wrote)."""
    graph = tmp_path_factory.mktemp("browser-world-copy") / "graph"
    shutil.copytree(world.graph, graph)
    yield from _serve(graph, browser_logs, provider=oidc_provider)


@pytest.fixture(scope="package")
def chromium() -> str:
    executable = load_settings().chromium
    if not (os.path.isfile(executable) and os.access(executable, os.X_OK)):
        pytest.fail(
            f"no Chromium at {executable}: install Debian's chromium package "
            "(make test does, as root) or point TWOLOOP_CHROMIUM at a Chromium executable",
            pytrace=False,
        )
    return executable


@pytest.fixture(scope="package")
def browser(chromium: str) -> Iterator[Browser]:
    """Headless Chromium, the executable above (playwright never downloads one)."""
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A page in a fresh browser context (no cookies: nobody is signed in). A failed
    test leaves a screenshot in .twoloop/browser-failures/."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    context.add_init_script(NO_SAVE_DIALOG)
    opened = context.new_page()
    try:
        yield opened
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            FAILURES.mkdir(parents=True, exist_ok=True)
            name = request.node.nodeid.replace("/", "_").replace("::", "-")
            opened.screenshot(path=str(FAILURES / f"{name}.png"), full_page=True)
    finally:
        context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    report = yield
    if report.when == "call":
        item.rep_call = report  # type: ignore[attr-defined]
    return report
