"""Issue 18: the analysts' notebooks run end to end on both stores.

Each notebook in ``notebooks/`` is executed in a fresh kernel by the same runner
``twoloop notebooks run`` uses (``app.notebooks.run``: nbclient with a timeout; a
cell that raises fails the test), against a demo world with a simulated past on the
embedded store and on the test Neo4j. The embedded run saves its charts into
``docs/notebooks/<notebook>/`` (the README shows some); the Neo4j run must save
the same charts. The committed notebooks carry no outputs.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from app.notebooks import (
    NOTEBOOK_DIR,
    NotebookError,
    NotebookFailed,
    describe,
    has_outputs,
    inject,
    notebook_paths,
    parse_value,
    run,
)
from tests.conftest import REPO, wipe_neo4j

NOTEBOOKS = [
    "backtest",
    "graph_tour",
    "match_quality",
    "people_and_champions",
    "policy_whatif",
    "signals_to_needs",
]
COMMON = ["store_uri", "am", "since", "until", "figures_dir"]
FIGURES = REPO / "docs" / "notebooks"
TIMEOUT = 300
WORLD_ACCOUNTS = "120"
TWOLOOP = [sys.executable, "-m", "app.cli"]
HISTORY = ["--history", "4"]


def test_the_notebooks_and_their_parameters() -> None:
    assert [p.stem for p in notebook_paths()] == NOTEBOOKS
    for path in notebook_paths():
        info = describe(path)
        assert info.title and info.question, f"{path.name}: a title and the question it answers"
        names = [p.name for p in info.parameters]
        assert names[: len(COMMON)] == COMMON, f"{path.name}: {names}"
        assert all(p.help for p in info.parameters), f"{path.name}: each parameter says what it is"


def test_committed_notebooks_carry_no_outputs() -> None:
    dirty = {p.name: has_outputs(p) for p in notebook_paths()}
    assert not {name: cells for name, cells in dirty.items() if cells}, (
        "strip outputs before committing (jupyter nbconvert --clear-output --inplace)"
    )


def test_parameters_are_injected_after_the_tagged_cell() -> None:
    path = NOTEBOOK_DIR / "match_quality.ipynb"
    notebook = inject(nbformat.read(path, as_version=4), path, {"am": "am-1", "since": None})
    tags = [cell.metadata.get("tags", []) for cell in notebook.cells]
    at = next(i for i, t in enumerate(tags) if "parameters" in t)
    assert "injected-parameters" in tags[at + 1]
    assert "am = 'am-1'" in notebook.cells[at + 1].source
    # A second injection replaces the first.
    inject(notebook, path, {"am": "am-2"})
    assert sum("injected-parameters" in c.metadata.get("tags", []) for c in notebook.cells) == 1
    with pytest.raises(NotebookError, match="has no parameter colour"):
        inject(notebook, path, {"colour": "red"})
    assert parse_value("None") is None and parse_value("3") == 3 and parse_value("am-1") == "am-1"


@pytest.fixture(scope="module", params=["embedded", "neo4j"])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The demo world with four simulated weeks of the human loop, on one store."""
    base = tmp_path_factory.mktemp(f"notebook-world-{request.param}")
    if request.param == "neo4j":
        uri = request.getfixturevalue("_neo4j_schema")
        wipe_neo4j(uri)
    else:
        uri = str(base / "graph")
    proc = subprocess.run(
        [
            *TWOLOOP,
            "demo",
            "--graph",
            uri,
            "--sample-dir",
            str(base / "sample"),
            "--accounts",
            WORLD_ACCOUNTS,
            *HISTORY,
            "--json",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr
    return uri


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_the_notebook_runs_on_the_store(
    world: str, name: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    embedded = "neo4j" not in request.node.callspec.id
    figures = FIGURES / name if embedded else tmp_path / "figures"
    for old in figures.glob("*.png"):
        old.unlink()
    result = run(
        name, out=tmp_path, graph=world, values={"figures_dir": str(figures)}, timeout=TIMEOUT
    )
    executed = nbformat.read(result.notebook, as_version=4)
    outputs = [o for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert result.figures, f"{name} saved no chart"
    assert result.html is not None and result.html.stat().st_size > 10_000
    pngs = {p.name for p in figures.glob("*.png")}
    assert pngs == {p.name for p in result.figures}
    if not embedded:
        # The same charts as on the embedded store.
        assert pngs == {p.name for p in (FIGURES / name).glob("*.png")}
    if name == "graph_tour":
        html = [o for o in outputs if "text/html" in o.get("data", {})]
        assert any("neo4j" in o["data"]["text/html"].lower() for o in html), (
            "the interactive neo4j-viz graph is rendered"
        )


def test_a_scheduled_run_for_one_am_from_the_command_line(tmp_path: Path) -> None:
    """``twoloop notebooks run`` with parameters keeps the executed copy and the HTML;
    a cell that raises exits 1 naming the cell; an unknown notebook exits 2."""
    graph = tmp_path / "graph"
    demo = subprocess.run(
        [*TWOLOOP, "demo", "--example", "--graph", str(graph), "--json"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert demo.returncode == 0, demo.stderr
    # Relative paths mean what they mean where the command runs, not in --out.
    proc = subprocess.run(
        [
            *TWOLOOP,
            "notebooks",
            "run",
            "graph_tour",
            "--graph",
            "graph",
            "-p",
            "hops=1",
            "-p",
            "account=acc-acme",
            "--out",
            "reports",
            "--json",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=TIMEOUT,
    )
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "reports"
    report = json.loads(proc.stdout)
    assert report["parameters"] == {
        "hops": 1,
        "account": "acc-acme",
        "store_uri": str(graph),
        "figures_dir": str(out / "graph_tour"),
    }
    assert [Path(p).name for p in report["figures"]] == [
        "counts.png",
        "neighbourhood.png",
        "schema.png",
    ]
    assert all(Path(p).parent == out / "graph_tour" for p in report["figures"])
    executed = nbformat.read(report["notebook"], as_version=4)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in executed.cells)
    # The charts are in the report itself, not only in the PNGs (the twoloop command
    # imports streamlit, which sets MPLBACKEND=Agg: a kernel that inherits it draws
    # nothing inline).
    shown = [
        o for c in executed.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})
    ]
    assert len(shown) >= len(report["figures"])
    html = Path(report["html"]).read_text()
    assert html.count("data:image/png;base64") >= len(report["figures"])
    assert "<title>A tour of the graph</title>" in html
    assert "store = connect(store_uri)" not in html  # the code stays out of the report

    broken = tmp_path / "broken"
    broken.mkdir()
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell(
            "store_uri = None  # the graph", metadata={"tags": ["parameters"]}
        ),
        nbformat.v4.new_code_cell("raise ValueError('no such account')"),
    ]
    nbformat.write(notebook, broken / "broken.ipynb")
    with pytest.raises(NotebookFailed, match=r"broken.ipynb failed in cell 2: ValueError: no such"):
        run("broken", out=tmp_path / "out", directory=broken, html=False)
    missing = subprocess.run(
        [*TWOLOOP, "notebooks", "run", "nope", "--graph", graph],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert missing.returncode == 2 and "no notebook 'nope'" in missing.stderr
    nobody = subprocess.run(
        [*TWOLOOP, "notebooks", "run", "match_quality", "--graph", str(graph), "-p", "am=nobody"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=TIMEOUT,
    )
    assert nobody.returncode == 1
    assert "NotFound: no AccountManager 'nobody' in the graph" in nobody.stderr
    bad_date = subprocess.run(
        [*TWOLOOP, "notebooks", "run", "match_quality", "--graph", str(graph), "-p", "since=soon"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=TIMEOUT,
    )
    assert "since='soon' is not an ISO date" in bad_date.stderr
    a_file = tmp_path / "a-file"
    a_file.write_text("not a store")
    wrong = subprocess.run(
        [*TWOLOOP, "notebooks", "run", "graph_tour", "--graph", str(a_file)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert wrong.returncode == 2
    assert "is a file, not a store directory" in wrong.stderr and "Traceback" not in wrong.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[tuple[int, subprocess.Popen[str], str]]:
    port, graph = _free_port(), str(tmp_path / "graph")
    env = {**os.environ, "JUPYTER_TOKEN": "notebook-test", "JUPYTER_RUNTIME_DIR": str(tmp_path)}
    process = subprocess.Popen(
        [*TWOLOOP, "notebooks", "--no-browser", "--port", str(port), "--graph", graph],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield port, process, graph
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def test_twoloop_notebooks_opens_jupyterlab_on_the_notebooks(
    lab: tuple[int, subprocess.Popen[str], str],
) -> None:
    port, process, graph = lab
    url = f"http://127.0.0.1:{port}/api/contents?token=notebook-test"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                listing = json.load(response)
            break
        except OSError:
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            assert time.monotonic() < deadline, "JupyterLab did not answer within 2 minutes"
            time.sleep(1)
    assert sorted(i["name"] for i in listing["content"] if i["type"] == "notebook") == [
        f"{n}.ipynb" for n in NOTEBOOKS
    ]
    # JupyterLab (and so every kernel it starts) runs with the configured store.
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
    assert children, "twoloop notebooks started no JupyterLab"
    environ = Path(f"/proc/{children[0]}/environ").read_bytes().split(b"\0")
    assert f"TWOLOOP_GRAPH_URI={graph}".encode() in environ
    with urllib.request.urlopen(
        f"http://127.0.0.1:{port}/api/kernelspecs?token=notebook-test", timeout=5
    ) as response:
        specs = json.load(response)
    assert "python3" in specs["kernelspecs"]


def test_the_readme_analysis_example_runs(world: str, tmp_path: Path) -> None:
    """The README's analysis API block runs as written on the demo world."""
    text = (REPO / "README.md").read_text()
    start = text.index("```python\nimport datetime as dt\n\nfrom app import analysis")
    block = text[start + len("```python\n") : text.index("```", start + 10)]
    script = tmp_path / "readme_api.py"
    script.write_text(block)
    proc = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "TWOLOOP_GRAPH_URI": world, "PYTHONPATH": str(REPO)},
        timeout=TIMEOUT,
    )
    assert proc.returncode == 0, proc.stderr
