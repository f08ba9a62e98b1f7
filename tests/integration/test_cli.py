"""The twoloop command, run as a user runs it (a real process), on both stores."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from graph_model.docs import schema_markdown

REPO = Path(__file__).resolve().parents[2]
TWOLOOP = [sys.executable, "-m", "app.cli"]


def run(
    args: list[str], cwd: Path, env: dict[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200", **(env or {})}
    proc = subprocess.run(
        [*TWOLOOP, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=300
    )
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["graph"],
        ["graph", "init"],
        ["graph", "stats"],
        ["graph", "export"],
        ["graph", "schema"],
        ["demo"],
        ["ingest"],
        ["ingest", "run"],
        ["ingest", "runs"],
        ["ingest", "schedule"],
        ["sample"],
        ["match"],
        ["match", "extract"],
        ["match", "run"],
        ["match", "top"],
        ["match", "explain"],
        ["decide"],
        ["learn"],
        ["learn", "versions"],
        ["learn", "rollback"],
        ["backtest"],
        ["loop"],
        ["loop", "run"],
        ["loop", "runs"],
        ["console"],
        ["reassign"],
        ["research"],
        ["plays"],
        ["plays", "check"],
        ["plays", "simulate"],
        ["plays", "run"],
        ["plays", "list"],
        ["plays", "read"],
        ["plays", "cancel"],
        ["plays", "write"],
        ["replies"],
        ["replies", "read"],
        ["replies", "list"],
        ["replies", "handle"],
        ["notebooks"],
        ["notebooks", "list"],
        ["notebooks", "run"],
    ],
    ids=lambda c: " ".join(c) or "twoloop",
)
def test_every_command_has_help(command: list[str], tmp_path: Path) -> None:
    out = run([*command, "--help"], tmp_path).stdout
    assert "Usage:" in out
    # console and notebooks serve pages; they return no data, so they have no --json.
    groups = (
        ["graph"],
        ["ingest"],
        ["match"],
        ["loop"],
        ["console"],
        ["notebooks"],
        ["replies"],
        ["plays"],
    )
    if command and command not in groups:
        assert "--json" in out


def test_sample_writes_either_world(tmp_path: Path) -> None:
    assert "--world" in run(["sample", "--help"], tmp_path).stdout
    second = json.loads(
        run(
            ["sample", "--out", "w2", "--world", "second", "--accounts", "40", "--json"], tmp_path
        ).stdout
    )
    assert second["accounts"] == 40 and (tmp_path / "w2" / "crm" / "companies.csv").exists()
    first = json.loads(
        run(["sample", "--out", "w1", "--accounts", "40", "--json"], tmp_path).stdout
    )
    assert (tmp_path / "w1" / "crm" / "Account.csv").exists() and first["accounts"] == 40
    # The first world's shape options do not apply to the second: an error, not a no-op.
    proc = run(
        ["sample", "--out", "w3", "--world", "second", "--capabilities", "20"],
        tmp_path,
        check=False,
    )
    assert proc.returncode != 0 and "first world only" in proc.stderr


def test_demo_then_stats_on_the_embedded_default(tmp_path: Path) -> None:
    # No TWOLOOP_GRAPH_URI: the default embedded store under the working directory.
    clean = {k: v for k, v in os.environ.items() if k != "TWOLOOP_GRAPH_URI"}
    proc = subprocess.run(
        [*TWOLOOP, "demo"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**clean, "PYTHONPATH": str(REPO)},
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "sample world" in proc.stdout and "signals" in proc.stdout
    assert (tmp_path / ".twoloop" / "graph" / "manifest.json").exists()
    assert (tmp_path / ".twoloop" / "sample" / "ground_truth.csv").exists()
    proc = subprocess.run(
        [*TWOLOOP, "graph", "stats", "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**clean, "PYTHONPATH": str(REPO)},
        timeout=300,
    )
    stats = json.loads(proc.stdout)
    assert stats["graph"] == str(tmp_path / ".twoloop" / "graph")
    assert stats["nodes"]["Account"] >= 290 and stats["nodes"]["Capability"] == 12
    assert stats["nodes"]["IngestRun"] == 10
    runs = json.loads(
        subprocess.run(
            [*TWOLOOP, "ingest", "runs", "--json", "--limit", "3"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            env={**clean, "PYTHONPATH": str(REPO)},
            timeout=300,
        ).stdout
    )["runs"]
    assert len(runs) == 3 and {r["status"] for r in runs} == {"succeeded"}
    for r in runs:
        assert r["rows_in"] == r["loaded"] + r["quarantined"] + r["duplicates"]


def test_stats_and_init_on_neo4j(tmp_path: Path, neo4j_store: object, neo4j_uri: str) -> None:
    init = json.loads(run(["graph", "init", "--graph", neo4j_uri, "--json"], tmp_path).stdout)
    assert init["graph"] == neo4j_uri
    run(["demo", "--example", "--graph", neo4j_uri], tmp_path)
    stats = json.loads(
        run(["graph", "stats", "--json"], tmp_path, env={"TWOLOOP_GRAPH_URI": neo4j_uri}).stdout
    )
    assert stats["nodes"]["Signal"] == 5 and stats["edges"]["INDICATES"] == 4


@pytest.mark.parametrize("fmt", ["parquet", "jsonl", "csv"])
def test_export_writes_one_file_per_table(tmp_path: Path, fmt: str) -> None:
    graph = str(tmp_path / "g")
    run(["demo", "--example", "--graph", graph], tmp_path)
    out = json.loads(
        run(
            [
                "graph",
                "export",
                "--graph",
                graph,
                "--out",
                str(tmp_path / "x"),
                "--format",
                fmt,
                "--json",
            ],
            tmp_path,
        ).stdout
    )
    files = {f["table"]: f for f in out["files"]}
    assert files["nodes/Account"]["rows"] == 5
    assert "nodes/Match" not in files  # empty tables only with --include-empty
    path = Path(files["edges/EMITTED"]["path"])
    frame = {"parquet": pl.read_parquet, "jsonl": pl.read_ndjson, "csv": pl.read_csv}[fmt](path)
    assert frame.columns[:4] == ["src_label", "src", "dst_label", "dst"]
    assert frame.height == 5


def test_export_for_the_neo4j_importer_writes_files_and_the_command(tmp_path: Path) -> None:
    graph = str(tmp_path / "g")
    run(["demo", "--example", "--graph", graph], tmp_path)
    args = ["graph", "export", "--graph", graph, "--out", str(tmp_path / "imp")]
    out = json.loads(run([*args, "--format", "neo4j-import", "--json"], tmp_path).stdout)
    assert out["nodes"]["Account"] == 5 and out["edges"]["EMITTED"] == 5
    assert out["command"] == f"neo4j-admin database import full @{tmp_path / 'imp' / 'import.args'}"
    lines = (tmp_path / "imp" / "import.args").read_text().splitlines()
    assert lines[0] == "neo4j" and f"--nodes=Account={tmp_path / 'imp/nodes/Account.csv'}" in lines
    header = (tmp_path / "imp/nodes/Account.csv").read_text().splitlines()[0]
    assert header.startswith('"account_id:ID(Account)"')
    text = run([*args, "--format", "neo4j-import"], tmp_path).stdout
    assert "Stop the target Neo4j" in text and "import.args" in text


def test_errors_are_one_line_with_the_type_exit_code(tmp_path: Path) -> None:
    proc = run(["graph", "stats", "--graph", "ftp://nowhere"], tmp_path, check=False)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: cannot open graph store 'ftp://nowhere'")
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1
    proc = run(["graph", "stats", "--graph", "bolt://127.0.0.1:9"], tmp_path, check=False)
    assert proc.returncode == 3 and proc.stderr.count("\n") == 1
    assert "cannot reach Neo4j at bolt://127.0.0.1:9" in proc.stderr
    proc = run(["graph", "stats"], tmp_path, env={"TWOLOOP_BATCH_SIZE": "lots"}, check=False)
    assert proc.returncode == 2
    assert "invalid setting TWOLOOP_BATCH_SIZE" in proc.stderr


def test_locked_store_exits_75_naming_the_pid(tmp_path: Path) -> None:
    import fcntl

    graph = tmp_path / "g"
    run(["graph", "init", "--graph", str(graph)], tmp_path)
    fd = os.open(graph / "write.lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        proc = run(
            ["demo", "--example", "--graph", str(graph)],
            tmp_path,
            env={"TWOLOOP_LOCK_TIMEOUT": "0.3"},
            check=False,
        )
    finally:
        os.close(fd)
    assert proc.returncode == 75
    assert f"is locked by pid {os.getpid()}" in proc.stderr


def test_schema_docs_are_generated_from_the_registry() -> None:
    assert (REPO / "docs" / "graph-model.md").read_text() == schema_markdown(), (
        "docs/graph-model.md is stale: run python -m graph_model.docs > docs/graph-model.md"
    )


def _readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            line = line.split("  #")[0].strip()
            if line.startswith("twoloop "):
                commands.append(line)
    return commands


def test_every_readme_command_runs(tmp_path: Path, neo4j_store: object, neo4j_uri: str) -> None:
    commands = _readme_commands()
    assert len(commands) >= 10
    env = {"TWOLOOP_GRAPH_URI": str(tmp_path / "graph")}
    for command in commands:
        args = shlex.split(command.replace("bolt://127.0.0.1:7687", neo4j_uri))[1:]
        proc = run(args, tmp_path, env=env, check=False)
        assert proc.returncode == 0, f"{command}: {proc.stderr}"
        if "--json" in args:
            json.loads(proc.stdout)
