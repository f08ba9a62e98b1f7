"""A match run: evaluate, score, explain, pick a contact, write Match nodes.

Accounts are processed in batches (sorted by key). Each batch is evaluated on
its own (the capability side is shared), scored with the active score model,
and written in one all-or-nothing commit:

- one Match node per surfaced (account, capability), keyed by the pair, with its
  score, features, explanation, evidence, model version, batch id and as-of time,
  plus FOR (account), OFFERS (capability), ASSIGNED_TO (the owning AM) and
  CONTACT (the person to contact, with the reason) edges;
- a match a person already decided keeps its status (and defer date) when it is
  rescored; a proposed match that is no longer surfaced is removed.

Rerunning a batch with the same graph, model and as-of time writes the same
nodes and edges again, so a rerun (or a retried worker) changes nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import polars as pl

from graph_model.store import Filter, GraphStore, NotFound
from matching.contacts import ContactChoice, choose_contacts
from matching.evaluate import Evaluator, PathResult
from matching.metapaths import Metapath, load_metapaths
from matching.model import ScoreModelSpec, active_model, load_prior

DEFAULT_BATCH = 5_000
EVIDENCE_SHOWN = 3


@dataclass
class MatchRunReport:
    model_version: str
    as_of: str
    accounts: int = 0
    batches: int = 0
    pairs: int = 0
    gated: int = 0
    surfaced: int = 0
    weak: int = 0
    with_contact: int = 0
    written: int = 0
    removed: int = 0
    by_am: dict[str, int] = field(default_factory=dict)
    batch_ids: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def pair_id(account_id: str, capability_id: str) -> str:
    digest = hashlib.sha1(f"{account_id}\x1f{capability_id}".encode()).hexdigest()
    return f"m-{digest[:20]}"


class Matcher:
    """Scores and explains (account, capability) pairs with one model at one as-of time."""

    def __init__(
        self,
        store: GraphStore,
        *,
        as_of: dt.datetime,
        metapaths: Sequence[Metapath] | None = None,
        model: ScoreModelSpec | None = None,
    ) -> None:
        self.store = store
        self.metapaths = list(metapaths) if metapaths is not None else load_metapaths()
        self.model = model or active_model(store, load_prior(metapaths=self.metapaths))
        self.as_of = as_of
        self.evaluator = Evaluator(store, self.metapaths, self.model, as_of=as_of)
        self.evidence_ids = [m.id for m in self.metapaths if m.role == "evidence"]
        self.gate_ids = [m.id for m in self.metapaths if m.role == "gate"]
        self._capabilities: pl.DataFrame | None = None

    @property
    def capabilities(self) -> pl.DataFrame:
        if self._capabilities is None:
            self._capabilities = self.store.nodes("Capability")
        return self._capabilities

    def score(
        self, accounts: Sequence[str], *, explain: Literal["all", "surfaced"] = "all"
    ) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Every reachable pair of these accounts, scored, and their explained instances
        (of every pair, or with ``explain="surfaced"`` only of the surfaced ones).

        Pairs: account_id, capability_id, ``n:<id>``/``w:<id>`` per evidence metapath,
        ``gates`` (ids of the gates that block it), ``evidence_n``, score, surfaced, weak.
        """
        results = self.evaluator.evaluate(accounts)
        scored = self.score_results(results, accounts)
        if explain == "surfaced":
            return scored, self.instances(results, scored.filter(pl.col("surfaced")))
        return scored, self.instances(results)

    def score_results(self, results: Sequence[PathResult], accounts: Sequence[str]) -> pl.DataFrame:
        """Score pairs from already evaluated metapaths (what :meth:`score` does after
        evaluating; the quality benchmark reuses one evaluation for gates and scores)."""
        key = ["account_id", "capability_id"]
        evidence = [r for r in results if r.metapath.role == "evidence"]
        frames = [r.pairs.select(key) for r in evidence]
        pairs = (
            pl.concat(frames).unique().sort(key)
            if frames
            else pl.DataFrame(schema={k: pl.String for k in key})
        )
        for r in evidence:
            pairs = pairs.join(
                r.pairs.rename({"n": f"n:{r.metapath.id}", "w": f"w:{r.metapath.id}"}),
                on=key,
                how="left",
            )
        pairs = pairs.with_columns(
            *[pl.col(f"n:{i}").fill_null(0) for i in self.evidence_ids],
            *[pl.col(f"w:{i}").fill_null(0.0) for i in self.evidence_ids],
        )
        gate_flags: list[str] = []
        for r in results:
            if r.metapath.role != "gate":
                continue
            flag = f"g:{r.metapath.id}"
            gate_flags.append(flag)
            on = key if "capability_id" in r.pairs.columns else ["account_id"]
            hits = r.pairs.select(on).unique().with_columns(pl.lit(True).alias(flag))
            pairs = pairs.join(hits, on=on, how="left").with_columns(pl.col(flag).fill_null(False))
        gates = (
            pl.concat_list(
                [pl.when(pl.col(f)).then(pl.lit(f[2:])).otherwise(None) for f in gate_flags]
            ).list.drop_nulls()
            if gate_flags
            else pl.lit([], dtype=pl.List(pl.String))
        )
        background = set(self.model.background)
        foreground = [i for i in self.evidence_ids if i not in background]
        evidence_n = pl.sum_horizontal([pl.col(f"n:{i}") for i in self.evidence_ids])
        foreground_n = (
            pl.sum_horizontal([pl.col(f"n:{i}") for i in foreground]) if foreground else pl.lit(0)
        )
        scored = pairs.with_columns(
            gates.alias("gates"),
            evidence_n.alias("evidence_n"),
            foreground_n.alias("foreground_n"),
            self.model.score_expr(self.evidence_ids).round(6).alias("score"),
        ).drop(gate_flags)
        return scored.with_columns(
            (
                (pl.col("gates").list.len() == 0)
                & (pl.col("evidence_n") > 0)
                & (pl.col("score") >= self.model.surface_min_score)
            ).alias("surfaced"),
            ((pl.col("score") < self.model.weak_below) | (pl.col("foreground_n") == 0)).alias(
                "weak"
            ),
        )

    def instances(
        self, results: Sequence[PathResult], pairs: pl.DataFrame | None = None
    ) -> pl.DataFrame:
        """Rendered path instances of every pair, or of these pairs only."""
        frames = []
        for r in results:
            inst = r.instances if pairs is None else r.instances_for(pairs)
            if "capability_id" not in inst.columns:
                inst = inst.with_columns(pl.lit(None, dtype=pl.String).alias("capability_id"))
            weight = self.model.weights.get(r.metapath.id, 0.0)
            frames.append(
                inst.select(
                    "account_id",
                    "capability_id",
                    "metapath",
                    pl.lit(r.metapath.role).alias("role"),
                    "w",
                    (pl.col("w") * weight).alias("contribution"),
                    "sentence",
                    "nodes",
                )
            )
        return pl.concat(frames) if frames else pl.DataFrame()

    # ------------------------------------------------------------------ explanations

    def explain(self, row: dict[str, Any], index: InstanceIndex) -> dict[str, Any]:
        """Explanation, evidence sentences and paths of one scored pair."""
        account, capability = row["account_id"], row["capability_id"]
        shown = index.evidence(account, capability)
        counts = [
            f"{i.replace('_', ' ')} x{row[f'n:{i}']}" for i in self.evidence_ids if row[f"n:{i}"]
        ]
        score = row["score"]
        if row["gates"]:
            blocked = index.gates(account, capability)
            why = "; ".join(dict.fromkeys(g["sentence"] for g in blocked))
            text = f"Not surfaced: blocked by {', '.join(row['gates'])} ({why})."
        elif row["evidence_n"] == 0:
            text = "Not surfaced: no evidence path reaches this pair."
        elif row["weak"]:
            thin = (
                "only background fit, nothing shows a current need"
                if row["foreground_n"] == 0
                else "the evidence is thin, old or uncertain"
            )
            text = (
                f"Weak case (score {score:.2f}): {thin} ({', '.join(counts)}). "
                "Treat it as a hypothesis to check, not a reason to write now."
            )
        else:
            text = f"Score {score:.2f} (model {self.model.version}): {', '.join(counts)}."
        if not row["surfaced"] and not row["gates"] and row["evidence_n"]:
            text = (
                f"Not surfaced: score {score:.2f} is below "
                f"{self.model.surface_min_score:.2f} ({', '.join(counts)})."
            )
        return {
            "explanation": text,
            "evidence": [r["sentence"] for r in shown],
            "paths": [
                {"metapath": r["metapath"], "nodes": json.loads(r["nodes"]), "weight": r["w"]}
                for r in shown
            ],
        }

    def features(self, row: dict[str, Any]) -> dict[str, Any]:
        return {
            i: {"n": int(row[f"n:{i}"]), "w": float(row[f"w:{i}"])}
            for i in self.evidence_ids
            if row[f"n:{i}"]
        }


