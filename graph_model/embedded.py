"""The embedded store: typed polars tables per label and edge type, Parquet on disk.

Layout of a store directory::

    manifest.json          the committed state: table -> ordered segment files
    segments/*.parquet     immutable segments; a table is its segments read in
                           order, later rows winning on identity
    write.lock             held (fcntl) only while a write commits; holds the pid

A write validates everything, writes new segment files, then commits by
replacing ``manifest.json`` atomically (write, fsync, rename). A crash at any
point leaves the previous manifest, so readers only ever see whole commits.
Upserts append a segment; deletes rewrite the tables they touch; a table with
more than ``compact_segments`` segments is compacted into one on write.
Tables load lazily, on first read.
"""

from __future__ import annotations

import fcntl
import functools
import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import polars as pl

from graph_model.errors import MissingEndpoints, StoreCorrupt, StoreLocked
from graph_model.schema import EdgeSpec, NodeSpec, SchemaRegistry
from graph_model.settings import Settings
from graph_model.store import (
    DeleteEdges,
    DeleteNodes,
    EdgeRow,
    Expect,
    Filter,
    GraphCounts,
    GraphStore,
    Side,
    UpsertEdges,
    UpsertNodes,
    WriteOp,
    check_expectation,
    edge_row,
    filters_to_polars,
    ordered_ops,
    resolve_filters,
    wanted_fields,
)

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
LOCK_FILE = "write.lock"
SEGMENTS = "segments"
_READ_RETRIES = 5
P = ParamSpec("P")
R = TypeVar("R")


@dataclass
class _Table:
    """One table in memory: the segments it was read from and their frames."""

    segments: tuple[str, ...]
    parts: list[pl.DataFrame]
    merged: pl.DataFrame | None = None
    # Per edge end ("src", "dst"): the merged frame it indexes and its (label, key,
    # row) sorted by (label, key), built on first use, so edges touching a few keys
    # are found by binary search instead of a scan.
    ends: dict[str, tuple[pl.DataFrame, pl.DataFrame]] = field(default_factory=dict)


@dataclass
class _Manifest:
    generation: int = 0
    tables: dict[str, list[str]] = field(default_factory=dict)


class _SegmentGone(Exception):
    """A writer collected a segment of the manifest this read started from."""


def _snapshot(method: Callable[P, R]) -> Callable[P, R]:
    """Run a read against one committed manifest; start over if it is collected meanwhile."""

    @functools.wraps(method)
    def read(*args: P.args, **kwargs: P.kwargs) -> R:
        store = args[0]
        assert isinstance(store, EmbeddedStore)
        with store._mutex:
            for attempt in range(_READ_RETRIES):
                store._refresh()
                try:
                    return method(*args, **kwargs)
                except _SegmentGone:
                    store._stamp = None
                    time.sleep(0.01 * (attempt + 1))
            raise StoreCorrupt(store.uri, "segments keep disappearing while being read")

    return read


