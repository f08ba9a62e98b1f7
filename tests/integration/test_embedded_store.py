"""What only the embedded store has: files, the write lock, crash safety, compaction."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.example_graph import load_example_graph
from graph_model import connect
from graph_model.embedded import EmbeddedStore
from graph_model.errors import StoreCorrupt, StoreLocked
from graph_model.settings import Settings

REPO = Path(__file__).resolve().parents[2]


def _open(path: Path, **settings: object) -> EmbeddedStore:
    store = connect(str(path), settings=Settings(**settings))  # type: ignore[arg-type]
    assert isinstance(store, EmbeddedStore)
    return store


def _accounts(start: int, n: int) -> list[dict[str, object]]:
    return [{"account_id": f"a{i:06d}", "name": f"A{i}"} for i in range(start, start + n)]


def _python(code: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_missing_directory_reads_as_an_empty_graph(tmp_path: Path) -> None:
    store = _open(tmp_path / "nothing-here")
    assert sum(store.counts().nodes.values()) == 0
    assert not (tmp_path / "nothing-here").exists()


def test_a_second_store_object_sees_committed_writes(tmp_path: Path) -> None:
    writer, reader = _open(tmp_path / "g"), _open(tmp_path / "g")
    writer.upsert_nodes("Account", _accounts(0, 3))
    assert reader.counts().nodes["Account"] == 3
    writer.upsert_nodes("Account", _accounts(3, 2))
    writer.delete_nodes("Account", ["a000000"])
    assert reader.nodes("Account")["account_id"].to_list() == [
        "a000001",
        "a000002",
        "a000003",
        "a000004",
    ]


def test_writer_blocked_by_another_process_gets_its_pid(tmp_path: Path) -> None:
    store = _open(tmp_path / "g", lock_timeout=0.5)
    store.ensure_schema()
    holder = _python(f"""
        import fcntl, os, sys, time
        fd = os.open({str(tmp_path / "g" / "write.lock")!r}, os.O_RDWR | os.O_CREAT)
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0); os.pwrite(fd, str(os.getpid()).encode(), 0)
        print("locked", flush=True)
        time.sleep(30)
    """)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(StoreLocked) as caught:
            store.upsert_nodes("Account", _accounts(0, 1))
        assert caught.value.pid == holder.pid
        assert f"locked by pid {holder.pid}" in str(caught.value)
        assert store.counts().nodes["Account"] == 0  # reads never wait for the lock
    finally:
        holder.kill()
        holder.wait()
    store.upsert_nodes("Account", _accounts(0, 1))  # released with the process
    assert store.counts().nodes["Account"] == 1


def test_lock_is_held_only_while_writing(tmp_path: Path) -> None:
    first, second = _open(tmp_path / "g", lock_timeout=1), _open(tmp_path / "g", lock_timeout=1)
    for i in range(5):
        first.upsert_nodes("Account", _accounts(i * 10, 10))
        second.upsert_nodes("Account", _accounts(i * 10 + 5, 10))
    child = _python(f"""
        from graph_model import connect
        store = connect({str(tmp_path / "g")!r})
        store.upsert_nodes("Account", [{{"account_id": "from-child", "name": "C"}}])
    """)
    assert child.wait(timeout=60) == 0, child.stderr.read() if child.stderr else ""
    assert first.counts().nodes["Account"] == 56


def test_crash_before_the_manifest_swap_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _open(tmp_path / "g")
    load_example_graph(store)
    before = store.counts()
    segments_before = sorted(p.name for p in (tmp_path / "g" / "segments").iterdir())

    def crash(self: EmbeddedStore, manifest: object) -> None:
        raise OSError("disk full (injected)")

    monkeypatch.setattr(EmbeddedStore, "_write_manifest", crash)
    with pytest.raises(OSError, match="injected"):
        store.upsert_nodes("Account", _accounts(0, 100))
    with pytest.raises(OSError, match="injected"):
        store.delete_nodes("Person", ["p-maya"])
    monkeypatch.undo()

    assert store.counts() == before
    assert _open(tmp_path / "g").counts() == before
    assert sorted(p.name for p in (tmp_path / "g" / "segments").iterdir()) == segments_before
    store.upsert_nodes("Account", _accounts(0, 100))
    assert store.counts().nodes["Account"] == before.nodes["Account"] + 100


def test_readers_never_see_a_half_written_commit(tmp_path: Path) -> None:
    path = tmp_path / "g"
    _open(path).ensure_schema()
    # Each commit adds 50 accounts, 50 people and 50 WORKS_AT edges together;
    # every state a reader sees must keep the three counts equal.
    writer = _python(f"""
        from graph_model import connect
        store = connect({str(path)!r}, settings=None)
        for b in range(40):
            ids = [f"{{b}}-{{i}}" for i in range(50)]
            with store.batch() as batch:
                batch.upsert_nodes("Account", [{{"account_id": i, "name": i}} for i in ids])
                batch.upsert_nodes("Person", [{{"person_id": i, "full_name": i}} for i in ids])
                batch.upsert_edges("WORKS_AT", [{{"src": i, "dst": i}} for i in ids])
    """)
    reader = _open(path)
    seen: set[int] = set()
    deadline = time.monotonic() + 120
    while writer.poll() is None and time.monotonic() < deadline:
        counts = reader.counts()
        accounts, people = counts.nodes["Account"], counts.nodes["Person"]
        assert accounts == people == counts.edges["WORKS_AT"]
        assert accounts % 50 == 0
        seen.add(accounts)
    assert writer.wait(timeout=60) == 0, writer.stderr.read() if writer.stderr else ""
    assert reader.counts().nodes["Account"] == 2000
    assert len(seen) > 1, "the reader should have observed the store mid-way"


def test_compaction_keeps_segment_count_bounded(tmp_path: Path) -> None:
    store = _open(tmp_path / "g", compact_segments=3)
    for i in range(10):
        store.upsert_nodes("Account", _accounts(i * 5, 10))  # overlapping keys
    segments = list((tmp_path / "g" / "segments").glob("node.Account.*.parquet"))
    assert len(segments) <= 4  # current (<= 3 + 1 before compaction) + previous generation
    fresh = _open(tmp_path / "g")
    assert fresh.counts().nodes["Account"] == 55
    assert fresh.nodes("Account")["account_id"].n_unique() == 55


def test_tables_load_lazily(tmp_path: Path) -> None:
    load_example_graph(_open(tmp_path / "g"))
    fresh = _open(tmp_path / "g")
    fresh.nodes("Account")
    assert set(fresh._tables) == {"node.Account"}


def test_unreadable_manifest_is_reported(tmp_path: Path) -> None:
    store = _open(tmp_path / "g")
    store.ensure_schema()
    (tmp_path / "g" / "manifest.json").write_text("{not json")
    with pytest.raises(StoreCorrupt, match=r"manifest\.json"):
        _open(tmp_path / "g").counts()


def test_lock_file_records_the_writer_pid_only_while_writing(tmp_path: Path) -> None:
    store = _open(tmp_path / "g")
    store.upsert_nodes("Account", _accounts(0, 1))
    assert (tmp_path / "g" / "write.lock").read_text() == ""
    assert os.getpid()  # the pid is written during the write, cleared after


_KEYS = st.sampled_from([f"k{i}" for i in range(12)])


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    edges=st.lists(st.tuples(st.sampled_from(["Account", "Person"]), _KEYS, _KEYS), max_size=40),
    wanted=st.lists(st.one_of(_KEYS, st.just("missing")), max_size=8),
    side=st.sampled_from(["source", "target", "either"]),
    label=st.sampled_from([None, "Account", "Person", "Signal"]),
    split=st.integers(min_value=0, max_value=40),
)
def test_edges_and_nodes_found_by_binary_search_equal_a_scan(
    tmp_path_factory: pytest.TempPathFactory,
    edges: list[tuple[str, str, str]],
    wanted: list[str],
    side: str,
    label: str | None,
    split: int,
) -> None:
    """The sorted-index lookups return exactly what filtering the whole table would,
    in the same order, for every side, label and mix of segments."""
    store = _open(tmp_path_factory.mktemp("lookup") / "graph")
    keys = sorted({k for _, s, d in edges for k in (s, d)})
    store.upsert_nodes("Account", [{"account_id": k, "name": k} for k in keys])
    store.upsert_nodes("Person", [{"person_id": k, "full_name": k} for k in keys])
    store.upsert_nodes(
        "Signal",
        [
            {"signal_id": k, "kind": "news", "occurred_at": "2026-11-01T00:00:00Z", "source": "t"}
            for k in keys
        ],
    )
    rows = [{"src_label": lab, "src": s, "dst": d} for lab, s, d in edges]
    # Two writes: the table is read from two segments and merged.
    store.upsert_edges("EMITTED", rows[:split])
    store.upsert_edges("EMITTED", rows[split:])
    whole = store.edges("EMITTED")
    at_src = pl.col("src").is_in(wanted) & (
        pl.lit(True) if label is None else pl.col("src_label") == label
    )
    at_dst = pl.col("dst").is_in(wanted) & (
        pl.lit(True) if label is None else pl.col("dst_label") == label
    )
    cond = at_src if side == "source" else at_dst if side == "target" else at_src | at_dst
    got = store.edges("EMITTED", wanted, side=side, label=label)  # type: ignore[arg-type]
    assert got.rows() == whole.filter(cond).rows()
    nodes = store.get_nodes("Signal", wanted)
    assert nodes["signal_id"].to_list() == sorted(set(wanted) & set(keys))
    assert store.get_nodes("Signal", pl.Series(wanted, dtype=pl.String)).equals(nodes)
    store.close()