class InstanceIndex:
    """Explained path instances of a batch, grouped once by pair (evidence, strongest
    contribution first, the first ``EVIDENCE_SHOWN``) and by account (gates), so
    explaining each pair is a dictionary lookup."""

    def __init__(self, instances: pl.DataFrame) -> None:
        self._evidence: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._gates: dict[str, list[dict[str, Any]]] = {}
        if instances.is_empty():
            return
        evidence = (
            instances.filter(pl.col("role") == "evidence")
            .sort(
                ["contribution", "w", "metapath", "sentence"],
                descending=[True, True, False, False],
            )
            .group_by(["account_id", "capability_id"], maintain_order=True)
            .head(EVIDENCE_SHOWN)
        )
        for row in evidence.select(
            "account_id", "capability_id", "metapath", "w", "sentence", "nodes"
        ).iter_rows(named=True):
            self._evidence.setdefault((row["account_id"], row["capability_id"]), []).append(row)
        gates = instances.filter(pl.col("role") == "gate")
        for row in gates.select("account_id", "capability_id", "sentence").iter_rows(named=True):
            self._gates.setdefault(row["account_id"], []).append(row)

    def evidence(self, account: str, capability: str) -> list[dict[str, Any]]:
        """The strongest evidence instances of the pair (at most ``EVIDENCE_SHOWN``)."""
        return self._evidence.get((account, capability), [])

    def gates(self, account: str, capability: str) -> list[dict[str, Any]]:
        """Gate instances that block the pair (account-wide ones included)."""
        return [
            row
            for row in self._gates.get(account, [])
            if row["capability_id"] is None or row["capability_id"] == capability
        ]


