"""The Neo4j store: the system of record, through the official driver.

The only module that imports ``neo4j``. Every query goes through ``_read``
(``execute_query`` routed to readers) or ``_write`` (a managed write
transaction, retried by the driver on transient errors for
``TWOLOOP_NEO4J_RETRY_SECONDS``); both always name the database. Query text
comes from ``graph_model.cypher``; values are parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, LiteralString, TypeVar

import neo4j
import neo4j.exceptions as neo4j_errors
import neo4j.time
import polars as pl

from graph_model.cypher import TWOLOOP_SCHEMA_PREFIX, Cypher
from graph_model.errors import (
    MissingEndpoints,
    QueryFailed,
    StoreCorrupt,
    StoreError,
    StoreUnavailable,
    TwoloopError,
)
from graph_model.schema import EdgeSpec, FieldSpec, NodeSpec, SchemaRegistry
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
    ordered_ops,
    resolve_filters,
    wanted_fields,
)
from graph_model.validation import empty_frame

T = TypeVar("T")


_KEYS_PER_QUERY = 20_000  # keys per existence query: one parameter list each


class Neo4jStore(GraphStore):
    def __init__(self, uri: str, *, settings: Settings, registry: SchemaRegistry) -> None:
        self.uri = uri
        self.registry = registry
        self.database = settings.neo4j_database
        self.batch_size = settings.batch_size
        self.write_workers = settings.neo4j_write_workers
        self.cypher = Cypher(registry)
        auth = (
            (settings.neo4j_user, settings.neo4j_password)
            if settings.neo4j_password is not None
            else None
        )
        try:
            self._driver = neo4j.GraphDatabase.driver(
                uri,
                auth=auth,
                max_transaction_retry_time=settings.neo4j_retry_seconds,
                user_agent="twoloop",
                # Reads of types no edge has used yet are normal here, not a warning.
                notifications_min_severity=neo4j.NotificationMinimumSeverity.OFF,
            )
            self._driver.verify_connectivity()
        except Exception as exc:
            raise _translate(exc, uri) from None

    # ------------------------------------------------------------ plumbing

    def _records(self, query: LiteralString, **params: Any) -> list[neo4j.Record]:
        try:
            records, _, _ = self._driver.execute_query(
                query,
                parameters_=params,
                database_=self.database,
                routing_=neo4j.RoutingControl.READ,
            )
        except TwoloopError:
            raise
        except Exception as exc:
            raise _translate(exc, self.uri) from None
        return records

    def _read(self, query: LiteralString, **params: Any) -> list[dict[str, Any]]:
        return [record.data() for record in self._records(query, **params)]

    def _read_rows(
        self, query: LiteralString, schema: Mapping[str, pl.DataType], **params: Any
    ) -> pl.DataFrame:
        """A query that returns one record, ``rows`` (a list of value lists in the
        order of ``schema``, temporal values as numbers: see ``Cypher.column``), as a
        frame of ``schema``. The record is read as it arrives: ``Record.data()`` would
        walk every value of the list again in Python."""
        records = self._records(query, **params)
        try:
            return _columns_frame(records[0]["rows"] if records else [], schema)
        except pl.exceptions.PolarsError as exc:
            # Written by something other than twoloop: say so rather than guess.
            raise StoreCorrupt(
                self.uri, f"a property does not have the type the schema registry gives it: {exc}"
            ) from None

    def _write(self, work: Callable[[neo4j.ManagedTransaction], T]) -> T:
        try:
            with self._driver.session(database=self.database) as session:
                return session.execute_write(work)
        except TwoloopError:
            raise
        except Exception as exc:
            raise _translate(exc, self.uri) from None

    # ------------------------------------------------------------ schema

    def ensure_schema(self) -> list[str]:
        constraints = {r["name"] for r in self._read("SHOW CONSTRAINTS YIELD name RETURN name")}
        indexes = {
            r["name"]
            for r in self._read(
                "SHOW INDEXES YIELD name, owningConstraint "
                "WHERE owningConstraint IS NULL RETURN name"
            )
        }
        wanted: dict[str, LiteralString] = {}
        for spec in self.registry.nodes.values():
            name, query = self.cypher.unique_constraint(spec)
            wanted[name] = query
            for field in spec.indexed:
                name, query = self.cypher.property_index(spec, field)
                wanted[name] = query
        done: list[str] = []
        for name, query in wanted.items():
            if name in constraints or name in indexes:
                continue
            self._write(lambda tx, q=query: tx.run(q).consume())
            done.append(f"created {'constraint' if name.endswith('_key') else 'index'} {name}")
        # Ours (twoloop_*) but no longer in the registry: a renamed or removed field.
        for name in sorted((constraints | indexes) - set(wanted)):
            if name.startswith(TWOLOOP_SCHEMA_PREFIX):
                is_constraint = name in constraints
                query = self.cypher.drop_schema(name, constraint=is_constraint)
                self._write(lambda tx, q=query: tx.run(q).consume())
                done.append(
                    f"dropped {'constraint' if is_constraint else 'index'} {name} "
                    "(no longer in the schema registry)"
                )
        self._write(lambda tx: tx.run("CALL db.awaitIndexes(300)").consume())
        done.append(
            f"{len(self.registry.nodes)} unique key constraints and "
            f"{sum(len(s.indexed) for s in self.registry.nodes.values())} property indexes in place"
        )
        return done

    # ------------------------------------------------------------ writes

    def _apply(self, ops: Sequence[WriteOp], *, chunked: bool) -> list[int]:
        size = self.batch_size
        if chunked and len(ops) == 1 and isinstance(ops[0], UpsertNodes | UpsertEdges):
            op = ops[0]
            if op.frame.height > size:
                if isinstance(op, UpsertEdges):
                    self._require_endpoints(op.spec, op.frame)
                    lanes = self._edge_lanes(op.spec, op.frame)
                else:
                    # Distinct keys never contend: each writer takes a contiguous share.
                    share = -(-op.frame.height // self.write_workers)
                    lanes = [
                        op.frame.slice(start, share) for start in range(0, op.frame.height, share)
                    ]

                def write_lane(lane: pl.DataFrame) -> None:
                    for start in range(0, lane.height, size):
                        piece = lane.slice(start, size)
                        part = (
                            UpsertEdges(op.spec, piece)
                            if isinstance(op, UpsertEdges)
                            else UpsertNodes(op.spec, piece)
                        )
                        self._write(lambda tx, p=part: self._counted(tx, [p])[0])

                with ThreadPoolExecutor(len(lanes)) as pool:
                    list(pool.map(write_lane, lanes))
                return [op.frame.height]
        ordered = ordered_ops(ops)
        return self._write(lambda tx: self._counted(tx, ordered))

    def _counted(self, tx: neo4j.ManagedTransaction, ops: Sequence[WriteOp]) -> list[int]:
        done = [self._run_op(tx, op) for op in ops]
        tx.run(self.cypher.BUMP_VERSION).consume()
        return done

    def _edge_lanes(self, spec: EdgeSpec, frame: pl.DataFrame) -> list[pl.DataFrame]:
        """Split edges between concurrent writers without lock cycles.

        Creating a relationship locks both endpoints. Lanes never share a source
        node, and each lane takes its targets in sorted order, so two writers can
        only ever wait on a shared target in the same order: no deadlock. When a
        node can be both source and target (REPORTS_TO, SUBSIDIARY_OF) that
        argument fails, so those types get one writer.
        """
        self_referential = bool(set(spec.src_labels) & set(spec.dst_labels))
        workers = 1 if self_referential else self.write_workers
        if workers == 1:
            return [frame]
        lane = (pl.col("src").hash() % workers).alias("__lane")
        parts = frame.with_columns(lane).partition_by("__lane", include_key=False)
        return [part.sort(["dst_label", "dst", "src_label", "src"]) for part in parts]

    def _run_op(self, tx: neo4j.ManagedTransaction, op: WriteOp) -> int:
        if isinstance(op, UpsertNodes):
            if not op.frame.height:
                return 0
            rows = _temporal_as_text(op.frame, op.spec.fields).to_dicts()
            tx.run(self.cypher.merge_nodes(op.spec), rows=rows).consume()
            return op.frame.height
        if isinstance(op, UpsertEdges):
            return self._merge_edges(tx, op.spec, op.frame)
        if isinstance(op, Expect):
            if op.absent_ok:
                query = self.cypher.reserved_value(op.spec, op.field)
                record = tx.run(query, key=op.key).single()
                assert record is not None  # MERGE always returns the node
                check_expectation(op, not record["created"], record["value"])
                return 0
            record = tx.run(self.cypher.locked_value(op.spec, op.field), key=op.key).single()
            check_expectation(op, record is not None, record["value"] if record else None)
            return 0
        if isinstance(op, DeleteNodes):
            if not op.keys:
                return 0
            record = tx.run(self.cypher.delete_nodes(op.spec), keys=list(op.keys)).single()
            return int(record["deleted"]) if record else 0
        return self._delete_edges(tx, op)

    def _merge_edges(
        self, tx: neo4j.ManagedTransaction, spec: EdgeSpec, frame: pl.DataFrame
    ) -> int:
        written = 0
        props = list(spec.fields)
        for (src_label, dst_label), group in frame.group_by(
            ["src_label", "dst_label"], maintain_order=True
        ):
            src, dst = self.registry.node(str(src_label)), self.registry.node(str(dst_label))
            rows = _edge_params(_temporal_as_text(group, spec.fields), props)
            record = tx.run(self.cypher.merge_edges(spec, src, dst), rows=rows).single()
            merged = int(record["written"]) if record else 0
            if merged != group.height:
                missing = self._missing(tx, src, group["src"].unique().to_list())
                missing += self._missing(tx, dst, group["dst"].unique().to_list())
                raise MissingEndpoints(spec.type, sorted(set(missing)))
            written += merged
        return written

    def _missing(
        self, tx: neo4j.ManagedTransaction | None, spec: NodeSpec, keys: list[str]
    ) -> list[tuple[str, str]]:
        query = self.cypher.missing_keys(spec)
        if tx is not None:
            rows = [r.data() for r in tx.run(query, keys=keys)]
        else:
            rows = self._read(query, keys=keys)
        return [(spec.label, row["k"]) for row in rows]

    def _require_endpoints(self, spec: EdgeSpec, frame: pl.DataFrame) -> None:
        """Check every endpoint before the first chunk commits, so a call that
        would fail on a missing node writes nothing."""
        missing: list[tuple[str, str]] = []
        for side, label_col in (("src", "src_label"), ("dst", "dst_label")):
            for (label,), group in frame.group_by([label_col], maintain_order=True):
                node_spec = self.registry.node(str(label))
                keys = group[side].unique().to_list()
                for start in range(0, len(keys), self.batch_size):
                    missing += self._missing(None, node_spec, keys[start : start + self.batch_size])
        if missing:
            raise MissingEndpoints(spec.type, sorted(set(missing)))

    def _delete_edges(self, tx: neo4j.ManagedTransaction, op: DeleteEdges) -> int:
        deleted = 0
        for (src_label, dst_label), group in op.frame.group_by(
            ["src_label", "dst_label"], maintain_order=True
        ):
            src, dst = self.registry.node(str(src_label)), self.registry.node(str(dst_label))
            query = self.cypher.delete_edges(op.spec, src, dst)
            record = tx.run(query, rows=group.to_dicts()).single()
            deleted += int(record["deleted"]) if record else 0
        return deleted

    # ------------------------------------------------------------ reads

    def get_nodes(
        self, label: str, keys: Iterable[str] | pl.Series, *, fields: Sequence[str] | None = None
    ) -> pl.DataFrame:
        spec = self.registry.node(label)
        values = keys.cast(pl.String).to_list() if isinstance(keys, pl.Series) else keys
        wanted = list(dict.fromkeys(str(k) for k in values if k is not None))
        names = wanted_fields(spec, fields)
        query = self.cypher.node_rows(spec, names)
        full = spec.frame_schema()
        schema = {name: full[name] for name in names}
        frames = [
            self._read_rows(query, schema, keys=wanted[start : start + _KEYS_PER_QUERY])
            for start in range(0, len(wanted), _KEYS_PER_QUERY)
        ]
        return _sorted(frames, schema, list(spec.identity))

    def existing_keys(self, label: str, keys: Iterable[str] | pl.Series) -> set[str]:
        spec = self.registry.node(label)
        values = keys.cast(pl.String).to_list() if isinstance(keys, pl.Series) else keys
        wanted = list(dict.fromkeys(str(k) for k in values if k is not None))
        query = self.cypher.keys_present(spec)
        found: set[str] = set()
        for start in range(0, len(wanted), _KEYS_PER_QUERY):
            chunk = wanted[start : start + _KEYS_PER_QUERY]
            found.update(r["k"] for r in self._read(query, keys=chunk))
        return found

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
        names = wanted_fields(spec, fields)
        params: dict[str, Any] = {f"p{i}": _param(f.value) for i, f in enumerate(filters)}
        if limit is not None:
            params["limit"] = int(limit)
        query = self.cypher.nodes_where(spec, filters, limited=limit is not None, fields=names)
        full = spec.frame_schema()
        schema = {name: full[name] for name in names}
        return _sorted([self._read_rows(query, schema, **params)], schema, list(spec.identity))

    def edges(
        self,
        rel_type: str,
        touching: Iterable[str] | None = None,
        *,
        side: Side = "either",
        label: str | None = None,
    ) -> pl.DataFrame:
        spec = self.registry.edge(rel_type)
        if label is not None:
            self.registry.node(label)
        if touching is None:
            keys = None
        else:
            values = touching.to_list() if isinstance(touching, pl.Series) else touching
            keys = list(dict.fromkeys(str(k) for k in values if k is not None))
        schema = spec.frame_schema()
        own = {name: schema[name] for name in spec.fields}
        raw = {"src": pl.String(), "dst": pl.String(), **own}
        frames: list[pl.DataFrame] = []
        for src_label, dst_label in spec.endpoints:
            src, dst = self.registry.node(src_label), self.registry.node(dst_label)
            at_src = keys is not None and side != "target" and label in (None, src_label)
            at_dst = keys is not None and side != "source" and label in (None, dst_label)
            if keys is not None and not (at_src or at_dst):
                continue
            query = self.cypher.edge_rows(spec, src, dst, at_src, at_dst)
            chunks = (
                [self._read_rows(query, raw)]
                if keys is None
                else [
                    self._read_rows(query, raw, keys=keys[start : start + _KEYS_PER_QUERY])
                    for start in range(0, len(keys), _KEYS_PER_QUERY)
                ]
            )
            frames += [
                chunk.with_columns(
                    pl.lit(src_label).alias("src_label"), pl.lit(dst_label).alias("dst_label")
                )
                for chunk in chunks
            ]
        frame = _sorted(frames, schema, list(spec.identity))
        if keys is not None and side == "either" and len(keys) > _KEYS_PER_QUERY:
            # Split over queries, one edge can match twice: its source in one chunk of
            # keys, its target in another.
            frame = frame.unique(maintain_order=True)
        return frame

    def data_version(self) -> str:
        return f"writes-{self._read(self.cypher.READ_VERSION)[0]['n']}"

    def counts(self) -> GraphCounts:
        nodes = {
            label: self._read(self.cypher.count_nodes(label))[0]["c"]
            for label in sorted(self.registry.nodes)
        }
        edges = {
            t: self._read(self.cypher.count_edges(t))[0]["c"] for t in sorted(self.registry.edges)
        }
        return GraphCounts(nodes, edges)

    def _incident_edges(self, label: str, keys: Sequence[str]) -> list[EdgeRow]:
        spec = self.registry.node(label)
        touching = self.registry.edges_touching(label)
        neighbour_labels = sorted({lbl for e in touching for pair in e.endpoints for lbl in pair})
        rows = self._read(
            self.cypher.incident_edges(spec),
            keys=list(keys),
            types=[e.type for e in touching],
            labels=neighbour_labels,
            keymap={lbl: self.registry.node(lbl).key for lbl in neighbour_labels},
        )
        out: list[EdgeRow] = []
        for row in rows:
            edge_spec = self.registry.edges[row["type"]]
            if row["outgoing"]:
                ends = (label, row["key"], row["m_label"], row["m_key"])
            else:
                ends = (row["m_label"], row["m_key"], label, row["key"])
            if (ends[0], ends[2]) not in edge_spec.endpoints:
                continue
            record = {
                "src_label": ends[0],
                "src": ends[1],
                "dst_label": ends[2],
                "dst": ends[3],
                **_native_map(row["props"]),
            }
            out.append(edge_row(edge_spec, record))
        return out

    def close(self) -> None:
        self._driver.close()


# ---------------------------------------------------------------- conversions


def _temporal_as_text(frame: pl.DataFrame, fields: Mapping[str, FieldSpec]) -> pl.DataFrame:
    """ISO-8601 text for temporal columns; the merge queries turn it back into values."""
    formats = {"datetime": "%Y-%m-%dT%H:%M:%S%.6fZ", "date": "%Y-%m-%d"}
    converted = [
        pl.col(name).dt.to_string(formats[f.kind])
        for name, f in fields.items()
        if f.kind in formats
    ]
    return frame.with_columns(converted) if converted else frame


def _edge_params(frame: pl.DataFrame, props: list[str]) -> list[dict[str, Any]]:
    props_expr = pl.struct(props).alias("props") if props else pl.lit(None).alias("props")
    rows = frame.select("src", "dst", props_expr).to_dicts()
    if not props:
        for row in rows:
            row["props"] = {}
    return rows


def _param(value: Any) -> Any:
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return value


def _native(value: Any) -> Any:
    if isinstance(value, neo4j.time.DateTime | neo4j.time.Date | neo4j.time.Time):
        return value.to_native()
    if isinstance(value, list):
        return [_native(v) for v in value]
    return value


def _native_map(props: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _native(v) for k, v in props.items()}


def _columns_frame(rows: list[list[Any]], schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
    """Rows read by ``_read_rows`` as a frame: numbers back into dates and times."""
    raw: dict[str, pl.DataType] = {}
    for name, dtype in schema.items():
        if dtype == pl.Date:
            raw[name] = pl.Int32()
        elif isinstance(dtype, pl.Datetime):
            raw[name] = pl.Int64()
        else:
            raw[name] = dtype
    if not rows:
        return empty_frame(schema)
    frame = pl.DataFrame(rows, schema=raw, orient="row")
    converted = []
    for name, dtype in schema.items():
        if dtype == pl.Date:
            converted.append(pl.col(name).cast(pl.Date))
        elif isinstance(dtype, pl.Datetime):
            converted.append(
                pl.col(name).cast(pl.Datetime("us")).dt.replace_time_zone("UTC").cast(dtype)
            )
        elif dtype == pl.List(pl.String):
            # A missing list property reads as an empty list, as validation stores it.
            converted.append(pl.col(name).fill_null(pl.lit([], dtype=dtype)))
    return frame.with_columns(converted) if converted else frame


def _sorted(
    frames: list[pl.DataFrame], schema: Mapping[str, pl.DataType], identity: list[str]
) -> pl.DataFrame:
    parts = [f.select(list(schema)) for f in frames if f.height]
    if not parts:
        return empty_frame(schema)
    return pl.concat(parts).sort(identity, nulls_last=True)


def _translate(exc: BaseException, uri: str) -> StoreError:
    if isinstance(exc, neo4j_errors.AuthError):
        return StoreError(
            f"Neo4j at {uri} refused the credentials",
            hint="set TWOLOOP_NEO4J_USER and TWOLOOP_NEO4J_PASSWORD",
        )
    if isinstance(exc, neo4j_errors.ServiceUnavailable | neo4j_errors.SessionExpired):
        return StoreUnavailable(
            f"cannot reach Neo4j at {uri}: {exc}",
            hint="is the server running? (make neo4j-up for the dev server)",
        )
    if isinstance(exc, neo4j_errors.TransientError):
        return StoreUnavailable(f"Neo4j at {uri} kept failing transiently: {exc.message}")
    if isinstance(exc, neo4j_errors.Neo4jError):
        return QueryFailed(f"Neo4j at {uri} refused a query: {exc.code}: {exc.message}")
    if isinstance(exc, neo4j_errors.ConfigurationError | ValueError):
        return StoreError(f"cannot open Neo4j at {uri}: {exc}")
    if isinstance(exc, neo4j_errors.DriverError | OSError):
        return StoreUnavailable(f"Neo4j at {uri} failed: {exc}")
    raise exc
