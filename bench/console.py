"""Benchmark: the console in a real headless Chromium, on a store with 100k matches.

    python bench/console.py                                   # both stores
    python bench/console.py --store embedded --matches 20000 --mine 2000 --json

The world (``bench/console_world.py``, written in a few bulk upserts, not timed as
part of a figure): ``--matches`` Match nodes, ``--mine`` of them assigned to
``am-000``, the rest spread over 99 other AMs, with accounts, capabilities,
technologies, FOR/OFFERS/ASSIGNED_TO edges, a tech-fit evidence path each, and a
current Route each. Each store runs in its own process on a fresh store: a temp
directory, or a Neo4j (``--neo4j-uri``, wiped; otherwise a dev Neo4j started for
the run). The process writes the world, starts ``twoloop console --dev`` on a free
loopback port and drives it with playwright and Debian's chromium.

Every figure runs from the person's click (the time of the ``click`` event in the
page) to what they wait for being in the page (a MutationObserver in the page), so
playwright's own round trips are not counted:

- **queue, cold**: the first session after the server started, in a fresh browser
  profile. ``page.goto`` to the sign-in box (the script's first run in the
  process), then from the click on ``am-000`` in "Act as (dev sign-in)" to the
  queue's caption ("N items shown of M") and its table (``stDataFrame``) present;
- **queue, server cold only**: at the end, the console restarted on the same
  address and the same browser (its cache warm), as a person who used the console
  before meets it after a deploy: the same two figures;
- **queue, warm**: the same after ``page.reload()``, 5 times, median (dev sign-in
  lives in the Streamlit session, which a reload ends, so each reload signs in
  again; the browser's cache and the server's cached reads are warm);
- **baseline**: the same for ``am-999``, whose queue is empty (3 reloads): what
  Streamlit and the browser cost for the page without the 10,000 rows;
- **why panel**: from the click on "Open" (the queue's first item) to the why
  panel's last section ("Decisions") and its Validate button present, with no
  error or exception shown;
- **decision**: from the click on "Validate" to the Decision stored (the benchmark
  process polls the store every 5 ms through ``graph_model.connect``), and to the
  success box ("validated by am-000") present; 5 different matches, medians;
- **queue after a decision**: back to the queue from the sidebar after each
  decision (the data version moved, so the queue's reads are not cached).

Also reported: the peak RSS (VmHWM) of the console's Streamlit process, and for
Neo4j the server's.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench._shared import (  # noqa: E402
    ChildFailed,
    meta,
    parser_for,
    peak_rss_mb,
    report,
    run_per_store,
    vm_hwm_mb,
)
from bench.console_world import EMPTY, MINE, WorldSize, build  # noqa: E402
from graph_model import connect  # noqa: E402
from graph_model.settings import load_settings  # noqa: E402
from graph_model.store import GraphStore  # noqa: E402

# Debian's chromium unless TWOLOOP_CHROMIUM names another.
CHROMIUM = load_settings().chromium
WARM = 5
BASELINE = 3
DECISIONS = 5
TIMEOUT_MS = 120_000
ERRORS = '[data-testid="stException"], [data-testid="stAlertContentError"]'


def progress(text: str) -> None:
    print(f"bench: {text}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


@contextmanager
def console_server(uri: str, log: Path, port: int) -> Iterator[tuple[str, int]]:
    """``twoloop console --dev`` on a loopback port; yields its URL and the pid of its
    Streamlit process (the CLI's child)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("TWOLOOP_GRAPH_URI", None)
    twoloop = str(Path(sys.executable).with_name("twoloop"))
    command = [twoloop, "console", "--dev", "--graph", uri, "--host", "127.0.0.1"]
    with log.open("w") as out:
        proc = subprocess.Popen(
            [*command, "--port", str(port)],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the console exited {proc.returncode}: {log.read_text()}")
            try:
                urllib.request.urlopen(url + "_stcore/health", timeout=1).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the console did not answer within 120 s") from None
                time.sleep(0.1)
        streamlit = children(proc.pid)
        yield url, streamlit[0] if streamlit else proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# In the page: the time of every click (capture phase, as the person's click lands)
# and the first time a set of elements is present after the benchmark arms a watch.
# Times are epoch milliseconds, comparable with the benchmark's time.time().
INSTRUMENT = """
window.__bench = {clicks: [], marks: {}, want: null};
const __now = () => performance.timeOrigin + performance.now();
const __check = () => {
  const w = window.__bench.want;
  if (!w) return;
  const ok = w.all.every(([sel, text]) => Array.from(document.querySelectorAll(sel)).some(
    (e) => !text || e.textContent.includes(text)));
  if (ok) { window.__bench.marks[w.name] = __now(); window.__bench.want = null; }
};
new MutationObserver(__check).observe(document, {subtree: true, childList: true,
                                                  characterData: true, attributes: true});
document.addEventListener('click', () => window.__bench.clicks.push(__now()), true);
"""
QUEUE = [
    ['[data-testid="stCaptionContainer"]', "items shown of"],
    ['.st-key-queue_table [data-testid="stDataFrame"]', ""],
]
WHY = [["h3", "Decisions"], [".st-key-why_validate button", ""]]


def arm(page: Any, name: str, wanted: list[list[str]]) -> None:
    """Watch for ``wanted`` (selector, text) all present; forget earlier clicks."""
    page.evaluate(
        "([name, all]) => { window.__bench.clicks = []; window.__bench.want = {name, all}; }",
        [name, wanted],
    )


def since_click(page: Any, name: str) -> float:
    """Seconds from the first click after ``arm`` to the watched elements present."""
    got = page.evaluate("(n) => [window.__bench.clicks[0], window.__bench.marks[n]]", name)
    if got[0] is None or got[1] is None:
        raise RuntimeError(f"{name}: no click or no mark recorded ({got})")
    return (got[1] - got[0]) / 1000


def first_click(page: Any) -> float:
    return page.evaluate("() => window.__bench.clicks[0]") / 1000


def wait_decided(store: GraphStore, match_id: str, timeout: float = 60) -> float:
    """The epoch time (s) at which a Decision on ``match_id`` is first seen in the
    store, polled every 5 ms."""
    started = time.monotonic()
    while True:
        on = store.edges("DECIDED_ON", touching=[match_id], side="target", label="Match")
        if on.height:
            return time.time()
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"no Decision on {match_id} after {timeout} s")
        time.sleep(0.005)


def errors_shown(page: Any) -> list[str]:
    return [e.inner_text()[:300] for e in page.locator(ERRORS).all()]


def no_errors(page: Any, where: str) -> None:
    found = errors_shown(page)
    if found:
        raise RuntimeError(f"{where}: the console shows an error: {found}")


def sign_in(page: Any, url: str | None, am: str = MINE) -> tuple[float, float]:
    """Load the console (``url``) or reload it, pick ``am`` in the dev sign-in box;
    seconds from navigation to the sign-in box, and from the click on the AM to the
    queue's caption and table present."""
    t0 = time.perf_counter()
    if url is None:
        page.reload()
    else:
        page.goto(url)
    box = page.locator('[data-testid="stSelectbox"]').filter(has_text="Act as (dev sign-in)")
    box.wait_for(timeout=TIMEOUT_MS)
    to_sign_in = time.perf_counter() - t0
    box.click()
    page.keyboard.type(am)  # the list is virtualised: filter it down to the one AM
    option = page.get_by_role("option", name=f"Seller {am[3:]} ({am})")
    option.wait_for(timeout=TIMEOUT_MS)
    arm(page, "queue", QUEUE)
    option.click()
    wait_queue(page)
    return to_sign_in, since_click(page, "queue")


def wait_queue(page: Any) -> str:
    caption = page.get_by_text("items shown of", exact=False)
    caption.wait_for(timeout=TIMEOUT_MS)
    page.locator('.st-key-queue_table [data-testid="stDataFrame"]').wait_for(timeout=TIMEOUT_MS)
    return caption.inner_text()


def measure(page: Any, url: str, store: GraphStore) -> dict[str, Any]:
    """Every figure but the restart's, in one browser page (a fresh profile)."""
    out: dict[str, Any] = {}
    to_sign_in, queue = sign_in(page, url)
    out["caption"] = wait_queue(page)
    no_errors(page, "the queue")
    out["cold"] = {"goto_to_sign_in_s": to_sign_in, "click_to_queue_s": queue}
    progress(f"queue cold: page to sign-in {to_sign_in:.2f}s, click to queue {queue:.2f}s")

    warm: list[tuple[float, float]] = []
    for i in range(WARM):
        warm.append(sign_in(page, None))
        no_errors(page, "the queue")
        progress(
            f"queue warm {i + 1}: reload to sign-in {warm[-1][0]:.2f}s, "
            f"click to queue {warm[-1][1]:.2f}s"
        )
    out["warm"] = {
        "reload_to_sign_in_s": [w[0] for w in warm],
        "click_to_queue_s": [w[1] for w in warm],
    }
    empty: list[float] = []
    for _ in range(BASELINE):
        empty.append(sign_in(page, None, EMPTY)[1])
    out["empty_queue_s"] = empty
    progress(f"baseline, an empty queue: click to queue {statistics.median(empty):.2f}s")
    sign_in(page, None)

    why: list[float] = []
    stored: list[float] = []
    shown: list[float] = []
    back: list[float] = []
    decided: list[str] = []
    for i in range(DECISIONS):
        arm(page, "why", WHY)
        page.locator(".st-key-queue_open_button button").click()
        page.get_by_role("heading", name="Decisions").wait_for(timeout=TIMEOUT_MS)
        button = page.locator(".st-key-why_validate button")
        button.wait_for(timeout=TIMEOUT_MS)
        why.append(since_click(page, "why"))
        no_errors(page, "the why panel")
        page.wait_for_url("**match=*", timeout=TIMEOUT_MS)
        match_id = page.evaluate("new URLSearchParams(location.search).get('match')")
        if not match_id or match_id in decided:
            raise RuntimeError(f"the queue opened {match_id!r} again")
        decided.append(match_id)

        success = f"validated by {MINE}"
        arm(page, "decided", [['[data-testid="stAlertContentSuccess"]', success]])
        button.click()
        seen_at = wait_decided(store, match_id)
        page.get_by_text(success).wait_for(timeout=TIMEOUT_MS)
        stored.append(seen_at - first_click(page))
        shown.append(since_click(page, "decided"))
        no_errors(page, "the why panel after a decision")

        arm(page, "queue", QUEUE)
        page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name="Queue").click()
        wait_queue(page)
        back.append(since_click(page, "queue"))
        progress(
            f"decision {i + 1} ({match_id}): why panel {why[-1]:.2f}s, stored "
            f"{stored[-1] * 1000:.0f}ms, shown {shown[-1] * 1000:.0f}ms, "
            f"queue again {back[-1]:.2f}s"
        )
    out["why_open_s"] = why
    out["decision_stored_s"] = stored
    out["decision_shown_s"] = shown
    out["queue_after_decision_s"] = back
    out["decided"] = decided
    out["caption_after"] = wait_queue(page)
    return out


