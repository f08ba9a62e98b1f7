"""The console in a real browser: servers the browser tests start and helpers they share.

- ``start_provider``: a real OpenID Connect provider (oidc-provider-mock) in a
  process of its own, on a free loopback port, with predefined users.
- ``start_console``: ``twoloop console`` as a user runs it (OpenID Connect or
  ``--dev``), on a free port, until its health check answers.
- ``sign_in``: through the console's "Sign in" button and the provider's page.
- ``screenshot``: a PNG of the page into docs/screenshots/.
- ``button``, ``choose``, ``set_date``, ``type_text``, ``table_rows``: Streamlit's
  widgets as a person uses them, found by their labels.

Every process starts in a session of its own and gets SIGTERM when the test
process dies (even by SIGKILL), so no server outlives the tests that use it.
"""

from __future__ import annotations

import contextlib
import csv
import ctypes
import datetime as dt
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Locator, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.support.servers import free_port

REPO = Path(__file__).resolve().parents[2]
TWOLOOP = [sys.executable, "-m", "app.cli"]
SCREENSHOTS = REPO / "docs" / "screenshots"
# The console's OpenID Connect client at the test provider (which registers any client).
CLIENT_ID = "twoloop-console-test"
CLIENT_SECRET = "console-test-client-secret"
COOKIE_SECRET = "browser-tests-cookie-secret-0123456789abcdef"
# A person the provider knows and twoloop does not.
STRANGER = {"sub": "stranger", "email": "stranger@elsewhere.example"}
# Starting Streamlit and its first run import a lot; a busy 2-core machine is slow.
START_TIMEOUT = 120.0
_SCREENSHOT_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def clean_env(**settings: str) -> dict[str, str]:
    """This process's environment without any TWOLOOP_ setting a developer may have
    exported, plus ``settings``: what a started server sees is what the test says."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWOLOOP_")}
    env["PYTHONPATH"] = str(REPO)
    env.update(settings)
    return env


# Looked up here, not in the child: between fork and exec the child may not take
# the locks a library lookup needs (another thread may have held them at the fork).
_prctl = ctypes.CDLL(None, use_errno=True).prctl
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    # Linux: SIGTERM this child when the test process dies, however it dies.
    _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _start(args: list[str], env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            args,
            cwd=REPO,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (``twoloop console`` passes it on to Streamlit), then SIGKILL to the
    process's whole session if it is still there."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=20)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=20)


def _tail(log: Path, lines: int = 40) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class ServerDidNotStart(RuntimeError):
    pass


def _wait_until_answers(
    url: str, process: subprocess.Popen[bytes], log: Path, what: str, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise ServerDidNotStart(
                f"{what} exited with {process.returncode} before {url} answered:\n{_tail(log)}"
            )
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            raise ServerDidNotStart(
                f"{what}: {url} did not answer in {timeout:.0f}s:\n{_tail(log)}"
            )
        time.sleep(0.25)


@dataclass(frozen=True)
class World:
    """The demo world (``twoloop demo``) the browser tests share."""

    graph: Path
    # am_id -> email of every AccountManager (the sample's AMs and their director)
    account_managers: dict[str, str]


@dataclass(frozen=True)
class Provider:
    """A running OpenID Connect provider."""

    issuer: str
    users: tuple[dict[str, str], ...]

    @property
    def metadata_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"


@contextlib.contextmanager
def start_provider(users: list[dict[str, str]], log_dir: Path) -> Iterator[Provider]:
    """oidc-provider-mock on a free loopback port; each user (``sub`` and claims such
    as ``email``) is a button named by its ``sub`` on the provider's sign-in page."""
    port = free_port()
    args = [sys.executable, "-m", "oidc_provider_mock", "--host", "127.0.0.1", "--port", str(port)]
    for user in users:
        args += ["--user-claims", json.dumps(user)]
    log = log_dir / f"oidc-provider-{port}.log"
    process = _start(args, clean_env(), log)
    try:
        provider = Provider(issuer=f"http://127.0.0.1:{port}", users=tuple(users))
        _wait_until_answers(
            provider.metadata_url, process, log, "the OpenID Connect provider", START_TIMEOUT
        )
        yield provider
    finally:
        _stop(process)


