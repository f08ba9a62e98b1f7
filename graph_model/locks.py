"""Job locks: one run of a job (``ingest``, ``loop``) at a time per store.

- Embedded store: a file lock (``fcntl``) in the store's directory, holding the
  holder's pid. The embedded store lives on one machine, so that is enough.
- Neo4j: a ``Lease`` node in the database, taken and renewed by compare-and-set,
  so two machines cannot run the same job against one database at once. The
  holder renews it in the background every third of its time to live; a holder
  that dies (``kill -9``, a lost machine) stops renewing and its lease expires,
  then the next run takes it. A holder that could not renew (its lease expired
  and someone else took it) is told by ``JobLock.check()``, which long jobs call
  between steps.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from graph_model.errors import JobLocked, LeaseLost, WriteConflict
from graph_model.settings import load_settings
from graph_model.store import GraphStore

DEFAULT_TTL = dt.timedelta(minutes=10)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def holder_id() -> str:
    """Who holds a lease: host, pid and a nonce (two locks in one process differ)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class JobLock:
    """A held job lock; ``where`` says where it lives (a file or ``lease:<name>``)."""

    job: str
    where: str
    owner: str
    lost: threading.Event = field(default_factory=threading.Event)

    def check(self) -> None:
        """Raise ``LeaseLost`` if the lease was taken over while we held it."""
        if self.lost.is_set():
            raise LeaseLost(self.job, self.where)


@contextlib.contextmanager
def job_lock(
    store: GraphStore,
    job: str,
    *,
    ttl: dt.timedelta | None = None,
    owner: str | None = None,
) -> Iterator[JobLock]:
    """Hold the job's lock for the block, or raise ``JobLocked`` naming the holder.
    A lease lives ``ttl`` (default: the TWOLOOP_LEASE_SECONDS setting) unless renewed."""
    root = getattr(store, "root", None)
    if root is not None:  # the embedded store
        with _file_lock(store, job) as held:
            yield held
        return
    ttl = ttl or dt.timedelta(seconds=load_settings().lease_seconds)
    with _lease(store, job, ttl=ttl, owner=owner or holder_id()) as held:
        yield held


# ------------------------------------------------------------------ embedded: a file


def lock_file(store: GraphStore, job: str) -> os.PathLike[str]:
    root = getattr(store, "root")  # noqa: B009 - only the embedded store has one
    root.mkdir(parents=True, exist_ok=True)
    return root / f"{job}.lock"


@contextlib.contextmanager
def _file_lock(store: GraphStore, job: str) -> Iterator[JobLock]:
    path = lock_file(store, job)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raw = os.pread(fd, 64, 0).decode(errors="replace").strip()
            holder = f"pid {raw}" if raw.isdigit() else "another process"
            raise JobLocked(job, store.uri, holder, where=str(path)) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        try:
            yield JobLock(job, str(path), str(os.getpid()))
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


# ------------------------------------------------------------------ Neo4j: a lease node


@contextlib.contextmanager
def _lease(store: GraphStore, job: str, *, ttl: dt.timedelta, owner: str) -> Iterator[JobLock]:
    version = acquire_lease(store, job, owner, ttl=ttl)
    held = JobLock(job, f"lease:{job}", owner)
    state = {"version": version}
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(ttl.total_seconds() / 3):
            try:
                state["version"] = renew_lease(store, job, owner, state["version"], ttl=ttl)
            except (WriteConflict, JobLocked):
                held.lost.set()
                return
            except Exception:  # a passing store error: try again at the next beat
                continue

    beat = threading.Thread(target=renew, name=f"lease-{job}", daemon=True)
    beat.start()
    try:
        yield held
    finally:
        stop.set()
        beat.join()
        if not held.lost.is_set():
            release_lease(store, job, owner, state["version"])


def _lease_row(store: GraphStore, job: str) -> dict[str, Any] | None:
    rows = store.get_nodes("Lease", [job])
    return rows.row(0, named=True) if rows.height else None


def _record(job: str, owner: str, version: int, now: dt.datetime, until: dt.datetime) -> dict:
    host, _, rest = owner.partition(":")
    return {
        "name": job,
        "owner": owner,
        "host": host,
        "pid": int(rest.split(":")[0]) if rest.split(":")[0].isdigit() else None,
        "renewed_at": now,
        "expires_at": until,
        "version": version,
    }


def acquire_lease(
    store: GraphStore,
    job: str,
    owner: str,
    *,
    ttl: dt.timedelta = DEFAULT_TTL,
    now: dt.datetime | None = None,
) -> int:
    """Take the job's lease if it is free or expired; returns its new version."""
    now = now or _now()
    row = _lease_row(store, job)
    # Someone else's, not expired, and not a process we can see is gone.
    if (
        row is not None
        and row["owner"] not in ("", owner)
        and row["expires_at"] > now
        and not _dead_here(row)
    ):
        raise JobLocked(job, store.uri, _holder(row), where=f"lease:{job}", until=row["expires_at"])
    version = (row["version"] if row else 0) + 1
    try:
        with store.batch() as write:
            write.expect("Lease", job, "version", [version - 1], absent_ok=row is None)
            write.upsert_nodes("Lease", [_record(job, owner, version, now, now + ttl)])
    except WriteConflict:
        taken = _lease_row(store, job) or {}
        raise JobLocked(
            job, store.uri, _holder(taken), where=f"lease:{job}", until=taken.get("expires_at")
        ) from None
    return version


def renew_lease(
    store: GraphStore,
    job: str,
    owner: str,
    version: int,
    *,
    ttl: dt.timedelta = DEFAULT_TTL,
    now: dt.datetime | None = None,
) -> int:
    """Extend our lease; ``WriteConflict`` if it is not ours any more."""
    now = now or _now()
    with store.batch() as write:
        write.expect("Lease", job, "version", [version])
        write.upsert_nodes("Lease", [_record(job, owner, version + 1, now, now + ttl)])
    return version + 1


def release_lease(store: GraphStore, job: str, owner: str, version: int) -> None:
    """Give the lease back (it expires now); a lease someone took over is left alone."""
    now = _now()
    with contextlib.suppress(WriteConflict), store.batch() as write:
        write.expect("Lease", job, "version", [version])
        write.upsert_nodes("Lease", [{**_record(job, "", version + 1, now, now), "pid": None}])


def _dead_here(row: dict[str, Any]) -> bool:
    """The holder ran on this machine and its process is gone (killed, crashed): its
    lease is stale now, not only when it expires."""
    if row.get("host") != socket.gethostname() or row.get("pid") is None:
        return False
    try:
        os.kill(int(row["pid"]), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, someone else's
        return False
    return False


def _holder(row: dict[str, Any]) -> str:
    if not row.get("owner"):
        return "another run"
    host, pid = row.get("host") or "?", row.get("pid")
    return f"pid {pid} on {host}" if pid is not None else f"{row['owner']}"
