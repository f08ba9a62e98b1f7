from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import load_neo4jctl


def test_missing_java_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    ctl = load_neo4jctl()
    monkeypatch.setattr(ctl.shutil, "which", lambda tool: None)
    with pytest.raises(ctl.Neo4jToolError, match=r"java is not installed.*apt-get install"):
        ctl.build()


def test_missing_maven_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    ctl = load_neo4jctl()
    monkeypatch.setattr(
        ctl.shutil, "which", lambda tool: "/usr/bin/java" if tool == "java" else None
    )
    monkeypatch.setattr(ctl, "JAR", tmp_path / "missing.jar")  # forces a build
    with pytest.raises(ctl.Neo4jToolError, match=r"mvn is not installed.*maven"):
        ctl.build()


def test_status_of_a_home_without_server_is_none(tmp_path: Path) -> None:
    assert load_neo4jctl().status(tmp_path) is None
    assert load_neo4jctl().stop(tmp_path) is False
