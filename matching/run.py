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

from graph_model import changes
from graph_model.store import Filter, GraphStore, NotFound
from matching.contacts import choose_contacts
from matching.evaluate import Evaluator, PathResult
from matching.metapaths import Metapath, load_metapaths
from matching.model import ScoreModelSpec, active_model, load_prior
from matching.owners import account_owners
from matching.recheck import Thresholds, recheck_times

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
    # The first time one of the scored accounts is due to be rescored by time alone.
    recheck_due: str | None = None
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
        # One lazy plan, collected once: polars runs the joins together (about twice
        # as fast as joining eagerly one metapath at a time).
        frames = [r.pairs.lazy().select(key) for r in evidence]
        pairs = (
            pl.concat(frames).unique()
            if frames
            else pl.LazyFrame(schema={k: pl.String for k in key})
        )
        for r in evidence:
            pairs = pairs.join(
                r.pairs.lazy().rename({"n": f"n:{r.metapath.id}", "w": f"w:{r.metapath.id}"}),
                on=key,
                how="left",
            )
        pairs = pairs.with_columns(
            *[pl.col(f"n:{i}").fill_null(0) for i in self.evidence_ids],
            *[pl.col(f"w:{i}").fill_null(0.0) for i in self.evidence_ids],
        )
        # Gates block few pairs: list them in long form (pair, gate) and attach each
        # pair's list in one join, in the order the metapaths are declared.
        hits = []
        for order, r in enumerate(results):
            if r.metapath.role != "gate":
                continue
            tag = [pl.lit(order).alias("__g"), pl.lit(r.metapath.id).alias("gates")]
            if "capability_id" in r.pairs.columns:
                hits.append(r.pairs.lazy().select(*key, *tag))
            else:  # a gate on the account blocks every pair of it
                accounts_hit = r.pairs.lazy().select("account_id").unique()
                hits.append(
                    pairs.select(key).join(accounts_hit, on="account_id").select(*key, *tag)
                )
        if hits:
            listed = (
                pl.concat(hits)
                .unique()
                .sort([*key, "__g"])
                .group_by(key, maintain_order=True)
                .agg(pl.col("gates"))
            )
            pairs = pairs.join(listed, on=key, how="left")
        gates = (
            pl.col("gates").fill_null(pl.lit([], dtype=pl.List(pl.String)))
            if hits
            else (pl.lit([], dtype=pl.List(pl.String)))
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
        ).sort(key)
        return scored.with_columns(
            (
                (pl.col("gates").list.len() == 0)
                & (pl.col("evidence_n") > 0)
                & (pl.col("score") >= self.model.surface_min_score)
            ).alias("surfaced"),
            ((pl.col("score") < self.model.weak_below) | (pl.col("foreground_n") == 0)).alias(
                "weak"
            ),
        ).collect()

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

    def explanations(self, scored: pl.DataFrame, instances: pl.DataFrame) -> pl.DataFrame:
        """What each scored pair tells an AM, in one vectorised pass, in ``scored``'s
        row order: account_id, capability_id and

        - ``explanation``: one sentence on why the pair is surfaced, weak or not surfaced;
        - ``evidence``: the sentences of its strongest evidence instances (strongest
          contribution first, at most ``EVIDENCE_SHOWN``);
        - ``evidence_paths``: the same instances as JSON (metapath, node keys, weight);
        - ``features``: JSON, path count ``n`` and weighted sum ``w`` per evidence
          metapath that reaches the pair.
        """
        key = ["account_id", "capability_id"]
        shown = _shown(instances, key)
        blocked = _blocked(scored, instances, key)
        counts = _joined(
            [
                pl.when(pl.col(f"n:{i}") > 0).then(
                    pl.concat_str(pl.lit(f"{i.replace('_', ' ')} x"), pl.col(f"n:{i}"))
                )
                for i in self.evidence_ids
            ],
            ", ",
        )
        features = pl.concat_str(
            pl.lit("{"),
            _joined(
                [
                    pl.when(pl.col(f"n:{i}") > 0).then(
                        pl.concat_str(
                            pl.lit(f'"{i}": {{"n": '),
                            pl.col(f"n:{i}").cast(pl.String),
                            pl.lit(', "w": '),
                            pl.col(f"w:{i}").cast(pl.Float64).cast(pl.String),
                            pl.lit("}"),
                        )
                    )
                    for i in sorted(self.evidence_ids)
                ],
                ", ",
            ),
            pl.lit("}"),
        )
        score = _two_decimals(pl.col("score"))
        thin = (
            pl.when(pl.col("foreground_n") == 0)
            .then(pl.lit("only background fit, nothing shows a current need"))
            .otherwise(pl.lit("the evidence is thin, old or uncertain"))
        )
        has_gates = pl.col("gates").list.len() > 0
        text = (
            pl.when(~pl.col("surfaced") & ~has_gates & (pl.col("evidence_n") > 0))
            .then(
                pl.concat_str(
                    pl.lit("Not surfaced: score "),
                    score,
                    pl.lit(f" is below {self.model.surface_min_score:.2f} ("),
                    counts,
                    pl.lit(")."),
                )
            )
            .when(has_gates)
            .then(
                pl.concat_str(
                    pl.lit("Not surfaced: blocked by "),
                    pl.col("gates").list.join(", "),
                    pl.lit(" ("),
                    pl.col("__why").fill_null(""),
                    pl.lit(")."),
                )
            )
            .when(pl.col("evidence_n") == 0)
            .then(pl.lit("Not surfaced: no evidence path reaches this pair."))
            .when(pl.col("weak"))
            .then(
                pl.concat_str(
                    pl.lit("Weak case (score "),
                    score,
                    pl.lit("): "),
                    thin,
                    pl.lit(" ("),
                    counts,
                    pl.lit("). Treat it as a hypothesis to check, not a reason to write now."),
                )
            )
            .otherwise(
                pl.concat_str(
                    pl.lit("Score "),
                    score,
                    pl.lit(f" (model {self.model.version}): "),
                    counts,
                    pl.lit("."),
                )
            )
        )
        return (
            scored.join(shown, on=key, how="left", maintain_order="left")
            .join(blocked, on=key, how="left", maintain_order="left")
            .select(
                *key,
                text.alias("explanation"),
                pl.col("evidence").fill_null(pl.lit([], dtype=pl.List(pl.String))),
                pl.col("evidence_paths").fill_null("[]"),
                features.alias("features"),
            )
        )

    def explain(self, pair: pl.DataFrame, instances: pl.DataFrame) -> dict[str, Any]:
        """Explanation, evidence sentences, paths and features of one scored pair (a
        one-row frame from :meth:`score`)."""
        if pair.height != 1:
            raise ValueError(f"explain takes one scored pair, not {pair.height}")
        row = self.explanations(pair, instances).row(0, named=True)
        return {
            "explanation": row["explanation"],
            "evidence": row["evidence"],
            "paths": json.loads(row["evidence_paths"]),
            "features": json.loads(row["features"]),
        }


