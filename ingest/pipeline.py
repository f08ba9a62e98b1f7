"""Run ingest sources into a store: plan every row first, then write in whole batches.

For each source, in config order:

1. read the files as text, numbered by row (``readers``);
2. keep rows at or past the source's watermark (incremental sources);
3. compile the mapping against the frame and type every value;
4. reject rows with problems (bad values, rule breaks, endpoints that exist
   nowhere), set duplicates aside (the same key again: the later row wins;
   people sharing an email: the most complete record wins), list uncertain
   name matches for review;
5. check the reject rate, write the quarantine and review files;
6. write in batches of ``batch_rows`` rows, nodes first, then edges, each batch
   one transaction that also updates this run's IngestRun node (counts and
   watermark), so the watermark only moves with committed rows.

``rows_in = loaded + quarantined + duplicates`` holds for every finished run.
A rerun of the same input writes the same values (upserts are idempotent), and
a rerun after a crash redoes the uncommitted batches from the last watermark.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from graph_model import changes
from graph_model.embedded import EmbeddedStore
from graph_model.errors import IngestFailed, RejectRateExceeded, TwoloopError
from graph_model.locks import JobLock, job_lock, lock_file
from graph_model.schema import REGISTRY, EdgeSpec, NodeSpec
from graph_model.store import Filter, GraphStore
from graph_model.validation import default_literal, row_problems
from ingest import quarantine
from ingest.catalog import Catalog, CatalogRules, catalog_records, load_catalog
from ingest.config import IngestConfig, SourceConfig
from ingest.mapping import (
    CompileContext,
    Compiled,
    EdgeRule,
    Endpoint,
    NodeRule,
    Problem,
    SourceMapping,
    ValueSpec,
    cast_to_field,
    compile_value,
)
from ingest.normalise import email_key
from ingest.readers import (
    FILE,
    ROW,
    BadRow,
    delimiter_hint,
    expand,
    format_of,
    jsonl_keys,
    read_files,
)

RID = "__rid"
WM = "__wm"
REVIEW_SCHEMA = {
    "run_id": pl.String,
    "source": pl.String,
    "file": pl.String,
    "row": pl.Int64,
    "field": pl.String,
    "value": pl.String,
    "candidate": pl.String,
    "score": pl.Float64,
    "label": pl.String,
}
_LOOKUP_CHUNK = 5_000
_FULL_SCAN_AT = 50_000
_EMBEDDED_SCANS = True  # tests turn it off to compare with the IN-query path
EMBEDDED_BATCH_ROWS = 250_000
NEO4J_BATCH_ROWS = 50_000


class InjectedFault(RuntimeError):
    """Raised by the fault hook in tests: the process 'crashes' after a committed batch."""


@dataclass
class SourceReport:
    source: str
    run_id: str
    status: str = "running"
    rows_in: int = 0
    loaded: int = 0
    quarantined: int = 0
    duplicates: int = 0
    review: int = 0
    older_than_watermark: int = 0
    # Nodes and edges written: new or changed (a rerun of the same input writes none).
    written: int = 0
    # Of the quarantined rows, those an earlier run quarantined already: not new
    # rejects, not in this run's quarantine file, not in the reject rate.
    known_rejects: int = 0
    edges_skipped: int = 0
    batches: int = 0
    watermark: str | None = None
    files: list[str] = field(default_factory=list)
    quarantine_file: str | None = None
    review_file: str | None = None
    error: str | None = None
    # Loaded anyway, but worth a look: columns no mapping reads, files without rows.
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def balanced(self) -> bool:
        return self.rows_in == self.loaded + self.quarantined + self.duplicates

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["balanced"] = self.balanced
        return out


@dataclass
class RunReport:
    run_id: str
    store: str
    sources: list[SourceReport] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(s.status == "succeeded" for s in self.sources)

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "store": self.store,
            "ok": self.ok,
            "sources": [s.as_dict() for s in self.sources],
        }


# ------------------------------------------------------------------ lock


def lock_path_for(store: GraphStore) -> Path:
    """The embedded store's ingest lock file (Neo4j keeps a lease in the database)."""
    return Path(lock_file(store, "ingest"))


def ingest_lock(store: GraphStore) -> contextlib.AbstractContextManager[JobLock]:
    """One ingest at a time per store: a lock file in the embedded store's directory,
    a lease in the database on Neo4j (so two machines cannot ingest into it at once)."""
    return job_lock(store, "ingest")


# ------------------------------------------------------------------ plan


@dataclass
class _Output:
    """One node or edge rule's rows, keyed by ``__rid``."""

    rule: NodeRule | EdgeRule
    spec: NodeSpec | EdgeSpec
    frame: pl.DataFrame
    describe: dict[str, str]  # column in frame -> source column(s), for messages

    @property
    def is_node(self) -> bool:
        return isinstance(self.rule, NodeRule)

    @property
    def name(self) -> str:
        return self.rule.label if isinstance(self.rule, NodeRule) else self.rule.type

    def with_frame(self, frame: pl.DataFrame) -> _Output:
        return _Output(self.rule, self.spec, frame, self.describe)


@dataclass
class _Plan:
    rows: pl.DataFrame  # __rid, __file, __row, __wm
    outputs: list[_Output]
    rejected: pl.DataFrame  # __rid, field, reason, __record (the raw row as JSON)
    duplicate_rids: set[int]
    review: pl.DataFrame
    older: int
    edges_skipped: int
    bad_rows: list[BadRow]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_run_id(now: dt.datetime | None = None) -> str:
    stamp = (now or _now()).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{secrets.token_hex(3)}"


ProgressHook = Callable[[str, str, int, int], None]  # (source, stage, done, total)


