"""Issue 18: the graph tour's interactive graph (neo4j-viz) draws in a real browser
from the HTML report alone, with no network: every request that is not the file
itself is refused, and the graph still draws its nodes on a canvas. The picture
goes to docs/screenshots/notebook-graph.png for the README."""

from __future__ import annotations

from pathlib import Path

from matplotlib.image import imread
from playwright.sync_api import Page, Route, expect

from app.example_graph import load_example_graph
from app.notebooks import run
from graph_model import connect
from tests.support.browser import SCREENSHOTS


def test_the_interactive_graph_draws_offline_from_the_html_report(
    page: Page, tmp_path: Path
) -> None:
    graph = str(tmp_path / "graph")
    with connect(graph) as store:
        store.ensure_schema()
        load_example_graph(store)
    result = run(
        "graph_tour",
        out=tmp_path / "reports",
        graph=graph,
        values={"account": "acc-acme", "hops": 1},
        timeout=300,
    )
    assert result.html is not None
    refused: list[str] = []

    def offline(route: Route) -> None:
        url = route.request.url
        if url.startswith(("file:", "data:", "blob:")):
            route.continue_()
        else:
            refused.append(url)
            route.abort()

    page.route("**/*", offline)
    page.goto(result.html.as_uri())
    # The report's own scripts (MathJax, require.js) are refused; the graph is inline.
    canvas = page.locator("canvas").first
    expect(canvas).to_be_visible(timeout=30_000)
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 300
    # NVL draws the nodes: the picture of the output is not blank (node colours).
    page.wait_for_timeout(1_500)
    output = page.locator(".jp-OutputArea-output").filter(has=canvas).first
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / "notebook-graph.png"
    output.screenshot(path=str(shot))
    pixels = imread(shot)[..., :3]
    colourful = (pixels.max(axis=2) - pixels.min(axis=2)) > 0.25
    assert colourful.sum() > 2_000, "the graph's nodes are not drawn"
    assert all(not url.startswith("file:") for url in refused)