def _shown(instances: pl.DataFrame, key: list[str]) -> pl.DataFrame:
    """Per pair, the strongest evidence instances: their sentences and their paths as
    JSON."""
    schema = {
        "account_id": pl.String,
        "capability_id": pl.String,
        "evidence": pl.List(pl.String),
        "evidence_paths": pl.String,
    }
    if instances.is_empty():
        return pl.DataFrame(schema=schema)
    path = pl.concat_str(
        pl.lit('{"metapath": "'),
        pl.col("metapath"),  # an identifier: nothing to escape
        pl.lit('", "nodes": '),
        pl.col("nodes"),  # JSON already
        pl.lit(', "weight": '),
        pl.col("w").cast(pl.Float64).cast(pl.String),
        pl.lit("}"),
    )
    return (
        instances.filter(pl.col("role") == "evidence")
        .sort(
            ["contribution", "w", "metapath", "sentence"],
            descending=[True, True, False, False],
        )
        .group_by(key, maintain_order=True)
        .agg(
            pl.col("sentence").head(EVIDENCE_SHOWN).alias("evidence"),
            pl.concat_str(pl.lit("["), path.head(EVIDENCE_SHOWN).str.join(", "), pl.lit("]"))
            .first()
            .alias("evidence_paths"),
        )
        .cast(schema)  # type: ignore[arg-type]
    )


def _blocked(scored: pl.DataFrame, instances: pl.DataFrame, key: list[str]) -> pl.DataFrame:
    """Per gated pair, the sentences of the gates that block it (account-wide gates
    included), each once, in the order they were found."""
    schema = {"account_id": pl.String, "capability_id": pl.String, "__why": pl.String}
    gated = scored.filter(pl.col("gates").list.len() > 0).select(key)
    if gated.is_empty() or instances.is_empty():
        return pl.DataFrame(schema=schema)
    gates = (
        instances.with_row_index("__i")
        .filter(pl.col("role") == "gate")
        .select("__i", "account_id", pl.col("capability_id").alias("__gc"), "sentence")
    )
    return (
        gated.join(gates, on="account_id", how="inner")
        .filter(pl.col("__gc").is_null() | (pl.col("__gc") == pl.col("capability_id")))
        .sort("__i")
        .group_by(key, maintain_order=True)
        .agg(pl.col("sentence").unique(maintain_order=True).str.join("; ").alias("__why"))
        .cast(schema)  # type: ignore[arg-type]
    )


