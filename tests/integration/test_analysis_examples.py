"""Issue 18: every example in the analysis API's docstrings (``app.analysis``) runs,
and prints what it says, on the embedded store and on Neo4j. The examples read the
analysis world (``tests/support/analysis_world.py``)."""

from __future__ import annotations

import datetime as dt
import doctest
import importlib
import pkgutil
from types import ModuleType

import matplotlib
import networkx as nx
import polars as pl
import pytest

import app.analysis
from graph_model.store import GraphStore
from tests.support.analysis_world import SENT_AT, analysis_world
from tests.support.hand_graph import AS_OF

matplotlib.use("Agg")
MODULES = sorted(
    name for _, name, _ in pkgutil.iter_modules(app.analysis.__path__, "app.analysis.")
)
FLAGS = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS


def _examples(module: ModuleType) -> list[doctest.DocTest]:
    tests = doctest.DocTestFinder(exclude_empty=True).find(module, module.__name__)
    return [t for t in tests if t.examples]


def test_every_public_function_has_an_example() -> None:
    missing = []
    for name in MODULES:
        module = importlib.import_module(name)
        documented = {t.name.rsplit(".", 1)[-1] for t in _examples(module)}
        for attr, value in vars(module).items():
            if attr.startswith("_") or getattr(value, "__module__", None) != name:
                continue
            if callable(value) and not isinstance(value, type) and attr not in documented:
                missing.append(f"{name}.{attr}")
    assert not missing, f"public functions without an example: {missing}"


@pytest.mark.parametrize("name", MODULES)
def test_the_examples_run_on_both_stores(store: GraphStore, name: str) -> None:
    analysis_world(store)
    module = importlib.import_module(name)
    globs = {
        **vars(app.analysis),
        "store": store,
        "pl": pl,
        "nx": nx,
        "dt": dt,
        "AS_OF": AS_OF,
        "SENT_AT": SENT_AT,
    }
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    failures: list[str] = []
    for test in _examples(module):
        test.globs = {**vars(module), **globs}
        result = runner.run(test, out=failures.append, clear_globs=False)
        assert result.attempted
    assert not failures, "".join(failures)