class Ingestor:
    """Runs an ingest config against one store. Use ``run()`` under the lock."""

    def __init__(
        self,
        store: GraphStore,
        config: IngestConfig,
        *,
        progress: ProgressHook | None = None,
        fault_after_batch: int | None = None,
        clock: Callable[[], dt.datetime] = _now,
    ) -> None:
        self.store = store
        self.config = config
        self.progress = progress
        self.fault_after_batch = fault_after_batch
        self.clock = clock
        self._batches_done = 0
        self._vocab: dict[str, list[tuple[str, str]]] = {}
        self._compiled: dict[str, Compiled] = {}
        # Per label, the rows whose edges dedupe moved onto another row's node.
        self._remapped: dict[str, pl.Series] = {}
        self._catalog: Catalog | None = None
        self._lock: JobLock | None = None

    # -------------------------------------------------------------- entry

    def run(self, only: list[str] | None = None) -> RunReport:
        sources = [self.config.source(n) for n in only] if only else list(self.config.sources)
        run_id = new_run_id(self.clock())
        report = RunReport(run_id=run_id, store=self.store.uri)
        with ingest_lock(self.store) as held:
            self._lock = held
            self.store.ensure_schema()
            self._close_interrupted_runs()
            self._catalog = self._find_catalog()
            for source in sources:
                result = self._run_source(run_id, source)
                report.sources.append(result)
                if result.status != "succeeded":
                    break
        return report

    def _find_catalog(self) -> Catalog | None:
        for source in self.config.sources:
            if source.reader == "catalog":
                return load_catalog(self.config.resolve(source.path))
        return None

    def _close_interrupted_runs(self) -> None:
        """Runs still 'running' while we hold the lock were cut off: say so."""
        stale = self.store.nodes("IngestRun", {"status": "running"})
        if stale.height:
            self.store.upsert_nodes(
                "IngestRun",
                stale.with_columns(
                    pl.lit("failed").alias("status"),
                    pl.lit(self.clock()).cast(pl.Datetime("us", "UTC")).alias("finished_at"),
                    pl.lit("interrupted: the process stopped before the run finished").alias(
                        "error"
                    ),
                ),
            )

    def last_watermark(self, source: str) -> tuple[str | None, bool]:
        """The newest watermark of a source, and whether the run that set it finished
        (then every row up to it was handled; after a crash, rows at it are re-read)."""
        runs = self.store.nodes("IngestRun", {"source": source})
        runs = runs.filter(pl.col("watermark").is_not_null()).sort("started_at", descending=True)
        if not runs.height:
            return None, False
        return runs["watermark"][0], runs["status"][0] == "succeeded"

    # -------------------------------------------------------------- one source

    def _run_source(self, group: str, source: SourceConfig) -> SourceReport:
        started = self.clock()
        t0 = time.perf_counter()
        report = SourceReport(source=source.name, run_id=f"{group}/{source.name}")
        previous_wm, finished = (
            self.last_watermark(source.name) if source.incremental else (None, False)
        )
        report.watermark = previous_wm
        self._vocab.clear()
        try:
            if source.reader == "catalog":
                self._run_catalog(source, report, started)
            else:
                self._run_table(source, report, started, previous_wm, finished)
            report.status = "succeeded"
        except InjectedFault:
            report.status = "failed"
            report.error = "injected fault"
            raise
        except TwoloopError as exc:
            report.status = "failed"
            report.error = str(exc)
        except Exception as exc:
            report.status = "failed"
            report.error = f"{type(exc).__name__}: {exc}"
        report.seconds = round(time.perf_counter() - t0, 3)
        self._write_run_node(report, started, final=True)
        return report

    def _write_run_node(
        self, report: SourceReport, started: dt.datetime, *, final: bool, tx: Any = None
    ) -> None:
        record = {
            "run_id": report.run_id,
            "source": report.source,
            "started_at": started,
            "finished_at": self.clock() if final else None,
            "status": report.status if final else "running",
            "rows_in": report.rows_in,
            "loaded": report.loaded,
            "quarantined": report.quarantined,
            "duplicates": report.duplicates,
            "watermark": report.watermark,
            "batches": report.batches,
            "review": report.review,
            "files": report.files,
            "error": report.error,
            "warnings": report.warnings,
            "known_rejects": report.known_rejects,
        }
        (tx or self.store).upsert_nodes("IngestRun", [record])

    def _tick(self, source: str, stage: str, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(source, stage, done, total)

    def _after_batch(self) -> None:
        self._batches_done += 1
        if self._lock is not None:
            self._lock.check()  # a run that lost its lease stops before the next batch
        if self.fault_after_batch is not None and self._batches_done >= self.fault_after_batch:
            raise InjectedFault(f"injected fault after batch {self._batches_done}")

    # -------------------------------------------------------------- catalog

    def _run_catalog(
        self, source: SourceConfig, report: SourceReport, started: dt.datetime
    ) -> None:
        path = self.config.resolve(source.path)
        report.files = [source.path]
        catalog = load_catalog(path)
        nodes, edges = catalog_records(catalog)
        report.rows_in = len(catalog.capabilities) + len(catalog.needs)
        with self.store.batch() as tx:
            # A catalog may list no technologies (or no needs, no industries): an empty
            # list has no columns to compare, and nothing to write.
            for label, records in nodes.items():
                if not records:
                    continue
                changed = changes.changed_nodes(self.store, label, pl.DataFrame(records))
                if changed.height:
                    tx.upsert_nodes(label, changed, source=source.path)
                    report.written += changed.height
            for rel, records in edges.items():
                if not records:
                    continue
                changed = changes.changed_edges(self.store, rel, pl.DataFrame(records))
                if changed.height:
                    tx.upsert_edges(rel, changed, source=source.path)
                    report.written += changed.height
            # The capability side changed: every account is rescored.
            changes.journal(
                tx, f"ingest:{source.name}", {}, now=self.clock(), full=report.written > 0
            )
            report.loaded = report.rows_in
            report.batches = 1
            self._write_run_node(report, started, final=False, tx=tx)
        self._tick(source.name, "write", 1, 1)
        self._after_batch()

    # -------------------------------------------------------------- tables

    def _run_table(
        self,
        source: SourceConfig,
        report: SourceReport,
        started: dt.datetime,
        previous_wm: str | None,
        finished: bool,
    ) -> None:
        mapping = self.config.mapping_for(source)
        assert mapping is not None
        t = time.perf_counter()
        frame, bad_rows, files, report.warnings = self._read(source, mapping)
        report.files = files
        report.stage_seconds["read"] = round(time.perf_counter() - t, 3)
        self._tick(source.name, "read", 1, 1)

        t = time.perf_counter()
        plan = self._plan(source, mapping, frame, bad_rows, previous_wm, finished)
        report.stage_seconds["plan"] = round(time.perf_counter() - t, 3)
        report.rows_in = plan.rows.height + len(bad_rows)
        report.older_than_watermark = plan.older
        report.quarantined = plan.rejected.height + len(bad_rows)
        report.duplicates = len(plan.duplicate_rids)
        report.review = plan.review.height
        report.edges_skipped = plan.edges_skipped

        new_rejects, known = quarantine.split_known(self.store, self._rejects(report, source, plan))
        report.known_rejects = known.height
        self._write_side_files(report, source, new_rejects, plan.review)
        limit = source.max_reject_rate
        if limit is None:
            limit = self.config.max_reject_rate
        # Judged over new rows only: rows quarantined before are neither new rows nor
        # new rejects (an hourly source meets its old bad lines on every run).
        new_rows = report.rows_in - report.known_rejects
        judged = new_rows >= self.config.reject_rate_min_rows
        if judged and new_rejects.height / new_rows > limit:
            raise RejectRateExceeded(
                source.name,
                new_rejects.height,
                new_rows,
                limit,
                report.quarantine_file or "(none)",
                known=report.known_rejects,
            )
        t = time.perf_counter()
        self._write(source, report, started, plan, new_rejects)
        report.stage_seconds["write"] = round(time.perf_counter() - t, 3)

    def _read(
        self, source: SourceConfig, mapping: SourceMapping
    ) -> tuple[pl.DataFrame, list[BadRow], list[str], list[str]]:
        """The source's rows, its bad lines, its files and warnings about them."""
        pattern = self.config.resolve(source.path)
        paths = expand(pattern)
        if not paths:
            raise IngestFailed(f"source {source.name}: no file matches {source.path}")
        shown = {p: _shown(p, self.config.base_dir) for p in paths}
        # JSONL: only the keys the mapping names are read (documented or used).
        wanted = sorted(set(mapping.columns) | mapping.referenced_columns())
        fmt = source.format or mapping.format
        options = {"encoding": source.encoding, "delimiter": source.delimiter}
        frame, bad = read_files(paths, fmt, shown, wanted, **options)
        read_columns = [c for c in frame.columns if c not in (ROW, FILE)]
        warnings = _input_warnings(source, mapping, frame, bad, paths, shown)
        for join in mapping.joins:
            if join.file not in source.join_files:
                raise IngestFailed(
                    f"source {source.name}: the {mapping.name} reader needs join_files.{join.file}"
                )
            other_path = self.config.resolve(source.join_files[join.file])
            other, _ = read_files(
                [other_path], None, {other_path: source.join_files[join.file]}, **options
            )
            for col in (*join.keys.values(), *join.columns):
                if col not in other.columns:
                    raise IngestFailed(f"{source.join_files[join.file]}: missing column {col}")
            right = other.select(
                [pl.col(c).alias(f"__j_{i}") for i, c in enumerate(join.keys.values())]
                + [pl.col(c).alias(n) for c, n in join.columns.items()]
            ).unique(subset=[f"__j_{i}" for i in range(len(join.keys))], keep="last")
            for col in join.keys:
                if col not in frame.columns:
                    raise IngestFailed(f"{source.path}: missing column {col}")
            frame = frame.join(
                right,
                left_on=list(join.keys),
                right_on=[f"__j_{i}" for i in range(len(join.keys))],
                how="left",
                maintain_order="left",
            )
        missing: list[str] = []
        for col in sorted(mapping.referenced_columns()):
            if col in frame.columns:
                continue
            doc = mapping.columns.get(col)
            if doc is not None and not doc.required:
                frame = frame.with_columns(pl.lit(None, pl.String).alias(col))
            elif frame.height or not bad:
                missing.append(col)
        # A CSV or Parquet header is there to check even without rows.
        headed = any(format_of(p, fmt) != "jsonl" for p in paths)
        if missing and (frame.height or headed):
            files = ", ".join(sorted(set(shown.values())))
            raise IngestFailed(
                f"{files}: missing column{'s' if len(missing) > 1 else ''} "
                f"{', '.join(missing)} (the {mapping.name} reader needs "
                f"{'them' if len(missing) > 1 else 'it'})",
                hint=delimiter_hint(read_columns, source.delimiter),
            )
        for col in missing:
            frame = frame.with_columns(pl.lit(None, pl.String).alias(col))
        return frame, bad, sorted(set(shown.values())), warnings

    # -------------------------------------------------------------- planning

    def _plan(
        self,
        source: SourceConfig,
        mapping: SourceMapping,
        frame: pl.DataFrame,
        bad_rows: list[BadRow],
        previous_wm: str | None,
        finished: bool = False,
    ) -> _Plan:
        frame = frame.with_row_index(RID)
        ctx = CompileContext(
            frame=frame,
            timezone=source.timezone or mapping.timezone,
            lookup=self._lookup,
            vocabulary=self._vocabulary,
            thresholds=self.config.thresholds,
        )
        problems: list[Problem] = []
        # Watermark: rows past the last one handled; after an interrupted run, rows at
        # the watermark too (a batch may have split rows sharing it; re-upserts are harmless).
        wm_expr: pl.Expr = pl.lit(None, pl.Datetime("us", "UTC"))
        if mapping.watermark:
            wm = cast_to_field(
                compile_value(ValueSpec(column=mapping.watermark), ctx),
                REGISTRY.node("IngestRun").fields["started_at"],
                mapping.watermark,
                ctx,
            )
            wm_expr = wm.expr
            problems.extend(wm.problems)
        frame = frame.with_columns(wm_expr.alias(WM))
        ctx.frame = frame
        older = 0
        if source.incremental and previous_wm is not None and mapping.watermark:
            cutoff = dt.datetime.fromisoformat(previous_wm)
            newer = pl.col(WM) > cutoff if finished else pl.col(WM) >= cutoff
            keep = pl.col(WM).is_null() | newer
            older = frame.height - frame.filter(keep).height
            frame = frame.filter(keep)
            ctx.frame = frame

        self._compiled: dict[str, Compiled] = {}
        # Per label, the rows whose edges dedupe moved onto another row's node.
        self._remapped: dict[str, pl.Series] = {}
        outputs: list[_Output] = []
        for rule in mapping.nodes:
            outputs.append(self._node_output(rule, ctx, problems))
        for edge in mapping.edges:
            outputs.append(self._edge_output(edge, ctx, problems))

        frame = ctx.frame  # now with the materialised values
        rejected = self._collect_problems(frame, problems, outputs)
        if mapping.require_any_edge:
            have = pl.concat(
                [
                    o.frame.select(RID)
                    for o in outputs
                    if not o.is_node and o.name in mapping.require_any_edge
                ]
            ).unique()
            orphan = (
                frame.select(RID)
                .join(have, on=RID, how="anti")
                .join(rejected.select(RID), on=RID, how="anti")
            )
            rejected = pl.concat(
                [
                    rejected,
                    orphan.with_columns(
                        pl.lit("*").alias("field"),
                        pl.lit(mapping.require_any_edge_reason).alias("reason"),
                    ),
                ]
            )
        outputs = [_drop_rids(o, rejected) for o in outputs]

        duplicate_rids, outputs = self._dedupe(outputs, frame, rejected)
        outputs, rejected, skipped = self._check_endpoints(outputs, rejected)
        outputs = [_drop_rids(o, rejected) for o in outputs]
        # A duplicate whose moved edges were then rejected counts once: as quarantined.
        duplicate_rids -= set(rejected[RID].to_list())

        review_rows = [
            frame.filter(cond).select(
                pl.col(FILE).alias("file"),
                pl.col(ROW).cast(pl.Int64).alias("row"),
                pl.lit(item.field).alias("field"),
                pl.lit(item.value).alias("value"),
                pl.lit(item.candidate, pl.String).alias("candidate"),
                pl.lit(item.score).alias("score"),
                pl.lit(item.label).alias("label"),
            )
            for cond, item in ctx.review
        ]
        review = (
            pl.concat(review_rows).unique(subset=["file", "row", "field"], maintain_order=True)
            if review_rows
            else pl.DataFrame(
                schema={k: v for k, v in REVIEW_SCHEMA.items() if k not in ("run_id", "source")}
            )
        )
        # The raw record is kept only for quarantined rows; the rest of the raw frame
        # can go once the typed outputs exist.
        raw = [c for c in frame.columns if not c.startswith("__")]
        records = frame.join(rejected.select(RID), on=RID, how="semi").select(
            RID, pl.struct(raw).struct.json_encode().alias("__record")
        )
        rejected = rejected.join(records, on=RID, how="left", maintain_order="left")
        rows = frame.select(RID, FILE, ROW, WM)
        return _Plan(rows, outputs, rejected, duplicate_rids, review, older, skipped, bad_rows)

    def _compile_props(
        self,
        props: dict[str, ValueSpec],
        spec: NodeSpec | EdgeSpec,
        label: str,
        ctx: CompileContext,
        problems: list[Problem],
    ) -> tuple[list[pl.Expr], dict[str, str]]:
        exprs: list[pl.Expr] = []
        describe: dict[str, str] = {}
        for prop, value in props.items():
            source = value.describe()
            value_ = self._value(value, ctx)
            typed = cast_to_field(value_, spec.fields[prop], source, ctx)
            if typed.problems:  # parsed once: the value and its masks become columns
                typed = _materialise(
                    Compiled(typed.expr, typed.kind, typed.problems[len(value_.problems) :]),
                    ctx,
                )
                typed.problems = [*value_.problems, *typed.problems]
            problems.extend(
                Problem(p.field, p.reason + pl.lit(f" ({label}.{prop})"), p.bad)
                for p in typed.problems
            )
            expr = typed.expr
            field = spec.fields[prop]
            if field.default is not None:  # an empty value means the model's default
                expr = expr.fill_null(default_literal(field))
            exprs.append(expr.alias(prop))
            describe[prop] = value.describe()
        return exprs, describe

    def _value(self, spec: ValueSpec, ctx: CompileContext) -> Compiled:
        """Compile a value once per source and materialise it as a column, so a key used
        by several rules (a signal's id in its node and its edges) is computed once.
        Its problems are reported once too."""
        cache_key = spec.model_dump_json()
        if cache_key in self._compiled:
            return Compiled(self._compiled[cache_key].expr, self._compiled[cache_key].kind)
        self._compiled[cache_key] = _materialise(compile_value(spec, ctx), ctx)
        return self._compiled[cache_key]

    def _node_output(self, rule: NodeRule, ctx: CompileContext, problems: list[Problem]) -> _Output:
        spec = REGISTRY.node(rule.label)
        key = self._value(rule.key, ctx)
        problems.extend(key.problems)
        exprs, describe = self._compile_props(rule.properties, spec, rule.label, ctx, problems)
        describe[spec.key] = rule.key.describe()
        frame = ctx.frame.select(pl.col(RID), key.expr.cast(pl.String).alias(spec.key), *exprs)
        if rule.optional:
            frame = frame.filter(pl.col(spec.key).is_not_null())
        return _Output(rule, spec, frame, describe)

    def _edge_output(self, rule: EdgeRule, ctx: CompileContext, problems: list[Problem]) -> _Output:
        spec = REGISTRY.edge(rule.type)
        src = self._value(rule.src.key, ctx)
        dst = self._value(rule.dst.key, ctx)
        problems.extend(src.problems)
        problems.extend(dst.problems)
        exprs, describe = self._compile_props(rule.properties, spec, rule.type, ctx, problems)
        describe["src"] = rule.src.key.describe()
        describe["dst"] = rule.dst.key.describe()
        frame = ctx.frame.select(
            pl.col(RID),
            src.expr.cast(pl.String).alias("src"),
            dst.expr.cast(pl.String).alias("dst"),
            pl.lit(rule.src.label).alias("src_label"),
            pl.lit(rule.dst.label).alias("dst_label"),
            *exprs,
        )
        if rule.optional:
            frame = frame.filter(pl.col("src").is_not_null() & pl.col("dst").is_not_null())
        return _Output(rule, spec, frame, describe)

    def _collect_problems(
        self, frame: pl.DataFrame, problems: list[Problem], outputs: list[_Output]
    ) -> pl.DataFrame:
        parts = [
            frame.lazy()
            .filter(p.bad.fill_null(False))
            .select(pl.col(RID), pl.lit(p.field).alias("field"), p.reason.alias("reason"))
            for p in problems
        ]
        found = [pl.concat(parts).collect()] if parts else []
        for out in outputs:
            bad = row_problems(out.spec, out.frame, row=RID)
            if bad.height:
                name = out.name
                found.append(
                    bad.select(
                        pl.col("__row").alias(RID).cast(pl.UInt32),
                        pl.col("field").replace_strict(
                            list(out.describe), list(out.describe.values()), default=pl.col("field")
                        ),
                        pl.concat_str(
                            [pl.col("reason"), pl.lit(f" ({name}."), pl.col("field"), pl.lit(")")]
                        ).alias("reason"),
                    )
                )
        if not found:
            return pl.DataFrame(schema={RID: pl.UInt32, "field": pl.String, "reason": pl.String})
        return pl.concat([f.with_columns(pl.col(RID).cast(pl.UInt32)) for f in found]).unique(
            subset=[RID], keep="first", maintain_order=True
        )

    def _dedupe(
        self, outputs: list[_Output], frame: pl.DataFrame, rejected: pl.DataFrame
    ) -> tuple[set[int], list[_Output]]:
        """Same key twice: the later row wins. People sharing an email: the most
        complete record wins and the others' edges move to it."""
        if not outputs:
            return set(), outputs
        primary = outputs[0]
        ident = list(primary.spec.identity)
        keys = primary.frame.select(RID, *ident)
        when = frame.select(RID, WM)
        kept = _keep_last(keys, ident, when)
        dup = set() if kept is keys else set(keys.join(kept, on=RID, how="anti")[RID].to_list())
        outputs = [_drop_rids(o, dup) for o in outputs]
        # Email dedupe for node rules that ask for it.
        for index, out in enumerate(outputs):
            rule = out.rule
            if not isinstance(rule, NodeRule) or rule.dedupe_on is None:
                continue
            spec = out.spec
            assert isinstance(spec, NodeSpec)
            # Narrow frames: only the rows that share an email are ranked, on all columns.
            emails = out.frame.select(
                RID, spec.key, email_key(rule.dedupe_on).alias("__email")
            ).filter(pl.col("__email").is_not_null())
            repeated = pl.col("__email").is_duplicated()
            shared = emails.filter(repeated)
            filled = pl.sum_horizontal(pl.exclude(RID).is_not_null())
            ranks = (
                out.frame.join(shared.select(RID), on=RID, how="semi")
                .select(RID, filled.alias("__filled"))
                .join(shared, on=RID)
            )
            best = ranks.sort(["__filled", RID], descending=[True, True]).unique(
                subset=["__email"], keep="first"
            )
            canon = pl.concat(
                [
                    best.select("__email", pl.col(spec.key).alias("__canon")),
                    emails.filter(~repeated).select("__email", pl.col(spec.key).alias("__canon")),
                ]
            )
            # A person already in the graph with that email keeps their key.
            stored = self._lookup(spec.label, rule.dedupe_on, canon["__email"].to_list())
            if stored:
                found = pl.DataFrame(
                    {"__email": list(stored), "__stored": list(stored.values())},
                    schema={"__email": pl.String, "__stored": pl.String},
                )
                canon = canon.join(found, on="__email", how="left").select(
                    "__email", pl.coalesce("__stored", "__canon").alias("__canon")
                )
            losers = (
                emails.join(canon, on="__email")
                .filter(pl.col(spec.key) != pl.col("__canon"))
                .select(RID, spec.key, "__canon")
            )
            if not losers.height:
                continue
            dup.update(losers[RID].to_list())
            moved_rids = losers.get_column(RID)
            previous = self._remapped.get(spec.label)
            self._remapped[spec.label] = (
                moved_rids if previous is None else pl.concat([previous, moved_rids])
            )
            remap = dict(zip(losers[spec.key].to_list(), losers["__canon"].to_list(), strict=True))
            outputs[index] = out.with_frame(out.frame.join(losers.select(RID), on=RID, how="anti"))
            for j, other in enumerate(outputs):
                if other.is_node:
                    continue
                rule_e = other.rule
                assert isinstance(rule_e, EdgeRule)
                cols = []
                if rule_e.src.label == spec.label:
                    cols.append(pl.col("src").replace(remap))
                if rule_e.dst.label == spec.label:
                    cols.append(pl.col("dst").replace(remap))
                if cols:
                    # Every reference to a merged record now names the survivor; the
                    # survivor's own edges win over the ones moved onto it.
                    updated = other.frame.with_columns(cols)
                    is_loser = pl.col(RID).is_in(moved_rids.implode())
                    ident_e = list(other.spec.identity)
                    clash = (
                        updated.filter(is_loser)
                        .join(
                            updated.filter(~is_loser).select(ident_e),
                            on=ident_e,
                            how="semi",
                            nulls_equal=True,
                        )
                        .get_column(RID)
                    )
                    outputs[j] = _drop_rids(other.with_frame(updated), clash)
        # Edges collapse onto one identity after remapping: the later row wins.
        final = []
        for out in outputs:
            if out.is_node:
                final.append(out)
                continue
            final.append(out.with_frame(_keep_last(out.frame, list(out.spec.identity), when)))
        return dup, final

    def _check_endpoints(
        self, outputs: list[_Output], rejected: pl.DataFrame
    ) -> tuple[list[_Output], pl.DataFrame, int]:
        """Reject rows whose edges point at nodes that exist neither in this source nor
        in the graph; repeat, since a rejected row takes its nodes with it. The first
        round checks every edge; later rounds only the keys whose nodes just went."""
        skipped = 0
        # Keys known to exist in the store, per label (asked once per key).
        exists: dict[str, pl.DataFrame] = {}
        gone: dict[str, pl.Series] = {}  # keys whose last node in this source went
        for round_no in range(10):
            local: dict[str, list[pl.DataFrame]] = {}
            for out in outputs:
                if isinstance(out.spec, NodeSpec):
                    local.setdefault(out.name, []).append(
                        out.frame.select(pl.col(out.spec.key).alias("k"))
                    )
            new_rejects: list[pl.DataFrame] = []
            for i, out in enumerate(outputs):
                rule = out.rule
                if not isinstance(rule, EdgeRule):
                    continue
                frame = out.frame
                bad_side: dict[str, pl.Expr] = {}
                for side, endpoint in (("src", rule.src), ("dst", rule.dst)):
                    if round_no == 0 and _made_here(endpoint, outputs):
                        # The same key as a node rule of this source, row for row: a
                        # surviving edge row's node survives with it. Only rows that
                        # dedupe moved onto another row's node are checked.
                        bad_side[side] = pl.col(side).is_null()
                        moved = self._remapped.get(endpoint.label)
                        if moved is not None:
                            rows = frame.filter(pl.col(RID).is_in(moved.implode()))
                            absent = self._absent_keys(rows, side, endpoint.label, local, exists)
                            bad_side[side] = bad_side[side] | pl.col(side).is_in(absent)
                    elif round_no == 0:
                        absent = self._absent_keys(frame, side, endpoint.label, local, exists)
                        bad_side[side] = pl.col(side).is_in(absent) | pl.col(side).is_null()
                    elif endpoint.label in gone:
                        bad_side[side] = pl.col(side).is_in(gone[endpoint.label].implode())
                    else:
                        bad_side[side] = pl.lit(False)
                missing = bad_side["src"] | bad_side["dst"]
                bad = frame.filter(missing)
                if not bad.height:
                    continue
                if rule.on_missing == "skip" or rule.delete:
                    skipped += bad.height
                    outputs[i] = out.with_frame(frame.filter(~missing))
                    continue
                new_rejects.append(_endpoint_rejects(bad, rule, out.describe, bad_side["src"]))
            if not new_rejects:
                break
            rejected = pl.concat([rejected, *new_rejects]).unique(
                subset=[RID], keep="first", maintain_order=True
            )
            before = outputs
            outputs = [_drop_rids(o, rejected) for o in outputs]
            gone = self._gone_keys(before, outputs, exists)
            if not gone:
                break
        return outputs, rejected, skipped

    def _absent_keys(
        self,
        frame: pl.DataFrame,
        side: str,
        label: str,
        local: dict[str, list[pl.DataFrame]],
        exists: dict[str, pl.DataFrame],
    ) -> pl.Series:
        """Keys on one side of an edge frame that no node of this source or the graph has."""
        keys = frame.select(pl.col(side).alias("k")).drop_nulls().unique()
        for known_here in local.get(label, []):
            keys = keys.join(known_here, on="k", how="anti")
        known = exists.get(label, pl.DataFrame(schema={"k": pl.String}))
        ask = keys.join(known, on="k", how="anti").get_column("k")
        if ask.len():
            found = self.store.existing_keys(label, ask)
            known = pl.concat([known, pl.DataFrame({"k": sorted(found)}, schema={"k": pl.String})])
            exists[label] = known
        return keys.join(known, on="k", how="anti").get_column("k").implode()

    @staticmethod
    def _gone_keys(
        before: list[_Output], after: list[_Output], exists: dict[str, pl.DataFrame]
    ) -> dict[str, pl.Series]:
        """Node keys dropped from this source in the last round that no remaining row
        of the source and no stored node still provides."""
        removed: dict[str, list[pl.DataFrame]] = {}
        remaining: dict[str, list[pl.DataFrame]] = {}
        for old, new in zip(before, after, strict=True):
            if not isinstance(new.spec, NodeSpec):
                continue
            key = pl.col(new.spec.key).alias("k")
            remaining.setdefault(new.name, []).append(new.frame.select(key))
            if new.frame is not old.frame:
                dropped = old.frame.join(new.frame.select(RID), on=RID, how="anti")
                removed.setdefault(new.name, []).append(dropped.select(key))
        gone: dict[str, pl.Series] = {}
        for label, parts in removed.items():
            keys = pl.concat(parts).drop_nulls().unique()
            for still in remaining.get(label, []):
                keys = keys.join(still, on="k", how="anti")
            if label in exists:
                keys = keys.join(exists[label], on="k", how="anti")
            if keys.height:
                gone[label] = keys.get_column("k")
        return gone

    def _apply_catalog(self, out: _Output, part: pl.DataFrame, plan: _Plan) -> pl.DataFrame:
        """ICP, tier and suppression rules on the accounts and people being written."""
        if self._catalog is None or out.name not in ("Account", "Person"):
            return part
        rules = CatalogRules(self._catalog)
        if out.name == "Person":
            return rules.people(part)
        industry = None
        for other in plan.outputs:
            if other.name == "Industry" and "name" in other.frame.columns:
                names = other.frame.select(RID, pl.col("name").alias("__industry"))
                industry = part.select(RID).join(names, on=RID, how="left")["__industry"]
        return rules.accounts(part, industry)

    # -------------------------------------------------------------- store helpers

    def _lookup(self, label: str, prop: str, values: list[str]) -> dict[str, str]:
        spec = REGISTRY.node(label)
        found: dict[str, str] = {}
        # The embedded store holds the label in memory: a join is always cheapest there.
        in_memory = _EMBEDDED_SCANS and isinstance(self.store, EmbeddedStore)
        if len(values) > _FULL_SCAN_AT or in_memory:
            # Many values: one pass over the label beats thousands of IN queries.
            wanted = pl.DataFrame({prop: values}, schema={prop: pl.String})
            rows = self.store.nodes(label).select(prop, spec.key).join(wanted, on=prop)
            for value, key in rows.iter_rows():
                found.setdefault(value, key)
            return found
        for start in range(0, len(values), _LOOKUP_CHUNK):
            chunk = values[start : start + _LOOKUP_CHUNK]
            rows = self.store.nodes(label, [Filter(prop, "in", chunk)])
            for value, key in rows.select(prop, spec.key).iter_rows():
                found.setdefault(value, key)
        return found

    def _vocabulary(self, label: str) -> list[tuple[str, str]]:
        if label not in self._vocab:
            spec = REGISTRY.node(label)
            name = "name" if "name" in spec.fields else spec.key
            rows = self.store.nodes(label).select(name, spec.key)
            self._vocab[label] = [(n, k) for n, k in rows.iter_rows() if n]
        return self._vocab[label]

    # -------------------------------------------------------------- side files

    def _rejects(self, report: SourceReport, source: SourceConfig, plan: _Plan) -> pl.DataFrame:
        """Every quarantined row of this run, keyed for the quarantine's memory."""
        rejected = plan.rejected.join(plan.rows, on=RID, how="left", maintain_order="left")
        frame = pl.concat(
            [
                rejected.select(
                    pl.lit(report.run_id).alias("run_id"),
                    pl.lit(source.name).alias("source"),
                    pl.col(FILE).alias("file"),
                    pl.col(ROW).cast(pl.Int64).alias("row"),
                    "field",
                    "reason",
                    pl.col("__record").alias("record"),
                ),
                pl.DataFrame(
                    [
                        (report.run_id, source.name, b.file, b.row, "*", b.reason, b.record)
                        for b in plan.bad_rows
                    ],
                    schema=quarantine.QUARANTINE_SCHEMA,
                    orient="row",
                ),
            ]
        )
        contents = [*rejected["__record"].to_list(), *(b.content for b in plan.bad_rows)]
        return quarantine.with_keys(source.name, frame, contents)

    def _write_side_files(
        self,
        report: SourceReport,
        source: SourceConfig,
        new_rejects: pl.DataFrame,
        review: pl.DataFrame,
    ) -> None:
        folder = self.config.resolve(self.config.quarantine_dir) / report.run_id.replace("/", "_")
        if new_rejects.height:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{source.name}.quarantine.csv"
            quarantine.atomic_csv(new_rejects.drop("key").sort("file", "row"), path)
            report.quarantine_file = _shown(path, self.config.base_dir)
        if review.height:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{source.name}.review.csv"
            rows = review.select(
                pl.lit(report.run_id).alias("run_id"), pl.lit(source.name).alias("source"), pl.all()
            )
            quarantine.atomic_csv(rows, path)
            report.review_file = _shown(path, self.config.base_dir)

    # -------------------------------------------------------------- writing

    def _write(
        self,
        source: SourceConfig,
        report: SourceReport,
        started: dt.datetime,
        plan: _Plan,
        new_rejects: pl.DataFrame,
    ) -> None:
        # Duplicate rows stay in the order: a person merged by email still brings the
        # edges that moved onto the surviving record. They are not counted as loaded.
        kept = plan.rows.join(plan.rejected.select(RID), on=RID, how="anti").with_columns(
            pl.col(RID).is_in(sorted(plan.duplicate_rids)).alias("__dup")
        )
        order = kept.sort([WM, RID], nulls_last=False).with_row_index("__pos")
        newest_seen = plan.rows[WM].drop_nulls().max() if plan.rows.height else None
        size = self.config.batch_rows or (
            EMBEDDED_BATCH_ROWS if isinstance(self.store, EmbeddedStore) else NEO4J_BATCH_ROWS
        )
        n_batches = max(1, -(-order.height // size)) if order.height else 0
        order = order.with_columns((pl.col("__pos") // size).alias("__batch"))
        batch_of = order.select(RID, "__batch")
        nodes = [o for o in plan.outputs if o.is_node]
        edges = [o for o in plan.outputs if not o.is_node]
        # A source with only edges (line items, job changes) has no node phase.
        phases = [(name, outs) for name, outs in (("nodes", nodes), ("edges", edges)) if outs]
        total = n_batches * len(phases)
        rows_by_batch = order.partition_by("__batch", as_dict=True)
        done = 0
        self._tick(source.name, "write", 0, total)
        if not order.height:
            _advance(report, newest_seen)
            with self.store.batch() as tx:
                quarantine.remember(tx, new_rejects, now=self.clock())
                self._write_run_node(report, started, final=False, tx=tx)
        for phase, outs in phases:
            last_phase = phase == phases[-1][0]
            # Each output split into its batches once, not filtered again per batch.
            split = [
                (
                    o,
                    o.frame.join(batch_of, on=RID, how="inner").partition_by(
                        "__batch", as_dict=True
                    ),
                )
                for o in outs
            ]
            for b in range(n_batches):
                rows_b = rows_by_batch[(b,)]
                with self.store.batch() as tx:
                    # Only what differs from the store is written (a rerun over the same
                    # input writes nothing), and journalled for incremental matching.
                    written_nodes: dict[str, pl.DataFrame] = {}
                    written_edges: dict[str, pl.DataFrame] = {}
                    for out, parts in split:
                        part = parts.get((b,))
                        if part is None or not part.height:
                            continue
                        part = part.drop("__batch")
                        if isinstance(out.rule, NodeRule):
                            ready = self._apply_catalog(out, self._fill_unmapped(out, part), plan)
                            changed = changes.changed_nodes(self.store, out.name, ready.drop(RID))
                            if changed.height:
                                tx.upsert_nodes(out.name, changed, source=source.name)
                                written_nodes[out.name] = _stack(written_nodes, out.name, changed)
                        elif out.rule.delete:
                            gone = changes.existing_edges(self.store, out.rule.type, part.drop(RID))
                            if gone.height:
                                tx.delete_edges(out.rule.type, gone)
                                written_edges[out.name] = _stack(written_edges, out.name, gone)
                        else:
                            changed = changes.changed_edges(
                                self.store, out.rule.type, part.drop(RID)
                            )
                            if changed.height:
                                tx.upsert_edges(out.rule.type, changed, source=source.name)
                                written_edges[out.name] = _stack(written_edges, out.name, changed)
                    report.written += sum(f.height for f in written_nodes.values())
                    report.written += sum(f.height for f in written_edges.values())
                    changes.journal(
                        tx,
                        f"ingest:{source.name}",
                        changes.touched(self.store, written_nodes, written_edges),
                        now=self.clock(),
                    )
                    report.batches += 1
                    if last_phase:
                        report.loaded += rows_b.filter(~pl.col("__dup")).height
                        _advance(report, rows_b[WM].drop_nulls().max())
                        if b == n_batches - 1:
                            # Quarantined rows are handled too (they are in the
                            # quarantine file and remembered): the next run starts
                            # past them.
                            _advance(report, newest_seen)
                    if phase == phases[0][0] and b == 0:
                        # The source passed its reject-rate check: its rejects are
                        # remembered with its first commit, so a run cut off later
                        # (whose rerun starts past their watermark) still has them.
                        quarantine.remember(tx, new_rejects, now=self.clock())
                    self._write_run_node(report, started, final=False, tx=tx)
                done += 1
                self._tick(source.name, "write", done, total)
                self._after_batch()

    def _fill_unmapped(self, out: _Output, part: pl.DataFrame) -> pl.DataFrame:
        """Properties this mapping does not set keep their stored values (new nodes get
        the defaults), so a second source never wipes what the first one wrote."""
        spec = out.spec
        assert isinstance(spec, NodeSpec)
        unmapped = [f for f in spec.fields if f not in part.columns]
        if not unmapped:
            return part
        # Keys first (cheap): on a first load no node exists and nothing is read.
        present = self.store.existing_keys(spec.label, part.get_column(spec.key))
        stored = self.store.get_nodes(spec.label, sorted(present)) if present else pl.DataFrame()
        if not stored.height:
            return part.with_columns([default_literal(spec.fields[f]).alias(f) for f in unmapped])
        part = part.join(
            stored.select(spec.key, *unmapped).with_columns(pl.lit(True).alias("__stored")),
            on=spec.key,
            how="left",
        )
        is_new = pl.col("__stored").is_null()
        return part.with_columns(
            [
                pl.when(is_new).then(default_literal(spec.fields[f])).otherwise(pl.col(f)).alias(f)
                for f in unmapped
            ]
        ).drop("__stored")


# ------------------------------------------------------------------ helpers


def _advance(report: SourceReport, newest: object) -> None:
    if isinstance(newest, dt.datetime):
        candidate = newest.isoformat()
        if report.watermark is None or candidate > report.watermark:
            report.watermark = candidate


def _stack(done: dict[str, pl.DataFrame], name: str, frame: pl.DataFrame) -> pl.DataFrame:
    return pl.concat([done[name], frame], how="diagonal_relaxed") if name in done else frame


def _materialise(compiled: Compiled, ctx: CompileContext) -> Compiled:
    """Compute a value and its problem masks as columns of ``ctx.frame`` in one pass
    (polars shares the common sub-expressions), so the rules that use the value and
    the problem check later read columns instead of parsing again."""
    column = f"__v{len(ctx.frame.columns)}"
    masks = {f"{column}_p{j}": p.bad.fill_null(False) for j, p in enumerate(compiled.problems)}
    ctx.frame = ctx.frame.lazy().with_columns(compiled.expr.alias(column), **masks).collect()
    problems = [
        Problem(p.field, p.reason, pl.col(name))
        for p, name in zip(compiled.problems, masks, strict=True)
    ]
    return Compiled(pl.col(column), compiled.kind, problems)


def _made_here(endpoint: Endpoint, outputs: list[_Output]) -> bool:
    """Whether a node rule of this source writes ``endpoint``'s node from the same key
    value in the same row (a signal's EMITTED edge and its Signal node)."""
    want = endpoint.key.model_dump_json()
    return any(
        isinstance(o.rule, NodeRule)
        and o.rule.label == endpoint.label
        and not o.rule.optional
        and o.rule.key.model_dump_json() == want
        for o in outputs
    )


def _endpoint_rejects(
    bad: pl.DataFrame, rule: EdgeRule, describe: dict[str, str], src_bad: pl.Expr
) -> pl.DataFrame:
    """Quarantine rows for edges with a missing endpoint: which side, and why."""
    side_col = pl.when(src_bad).then(pl.col("src")).otherwise(pl.col("dst"))
    label = pl.when(src_bad).then(pl.lit(rule.src.label)).otherwise(pl.lit(rule.dst.label))
    reason = (
        pl.when(side_col.is_null())
        .then(pl.lit(f"is required ({rule.type})"))
        .otherwise(
            pl.concat_str(
                [
                    pl.lit("no "),
                    label,
                    pl.lit(" with key '"),
                    side_col,
                    pl.lit("' in this source or the graph"),
                ]
            )
        )
    )
    field_expr = pl.when(src_bad).then(pl.lit(describe["src"])).otherwise(pl.lit(describe["dst"]))
    return bad.select(pl.col(RID), field_expr.alias("field"), reason.alias("reason"))


def _drop_rids(out: _Output, rejected: pl.DataFrame | pl.Series | set[int]) -> _Output:
    """The output without the given rows; the same frame (no copy) when none are in it."""
    if isinstance(rejected, pl.DataFrame):
        rids = rejected.get_column(RID)
    elif isinstance(rejected, set):
        rids = pl.Series(RID, sorted(rejected), dtype=pl.UInt32)
    else:
        rids = rejected
    if not rids.len() or not out.frame.height:
        return out
    gone = pl.col(RID).is_in(rids.cast(pl.UInt32).implode())
    if not out.frame.select(gone.any()).item():
        return out
    return out.with_frame(out.frame.filter(~gone))


def _keep_last(frame: pl.DataFrame, subset: list[str], when: pl.DataFrame) -> pl.DataFrame:
    """One row per ``subset``, order kept; no copy when unique. The later row wins:
    the newer by watermark (``when``: __rid, __wm), then the later in the file, the
    order batches are written in, so a run resumed after a crash, or a later
    incremental run, ends where one uninterrupted run does."""
    last = (
        pl.col(subset[0]).is_last_distinct()
        if len(subset) == 1
        else pl.struct(subset).is_last_distinct()
    )
    if frame.select(last.all()).item():
        return frame
    winners = (
        frame.select(RID, *subset)
        .join(when, on=RID, how="left")
        .sort([WM, RID], nulls_last=False)
        .unique(subset, keep="last")
        .select(RID)
    )
    return frame.join(winners, on=RID, how="semi", maintain_order="left")


def _shown(path: Path, base: Path) -> str:
    try:
        return str(path.resolve().relative_to(base))
    except ValueError:
        return str(path)


def _input_warnings(
    source: SourceConfig,
    mapping: SourceMapping,
    frame: pl.DataFrame,
    bad: list[BadRow],
    paths: list[Path],
    shown: dict[Path, str],
) -> list[str]:
    """Files without rows, and columns present that the mapping neither documents nor
    reads (for JSONL: keys of the first 1,000 lines of each file)."""
    fmt = source.format or mapping.format
    kinds = {format_of(p, fmt) for p in paths}
    warnings: list[str] = []
    with_rows = set(frame.get_column(FILE).unique()) | {b.file for b in bad}
    for path in paths:
        if shown[path] not in with_rows:
            kind = format_of(path, fmt)
            only = {"csv": ", only a header", "jsonl": ", only blank lines"}.get(kind, "")
            warnings.append(f"{shown[path]}: no rows{only}")
    present = {c for c in frame.columns if c not in (ROW, FILE)}
    for path in paths:
        if format_of(path, fmt) == "jsonl":
            present.update(jsonl_keys(path, source.encoding))
    unread = sorted(present - set(mapping.columns) - mapping.referenced_columns())
    if unread:
        where = shown[paths[0]] if len(paths) == 1 else source.path
        noun = "keys" if kinds == {"jsonl"} else "columns"
        notes = [n for c in unread if (n := mapping.property_like(c, present)) is not None]
        warnings.append(
            f"{where}: {noun} the {mapping.name} reader does not read: {', '.join(unread)}"
            + (f" ({'; '.join(notes)})" if notes else "")
        )
    return warnings


def run_summary_line(report: SourceReport) -> str:
    parts = [
        f"{report.source}: {report.status}",
        f"rows_in={report.rows_in} = loaded {report.loaded} + quarantined {report.quarantined}"
        f" + duplicates {report.duplicates}",
    ]
    if report.older_than_watermark:
        parts.append(f"{report.older_than_watermark} older than the watermark")
    if report.known_rejects:
        parts.append(f"{report.known_rejects} of the quarantined were quarantined before")
    if report.review:
        parts.append(f"{report.review} for review")
    if report.quarantine_file:
        parts.append(f"quarantine: {report.quarantine_file}")
    if report.review_file:
        parts.append(f"review: {report.review_file}")
    if report.error:
        parts.append(f"error: {report.error}")
    parts.extend(f"warning: {w}" for w in report.warnings)
    return "; ".join(parts)