def _joined(parts: list[pl.Expr], separator: str) -> pl.Expr:
    """The non-null parts joined (an empty string when there are none)."""
    if not parts:
        return pl.lit("")
    return pl.concat_str(parts, separator=separator, ignore_nulls=True).fill_null("")


def _two_decimals(score: pl.Expr) -> pl.Expr:
    """A score in [0, 1] as text with two decimals, half up (0.125 -> 0.13)."""
    micro = (score * 1_000_000).round(0).cast(pl.Int64)
    cents = (micro + 5_000) // 10_000
    return pl.concat_str(
        (cents // 100).cast(pl.String), pl.lit("."), (cents % 100).cast(pl.String).str.zfill(2)
    )


# ------------------------------------------------------------------ the run


def run_matching(
    store: GraphStore,
    *,
    as_of: dt.datetime,
    accounts: Sequence[str] | None = None,
    batch_size: int = DEFAULT_BATCH,
    matcher: Matcher | None = None,
    progress: Callable[[int, int], None] | None = None,
    thresholds: Thresholds | None = None,
    consumes: Sequence[str] = (),
) -> MatchRunReport:
    """Score, explain and write matches for ``accounts`` (default: every account).

    Each scored account's ``ScoredAccount`` (as-of time, model, when time alone could
    change it) is written in its batch's commit. A full run takes every pending
    change set into account, and deletes them; an incremental run deletes the ones
    it was planned from (``consumes``), in its last commit."""
    started = time.perf_counter()
    matcher = matcher or Matcher(store, as_of=as_of)
    if accounts is None:
        consumes = changes.pending_changes(store).ids
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
    starts = range(0, len(keys), batch_size)
    for start in starts:
        batch = keys[start : start + batch_size]
        last = start == starts[-1]
        _run_batch(
            store, matcher, batch, report, thresholds or Thresholds(), consumes if last else ()
        )
        if progress:
            progress(min(start + batch_size, len(keys)), len(keys))
    if not keys and consumes:
        with store.batch() as write:
            changes.consume(write, consumes)
    report.by_am = dict(sorted(report.by_am.items()))
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def batch_id(model_version: str, as_of: dt.datetime) -> str:
    """The scoring a match comes from: its model and as-of time, not which accounts
    shared its batch. An account rescored alone (an incremental run, a rerun after
    a crash) with the same model at the same time gets the same match, so its route
    is not routed anew."""
    digest = hashlib.sha1("\x1f".join([model_version, as_of.isoformat()]).encode()).hexdigest()
    return f"b-{digest[:16]}"


def _run_batch(
    store: GraphStore,
    matcher: Matcher,
    accounts: Sequence[str],
    report: MatchRunReport,
    thresholds: Thresholds,
    consumes: Sequence[str],
) -> None:
    scored, instances = matcher.score(accounts, explain="surfaced")
    bid = batch_id(matcher.model.version, matcher.as_of)
    report.batches += 1
    if bid not in report.batch_ids:
        report.batch_ids.append(bid)
    report.pairs += scored.height
    report.gated += scored.filter(pl.col("gates").list.len() > 0).height
    surfaced = scored.filter(pl.col("surfaced"))
    report.surfaced += surfaced.height
    report.weak += surfaced.filter(pl.col("weak")).height
    # Contacts as of the run's time too: who worked where then.
    contacts = choose_contacts(matcher.evaluator.store, surfaced, instances, matcher.capabilities)
    report.with_contact += len(contacts)
    owners = account_owners(store, accounts)
    existing = store.nodes("Match", [Filter("account_id", "in", list(accounts))])
    # Built as frames, column by column: the store checks a frame in bulk, where a
    # list of dicts would be validated record by record.
    schema = store.registry.node("Match").frame_schema()
    told = matcher.explanations(surfaced, instances)
    ids = pl.Series(
        "match_id",
        [pair_id(a, c) for a, c in surfaced.select("account_id", "capability_id").iter_rows()],
        dtype=pl.String,
    )
    kept = existing.select(
        "match_id",
        pl.col("created_at").alias("__created"),
        pl.col("status").alias("__status"),
        pl.col("defer_until").alias("__defer"),
    )
    nodes = (
        told.with_columns(ids, surfaced["score"], surfaced["weak"])
        .join(kept, on="match_id", how="left", maintain_order="left")
        .select(
            "match_id",
            "account_id",
            "capability_id",
            "score",
            pl.lit(matcher.model.version).alias("model_version"),
            pl.lit(bid).alias("batch_id"),
            pl.col("__created").fill_null(pl.lit(matcher.as_of)).alias("created_at"),
            pl.lit(matcher.as_of).alias("as_of"),
            pl.col("__status").fill_null("proposed").alias("status"),
            pl.col("__defer").alias("defer_until"),
            "weak",
            "explanation",
            "evidence",
            "evidence_paths",
            "features",
        )
        .select(list(schema))
        .cast(schema)  # type: ignore[arg-type]
    )
    chosen = pl.DataFrame(
        [(a, c, choice.person_id, choice.reason) for (a, c), choice in contacts.items()],
        schema={
            "account_id": pl.String,
            "capability_id": pl.String,
            "dst": pl.String,
            "reason": pl.String,
        },
        orient="row",
    )
    contact_edges = (
        nodes.select(pl.col("match_id").alias("src"), "account_id", "capability_id")
        .join(chosen, on=["account_id", "capability_id"], how="inner")
        .select("src", "dst", "reason")
    )
    links = nodes.select(pl.col("match_id").alias("src"), "account_id", "capability_id")
    assigned = links.select(
        "src",
        pl.col("account_id")
        .replace_strict(owners, default=None, return_dtype=pl.String)
        .alias("dst"),
    )
    # A match a person moved to another AM (a reassign decision) stays with them.
    moved = _reassigned(store, existing["match_id"].to_list())
    if moved:
        assigned = assigned.with_columns(
            pl.col("src")
            .replace_strict(moved, default=None, return_dtype=pl.String)
            .fill_null(pl.col("dst"))
            .alias("dst")
        )
    assigned = assigned.drop_nulls("dst")
    for owner, n in assigned.group_by("dst").len().iter_rows():
        report.by_am[owner] = report.by_am.get(owner, 0) + n
    again = existing["match_id"].is_in(ids.implode())
    stale = existing.filter(~again & (pl.col("status") == "proposed"))["match_id"].to_list()
    rescored = existing.filter(again)["match_id"].sort().to_list()
    recheck = recheck_times(
        accounts,
        surfaced,
        matcher.evaluator.window_changes(accounts),
        as_of=matcher.as_of,
        model=matcher.model,
        metapaths=matcher.metapaths,
        thresholds=thresholds,
    )
    state = [
        {
            "account_id": a,
            "as_of": matcher.as_of,
            "model_version": matcher.model.version,
            "scored_at": dt.datetime.now(dt.UTC),
            "recheck_at": recheck[a],
        }
        for a in accounts
    ]
    report.recheck_due = _earliest(report.recheck_due, [r for r in recheck.values() if r])
    with store.batch() as write:
        write.upsert_nodes("ScoredAccount", state)
        changes.consume(write, consumes)
        if stale:
            write.delete_nodes("Match", stale)
        for rel in ("ASSIGNED_TO", "CONTACT"):
            old_edges = (
                store.edges(rel, touching=rescored, side="source", label="Match")
                if rescored
                else None
            )
            if old_edges is not None and old_edges.height:
                write.delete_edges(rel, old_edges.select("src_label", "src", "dst"))
        if nodes.height:
            write.upsert_nodes("Match", nodes)
            write.upsert_edges(
                "FOR",
                links.select("src", pl.col("account_id").alias("dst"), src_label=pl.lit("Match")),
            )
            write.upsert_edges("OFFERS", links.select("src", pl.col("capability_id").alias("dst")))
            if assigned.height:
                write.upsert_edges("ASSIGNED_TO", assigned.with_columns(src_label=pl.lit("Match")))
            if contact_edges.height:
                write.upsert_edges("CONTACT", contact_edges)
    report.written += nodes.height
    report.removed += len(stale)


def _earliest(current: str | None, times: list[dt.datetime]) -> str | None:
    candidates = [t.isoformat() for t in times] + ([current] if current else [])
    return min(candidates) if candidates else None


def _reassigned(store: GraphStore, match_ids: Sequence[str]) -> dict[str, str]:
    """Matches a manager or admin reassigned (``app.reassign``): match -> its AM now."""
    if not match_ids:
        return {}
    decided = store.edges("DECIDED_ON", touching=list(match_ids), side="target", label="Match")
    if decided.is_empty():
        return {}
    moves = store.get_nodes("Decision", decided["src"].unique()).filter(
        pl.col("kind") == "reassign"
    )
    if moves.is_empty():
        return {}
    moved = decided.filter(pl.col("src").is_in(moves["decision_id"].implode()))["dst"].unique()
    now = store.edges("ASSIGNED_TO", touching=moved, side="source", label="Match")
    return dict(now.select("src", "dst").iter_rows())
