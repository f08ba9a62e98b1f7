"""Shared fixtures: the session's real Neo4j and a store fixture over both backends.

The Neo4j server is started once per session by tools/neo4j (or taken from
TWOLOOP_TEST_NEO4J_URI) and only when a test asks for it. A missing Java or
Maven fails those tests with the reason; they never skip.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import neo4j
import pytest
from hypothesis import settings as hypothesis_settings

from graph_model import connect
from graph_model.settings import Settings
from graph_model.store import GraphStore

REPO = Path(__file__).resolve().parents[1]

# No wall-time limits in tests: Hypothesis's per-example deadline fails on a busy
# 2-core machine without saying anything about the code.
hypothesis_settings.register_profile("twoloop", deadline=None)
hypothesis_settings.load_profile("twoloop")


def load_neo4jctl() -> ModuleType:
    if "neo4jctl" in sys.modules:
        return sys.modules["neo4jctl"]
    spec = importlib.util.spec_from_file_location(
        "neo4jctl", REPO / "tools" / "neo4j" / "neo4jctl.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["neo4jctl"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def neo4j_uri() -> Iterator[str]:
    given = os.environ.get("TWOLOOP_TEST_NEO4J_URI")
    if given:
        yield given
        return
    ctl = load_neo4jctl()
    home = REPO / ".twoloop" / "neo4j" / f"test-{os.getpid()}"
    try:
        server = ctl.start(home, watch_pid=os.getpid())
    except ctl.Neo4jToolError as exc:
        pytest.fail(f"the test Neo4j could not start: {exc}", pytrace=False)
    try:
        yield server.uri
    finally:
        ctl.stop(home)
        shutil.rmtree(home, ignore_errors=True)


def wipe_neo4j(uri: str) -> None:
    # Batched and auto-commit, so a large leftover graph cannot exhaust transaction memory.
    with neo4j.GraphDatabase.driver(uri) as driver, driver.session(database="neo4j") as session:
        session.run(
            "MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS"
        ).consume()


@pytest.fixture(scope="session")
def _neo4j_schema(neo4j_uri: str) -> str:
    with connect(neo4j_uri) as store:
        store.ensure_schema()
    return neo4j_uri


def open_store(kind: str, tmp_path: Path, neo4j_uri: str | None, **settings: object) -> GraphStore:
    if kind == "embedded":
        return connect(str(tmp_path / "graph"), settings=Settings(**settings))  # type: ignore[arg-type]
    assert neo4j_uri is not None
    return connect(neo4j_uri, settings=Settings(**settings))  # type: ignore[arg-type]


@pytest.fixture
def neo4j_store(_neo4j_schema: str) -> Iterator[GraphStore]:
    wipe_neo4j(_neo4j_schema)
    store = connect(_neo4j_schema)
    yield store
    store.close()


@pytest.fixture
def embedded_store(tmp_path: Path) -> Iterator[GraphStore]:
    store = connect(str(tmp_path / "graph"))
    store.ensure_schema()
    yield store
    store.close()


@pytest.fixture(params=["embedded", "neo4j"])
def store(request: pytest.FixtureRequest) -> GraphStore:
    """The contract fixture: every test using it runs on both stores."""
    return request.getfixturevalue(f"{request.param}_store")


@pytest.fixture(params=["embedded", "neo4j"])
def store_factory(request: pytest.FixtureRequest, tmp_path: Path):
    """Open a store of the parametrized kind with custom settings (e.g. a small batch_size)."""
    uri = request.getfixturevalue("_neo4j_schema") if request.param == "neo4j" else None
    if uri:
        wipe_neo4j(uri)
    opened: list[GraphStore] = []

    def make(**settings: object) -> GraphStore:
        store = open_store(request.param, tmp_path, uri, **settings)
        store.ensure_schema()
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()