# ------------------------------------------------------------------ the run


def run_matching(
    store: GraphStore,
    *,
    as_of: dt.datetime,
    accounts: Sequence[str] | None = None,
    batch_size: int = DEFAULT_BATCH,
    matcher: Matcher | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> MatchRunReport:
    """Score, explain and write matches for ``accounts`` (default: every account)."""
    started = time.perf_counter()
    matcher = matcher or Matcher(store, as_of=as_of)
    if accounts is None:
        keys = sorted(store.nodes("Account")["account_id"].to_list())
    else:
        keys = sorted(set(accounts))
        missing = sorted(set(keys) - store.existing_keys("Account", keys))
        if missing:
            raise NotFound(
                f"no Account with account_id {missing[0]!r}"
                + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
            )
    report = MatchRunReport(model_version=matcher.model.version, as_of=as_of.isoformat())
    report.accounts = len(keys)
    for start in range(0, len(keys), batch_size):
        batch = keys[start : start + batch_size]
        _run_batch(store, matcher, batch, report)
        if progress:
            progress(min(start + batch_size, len(keys)), len(keys))
    report.by_am = dict(sorted(report.by_am.items()))
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def batch_id(model_version: str, as_of: dt.datetime, accounts: Sequence[str]) -> str:
    digest = hashlib.sha1(
        "\x1f".join([model_version, as_of.isoformat(), *accounts]).encode()
    ).hexdigest()
    return f"b-{digest[:16]}"


def _run_batch(
    store: GraphStore, matcher: Matcher, accounts: Sequence[str], report: MatchRunReport
) -> None:
    scored, instances = matcher.score(accounts, explain="surfaced")
    bid = batch_id(matcher.model.version, matcher.as_of, accounts)
    report.batches += 1
    report.batch_ids.append(bid)
    report.pairs += scored.height
    report.gated += scored.filter(pl.col("gates").list.len() > 0).height
    surfaced = scored.filter(pl.col("surfaced"))
    report.surfaced += surfaced.height
    report.weak += surfaced.filter(pl.col("weak")).height
    contacts = choose_contacts(store, surfaced, instances, matcher.capabilities)
    index = InstanceIndex(instances)
    report.with_contact += len(contacts)
    owners = _owners(store, accounts)
    existing = store.nodes("Match", [Filter("account_id", "in", list(accounts))])
    previous = {row["match_id"]: row for row in existing.iter_rows(named=True)}
    # Column lists, written as frames: the store checks a frame in bulk, where a
    # list of dicts would be validated record by record.
    schema = store.registry.node("Match").frame_schema()
    cols: dict[str, list[Any]] = {name: [] for name in schema}
    contact_rows: list[tuple[str, str, str]] = []
    for row in surfaced.iter_rows(named=True):
        mid = pair_id(row["account_id"], row["capability_id"])
        old = previous.get(mid, {})
        told = matcher.explain(row, index)
        match = {
            "match_id": mid,
            "account_id": row["account_id"],
            "capability_id": row["capability_id"],
            "score": row["score"],
            "model_version": matcher.model.version,
            "batch_id": bid,
            "created_at": old.get("created_at") or matcher.as_of,
            "as_of": matcher.as_of,
            "status": old.get("status") or "proposed",
            "defer_until": old.get("defer_until"),
            "weak": row["weak"],
            "explanation": told["explanation"],
            "evidence": told["evidence"],
            "evidence_paths": json.dumps(told["paths"], sort_keys=True),
            "features": json.dumps(matcher.features(row), sort_keys=True),
        }
        for name, column in cols.items():
            column.append(match[name])
        choice: ContactChoice | None = contacts.get((row["account_id"], row["capability_id"]))
        if choice:
            contact_rows.append((mid, choice.person_id, choice.reason))
    nodes = pl.DataFrame(cols, schema=schema)
    links = nodes.select(pl.col("match_id").alias("src"), "account_id", "capability_id")
    assigned = links.select(
        "src",
        pl.col("account_id")
        .replace_strict(owners, default=None, return_dtype=pl.String)
        .alias("dst"),
    ).drop_nulls("dst")
    for owner, n in assigned.group_by("dst").len().iter_rows():
        report.by_am[owner] = report.by_am.get(owner, 0) + n
    keep = set(cols["match_id"])
    stale = [
        mid for mid, row in previous.items() if mid not in keep and row["status"] == "proposed"
    ]
    rescored = sorted(keep & set(previous))
    with store.batch() as write:
        if stale:
            write.delete_nodes("Match", stale)
        for rel in ("ASSIGNED_TO", "CONTACT"):
            old_edges = (
                store.edges(rel, touching=rescored, side="source", label="Match")
                if rescored
                else None
            )
            if old_edges is not None and old_edges.height:
                write.delete_edges(rel, old_edges.select("src", "dst"))
        if nodes.height:
            write.upsert_nodes("Match", nodes)
            write.upsert_edges(
                "FOR",
                links.select("src", pl.col("account_id").alias("dst"), src_label=pl.lit("Match")),
            )
            write.upsert_edges("OFFERS", links.select("src", pl.col("capability_id").alias("dst")))
            if assigned.height:
                write.upsert_edges("ASSIGNED_TO", assigned)
            if contact_rows:
                write.upsert_edges(
                    "CONTACT",
                    pl.DataFrame(
                        contact_rows,
                        schema={"src": pl.String, "dst": pl.String, "reason": pl.String},
                        orient="row",
                    ),
                )
    report.written += nodes.height
    report.removed += len(stale)


def _owners(store: GraphStore, accounts: Sequence[str]) -> dict[str, str]:
    owns = store.edges("OWNS", touching=list(accounts), side="target", label="Account")
    owners: dict[str, str] = {}
    for src, dst in owns.select("src", "dst").sort("dst", "src").iter_rows():
        owners.setdefault(dst, src)
    return owners
