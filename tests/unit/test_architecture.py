"""Dependencies point one way: app -> routing, drafting, matching, ingest -> graph_model."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ["graph_model", "ingest", "matching", "drafting", "routing", "app"]
ALLOWED = {
    "graph_model": set(),
    "ingest": {"graph_model"},
    "matching": {"graph_model"},
    "drafting": {"graph_model", "matching"},
    "routing": {"graph_model", "matching", "drafting"},
    "app": {"graph_model", "ingest", "matching", "drafting", "routing"},
}
ADAPTERS = {"neo4j": {"graph_model/neo4j_store.py"}}


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_package_imports_only_what_it_may(package: str) -> None:
    for path in sorted((REPO / package).rglob("*.py")):
        ours = _imports(path) & set(PACKAGES) - {package}
        assert ours <= ALLOWED[package], (
            f"{path.relative_to(REPO)} imports {ours - ALLOWED[package]}"
        )
        for library, allowed in ADAPTERS.items():
            rel = str(path.relative_to(REPO))
            assert library not in _imports(path) or rel in allowed, f"{rel} imports {library}"