@dataclass(frozen=True)
class ConsoleServer:
    """A running ``twoloop console``."""

    url: str  # ends with "/"
    graph: Path
    log: Path


@contextlib.contextmanager
def start_console(
    graph: Path, log_dir: Path, *, provider: Provider | None = None, dev: bool = False
) -> Iterator[ConsoleServer]:
    """``twoloop console`` on ``graph`` at a free loopback port: signed in through
    ``provider`` (TWOLOOP_CONSOLE_AUTH=oidc), or ``dev`` sign-in."""
    port = free_port()
    settings = {
        "TWOLOOP_GRAPH_URI": str(graph),
        "TWOLOOP_CONSOLE_HOST": "127.0.0.1",
        "TWOLOOP_CONSOLE_PORT": str(port),
    }
    if dev:
        args = [*TWOLOOP, "console", "--dev"]
    else:
        assert provider is not None, "an OpenID Connect console needs a provider"
        args = [*TWOLOOP, "console"]
        settings |= {
            "TWOLOOP_CONSOLE_AUTH": "oidc",
            "TWOLOOP_CONSOLE_OIDC_METADATA_URL": provider.metadata_url,
            "TWOLOOP_CONSOLE_OIDC_CLIENT_ID": CLIENT_ID,
            "TWOLOOP_CONSOLE_OIDC_CLIENT_SECRET": CLIENT_SECRET,
            "TWOLOOP_CONSOLE_COOKIE_SECRET": COOKIE_SECRET,
        }
    log = log_dir / f"console-{port}.log"
    process = _start(args, clean_env(**settings), log)
    try:
        server = ConsoleServer(url=f"http://127.0.0.1:{port}/", graph=graph, log=log)
        _wait_until_answers(
            f"{server.url}_stcore/health", process, log, "twoloop console", START_TIMEOUT
        )
        yield server
    finally:
        _stop(process)


