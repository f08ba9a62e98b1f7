"""Start and stop the dev/test Neo4j (Community, from Maven Central, no Docker).

    python tools/neo4j/neo4jctl.py up     [--home DIR] [--port N]
    python tools/neo4j/neo4jctl.py down   [--home DIR]
    python tools/neo4j/neo4jctl.py status [--home DIR] [--json]
    python tools/neo4j/neo4jctl.py import --files DIR [--home DIR]

``up`` builds the launcher on first use (Maven downloads the jars into the
local Maven cache once), starts Neo4j on a free loopback port with its own
data directory, waits until Bolt answers and writes the URI to ``HOME/uri``.
``import`` stops the server of that home (if it runs), replaces its ``neo4j``
database with Neo4j's offline importer (``neo4j-admin database import full``)
from files that ``twoloop graph export --format neo4j-import`` wrote, and
starts it again. Heap and page cache come from TWOLOOP_DEV_NEO4J_HEAP and
TWOLOOP_DEV_NEO4J_PAGECACHE_MB. Standard library only, so the test suite can
load it too.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

TOOL_DIR = Path(__file__).resolve().parent
REPO = TOOL_DIR.parent.parent
DEFAULT_HOME = REPO / ".twoloop" / "neo4j" / "dev"
JAR = TOOL_DIR / "target" / "twoloop-neo4j-launcher-1.0.0.jar"
CLASSPATH = TOOL_DIR / "target" / "classpath.txt"
MAIN_CLASS = "dev.twoloop.neo4j.Launcher"
# Bolt handshake: magic preamble, then four version proposals (5.0-5.4, 4.4, 4.0, 3.0).
_BOLT_HELLO = bytes.fromhex("6060b01700040405000004040000000400000003")


class Neo4jToolError(RuntimeError):
    """The dev Neo4j could not be built, started or stopped; the message says why."""


@dataclass
class Server:
    uri: str
    pid: int
    home: str
    port: int


def _need(tool: str, package: str) -> str:
    found = shutil.which(tool)
    if not found:
        raise Neo4jToolError(
            f"{tool} is not installed; the dev/test Neo4j needs it "
            f"(Debian: apt-get install -y {package}, or run `make system-deps`)"
        )
    return found


def build(force: bool = False) -> list[str]:
    """Compile the launcher and resolve Neo4j's jars; return the java command prefix."""
    _need("java", "openjdk-17-jre-headless")
    sources = [TOOL_DIR / "pom.xml", *sorted((TOOL_DIR / "src").rglob("*.java"))]
    fresh = (
        JAR.exists()
        and CLASSPATH.exists()
        and all(JAR.stat().st_mtime >= s.stat().st_mtime for s in sources)
    )
    if force or not fresh:
        mvn = _need("mvn", "maven")
        print("neo4jctl: building the launcher (first run downloads Neo4j's jars)", file=sys.stderr)
        proc = subprocess.run(
            [
                mvn,
                "-B",
                "-q",
                "-f",
                str(TOOL_DIR / "pom.xml"),
                "package",
                "dependency:build-classpath",
                f"-Dmdep.outputFile={CLASSPATH}",
            ],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
            raise Neo4jToolError(f"maven could not build tools/neo4j:\n{tail}")
    return [str(JAR), CLASSPATH.read_text().strip()]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bolt_answers(port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(_BOLT_HELLO)
            return len(sock.recv(4)) == 4
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of ours counts as gone
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


def status(home: Path = DEFAULT_HOME) -> Server | None:
    try:
        info = json.loads((home / "server.json").read_text())
    except (OSError, ValueError):
        return None
    server = Server(**info)
    if _alive(server.pid) and bolt_answers(server.port):
        return server
    return None


def start(
    home: Path = DEFAULT_HOME,
    *,
    port: int | None = None,
    heap: str | None = None,
    pagecache_mb: int | None = None,
    watch_pid: int | None = None,
    timeout: float = 180.0,
) -> Server:
    """Start Neo4j (or return the one already running for this home)."""
    home = home.absolute()
    running = status(home)
    if running:
        return running
    classpath = build()
    home.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    heap = heap or os.environ.get("TWOLOOP_DEV_NEO4J_HEAP", "1g")
    pagecache_mb = pagecache_mb or int(os.environ.get("TWOLOOP_DEV_NEO4J_PAGECACHE_MB", "512"))
    command = [
        _need("java", "openjdk-17-jre-headless"),
        f"-Xmx{heap}",
        f"-Xms{heap}",
        "-XX:+UseG1GC",
        "-XX:+ExitOnOutOfMemoryError",
        "-cp",
        os.pathsep.join(classpath),
        MAIN_CLASS,
        "--home",
        str(home / "data"),
        "--port",
        str(port),
        "--pagecache-mb",
        str(pagecache_mb),
    ]
    if watch_pid:
        command += ["--watch-pid", str(watch_pid)]
    log_path = home / "launcher.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    server = Server(uri=f"bolt://127.0.0.1:{port}", pid=proc.pid, home=str(home), port=port)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-20:])
            raise Neo4jToolError(f"Neo4j exited with code {proc.returncode}; {log_path}:\n{tail}")
        if bolt_answers(port):
            (home / "server.json").write_text(json.dumps(asdict(server)))
            (home / "uri").write_text(server.uri + "\n")
            return server
        time.sleep(0.5)
    _terminate(proc.pid)
    raise Neo4jToolError(
        f"Neo4j did not answer Bolt on port {port} within {timeout:g}s; see {log_path}"
    )


def _terminate(pid: int, grace: float = 60.0) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not _alive(pid):
            return
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def stop(home: Path = DEFAULT_HOME) -> bool:
    """Stop the server of this home; False when none was running."""
    home = home.absolute()
    try:
        info = json.loads((home / "server.json").read_text())
    except (OSError, ValueError):
        return False
    pid = int(info["pid"])
    was_alive = _alive(pid)
    _terminate(pid)
    for name in ("server.json", "uri"):
        (home / name).unlink(missing_ok=True)
    return was_alive


ADMIN_CLASS = "org.neo4j.cli.AdminTool"


def import_files(
    home: Path, files: Path, *, heap: str | None = None, watch_pid: int | None = None
) -> Server:
    """Replace the database of ``home`` with the importer files in ``files``; return the
    restarted server. The server is stopped while the importer runs."""
    home = home.absolute()
    args_file = files.absolute() / "import.args"
    if not args_file.is_file():
        raise Neo4jToolError(
            f"{args_file} not found; write the files with "
            "`twoloop graph export --format neo4j-import --out DIR`"
        )
    classpath = build()
    stop(home)
    conf = home / "import-conf"
    conf.mkdir(parents=True, exist_ok=True)
    (home / "data").mkdir(exist_ok=True)
    (conf / "neo4j.conf").write_text("")
    heap = heap or os.environ.get("TWOLOOP_DEV_NEO4J_HEAP", "1g")
    log_path = home / "import.log"
    env = {**os.environ, "NEO4J_HOME": str(home / "data"), "NEO4J_CONF": str(conf)}
    with open(log_path, "wb") as log:
        proc = subprocess.run(
            [
                _need("java", "openjdk-17-jre-headless"),
                f"-Xmx{heap}",
                "-cp",
                os.pathsep.join(classpath),
                ADMIN_CLASS,
                "database",
                "import",
                "full",
                f"@{args_file}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )
    if proc.returncode != 0:
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-20:])
        raise Neo4jToolError(
            f"the importer exited with code {proc.returncode}; {log_path}:\n{tail}"
        )
    return start(home, heap=heap, watch_pid=watch_pid)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="neo4jctl", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("action", choices=["up", "down", "status", "build", "import"])
    parser.add_argument(
        "--home", type=Path, default=DEFAULT_HOME, help="server directory (data, logs, uri file)"
    )
    parser.add_argument("--port", type=int, default=None, help="Bolt port (default: a free one)")
    parser.add_argument("--json", action="store_true", help="print the server as JSON")
    parser.add_argument(
        "--files",
        type=Path,
        default=None,
        help="importer files (import): a directory with import.args",
    )
    args = parser.parse_args(argv)
    try:
        if args.action == "build":
            build(force=True)
            print("neo4jctl: launcher built")
            return 0
        if args.action == "up":
            server = start(args.home, port=args.port)
            print(
                json.dumps(asdict(server))
                if args.json
                else f"Neo4j is up at {server.uri} "
                f"(pid {server.pid}, home {server.home}); URI written to {args.home / 'uri'}"
            )
            return 0
        if args.action == "import":
            if args.files is None:
                parser.error("import needs --files DIR")
            server = import_files(args.home, args.files)
            print(
                json.dumps(asdict(server))
                if args.json
                else f"imported {args.files} into {server.home}; Neo4j is up at {server.uri}"
            )
            return 0
        if args.action == "down":
            stopped = stop(args.home)
            print("Neo4j stopped" if stopped else "no dev Neo4j was running")
            return 0
        server = status(args.home)
        if args.json:
            print(json.dumps(asdict(server) if server else None))
        else:
            print(
                f"Neo4j is up at {server.uri} (pid {server.pid})"
                if server
                else "no dev Neo4j is running"
            )
        return 0 if server else 1
    except Neo4jToolError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
