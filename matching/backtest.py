"""A backtest: rank as of a past cut-off, score against what was won after it.

``backtest(store, cutoff=..., horizon=...)`` scores every (account, capability)
pair as of the cut-off, reading the graph as it was known then
(``matching.asof``), with the score model in use then (the newest version
learned by the cut-off, else the prior). Nothing is written: ranking happens in
memory, so a backtest does not change the product's state.

- **Candidates**: every (account, capability) pair that no gate blocks as of the
  cut-off (already bought, an open deal, a recent loss, suppressed, ...). Both
  rankings order the same candidates.
- **Relevant**: a pair with a deal won within ``(cutoff, cutoff + horizon]`` (its
  close date) or a ``validate`` decision on its match in that window.
- **twoloop** ranks each AM's candidates (the AM owning the account) by score;
  pairs no evidence path reaches come last. The top of that ranking is the queue.
- **Popularity baseline**: per industry, capabilities ranked by how many accounts
  in the account's industry had won them by the cut-off.

Ties (and the unranked tail) are broken by a hash of the pair, never by input
order. Per AM with at least one relevant candidate: hit@5 (1 when a relevant
pair is in the top five) and NDCG@10 (binary relevance); the mean is over those
AMs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import polars as pl

from graph_model.errors import TwoloopError
from graph_model.store import GraphStore
from matching.asof import as_of_view
from matching.metapaths import Metapath, load_metapaths
from matching.model import ScoreModelSpec, load_prior
from matching.owners import account_owners
from matching.run import DEFAULT_BATCH, Matcher

Pair = tuple[str, str]
HIT_AT = 5
NDCG_AT = 10
KEY = ["account_id", "capability_id"]


class BadHorizon(TwoloopError):
    """A horizon that is not a number of days or weeks (``90d``)."""

    exit_code = 2


def parse_horizon(text: str) -> dt.timedelta:
    """``90d``, ``12w`` or ``90`` (days) as a time span of at least one day."""
    found = re.fullmatch(r"\s*(\d+)\s*([dw]?)\s*", text)
    if not found or int(found[1]) == 0:
        raise BadHorizon(
            f"horizon {text!r} is not a number of days or weeks",
            hint="e.g. --horizon 90d or --horizon 12w",
        )
    days = int(found[1]) * (7 if found[2] == "w" else 1)
    return dt.timedelta(days=days)


# ------------------------------------------------------------------ metrics


def ndcg_at(ranked: Sequence[bool], relevant: int, k: int) -> float:
    """Binary NDCG@k: ``ranked`` holds relevance of the ranked list; ``relevant`` is
    how many relevant items the list could have had."""
    if relevant == 0:
        return math.nan
    dcg = sum(1.0 / math.log2(i + 2) for i, rel in enumerate(ranked[:k]) if rel)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(k, relevant)))
    return dcg / ideal


def hit_at(ranked: Sequence[bool], k: int) -> float:
    """1.0 when a relevant item is among the first ``k``, else 0.0."""
    return 1.0 if any(ranked[:k]) else 0.0


def rank(candidates: Iterable[Pair], scores: dict[Pair, float]) -> list[Pair]:
    """Highest score first; pairs without a score come after all scored ones; ties
    (and the unscored tail) are broken by a hash of the pair, never by input order."""

    def key(pair: Pair) -> tuple[int, float, str]:
        tie = hashlib.sha1("|".join(pair).encode()).hexdigest()
        score = scores.get(pair)
        return (0, -score, tie) if score is not None else (1, 0.0, tie)

    return sorted(candidates, key=key)


# ------------------------------------------------------------------ the report


@dataclass
class AmResult:
    am_id: str
    name: str | None
    candidates: int
    relevant: int
    twoloop: dict[str, float | None]
    popularity: dict[str, float | None]


@dataclass
class BacktestReport:
    cutoff: str
    horizon_days: int
    model_version: str
    accounts: int
    candidates: int
    relevant: int
    # Relevant pairs a gate blocked as of the cut-off (e.g. an open deal then).
    relevant_blocked: int
    ams: list[AmResult] = field(default_factory=list)
    mean: dict[str, dict[str, float | None]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def model_as_of(store: GraphStore, prior: ScoreModelSpec, as_of: dt.datetime) -> ScoreModelSpec:
    """The score model in use at ``as_of``: the newest version learned by then (``learn``
    activates what it stores), else the prior."""
    versions = as_of_view(store, as_of).nodes("ScoreModel")
    if versions.is_empty():
        return prior
    return ScoreModelSpec.from_json(versions.sort("version").row(-1, named=True)["weights"])


def backtest(
    store: GraphStore,
    *,
    cutoff: dt.datetime,
    horizon: dt.timedelta,
    metapaths: Sequence[Metapath] | None = None,
    model: ScoreModelSpec | None = None,
    batch_size: int = DEFAULT_BATCH,
    validations: bool = True,
) -> BacktestReport:
    """Rank as of ``cutoff`` and score against what was won (or validated) within
    ``horizon`` after it (see the module doc). Reads only. ``validations=False``
    counts won deals only: an AM validates what twoloop showed them, so validations
    favour twoloop; wins are the measure it did not choose."""
    if cutoff.tzinfo is None:
        raise ValueError("cutoff needs a time zone")
    cutoff = cutoff.astimezone(dt.UTC)
    metapaths = list(metapaths) if metapaths is not None else load_metapaths()
    model = model or model_as_of(store, load_prior(metapaths=metapaths), cutoff)
    then = as_of_view(store, cutoff)
    matcher = Matcher(store, as_of=cutoff, metapaths=metapaths, model=model)
    accounts = sorted(then.nodes("Account")["account_id"].to_list())
    capabilities = sorted(matcher.capabilities["capability_id"].to_list())

    scored, blocked, blocked_accounts = [], [], []
    for start in range(0, len(accounts), batch_size):
        batch = accounts[start : start + batch_size]
        results = matcher.evaluator.evaluate(batch)
        scored.append(matcher.score_results(results, batch).select(*KEY, "score"))
        for r in results:
            if r.metapath.role != "gate":
                continue
            if "capability_id" in r.pairs.columns:
                blocked.append(r.pairs.select(KEY))
            else:
                blocked_accounts.append(r.pairs.select("account_id"))
    gated = _frame(blocked, {"account_id": pl.String, "capability_id": pl.String})
    gated_accounts = _frame(blocked_accounts, {"account_id": pl.String})
    owners = _owners(then, accounts)
    candidates = (
        pl.DataFrame({"account_id": accounts}, schema={"account_id": pl.String})
        .join(
            pl.DataFrame({"capability_id": capabilities}, schema={"capability_id": pl.String}),
            how="cross",
        )
        .join(gated.unique(), on=KEY, how="anti")
        .join(gated_accounts.unique(), on="account_id", how="anti")
        .join(owners, on="account_id", how="inner")
    )
    relevant = relevant_pairs(store, cutoff, cutoff + horizon, validations=validations)
    relevant_set = set(relevant.select(KEY).iter_rows())
    candidate_pairs = set(candidates.select(KEY).iter_rows())
    twoloop_scores = {
        (a, c): s
        for a, c, s in _frame(
            scored, {**dict.fromkeys(KEY, pl.String), "score": pl.Float64}
        ).iter_rows()
    }
    popularity = popularity_scores(then, candidates.select(KEY))
    names = then.names("AccountManager", owners["am_id"].unique(), field="full_name")

    report = BacktestReport(
        cutoff=cutoff.isoformat(),
        horizon_days=horizon.days,
        model_version=model.version,
        accounts=len(accounts),
        candidates=len(candidate_pairs),
        relevant=len(relevant_set & candidate_pairs),
        relevant_blocked=len({p for p in relevant_set if p[0] in set(accounts)} - candidate_pairs),
    )
    per_am = candidates.group_by("am_id").agg(pl.col("account_id"), pl.col("capability_id"))
    for am_id, accts, caps in per_am.sort("am_id").iter_rows():
        pairs = list(zip(accts, caps, strict=True))
        found = sum(p in relevant_set for p in pairs)
        row = AmResult(am_id, names.get(am_id), len(pairs), found, {}, {})
        for method, scores in (("twoloop", twoloop_scores), ("popularity", popularity)):
            hits = [p in relevant_set for p in rank(pairs, scores)]
            metrics = getattr(row, method)
            metrics["hit5"] = hit_at(hits, HIT_AT) if found else None
            metrics["ndcg10"] = round(ndcg_at(hits, found, NDCG_AT), 4) if found else None
        report.ams.append(row)
    for method in ("twoloop", "popularity"):
        report.mean[method] = {
            metric: _mean([getattr(r, method)[metric] for r in report.ams])
            for metric in ("hit5", "ndcg10")
        }
    if not report.relevant:
        report.notes.append(
            f"nothing was won or validated within {horizon.days} days after the cut-off among "
            "the candidates: no metric to compute (an earlier --cutoff or a longer --horizon?)"
        )
    return report


def relevant_pairs(
    store: GraphStore, after: dt.datetime, until: dt.datetime, *, validations: bool = True
) -> pl.DataFrame:
    """(account_id, capability_id) won within ``(after, until]`` (a deal's close date)
    or, with ``validations``, validated then (a ``validate`` decision on the pair's
    match)."""
    schema = {"account_id": pl.String, "capability_id": pl.String}
    won = store.nodes("Opportunity", {"status": "won"}).filter(
        (pl.col("close_date") > after.date()) & (pl.col("close_date") <= until.date())
    )
    frames = [pl.DataFrame(schema=schema)]
    if won.height:
        ids = won["opportunity_id"].to_list()
        includes = store.edges("INCLUDES", touching=ids, side="source", label="Opportunity")
        for_ = store.edges("FOR", touching=ids, side="source", label="Opportunity")
        frames.append(
            includes.select(pl.col("src").alias("o"), pl.col("dst").alias("capability_id"))
            .join(for_.select(pl.col("src").alias("o"), pl.col("dst").alias("account_id")), on="o")
            .select(KEY)
        )
    decided = store.nodes("Decision", {"kind": "validate"}).filter(
        (pl.col("decided_at") > after) & (pl.col("decided_at") <= until)
    )
    if validations and decided.height:
        on = store.edges(
            "DECIDED_ON", touching=decided["decision_id"].to_list(), side="source"
        ).filter(pl.col("dst_label") == "Match")
        if on.height:
            matches = store.get_nodes("Match", on["dst"].unique(), fields=KEY)
            frames.append(matches.select(KEY))
    return pl.concat(frames).unique().sort(KEY)


def popularity_scores(then: GraphStore, pairs: pl.DataFrame) -> dict[Pair, float]:
    """Per candidate pair: how many accounts in the account's industry (the largest, when
    it has several) had won the capability as of the view's time."""
    won = then.nodes("Opportunity", {"status": "won"})
    if won.is_empty() or pairs.is_empty():
        return {}
    ids = won["opportunity_id"].to_list()
    includes = then.edges("INCLUDES", touching=ids, side="source", label="Opportunity")
    for_ = then.edges("FOR", touching=ids, side="source", label="Opportunity")
    industry = then.edges("IN_INDUSTRY").select(
        pl.col("src").alias("account_id"), pl.col("dst").alias("industry_id")
    )
    winners = (
        includes.select(pl.col("src").alias("o"), pl.col("dst").alias("capability_id"))
        .join(for_.select(pl.col("src").alias("o"), pl.col("dst").alias("winner")), on="o")
        .join(industry.rename({"account_id": "winner"}), on="winner")
        .group_by("industry_id", "capability_id")
        .agg(pl.col("winner").n_unique().cast(pl.Float64).alias("n"))
    )
    counted = (
        pairs.join(industry, on="account_id")
        .join(winners, on=["industry_id", "capability_id"])
        .group_by(KEY)
        .agg(pl.col("n").max())
    )
    return {(a, c): n for a, c, n in counted.iter_rows()}


def _owners(store: GraphStore, accounts: list[str]) -> pl.DataFrame:
    """account_id -> am_id: the owner by ``matching.owners``' rule, from what the view
    shows as of the cut-off (owners derived from later deals are not shown)."""
    owners = account_owners(store, accounts, recompute=True)
    return pl.DataFrame(
        {"account_id": list(owners), "am_id": list(owners.values())},
        schema={"account_id": pl.String, "am_id": pl.String},
    )


def _frame(frames: list[pl.DataFrame], schema: dict[str, Any]) -> pl.DataFrame:
    return pl.concat([f.cast(schema) for f in frames]) if frames else pl.DataFrame(schema=schema)  # type: ignore[arg-type]


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(sum(present) / len(present), 4) if present else None