class EmbeddedStore(GraphStore):
    def __init__(
        self, path: str | os.PathLike[str], *, settings: Settings, registry: SchemaRegistry
    ):
        self.root = Path(path).expanduser().absolute()
        self.uri = str(self.root)
        self.registry = registry
        self.lock_timeout = settings.lock_timeout
        self.compact_segments = settings.compact_segments
        self._mutex = threading.RLock()
        self._manifest = _Manifest()
        self._stamp: tuple[int, int, int] | None = None
        self._tables: dict[str, _Table] = {}

    # ------------------------------------------------------------ naming

    @staticmethod
    def _node_table(label: str) -> str:
        return f"node.{label}"

    @staticmethod
    def _edge_table(rel_type: str) -> str:
        return f"edge.{rel_type}"

    def _spec_of(self, table: str) -> NodeSpec | EdgeSpec:
        kind, _, name = table.partition(".")
        return self.registry.node(name) if kind == "node" else self.registry.edge(name)

    # ------------------------------------------------------------ manifest

    def _refresh(self) -> None:
        """Pick up a commit made by another process or store object."""
        path = self.root / MANIFEST
        try:
            st = path.stat()
        except FileNotFoundError:
            self._manifest, self._stamp = _Manifest(), None
            self._tables.clear()
            return
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        if stamp == self._stamp:
            return
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            if raw.get("format") != FORMAT_VERSION:
                raise StoreCorrupt(
                    self.uri, f"manifest format {raw.get('format')!r} is not {FORMAT_VERSION}"
                )
            manifest = _Manifest(
                int(raw["generation"]), {k: list(v) for k, v in raw["tables"].items()}
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise StoreCorrupt(self.uri, f"{MANIFEST}: {exc}") from None
        self._manifest, self._stamp = manifest, stamp

    def _write_manifest(self, manifest: _Manifest) -> None:
        body = {
            "format": FORMAT_VERSION,
            "generation": manifest.generation,
            "written_at": time.time(),
            "writer_pid": os.getpid(),
            "tables": manifest.tables,
        }
        tmp = self.root / f".{MANIFEST}.{uuid.uuid4().hex}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(body, fh, indent=1, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.root / MANIFEST)
        _fsync_dir(self.root)

    # ------------------------------------------------------------ tables

    def _load_segment(self, table: str, name: str) -> pl.DataFrame:
        spec = self._spec_of(table)
        frame = pl.read_parquet(self.root / SEGMENTS / name)
        return _align(frame, spec, self.uri, name)

    def _table(self, table: str) -> _Table:
        """The table as of the manifest in memory, loading only segments not yet loaded.

        Callers refresh the manifest once per operation (``_snapshot``), so every
        table one operation reads comes from the same commit.
        """
        segments = tuple(self._manifest.tables.get(table, ()))
        cached = self._tables.get(table)
        if cached is not None and cached.segments == segments:
            return cached
        try:
            if cached is not None and segments[: len(cached.segments)] == cached.segments:
                fresh = [self._load_segment(table, s) for s in segments[len(cached.segments) :]]
                loaded = _Table(segments, [*cached.parts, *fresh])
            else:
                loaded = _Table(segments, [self._load_segment(table, s) for s in segments])
        except FileNotFoundError:
            raise _SegmentGone(table) from None
        self._tables[table] = loaded
        return loaded

    def _merged(self, table: str) -> pl.DataFrame:
        state = self._table(table)
        if state.merged is None:
            state.merged = _merge(state.parts, self._spec_of(table))
            state.parts = [state.merged]
        return state.merged

    def _node_frame(self, label: str) -> pl.DataFrame:
        return self._merged(self._node_table(label))

    def _edge_frame(self, rel_type: str) -> pl.DataFrame:
        return self._merged(self._edge_table(rel_type))

    # ------------------------------------------------------------ lock

    @contextmanager
    def _write_lock(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / SEGMENTS).mkdir(exist_ok=True)
        fd = os.open(self.root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            deadline = time.monotonic() + self.lock_timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise StoreLocked(self.uri, _read_pid(fd), self.lock_timeout) from None
                    time.sleep(0.02)
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
            try:
                yield
            finally:
                os.ftruncate(fd, 0)
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    # ------------------------------------------------------------ writes

    def ensure_schema(self) -> list[str]:
        with self._mutex, self._write_lock():
            self._refresh()
            done = []
            if not (self.root / MANIFEST).exists():
                self._write_manifest(_Manifest())
                done.append(f"created embedded store at {self.uri}")
            for table in list(self._manifest.tables):
                kind, _, name = table.partition(".")
                known = self.registry.nodes if kind == "node" else self.registry.edges
                if name not in known:
                    done.append(f"table {table} is not in the schema registry (left as is)")
            known_tables = len(self._manifest.tables)
            done.append(
                f"{len(self.registry.nodes)} node labels and {len(self.registry.edges)} edge "
                f"types registered; {known_tables} tables hold data"
            )
            return done

    def _apply(self, ops: Sequence[WriteOp], *, chunked: bool) -> list[int]:
        del chunked  # one commit per call, whatever its size
        with self._mutex, self._write_lock():
            self._refresh()
            work = _Working(self)
            ordered = ordered_ops(ops)
            # Preconditions first: the write lock makes check-then-write atomic. They
            # come before any write, so each label's are read in one lookup.
            expects = [op for op in ordered if isinstance(op, Expect)]
            work.check_expectations(expects)
            results = [0] * len(expects) + [work.apply(op) for op in ordered[len(expects) :]]
            self._commit(work)
            return results

    def _commit(self, work: _Working) -> None:
        if not work.touched:
            return
        old = self._manifest
        generation = old.generation + 1
        tables = {k: list(v) for k, v in old.tables.items()}
        written: list[Path] = []
        new_state: dict[str, _Table] = {}
        try:
            for table in sorted(work.touched):
                spec = self._spec_of(table)
                if table in work.rewritten:
                    # Upserts after a delete in the same batch land on the rewritten table.
                    merged = work.current(table)
                    segments: list[str] = []
                    if merged.height:
                        segments.append(self._write_segment(table, generation, merged, written))
                    state = _Table(tuple(segments), [merged], merged)
                else:
                    added = pl.concat(work.appended[table], how="vertical")
                    segments = [
                        *tables.get(table, []),
                        self._write_segment(table, generation, added, written),
                    ]
                    base = self._table(table)
                    state = _Table(tuple(segments), [*base.parts, added])
                    if len(segments) > self.compact_segments:
                        merged = _merge(state.parts, spec)
                        segments = [self._write_segment(table, generation, merged, written)]
                        state = _Table(tuple(segments), [merged], merged)
                if segments:
                    tables[table] = segments
                else:
                    tables.pop(table, None)
                new_state[table] = state
            self._write_manifest(_Manifest(generation, tables))
        except BaseException:
            for path in written:
                with suppress(OSError):
                    path.unlink()
            raise
        self._manifest = _Manifest(generation, tables)
        self._stamp = None
        self._tables.update(new_state)
        for table in list(self._tables):
            if table not in tables:
                del self._tables[table]
        self._collect_garbage(old, self._manifest)

    def _write_segment(
        self, table: str, generation: int, frame: pl.DataFrame, written: list[Path]
    ) -> str:
        name = f"{table}.{generation:09d}.{uuid.uuid4().hex[:12]}.parquet"
        final = self.root / SEGMENTS / name
        tmp = final.with_suffix(".tmp")
        written.append(tmp)
        frame.write_parquet(tmp, compression="lz4", statistics=False)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, final)
        written.append(final)
        return name

    def _collect_garbage(self, previous: _Manifest, current: _Manifest) -> None:
        """Remove segments neither the current nor the previous commit references.

        The previous commit's files stay so a reader that just read the old
        manifest can still open them; older readers retry on a newer manifest.
        """
        keep = {s for segs in current.tables.values() for s in segs}
        keep |= {s for segs in previous.tables.values() for s in segs}
        folder = self.root / SEGMENTS
        for path in folder.iterdir():
            if path.name not in keep:
                with suppress(OSError):
                    path.unlink()

    # ------------------------------------------------------------ reads

    @_snapshot
    def get_nodes(
        self, label: str, keys: Iterable[str] | pl.Series, *, fields: Sequence[str] | None = None
    ) -> pl.DataFrame:
        spec = self.registry.node(label)
        if fields is not None:
            return self.get_nodes(label, keys).select(wanted_fields(spec, fields))
        values = keys if isinstance(keys, pl.Series) else pl.Series(list(keys), dtype=pl.String)
        wanted = values.cast(pl.String).drop_nulls().unique().sort()
        frame = self._node_frame(label)
        if frame.height == 0 or wanted.len() == 0:
            return frame.clear()
        # A merged table is sorted by its key: look each key up by binary search
        # instead of scanning the whole label (a batch asks for a few thousand of
        # a million signals).
        column = frame.get_column(spec.key)
        at = column.search_sorted(wanted, side="left").clip(upper_bound=frame.height - 1)
        found = frame[at]
        return found.filter(found.get_column(spec.key) == wanted)

    @_snapshot
    def existing_keys(self, label: str, keys: Iterable[str] | pl.Series) -> set[str]:
        spec = self.registry.node(label)
        values = keys if isinstance(keys, pl.Series) else pl.Series(list(keys), dtype=pl.String)
        wanted = values.cast(pl.String).unique()
        found: set[str] = set()
        # Every part holds live nodes only (a delete rewrites the table), so the parts
        # are searched as they are, without merging them first.
        for part in self._table(self._node_table(label)).parts:
            column = part.get_column(spec.key)
            found.update(column.filter(column.is_in(wanted.implode())).to_list())
        return found

    @_snapshot
    def nodes(
        self,
        label: str,
        where: Mapping[str, Any] | Sequence[Filter] | None = None,
        *,
        limit: int | None = None,
        fields: Sequence[str] | None = None,
    ) -> pl.DataFrame:
        spec = self.registry.node(label)
        filters = resolve_filters(spec, where)
        columns = None if fields is None else wanted_fields(spec, fields)
        frame = self._node_frame(label)
        if filters:
            frame = frame.filter(filters_to_polars(filters))
        if columns is not None:
            frame = frame.select(columns)
        return frame.head(limit) if limit is not None else frame

    @_snapshot
    def edges(
        self,
        rel_type: str,
        touching: Iterable[str] | None = None,
        *,
        side: Side = "either",
        label: str | None = None,
    ) -> pl.DataFrame:
        return self._edges_touching(rel_type, touching, side, label)

    def _edges_touching(
        self, rel_type: str, touching: Iterable[str] | None, side: Side, label: str | None
    ) -> pl.DataFrame:
        if label is not None:
            self.registry.node(label)
        frame = self._edge_frame(rel_type)
        if touching is None:
            return frame
        values = touching if isinstance(touching, pl.Series) else pl.Series(list(touching))
        keys = values.cast(pl.String).drop_nulls().unique()
        if frame.height == 0 or keys.len() == 0:
            return frame.clear()
        state = self._table(self._edge_table(rel_type))
        ends = ("src",) if side == "source" else ("dst",) if side == "target" else ("src", "dst")
        rows = pl.concat([_rows_at(state, frame, end, keys, label) for end in ends])
        # In the merged frame's order, as a filter would give them.
        return frame[rows.unique().sort()]

    def data_version(self) -> str:
        with self._mutex:
            self._refresh()
            return f"generation-{self._manifest.generation}"

    @_snapshot
    def counts(self) -> GraphCounts:
        nodes = {label: self._node_frame(label).height for label in sorted(self.registry.nodes)}
        edges = {t: self._edge_frame(t).height for t in sorted(self.registry.edges)}
        return GraphCounts(nodes, edges)

    @_snapshot
    def _incident_edges(self, label: str, keys: Sequence[str]) -> list[EdgeRow]:
        out: list[EdgeRow] = []
        for spec in self.registry.edges_touching(label):
            frame = self._edges_touching(spec.type, keys, "either", label)
            out.extend(edge_row(spec, row) for row in frame.iter_rows(named=True))
        return out

    def close(self) -> None:
        with self._mutex:
            self._tables.clear()


class _Working:
    """The tables a commit changes, as they will be after it."""

    def __init__(self, store: EmbeddedStore) -> None:
        self.store = store
        self.appended: dict[str, list[pl.DataFrame]] = {}
        self.rewritten: dict[str, pl.DataFrame] = {}

    @property
    def touched(self) -> set[str]:
        return set(self.appended) | set(self.rewritten)

    def current(self, table: str) -> pl.DataFrame:
        """The table with this commit's changes so far, merged."""
        base = [self.rewritten[table]] if table in self.rewritten else [self.store._merged(table)]
        return _merge([*base, *self.appended.get(table, [])], self.store._spec_of(table))

    def key_column(self, label: str, key: str) -> pl.Series:
        """Every key of a label, duplicates allowed (enough for existence checks)."""
        table = EmbeddedStore._node_table(label)
        if table in self.rewritten:
            parts = [self.rewritten[table]]
        else:
            parts = list(self.store._table(table).parts)
        parts += self.appended.get(table, [])
        if not parts:
            return pl.Series(key, [], dtype=pl.String)
        return pl.concat([p.select(key) for p in parts], how="vertical").to_series()

    def rewrite(self, table: str, frame: pl.DataFrame) -> None:
        self.rewritten[table] = frame
        self.appended.pop(table, None)

    def apply(self, op: WriteOp) -> int:
        if isinstance(op, UpsertNodes):
            if op.frame.height:
                self.appended.setdefault(self.store._node_table(op.spec.label), []).append(op.frame)
            return op.frame.height
        if isinstance(op, UpsertEdges):
            self._check_endpoints(op.spec, op.frame)
            if op.frame.height:
                self.appended.setdefault(self.store._edge_table(op.spec.type), []).append(op.frame)
            return op.frame.height
        if isinstance(op, DeleteNodes):
            return self._delete_nodes(op.spec, op.keys)
        if isinstance(op, Expect):
            self.check_expectations([op])
            return 0
        return self._delete_edges(op)

    def check_expectations(self, ops: Sequence[Expect]) -> None:
        """Check preconditions against the committed state, one lookup per label."""
        by_label: dict[str, list[Expect]] = {}
        for op in ops:
            by_label.setdefault(op.spec.label, []).append(op)
        for label, group in by_label.items():
            spec = group[0].spec
            table = self.store._node_table(label)
            base = (
                self.rewritten[table]
                if table in self.rewritten
                else self.store.get_nodes(label, [op.key for op in group])
            )
            frames = [base, *self.appended.get(table, [])]
            for op in group:
                found, value = False, None
                for frame in frames:
                    rows = frame.filter(pl.col(spec.key) == op.key)
                    if rows.height:
                        found, value = True, rows[op.field][-1]
                check_expectation(op, found, value)

    def _check_endpoints(self, spec: EdgeSpec, frame: pl.DataFrame) -> None:
        missing: list[tuple[str, str]] = []
        for side, label_col in (("src", "src_label"), ("dst", "dst_label")):
            for (label,), group in frame.group_by([label_col], maintain_order=True):
                node_spec = self.store.registry.node(str(label))
                known = self.key_column(node_spec.label, node_spec.key)
                absent = (
                    group.select(pl.col(side).alias("k"))
                    .unique(maintain_order=True)
                    .join(known.alias("k").to_frame(), on="k", how="anti")
                )
                missing.extend((node_spec.label, k) for k in absent["k"].to_list())
        if missing:
            raise MissingEndpoints(spec.type, sorted(set(missing)))

    def _delete_nodes(self, spec: NodeSpec, keys: tuple[str, ...]) -> int:
        if not keys:
            return 0
        table = self.store._node_table(spec.label)
        current = self.current(table)
        gone = pl.col(spec.key).is_in(list(keys))
        removed = current.filter(gone).height
        if removed:
            self.rewrite(table, current.filter(~gone))
        for edge_spec in self.store.registry.edges_touching(spec.label):
            edge_table = self.store._edge_table(edge_spec.type)
            edges = self.current(edge_table)
            touching = ((pl.col("src_label") == spec.label) & pl.col("src").is_in(list(keys))) | (
                (pl.col("dst_label") == spec.label) & pl.col("dst").is_in(list(keys))
            )
            if edges.filter(touching).height:
                self.rewrite(edge_table, edges.filter(~touching))
        return removed

    def _delete_edges(self, op: DeleteEdges) -> int:
        table = self.store._edge_table(op.spec.type)
        current = self.current(table)
        kept = current.join(op.frame, on=list(op.spec.identity), how="anti", nulls_equal=True)
        removed = current.height - kept.height
        if removed:
            self.rewrite(table, kept)
        return removed


def _rows_at(
    state: _Table, frame: pl.DataFrame, end: str, keys: pl.Series, label: str | None
) -> pl.Series:
    """Row numbers of the edges whose ``end`` ("src" or "dst") is one of these keys
    (with that label, if given), found by binary search in the end's sorted index."""
    cached = state.ends.get(end)
    if cached is not None and cached[0] is frame:
        index = cached[1]
    else:  # first use, or the table was merged again since
        index = (
            frame.select(pl.col(f"{end}_label").alias("label"), pl.col(end).alias("key"))
            .with_row_index("row")
            .sort(["label", "key", "row"])
        )
        state.ends[end] = (frame, index)
    labels = index.get_column("label")
    found = []
    for name in [label] if label is not None else labels.unique().sort().to_list():
        lo = int(labels.search_sorted(name, side="left"))
        hi = int(labels.search_sorted(name, side="right"))
        if hi <= lo:
            continue
        block = index.get_column("key").slice(lo, hi - lo)
        spans = pl.DataFrame(
            {
                "a": block.search_sorted(keys, side="left").cast(pl.Int64) + lo,
                "b": block.search_sorted(keys, side="right").cast(pl.Int64) + lo,
            }
        ).filter(pl.col("b") > pl.col("a"))
        at = spans.select(pl.int_ranges("a", "b").explode()).to_series()
        found.append(index.get_column("row").gather(at))
    return pl.concat(found) if found else pl.Series("row", [], dtype=pl.UInt32)


def _merge(parts: Sequence[pl.DataFrame], spec: NodeSpec | EdgeSpec) -> pl.DataFrame:
    identity = list(spec.identity)
    if not parts:
        return pl.DataFrame(schema=spec.frame_schema())
    frame = pl.concat(parts, how="vertical") if len(parts) > 1 else parts[0]
    if len(parts) > 1:
        frame = frame.unique(subset=identity, keep="last", maintain_order=True)
    return frame.sort(identity, nulls_last=True)


def _align(frame: pl.DataFrame, spec: NodeSpec | EdgeSpec, uri: str, name: str) -> pl.DataFrame:
    """Bring a stored segment to the registry's current columns (schema evolution)."""
    schema = spec.frame_schema()
    if frame.schema == pl.Schema(schema):
        return frame
    columns = []
    for column, dtype in schema.items():
        if column in frame.columns:
            try:
                columns.append(pl.col(column).cast(dtype))
            except pl.exceptions.PolarsError as exc:  # pragma: no cover - defensive
                raise StoreCorrupt(uri, f"{name}: column {column}: {exc}") from None
        else:
            default = spec.fields[column].default if column in spec.fields else None
            columns.append(pl.lit(default, dtype=dtype).alias(column))
    try:
        return frame.select(columns)
    except pl.exceptions.PolarsError as exc:
        raise StoreCorrupt(uri, f"{name} does not fit the schema: {exc}") from None


def _read_pid(fd: int) -> int | None:
    try:
        raw = os.pread(fd, 32, 0).decode().strip()
        return int(raw) if raw else None
    except (OSError, ValueError):
        return None


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
