"""Benchmark: how well each method ranks the sample world's ground truth.

    python bench/matching_quality.py                       # 2,000 accounts, 400 decisions
    python bench/matching_quality.py --accounts 600 --decisions 200 --json
    python bench/matching_quality.py --world both --seeds 7,8,9 --skip-minilm

One sample world (``twoloop sample``, seed 7; ``--world second`` for the
independently designed one, ``--world both`` for both) is ingested into an embedded store;
needs are extracted offline (the rules extractor, no API key) and matched as of
the sample's date. Accounts are split in two by a hash of their id:

- **train** accounts: a simulated AM works through the prior's queue (highest
  score first, with a tenth of the reviews drawn from further down) and decides
  with the real decisions API: validate when the pair is in the ground truth,
  kill when not, flipped with probability ``--noise``, deferred (no label) 10% of
  the time. ``twoloop learn`` then refits from those decisions.
- **test** accounts: every method ranks the same candidate pairs (test account ×
  capability, minus every pair a twoloop gate blocks: already bought, open deal,
  recent loss, recent activity, suppressed, outside the ICP), so the comparison
  measures the ranking, not the gates.

Methods:

- (a) ``prior``: twoloop's surfaced matches, by score, with the prior weights.
- (b) ``learned``: the same after learning from the train accounts' decisions.
- (c) ``minilm``: cosine between the account's text (description and the texts
  of the signals it or its people emitted) and the capability's text (name,
  description, the needs it addresses with their catalog phrases), with the real
  all-MiniLM-L6-v2 (``matching.encoder``, CPU, no downloads). (c) is the
  issue's baseline, the account as one document (``minilm_document``: the texts
  joined, newest signal first, of which the model reads 256 word pieces). Two
  stronger uses of the same model are reported beside it: the mean of the
  texts' vectors (``minilm_mean``) and the best single text (``minilm_max``).
- (d) ``popularity``: capabilities by how many won deals they have.

Metrics (relevance = the pair is in ``ground_truth.csv``): NDCG@10 of each AM's
queue averaged over AMs, NDCG@10 per capability averaged over capabilities,
precision@5 and recall@20 of the AM queues, and the share of surfaced matches
whose explanation cites at least one evidence path.

With several worlds or seeds (``--seeds 7,8,9``), each (world, seed) is its own
run in its own store, and the report is a table per world: the median of each
metric over the seeds, with its min and max.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import math
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
from rich.progress import Progress  # noqa: E402

from app.decisions import decide  # noqa: E402
from bench._shared import meta  # noqa: E402
from graph_model.errors import TooFewLabels  # noqa: E402
from graph_model.store import GraphStore, connect  # noqa: E402
from ingest.config import load_config  # noqa: E402
from ingest.pipeline import Ingestor  # noqa: E402
from ingest.sample import AS_OF, write_sample, write_second_sample  # noqa: E402
from matching.backtest import ndcg_at, rank  # noqa: E402
from matching.derived import link_derived  # noqa: E402
from matching.encoder import MiniLM  # noqa: E402
from matching.extract import RulesExtractor, needs_from_frame  # noqa: E402
from matching.indicates import run_extraction  # noqa: E402
from matching.learn import learn  # noqa: E402
from matching.paraphrase import ParaphraseExtractor  # noqa: E402
from matching.run import Matcher, run_matching  # noqa: E402

Pair = tuple[str, str]
Scores = dict[Pair, float]


# ------------------------------------------------------------------ metrics


def evaluate_method(
    scores: Scores,
    queues: dict[str, list[Pair]],
    by_capability: dict[str, list[Pair]],
    truth: set[Pair],
) -> dict[str, float]:
    am_ndcg, precision, recall, cap_ndcg = [], [], [], []
    for pairs in queues.values():
        relevant = sum(p in truth for p in pairs)
        if not relevant:
            continue
        hits = [p in truth for p in rank(pairs, scores)]
        am_ndcg.append(ndcg_at(hits, relevant, 10))
        precision.append(sum(hits[:5]) / 5)
        recall.append(sum(hits[:20]) / relevant)
    for pairs in by_capability.values():
        relevant = sum(p in truth for p in pairs)
        if relevant:
            cap_ndcg.append(ndcg_at([p in truth for p in rank(pairs, scores)], relevant, 10))
    return {
        "ndcg10_am": float(np.mean(am_ndcg)),
        "ndcg10_capability": float(np.mean(cap_ndcg)),
        "precision5": float(np.mean(precision)),
        "recall20": float(np.mean(recall)),
    }


# ------------------------------------------------------------------ the world


def is_test(account_id: str) -> bool:
    return int(hashlib.sha1(account_id.encode()).hexdigest()[:8], 16) % 2 == 0


WORLDS = ("first", "second")


def build_world(
    store: GraphStore,
    sample: Path,
    accounts: int,
    *,
    world: str = "first",
    seed: int = 7,
    extractors: str = "rules",
) -> set[Pair]:
    if world == "second":
        write_second_sample(sample, accounts=accounts, seed=seed)
    else:
        write_sample(sample, accounts=accounts, seed=seed)
    report = Ingestor(store, load_config(sample / "ingest.yaml")).run()
    if not report.ok:
        raise SystemExit("bench: the sample world did not ingest cleanly")
    needs = needs_from_frame(store.nodes("Need"))
    chosen: list[Any] = [RulesExtractor(needs)]
    if extractors == "offline":  # the product's default without a key
        chosen.append(ParaphraseExtractor(needs))
    for extractor in chosen:
        run_extraction(store, extractor)
    link_derived(store, now=AS_OF, extractors=chosen)
    truth = pl.read_csv(sample / "ground_truth.csv", infer_schema=False)
    return set(zip(truth["account_id"], truth["capability_id"], strict=True))


def matcher_scores(matcher: Matcher, accounts: list[str]) -> tuple[pl.DataFrame, set[Pair], float]:
    """Scored pairs of these accounts, the gated pairs, and the share of surfaced
    pairs whose explanation cites evidence."""
    results = matcher.evaluator.evaluate(accounts)
    scored = matcher.score_results(results, accounts)
    capabilities = matcher.capabilities["capability_id"].to_list()
    gated: set[Pair] = set()
    for r in results:
        if r.metapath.role != "gate":
            continue
        for row in r.pairs.iter_rows(named=True):
            if row.get("capability_id") is not None:
                gated.add((row["account_id"], row["capability_id"]))
            else:
                gated.update((row["account_id"], c) for c in capabilities)
    surfaced = scored.filter(pl.col("surfaced"))
    told = matcher.explanations(surfaced, matcher.instances(results, surfaced))
    explained = told.filter(pl.col("evidence").list.len() > 0).height
    share = explained / surfaced.height if surfaced.height else math.nan
    return scored, gated, share


def surfaced_scores(scored: pl.DataFrame) -> Scores:
    rows = scored.filter(pl.col("surfaced")).select("account_id", "capability_id", "score")
    return {(a, c): s for a, c, s in rows.iter_rows()}


def simulate_am(
    store: GraphStore,
    train: set[str],
    truth: set[Pair],
    *,
    decisions: int,
    noise: float,
    seed: int,
) -> dict[str, int]:
    """Decide ``decisions`` train matches through the decisions API, queue order
    first, one review in ten drawn from further down the queue."""
    rng = random.Random(seed)
    matches = store.nodes("Match").filter(
        pl.col("account_id").is_in(sorted(train)) & (pl.col("status") == "proposed")
    )
    owners = store.edges("ASSIGNED_TO").filter(pl.col("src_label") == "Match")
    owner_of = dict(zip(owners["src"], owners["dst"], strict=True))
    queues: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in matches.sort(["score", "match_id"], descending=[True, False]).iter_rows(named=True):
        queues[owner_of[row["match_id"]]].append(row)
    per_am = max(1, decisions // max(1, len(queues)))
    counts = {"validate": 0, "kill": 0, "defer": 0}
    now = AS_OF
    for am, queue in sorted(queues.items()):
        top = queue[: int(per_am * 0.9)]
        rest = queue[len(top) :]
        picked = top + rng.sample(rest, k=min(len(rest), per_am - len(top)))
        for row in picked:
            relevant = (row["account_id"], row["capability_id"]) in truth
            if rng.random() < noise:
                relevant = not relevant
            if rng.random() < 0.10:
                decide(
                    store,
                    row["match_id"],
                    "defer",
                    actor=am,
                    defer_until=(now + dt.timedelta(days=30)).date(),
                    now=now,
                )
                counts["defer"] += 1
            elif relevant:
                decide(store, row["match_id"], "validate", actor=am, now=now)
                counts["validate"] += 1
            else:
                decide(store, row["match_id"], "kill", actor=am, reason="not a fit", now=now)
                counts["kill"] += 1
    return counts


# ------------------------------------------------------------------ baselines


def account_texts(store: GraphStore, accounts: list[str]) -> dict[str, list[str]]:
    wanted = set(accounts)
    texts: dict[str, list[str]] = {a: [] for a in accounts}
    for row in store.get_nodes("Account", accounts).iter_rows(named=True):
        if row["description"]:
            texts[row["account_id"]].append(row["description"])
    works = store.edges("WORKS_AT")
    employer = dict(zip(works["src"], works["dst"], strict=False))
    emitted = store.edges("EMITTED")
    signal_owner: dict[str, str] = {}
    for src_label, src, dst in emitted.select("src_label", "src", "dst").iter_rows():
        account = src if src_label == "Account" else employer.get(src)
        if account in wanted:
            signal_owner[dst] = account
    signals = store.get_nodes("Signal", list(signal_owner)).sort(
        ["occurred_at", "signal_id"], descending=[True, False], nulls_last=True
    )
    for sid, title, text in signals.select("signal_id", "title", "text").iter_rows():
        body = ". ".join(t for t in (title, text) if t)
        if body:
            texts[signal_owner[sid]].append(body)
    return texts


def capability_texts(store: GraphStore) -> dict[str, str]:
    needs = {r["need_id"]: r for r in store.nodes("Need").iter_rows(named=True)}
    addresses = store.edges("ADDRESSES")
    by_cap: dict[str, list[str]] = defaultdict(list)
    for cap, need in addresses.select("src", "dst").iter_rows():
        n = needs[need]
        by_cap[cap].append(f"{n['name']}: {', '.join(n['phrases'] or [])}")
    out = {}
    for row in store.nodes("Capability").iter_rows(named=True):
        parts = [row["name"], row["description"] or "", *sorted(by_cap[row["capability_id"]])]
        out[row["capability_id"]] = ". ".join(p for p in parts if p)
    return out


def minilm_scores(
    store: GraphStore, accounts: list[str], tick: Callable[[int, int], None]
) -> tuple[dict[str, Scores], dict[str, Any]]:
    model = MiniLM()
    texts = account_texts(store, accounts)
    caps = capability_texts(store)
    cap_ids = sorted(caps)
    # The account as one document: description, then its signals newest first; the
    # model reads the first 256 word pieces, as sentence-transformers would.
    documents = {a: " ".join(ts) for a, ts in texts.items() if ts}
    unique = sorted({t for ts in texts.values() for t in ts} | set(documents.values()))
    started = time.perf_counter()
    vectors = np.zeros((len(unique), 384), dtype=np.float32)
    step = 512
    for start in range(0, len(unique), step):
        vectors[start : start + step] = model.encode(unique[start : start + step])
        tick(min(start + step, len(unique)), len(unique))
    encode_s = time.perf_counter() - started
    at = {t: i for i, t in enumerate(unique)}
    cap_vec = model.encode([caps[c] for c in cap_ids])
    variants: dict[str, Scores] = {"minilm_document": {}, "minilm_mean": {}, "minilm_max": {}}
    for account, ts in texts.items():
        if not ts:
            continue
        rows = vectors[[at[t] for t in ts]]
        sims = rows @ cap_vec.T
        centroid = rows.mean(axis=0)
        centroid /= max(float(np.linalg.norm(centroid)), 1e-12)
        document = vectors[at[documents[account]]]
        for j, cap in enumerate(cap_ids):
            variants["minilm_document"][(account, cap)] = float(document @ cap_vec[j])
            variants["minilm_mean"][(account, cap)] = float(centroid @ cap_vec[j])
            variants["minilm_max"][(account, cap)] = float(sims[:, j].max())
    info = {"texts_encoded": len(unique), "encode_s": round(encode_s, 1)}
    return variants, info


def popularity_scores(store: GraphStore, pairs: Iterable[Pair]) -> Scores:
    opps = store.nodes("Opportunity").filter(pl.col("status") == "won")["opportunity_id"]
    includes = store.edges("INCLUDES").filter(pl.col("src").is_in(opps.implode()))
    wins = includes.group_by("dst").len()
    count = dict(zip(wins["dst"], wins["len"], strict=True))
    return {p: float(count.get(p[1], 0)) for p in pairs}


# ------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=2000, help="sample world size")
    parser.add_argument("--decisions", type=int, default=400, help="simulated AM decisions")
    parser.add_argument("--noise", type=float, default=0.1, help="chance an AM decides wrongly")
    parser.add_argument("--seed", type=int, default=11, help="the simulated AMs' seed")
    parser.add_argument(
        "--world",
        choices=[*WORLDS, "both"],
        default="first",
        help="which sample world (twoloop sample --world); both: a table per world",
    )
    parser.add_argument(
        "--seeds",
        type=_seeds,
        default=[7],
        help="the worlds' seeds, comma-separated (e.g. 7,8,9): one run per world and seed",
    )
    parser.add_argument("--workdir", type=Path, help="keep the sample and store here")
    parser.add_argument(
        "--skip-minilm",
        action="store_true",
        help="leave the embedding baseline out (twoloop's own figures in seconds)",
    )
    parser.add_argument(
        "--extractors",
        choices=["rules", "offline"],
        default="rules",
        help="rules: the rules extractor only; offline: rules and paraphrase, the product's "
        "default without an API key",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="twoloop-quality-"))
    worlds = list(WORLDS) if args.world == "both" else [args.world]
    if worlds == ["first"] and args.seeds == [7]:  # the original single run, as it was
        payload = run_once(args, workdir, world="first", seed=7)
        if args.json:
            print(json.dumps(payload))
        else:
            _print(payload)
        return 0
    report: dict[str, Any] = {
        **meta("bench/matching_quality.py", accounts=args.accounts),
        "decisions": args.decisions,
        "noise": args.noise,
        "seeds": args.seeds,
        "worlds": {},
    }
    for world in worlds:
        runs = {
            seed: run_once(args, workdir / f"{world}-{seed}", world=world, seed=seed)
            for seed in args.seeds
        }
        report["worlds"][world] = {"summary": summarize(list(runs.values())), "runs": runs}
    if args.json:
        print(json.dumps(report))
    else:
        _print_worlds(report)
    return 0


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"seeds are integers, e.g. 7,8,9 (got {text!r})") from exc
    if not seeds:
        raise argparse.ArgumentTypeError("at least one seed")
    return seeds


def run_once(args: argparse.Namespace, workdir: Path, *, world: str, seed: int) -> dict[str, Any]:
    """One world at one seed: write, ingest, match, decide, learn, compare."""
    workdir.mkdir(parents=True, exist_ok=True)
    progress = Progress(disable=args.json, transient=True)
    timings: dict[str, float] = {}
    with progress:
        step = progress.add_task(f"{world} world (seed {seed}): write, ingest, extract", total=None)
        started = time.perf_counter()
        store = connect(str(workdir / "graph"))
        store.ensure_schema()
        truth = build_world(
            store,
            workdir / "sample",
            args.accounts,
            world=world,
            seed=seed,
            extractors=args.extractors,
        )
        timings["world_s"] = time.perf_counter() - started
        progress.update(step, completed=1, total=1)

        all_accounts = store.nodes("Account")["account_id"].to_list()
        test = sorted(a for a in all_accounts if is_test(a))
        train = {a for a in all_accounts if not is_test(a)}

        progress.add_task("match (prior) and simulated AM decisions", total=None)
        started = time.perf_counter()
        run_matching(store, as_of=AS_OF, accounts=sorted(train))
        decided = simulate_am(
            store, train, truth, decisions=args.decisions, noise=args.noise, seed=args.seed
        )
        prior_matcher = Matcher(store, as_of=AS_OF)  # newest version: still the prior
        prior_scored, gated, prior_explained = matcher_scores(prior_matcher, test)
        try:
            # Forced: the bench measures the refit's ranking even when the queue
            # guard would refuse it; the report keeps the guard's queues and reason.
            learned = learn(store, now=AS_OF, force=True).as_dict()
        except TooFewLabels as exc:
            raise SystemExit(f"bench: {exc}") from exc
        learned_matcher = Matcher(store, as_of=AS_OF)
        learned_scored, _, learned_explained = matcher_scores(learned_matcher, test)
        timings["twoloop_s"] = time.perf_counter() - started

        capabilities = prior_matcher.capabilities["capability_id"].to_list()
        owns = store.edges("OWNS")
        owner = dict(zip(owns["dst"], owns["src"], strict=True))
        candidates = [(a, c) for a in test for c in capabilities if (a, c) not in gated]
        queues: dict[str, list[Pair]] = defaultdict(list)
        by_capability: dict[str, list[Pair]] = defaultdict(list)
        for pair in candidates:
            queues[owner.get(pair[0], "(unowned)")].append(pair)
            by_capability[pair[1]].append(pair)
        in_truth = {p for p in truth if p[0] in set(test)}
        candidate_set = set(candidates)

        minilm: dict[str, Scores] = {}
        minilm_info: dict[str, Any] = {"skipped": True}
        if not args.skip_minilm:
            encode = progress.add_task("all-MiniLM-L6-v2: encoding account texts", total=None)
            started = time.perf_counter()
            minilm, minilm_info = minilm_scores(
                store,
                test,
                lambda done, total: progress.update(encode, completed=done, total=total),
            )
            timings["minilm_s"] = time.perf_counter() - started

    methods: dict[str, Scores] = {
        "prior": surfaced_scores(prior_scored),
        "learned": surfaced_scores(learned_scored),
        **minilm,
        "popularity": popularity_scores(store, candidates),
    }
    results = {
        name: evaluate_method(scores, queues, by_capability, truth)
        for name, scores in methods.items()
    }
    results["prior"]["explained"] = prior_explained
    results["learned"]["explained"] = learned_explained
    a, b = results["prior"]["ndcg10_am"], results["learned"]["ndcg10_am"]
    c = results["minilm_document"]["ndcg10_am"] if minilm else math.nan
    strongest = max(minilm, key=lambda m: results[m]["ndcg10_am"]) if minilm else "(skipped)"
    c_best = results[strongest]["ndcg10_am"] if minilm else math.nan
    payload = {
        **meta("bench/matching_quality.py", accounts=args.accounts),
        **({} if (world, seed) == ("first", 7) else {"world": world, "world_seed": seed}),
        "decisions": decided,
        "noise": args.noise,
        "learned_model": {
            k: learned[k]
            for k in (
                *("version", "labels", "weights_after", "before", "after"),
                # The queue guard (matching.surfacing): what it would have refused.
                *("threshold_before", "threshold_after", "queue_before", "queue_after"),
                "refused",
            )
        },
        "test_accounts": len(test),
        "candidates": len(candidate_set),
        "relevant_candidates": len(in_truth & candidate_set),
        "relevant_gated": len(in_truth - candidate_set),
        "am_queues": len(queues),
        "surfaced": {"prior": len(methods["prior"]), "learned": len(methods["learned"])},
        "minilm": minilm_info,
        "methods": results,
        "targets": {
            "a_over_c": round(a / c, 3) if minilm else None,
            "a_at_least_2x_c": a >= 2 * c if minilm else None,
            "strongest_minilm": strongest,
            "a_over_strongest_minilm": round(a / c_best, 3) if minilm else None,
            "b_minus_a": round(b - a, 4),
            "b_over_a": round(b / a, 4) if a else None,
            "b_at_least_a_plus_10pct": b >= 1.10 * a,
            "all_surfaced_explained": prior_explained == 1.0 and learned_explained == 1.0,
        },
        "timings_s": {k: round(v, 1) for k, v in timings.items()},
    }
    store.close()
    return payload


METRICS = ("ndcg10_am", "ndcg10_capability", "precision5", "recall20")


def summarize(runs: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
    """Per method and metric: the median over the runs, with min and max."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for method in runs[0]["methods"]:
        out[method] = {}
        for metric in (*METRICS, "explained"):
            values = [r["methods"][method][metric] for r in runs if metric in r["methods"][method]]
            values = [v for v in values if not math.isnan(v)]
            if values:
                out[method][metric] = {
                    "median": statistics.median(values),
                    "min": min(values),
                    "max": max(values),
                }
    return out