def run_twoloop(
    args: list[str], env: Mapping[str, str], *, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """One ``twoloop`` command to its end. A command that should have refused to
    start but serves instead is stopped (with anything it started) at ``timeout``."""
    process = subprocess.Popen(
        [*TWOLOOP, *args],
        cwd=REPO,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        raise AssertionError(
            f"twoloop {' '.join(args)} was still running after {timeout:.0f}s:\n{out}\n{err}"
        ) from None
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def settle(page: Page) -> None:
    """Wait until Streamlit has finished the run an interaction started: connected
    and not running the script (as Streamlit's own browser tests wait). A rerun
    starts a moment after the click that asks for it, hence the short pause first."""
    page.wait_for_timeout(250)
    page.locator(
        '[data-testid="stApp"][data-test-connection-state="CONNECTED"]'
        '[data-test-script-state="notRunning"]'
    ).wait_for(state="attached")
    page.wait_for_timeout(100)


def sign_in(page: Page, am_id: str, console: ConsoleServer) -> None:
    """Open ``console``, press "Sign in", pick ``am_id`` (a provider user's ``sub``)
    on the provider's page, and wait until the console shows who is signed in."""
    page.goto(console.url)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: not url.startswith(console.url))
    page.get_by_role("button", name=am_id, exact=True).click()
    page.wait_for_url(lambda url: url.startswith(console.url))
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    settle(page)


def screenshot(page: Page, name: str) -> Path:
    """The page as ``docs/screenshots/<name>.png`` (``name``: lowercase words and
    dashes), taken once Streamlit has finished running the page."""
    if not _SCREENSHOT_NAME.match(name):
        raise ValueError(f"screenshot name {name!r}: use lowercase letters, digits and dashes")
    settle(page)
    size = page.viewport_size
    # No hover highlight where the last click was (nor the sidebar's collapse button):
    # the same page, the same picture. The header's middle has nothing to hover.
    page.mouse.move((size or {"width": 1280})["width"] // 2, 4)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    # Streamlit scrolls inside its main area, not the page, so a full-page shot
    # would stop at the window: make the window as tall as the page for the shot,
    # once its height holds (data frames and charts draw after the run).
    tall = _steady_height(page)
    if size and tall > size["height"]:
        page.set_viewport_size({"width": size["width"], "height": min(tall, 4000)})
        _steady_height(page)
    # A data frame in view draws its cells a moment after it appears.
    undrawn = page.get_by_test_id("stDataFrame").filter(visible=True)
    with contextlib.suppress(AssertionError):
        expect(undrawn.filter(has_not=page.get_by_role("grid"))).to_have_count(0, timeout=5_000)
    try:
        page.screenshot(path=str(path), animations="disabled", caret="hide")
    finally:
        if size:
            page.set_viewport_size(size)
    return path


# Chromium offers the File System Access API, so Streamlit's "Download as CSV" would
# open a save dialog; without it, the file arrives as an ordinary download. The
# browser fixtures add this script to every page.
NO_SAVE_DIALOG = "delete window.showSaveFilePicker;"


def button(page: Page, name: str) -> Locator:
    """A Streamlit button by its exact text (not the "Open" toggles of select boxes)."""
    return page.get_by_test_id("stButton").get_by_role("button", name=name, exact=True)


def choose(page: Page, label: str, option: str, *, exact: bool = True) -> None:
    """Pick ``option`` in the select box or multiselect labelled ``label``
    (``exact=False``: the first option that contains it). It is typed in, so a long
    list shows it, and picked with the keyboard: a list that opens below the
    window's edge cannot be clicked."""
    box = page.get_by_role("combobox", name=label, exact=True)
    # Scrolling closes an open list, so scroll first and let it come to rest.
    box.scroll_into_view_if_needed()
    page.wait_for_timeout(200)
    for attempt in range(3):
        try:
            _pick(page, box, option, exact=exact)
            break
        except (PlaywrightTimeout, _ListClosed):
            # The list closed under us (a rerun or a scroll): start again.
            if attempt == 2:
                raise
            box.press("Escape")
            settle(page)
    if box.get_attribute("aria-expanded") == "true":
        box.press("Escape")
    settle(page)


class _ListClosed(Exception):
    pass


def _pick(page: Page, box: Locator, option: str, *, exact: bool) -> None:
    box.click()
    box.fill(option)
    wanted = page.get_by_role("option", name=option, exact=exact).first
    target = wanted.get_attribute("id", timeout=5_000)
    # The list may open on the current choice, and typing the current choice shows
    # every option: move down until the wanted one is the active one.
    for _ in range(page.get_by_role("option").count() + 1):
        if box.get_attribute("aria-activedescendant") == target:
            box.press("Enter")
            return
        box.press("ArrowDown")
    raise _ListClosed(option)


def set_date(page: Page, label: str, day: dt.date) -> None:
    """Type ``day`` into the date input labelled ``label`` (year, month, day fields)."""
    page.get_by_role("spinbutton", name=f"year, {label}").click()
    page.keyboard.type(day.strftime("%Y%m%d"))
    page.keyboard.press("Tab")
    settle(page)


def type_text(page: Page, label: str, text: str) -> None:
    """Fill the text input labelled ``label`` and apply it (Enter)."""
    box = page.get_by_role("textbox", name=label, exact=True)
    box.fill(text)
    box.press("Enter")
    settle(page)


def table_rows(page: Page, frame: Locator | None = None) -> list[dict[str, str]]:
    """Every row of a Streamlit data frame (the first on the page by default), read
    through its own "Download as CSV" button: the grid draws on a canvas and keeps
    only the visible cells in the page. Keys are the frame's column names, not the
    titles the grid shows."""
    frame = frame if frame is not None else page.get_by_test_id("stDataFrame").first
    frame.hover()
    save = frame.get_by_role("button", name="Download as CSV")
    with page.expect_download() as download:
        try:
            save.click(timeout=5000)
        except PlaywrightTimeout:
            # A short grid's scroller can lie over its own toolbar and take the
            # pointer: the button's click goes to the button itself instead.
            save.dispatch_event("click")
    text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def _steady_height(page: Page) -> int:
    """The page's height once it has held for 0.6 s (at most 8 s)."""
    tall, steady = _page_height(page), 0
    for _ in range(40):
        page.wait_for_timeout(200)
        now = _page_height(page)
        steady = steady + 1 if now == tall else 0
        tall = now
        if steady == 3:
            break
    return tall


def _page_height(page: Page) -> int:
    return int(
        page.evaluate(
            "() => Math.max(...[...document.querySelectorAll("
            "'[data-testid=stMain], [data-testid=stSidebarContent]')]"
            ".map(e => e.scrollHeight), 0)"
        )
    )