def child(kind: str, uri: str, size: WorldSize) -> dict[str, Any]:
    progress(f"{kind}: writing the world ({size.matches:,} matches, {size.mine:,} for {MINE})")
    world_s = build(uri, size, dt.datetime.now(dt.UTC))
    progress(f"{kind}: world written in {world_s:.1f}s; starting the console")
    from playwright.sync_api import sync_playwright

    logs = Path(tempfile.mkdtemp(prefix="twoloop-console-bench-"))
    port = free_port()
    with connect(uri) as store, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            context.add_init_script(INSTRUMENT)
            page = context.new_page()
            with console_server(uri, logs / "console.log", port) as (url, pid):
                progress(f"{kind}: console on {url} (pid {pid}); driving chromium")
                figures = measure(page, url, store)
                server_rss = vm_hwm_mb(pid)
            # The server cold again, the browser not: a restart on the same address,
            # as a person who used the console before meets it after a deploy.
            with console_server(uri, logs / "console-2.log", port) as (url, _):
                restart = sign_in(page, url)
                no_errors(page, "the queue after a restart")
                progress(
                    f"restarted console, browser cache warm: page to sign-in "
                    f"{restart[0]:.2f}s, click to queue {restart[1]:.2f}s"
                )
        finally:
            browser.close()
    med = statistics.median
    ms = 1000
    return {
        "store": kind,
        "matches": size.matches,
        "mine": size.mine,
        "world_write_s": round(world_s, 1),
        "caption": figures["caption"],
        "queue_cold_s": round(figures["cold"]["click_to_queue_s"], 3),
        "queue_cold_goto_to_sign_in_s": round(figures["cold"]["goto_to_sign_in_s"], 3),
        "queue_cold_server_only_s": round(restart[1], 3),
        "queue_cold_server_only_goto_to_sign_in_s": round(restart[0], 3),
        "queue_warm_s": round(med(figures["warm"]["click_to_queue_s"]), 3),
        "queue_warm_runs_s": [round(v, 3) for v in figures["warm"]["click_to_queue_s"]],
        "queue_warm_reload_to_sign_in_s": round(med(figures["warm"]["reload_to_sign_in_s"]), 3),
        "queue_empty_baseline_s": round(med(figures["empty_queue_s"]), 3),
        "why_open_s": round(med(figures["why_open_s"]), 3),
        "decision_stored_ms": round(med(figures["decision_stored_s"]) * ms),
        "decision_stored_runs_ms": [round(v * ms) for v in figures["decision_stored_s"]],
        "decision_shown_ms": round(med(figures["decision_shown_s"]) * ms),
        "queue_after_decision_s": round(med(figures["queue_after_decision_s"]), 3),
        "caption_after": figures["caption_after"],
        "console_peak_rss_mb": round(server_rss or 0),
        "bench_peak_rss_mb": round(peak_rss_mb()),
        "targets": {"queue_first_paint_s": 1.5, "decision_ms": 300},
    }


def main() -> int:
    parser = parser_for(__doc__)
    parser.add_argument("--matches", type=int, default=100_000, help="Match nodes in the store")
    parser.add_argument(
        "--mine", type=int, default=10_000, help=f"of them assigned to {MINE}, the AM measured"
    )
    args = parser.parse_args()
    size = WorldSize(matches=args.matches, mine=args.mine)
    size.check()
    if not Path(CHROMIUM).exists():
        parser.error(f"{CHROMIUM} is missing (Debian's chromium package, or TWOLOOP_CHROMIUM)")
    if args.child:
        print(json.dumps(child(args.store, args.uri, size)))
        return 0
    kinds = ["embedded", "neo4j"] if args.store == "both" else [args.store]
    sizes = ["--matches", str(args.matches), "--mine", str(args.mine)]
    try:
        results = run_per_store(__file__, kinds, args.neo4j_uri, sizes, live_stderr=True)
    except ChildFailed as exc:
        return exc.returncode
    report(meta("bench/console.py"), results, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