def _print_worlds(report: dict[str, Any]) -> None:
    seeds = ",".join(str(s) for s in report["seeds"])
    for world, result in report["worlds"].items():
        runs = list(result["runs"].values())
        relevant = [r["relevant_candidates"] for r in runs]
        print(
            f"\n{world} world, seeds {seeds}: {runs[0]['test_accounts']} test accounts, "
            f"relevant candidates {relevant}; median [min, max] over seeds"
        )
        print(f"{'method':<16}" + "".join(f"{m:>22}" for m in METRICS))
        for method, metrics in result["summary"].items():
            cells = "".join(
                f"{_cell(metrics[m]):>22}" if m in metrics else f"{'-':>22}" for m in METRICS
            )
            print(f"{method:<16}{cells}")
        b_over_a = [r["targets"]["b_over_a"] for r in runs]
        print(f"learned/prior NDCG@10 AM per seed: {b_over_a}")


def _cell(stat: dict[str, float]) -> str:
    return f"{stat['median']:.3f} [{stat['min']:.3f}, {stat['max']:.3f}]"


def _print(payload: dict[str, Any]) -> None:
    print(
        f"{payload['test_accounts']} test accounts, {payload['candidates']:,} candidate pairs "
        f"({payload['relevant_candidates']} relevant) in {payload['am_queues']} AM queues; "
        f"decisions {payload['decisions']}"
    )
    header = f"{'method':<12} {'NDCG@10 AM':>11} {'NDCG@10 cap':>12} {'P@5':>6} {'R@20':>6}"
    print(header)
    for name, r in payload["methods"].items():
        print(
            f"{name:<12} {r['ndcg10_am']:>11.3f} {r['ndcg10_capability']:>12.3f} "
            f"{r['precision5']:>6.3f} {r['recall20']:>6.3f}"
            + (f"  explained {r['explained']:.0%}" if "explained" in r else "")
        )
    print(json.dumps(payload["targets"]))
    print(json.dumps(payload["learned_model"]))


if __name__ == "__main__":
    raise SystemExit(main())
