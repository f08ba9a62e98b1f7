"""The analysts' notebooks: list them, run one with parameters, keep the report.

Each notebook in ``notebooks/`` has one code cell tagged ``parameters`` (the
papermill convention) holding plain assignments, one per line, with a comment
saying what each is::

    store_uri = None  # the graph: None = the configured store
    am = None  # one AM's book (am_id); None = every AM

``run`` executes a notebook in a fresh kernel (nbclient) with the store and any
parameters given: it inserts a cell tagged ``injected-parameters`` after the
parameters cell, so the executed copy records what it was run with, and keeps
the executed ``.ipynb`` and an HTML export (nbconvert) as the report. A cell that
raises stops the run with ``NotebookFailed`` naming the notebook, the cell and the
error. Ops can schedule ``twoloop notebooks run``; the tests run every notebook
on both stores the same way.
"""

from __future__ import annotations

import ast
import datetime as dt
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from graph_model import connect
from graph_model.errors import TwoloopError
from graph_model.settings import load_settings

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
PARAMETERS_TAG = "parameters"
INJECTED_TAG = "injected-parameters"
DEFAULT_TIMEOUT = 600


class NotebookError(TwoloopError):
    """A notebook that cannot be found, read or parameterized."""

    exit_code = 2


class NotebookFailed(TwoloopError):
    """A cell raised while the notebook ran."""

    exit_code = 1


@dataclass(frozen=True)
class Parameter:
    name: str
    default: str  # the source text of the default value
    help: str


@dataclass(frozen=True)
class NotebookInfo:
    name: str
    path: Path
    title: str
    question: str
    parameters: tuple[Parameter, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": str(self.path),
            "title": self.title,
            "question": self.question,
            "parameters": [
                {"name": p.name, "default": p.default, "help": p.help} for p in self.parameters
            ],
        }


@dataclass
class RunResult:
    name: str
    notebook: Path
    html: Path | None
    figures: list[Path]
    parameters: dict[str, Any]
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "notebook": str(self.notebook),
            "html": str(self.html) if self.html else None,
            "figures": [str(p) for p in self.figures],
            "parameters": self.parameters,
            "seconds": round(self.seconds, 2),
        }


def notebook_paths(directory: Path = NOTEBOOK_DIR) -> list[Path]:
    """The notebooks in ``directory``, by name."""
    if not directory.is_dir():
        raise NotebookError(f"{directory} is not a directory of notebooks")
    return sorted(p for p in directory.glob("*.ipynb") if not p.name.startswith("."))


def find(name: str, directory: Path = NOTEBOOK_DIR) -> Path:
    """A notebook by name (``graph_tour`` or ``graph_tour.ipynb``) or by path."""
    given = Path(name)
    if given.suffix == ".ipynb" and given.exists():
        return given
    path = directory / (name if name.endswith(".ipynb") else f"{name}.ipynb")
    if not path.exists():
        known = ", ".join(p.stem for p in notebook_paths(directory)) or "none"
        raise NotebookError(f"no notebook {name!r} in {directory}", hint=f"notebooks: {known}")
    return path


def describe(path: Path) -> NotebookInfo:
    """Name, title (the first heading), the question it answers (the first paragraph
    after it) and its parameters."""
    notebook = _read(path)
    title, question = path.stem, ""
    for cell in notebook.cells:
        if cell.cell_type != "markdown":
            continue
        lines = [line.strip() for line in cell.source.splitlines() if line.strip()]
        if lines and lines[0].startswith("#"):
            title = lines[0].lstrip("#").strip()
            question = next((line for line in lines[1:] if not line.startswith("#")), "")
            # The first sentence of the opening paragraph, without its markdown.
            question = question.replace("**", "").split("? ")[0].rstrip("?") + "?"
            break
    return NotebookInfo(path.stem, path, title, question, tuple(parameters(notebook, path)))


