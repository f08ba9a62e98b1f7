"""Helpers every benchmark uses: peak memory, the Neo4j under test, the machine line."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import resource
import sys
from pathlib import Path
from typing import Any

import polars as pl

REPO = Path(__file__).resolve().parents[1]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def vm_hwm_mb(pid: int) -> float | None:
    """Peak resident memory of another process (the Neo4j JVM)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def neo4jctl() -> Any:
    sys.path.insert(0, str(REPO / "tools" / "neo4j"))
    import neo4jctl  # pyright: ignore[reportMissingImports]

    return neo4jctl


def wipe_neo4j(uri: str) -> None:
    import neo4j

    with neo4j.GraphDatabase.driver(uri) as driver, driver.session() as session:
        # CALL ... IN TRANSACTIONS needs an implicit (auto-commit) transaction.
        # Relationships first: a node with 100k of them (an AM's ASSIGNED_TO) would
        # take them all into one DETACH DELETE and exceed the transaction memory pool.
        session.run(
            "MATCH ()-[r]->() CALL (r) { DELETE r } IN TRANSACTIONS OF 10000 ROWS"
        ).consume()
        session.run(
            "MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS"
        ).consume()


def meta(script: str, **extra: Any) -> dict[str, Any]:
    return {
        "date": dt.date.today().isoformat(),
        "machine": f"{platform.node()} {os.cpu_count()} cores "
        f"{round(os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30)} GiB",
        "python": platform.python_version(),
        "polars": pl.__version__,
        "command": " ".join([Path(sys.executable).name, script, *sys.argv[1:]]),
        **extra,
    }


class ChildFailed(RuntimeError):
    def __init__(self, returncode: int) -> None:
        super().__init__(f"benchmark child exited {returncode}")
        self.returncode = returncode


def run_per_store(
    script: str,
    kinds: list[str],
    neo4j_uri: str | None,
    child_args: list[str],
    *,
    live_stderr: bool = False,
) -> list[dict[str, Any]]:
    """Run ``script --child --store KIND --uri URI *child_args`` once per store, each in
    its own process (so its peak RSS is its own) on a fresh store: a temp directory, the
    given Neo4j (wiped) or a dev Neo4j started for the run. Returns the children's JSON.
    With ``live_stderr`` the children's progress lines go straight to this stderr."""
    import shutil
    import subprocess
    import tempfile

    results = []
    for kind in kinds:
        server = None
        workdir = Path(tempfile.mkdtemp(prefix="twoloop-bench-"))
        try:
            extra: list[str] = []
            if kind == "embedded":
                uri = str(workdir / "graph")
            elif kind == "neo4j-bulk":
                # The child stages into an embedded store, then imports it into a
                # Neo4j it starts under this home.
                uri = str(workdir / "graph")
                extra = ["--neo4j-home", str(workdir / "neo4j")]
            elif neo4j_uri:
                uri = neo4j_uri
                wipe_neo4j(uri)
            else:
                server = neo4jctl().start(workdir / "neo4j")
                uri = server.uri
            print(f"bench: {kind} at {uri}", file=sys.stderr)
            proc = subprocess.run(
                [
                    sys.executable,
                    script,
                    "--child",
                    "--store",
                    kind,
                    "--uri",
                    uri,
                    *child_args,
                    *extra,
                ],
                stdout=subprocess.PIPE,
                stderr=None if live_stderr else subprocess.PIPE,
                text=True,
            )
            if proc.returncode != 0:
                if proc.stderr:
                    print(proc.stderr, file=sys.stderr)
                raise ChildFailed(proc.returncode)
            result = json.loads(proc.stdout.strip().splitlines()[-1])
            if kind == "neo4j-bulk":
                server = neo4jctl().status(workdir / "neo4j")
            if server is not None:
                result["neo4j_server_peak_rss_mb"] = round(vm_hwm_mb(server.pid) or 0)
            results.append(result)
        finally:
            if server is not None or kind == "neo4j-bulk":
                neo4jctl().stop(workdir / "neo4j")
            shutil.rmtree(workdir, ignore_errors=True)
    return results


def report(info: dict[str, Any], results: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        print(json.dumps({"meta": info, "results": results}, indent=2))
    else:
        print(json.dumps(info))
        for r in results:
            print(json.dumps(r))


def parser_for(doc: str | None, extra_stores: tuple[str, ...] = ()) -> Any:
    """The options every per-store benchmark takes; the script adds its own."""
    import argparse

    parser = argparse.ArgumentParser(description=(doc or "").split("\n\n")[0])
    parser.add_argument(
        "--store", choices=["embedded", "neo4j", *extra_stores, "both"], default="both"
    )
    parser.add_argument("--neo4j-uri", default=None, help="use this Neo4j (it is wiped)")
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--uri", default=None, help=argparse.SUPPRESS)
    return parser