def parameters(notebook: Any, path: Path) -> list[Parameter]:
    """The assignments in the notebook's ``parameters`` cell, in order."""
    cell = _parameters_cell(notebook, path)
    found: list[Parameter] = []
    lines = cell.source.splitlines()
    try:
        tree = ast.parse(cell.source)
    except SyntaxError as exc:
        raise NotebookError(f"{path}: the parameters cell is not Python: {exc.msg}") from None
    for node in tree.body:
        if not (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
        ):
            raise NotebookError(
                f"{path}: the parameters cell may hold only `name = value` lines "
                f"(line {node.lineno})"
            )
        line = lines[node.lineno - 1]
        comment = line.split("#", 1)[1].strip() if "#" in line else ""
        found.append(
            Parameter(
                node.targets[0].id, ast.get_source_segment(cell.source, node.value) or "", comment
            )
        )
    return found


def inject(notebook: Any, path: Path, values: dict[str, Any]) -> Any:
    """``notebook`` with a cell setting ``values`` after its parameters cell (any
    earlier injected cell replaced). Unknown names are an error naming them."""
    known = {p.name for p in parameters(notebook, path)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise NotebookError(
            f"{path.name} has no parameter {', '.join(unknown)}",
            hint="parameters: " + ", ".join(sorted(known)),
        )
    cells = [c for c in notebook.cells if INJECTED_TAG not in c.metadata.get("tags", [])]
    at = next(i for i, c in enumerate(cells) if PARAMETERS_TAG in c.metadata.get("tags", []))
    source = "# Parameters given to this run\n" + "".join(
        f"{name} = {value!r}\n" for name, value in values.items()
    )
    injected = nbformat.v4.new_code_cell(source, metadata={"tags": [INJECTED_TAG]})
    notebook.cells = [*cells[: at + 1], injected, *cells[at + 1 :]]
    return notebook


def parse_value(text: str) -> Any:
    """A ``-p name=value`` value: a Python literal (``None``, ``3``, ``'x'``), else the
    text itself."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def store_location(uri: str) -> str:
    """``uri`` as a kernel anywhere can open it: an embedded store's path made
    absolute (a kernel runs in another directory); a Neo4j URI as it is."""
    scheme, sep, rest = uri.partition("://")
    if sep and scheme.lower() != "file":
        return uri
    return str(Path(rest if sep else uri).expanduser().absolute())


def kernel_environment(graph: str) -> dict[str, str]:
    """The environment a notebook kernel gets: this process's, the store as
    ``TWOLOOP_GRAPH_URI``, this checkout importable, and no ``MPLBACKEND`` (a
    library that set it to Agg in this process would keep every chart out of the
    notebook: the kernel picks its inline backend itself)."""
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    env["TWOLOOP_GRAPH_URI"] = store_location(graph)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(NOTEBOOK_DIR.parent), env.get("PYTHONPATH", "")) if p
    )
    return env


def run(
    name: str,
    *,
    values: dict[str, Any] | None = None,
    out: Path,
    graph: str | None = None,
    html: bool = True,
    code: bool = False,
    timeout: int = DEFAULT_TIMEOUT,
    directory: Path = NOTEBOOK_DIR,
    cwd: Path | None = None,
) -> RunResult:
    """Execute one notebook with ``values`` on the store ``graph`` (default: the
    configured one), saving charts under ``out/<name>/`` when the notebook has a
    ``figures_dir`` parameter; writes ``out/<name>.ipynb`` and, with ``html``,
    ``out/<name>.html`` (the code cells shown only with ``code``). The kernel runs
    in ``cwd`` (default: this process's directory), so relative paths given as
    parameters mean what they mean where the command was run."""
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    path = find(name, directory)
    notebook = _read(path)
    known = {p.name for p in parameters(notebook, path)}
    given = dict(values or {})
    out = out.expanduser().absolute()
    store = store_location(graph or load_settings().graph_uri)
    # A store that cannot be opened says so here, not from inside a kernel.
    connect(store).close()
    if "store_uri" in known:
        given.setdefault("store_uri", store)
    if "figures_dir" in known:
        given.setdefault("figures_dir", str(out / path.stem))
    inject(notebook, path, given)
    out.mkdir(parents=True, exist_ok=True)
    env = kernel_environment(store)
    # IPC sockets in a private directory, not TCP ports: a report's kernel is local.
    sockets = Path(tempfile.mkdtemp(prefix="twoloop-kernel-"))
    manager = KernelManager(kernel_name="python3", transport="ipc", ip=str(sockets / "kernel"))
    client = NotebookClient(
        notebook,
        km=manager,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str((cwd or Path.cwd()).absolute())}},
    )
    started = dt.datetime.now(dt.UTC)
    target = out / f"{path.stem}.ipynb"
    log = out / f"{path.stem}.kernel.log"
    try:
        # The kernel's own chatter goes to a log beside the report, not the terminal.
        with log.open("w", encoding="utf-8") as kernel_log:
            client.execute(env=env, stdout=kernel_log, stderr=kernel_log)
    except CellExecutionError as exc:
        nbformat.write(notebook, target)
        raise NotebookFailed(
            f"{path.name} failed in cell {_failed_cell(notebook)}: "
            f"{exc.ename}: {' '.join(str(exc.evalue).split())[:300]}",
            hint=f"the executed copy is {target}",
        ) from None
    finally:
        shutil.rmtree(sockets, ignore_errors=True)
    seconds = (dt.datetime.now(dt.UTC) - started).total_seconds()
    nbformat.write(notebook, target)
    page = None
    if html:
        page = out / f"{path.stem}.html"
        title = describe(path).title
        page.write_text(export_html(notebook, title=title, code=code), encoding="utf-8")
    figures = given.get("figures_dir")
    saved = sorted(Path(str(figures)).expanduser().absolute().glob("*.png")) if figures else []
    return RunResult(path.stem, target, page, saved, given, seconds)


def export_html(notebook: Any, *, title: str = "twoloop report", code: bool = False) -> str:
    """The executed notebook as one HTML page titled ``title`` (images embedded; the
    code cells left out unless ``code``: a report shows its text, tables and charts)."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab", embed_images=True, exclude_input=not code)
    exporter.exclude_input_prompt = not code
    exporter.exclude_output_prompt = not code
    body, _ = exporter.from_notebook_node(notebook, resources={"metadata": {"name": title}})
    return body


def has_outputs(path: Path) -> list[int]:
    """Indexes of code cells that carry outputs or an execution count."""
    notebook = _read(path)
    return [
        i
        for i, cell in enumerate(notebook.cells)
        if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count"))
    ]


def lab_command(directory: Path, *, port: int | None, browser: bool, host: str) -> list[str]:
    """The JupyterLab command ``twoloop notebooks`` runs: this Python's (the project's
    environment, so its kernel imports twoloop), rooted at ``directory``."""
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        f"--ServerApp.root_dir={directory}",
        f"--ServerApp.ip={host}",
    ]
    if port is not None:
        command.append(f"--ServerApp.port={port}")
    if not browser:
        command.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # Containers often run as root; JupyterLab refuses that unless told.
        command.append("--allow-root")
    return command


# ---------------------------------------------------------------- the parts


def _read(path: Path) -> Any:
    try:
        return nbformat.read(path, as_version=4)
    except (OSError, ValueError) as exc:
        raise NotebookError(f"{path}: cannot read the notebook: {exc}") from None


def _parameters_cell(notebook: Any, path: Path) -> Any:
    tagged = [
        c
        for c in notebook.cells
        if c.cell_type == "code" and PARAMETERS_TAG in c.metadata.get("tags", [])
    ]
    if len(tagged) != 1:
        raise NotebookError(
            f"{path}: needs exactly one code cell tagged {PARAMETERS_TAG!r}, found {len(tagged)}"
        )
    return tagged[0]


def _failed_cell(notebook: Any) -> int:
    for i, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                return i
    return -1
