"""A world for the console benchmark: many matches in the store, one AM with a big queue.

    python bench/console_world.py --uri /tmp/cw/graph --matches 100000 --mine 10000

What it writes (every row typed and checked by the store, in a few big upserts):

- ``ams`` AccountManagers; ``am-000`` is the one whose queue is measured, and
  ``am-999`` (one more) has nothing in their queue (the benchmark's baseline);
- ``matches / 2`` Accounts (names, domains, tiers), each OWNed by one AM: ``am-000``
  owns ``mine / 2`` of them, the others are spread over the other AMs;
- ``capabilities`` Capabilities and ``technologies`` Technologies, each capability
  INTEGRATES_WITH six technologies;
- two Matches per account (two capabilities), ASSIGNED_TO the account's owner, with
  FOR and OFFERS edges; each rests on one ``tech_fit`` path whose USES edge is there,
  so the why panel finds its nodes; scores from a beta distribution, ``weak`` under
  0.35, status ``proposed``, ``created_at`` spread over the 30 days before ``now``,
  the explanation and evidence sentence, evidence paths and features as the matcher
  writes them, model ``prior``, one batch id per day;
- one current Route per match (ROUTES), with action, rule and reason as the shipped
  policy gives them.

No contacts, signals or deals: the queue does not read them, and the why panel says
so ("nobody at the account fits the buyer personas").
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from graph_model import connect  # noqa: E402
from graph_model.store import GraphStore  # noqa: E402

MINE = "am-000"
# An AM with an empty queue: the page's fixed cost, the baseline of the queue figures.
EMPTY = "am-999"
SEED = 16
_WORDS = (
    "Northwind",
    "Contoso",
    "Fabrikam",
    "Tailspin",
    "Wingtip",
    "Litware",
    "Adatum",
    "Proseware",
    "Lucerne",
    "Margie",
    "Fourth",
    "Coffee",
    "Alpine",
    "Blue",
    "Yonder",
    "Humongous",
    "Trey",
    "Woodgrove",
    "Coho",
    "Wide",
    "World",
    "Graphic",
    "Relecloud",
    "Datum",
    "Southridge",
    "Bellows",
    "Munson",
    "Baldwin",
    "Tasmanian",
    "Vanarsdel",
    "Liberty",
    "Olympic",
)
_SUFFIXES = (
    "Analytics",
    "Logistics",
    "Health",
    "Systems",
    "Foods",
    "Energy",
    "Bank",
    "Retail",
    "Labs",
    "Motors",
    "Media",
    "Insurance",
    "Pharma",
    "Airlines",
)
_CAPABILITIES = (
    "Revenue Intelligence",
    "Data Pipeline",
    "Identity Guard",
    "Cloud Cost Control",
    "Support Automation",
    "Field Service",
    "Contract Lifecycle",
    "Payments Hub",
    "Observability",
    "Workforce Planning",
)
_TECHNOLOGIES = (
    "Salesforce",
    "Snowflake",
    "Okta",
    "AWS",
    "Zendesk",
    "ServiceNow",
    "SAP",
    "Stripe",
    "Datadog",
    "Workday",
    "HubSpot",
    "Databricks",
    "Azure AD",
    "GCP",
    "Kafka",
    "Jira",
)
# (action, kind, rule, reason, weight): what the shipped policy gives, roughly as often.
_ROUTES = (
    ("skip", None, "weak_fit", "the fit is weak: below the surface threshold for outreach", 0.15),
    ("auto_send", None, "within_guardrails", "a normal account within the guardrails", 0.35),
    ("approve", None, "existing_relationship", "a person already works this account", 0.2),
    ("research_first", None, "strong_intent", "strong intent: research, then a draft", 0.15),
    ("escalate", "voice_note", "tier_a", "a Tier A account: a person reaches out", 0.1),
    ("wait", "more_evidence", "unclear_context", "the context is unclear: wait for more", 0.05),
)


@dataclass
class WorldSize:
    matches: int = 100_000
    mine: int = 10_000
    ams: int = 100
    capabilities: int = 50
    technologies: int = 300

    def check(self) -> None:
        if self.matches < 2 or self.matches % 2:
            raise SystemExit("--matches must be an even number >= 2 (two per account)")
        if self.mine % 2 or not 0 < self.mine < self.matches:
            raise SystemExit("--mine must be even, above 0 and below --matches")
        if not 2 <= self.ams <= 999 or self.capabilities < 2:
            raise SystemExit("the world needs at least 2 AMs and 2 capabilities")


def frames(size: WorldSize, now: dt.datetime, seed: int = SEED) -> dict[str, pl.DataFrame]:
    """Every table of the world, keyed ``node:Label`` or ``edge:TYPE``."""
    size.check()
    rng = np.random.default_rng(seed)
    n_accounts = size.matches // 2
    n_mine = size.mine // 2
    ams = [f"am-{i:03d}" for i in range(size.ams)]
    am_frame = pl.DataFrame(
        {
            "am_id": [*ams, EMPTY],
            "full_name": [f"Seller {a[3:]}" for a in [*ams, EMPTY]],
            "email": [f"seller{a[3:]}@vendor.example" for a in [*ams, EMPTY]],
            "title": ["Account Executive"] * (size.ams + 1),
        }
    )

    caps = [f"cap-{i:02d}" for i in range(size.capabilities)]
    cap_names = [
        f"{_CAPABILITIES[i % len(_CAPABILITIES)]}"
        + (f" {i // len(_CAPABILITIES) + 1}" if i >= len(_CAPABILITIES) else "")
        for i in range(size.capabilities)
    ]
    cap_frame = pl.DataFrame(
        {
            "capability_id": caps,
            "name": cap_names,
            "description": [f"{n}: what it does, in one line." for n in cap_names],
            "category": ["platform"] * size.capabilities,
        }
    )
    techs = [f"tech-{i:03d}" for i in range(size.technologies)]
    tech_names = [
        f"{_TECHNOLOGIES[i % len(_TECHNOLOGIES)]} {i // len(_TECHNOLOGIES) + 1}"
        for i in range(size.technologies)
    ]
    tech_frame = pl.DataFrame(
        {"technology_id": techs, "name": tech_names, "category": ["software"] * size.technologies}
    )
    per_cap = 6
    integrates = np.stack(
        [rng.choice(size.technologies, per_cap, replace=False) for _ in range(size.capabilities)]
    )
    integrates_frame = pl.DataFrame(
        {
            "src": np.repeat(np.array(caps), per_cap),
            "dst": np.array(techs)[integrates.ravel()],
        }
    )

    # Accounts: the first n_mine are am-000's, the rest round-robin over the others.
    acc_idx = np.arange(n_accounts)
    accounts = np.char.add("acct-", np.char.zfill(acc_idx.astype(str), 6))
    owner = np.where(acc_idx < n_mine, 0, 1 + (acc_idx - n_mine) % (size.ams - 1))
    names = np.char.add(
        np.char.add(
            np.char.add(np.array(_WORDS)[rng.integers(0, len(_WORDS), n_accounts)], " "),
            np.array(_SUFFIXES)[rng.integers(0, len(_SUFFIXES), n_accounts)],
        ),
        np.char.add(" ", acc_idx.astype(str)),
    )
    account_frame = pl.DataFrame(
        {
            "account_id": accounts,
            "name": names,
            "domain": np.char.add(np.char.add("a", acc_idx.astype(str)), ".example"),
            "tier": rng.choice(["A", "B", "C"], n_accounts, p=[0.1, 0.3, 0.6]),
            "employees": rng.integers(50, 50_000, n_accounts),
            "country": rng.choice(["US", "GB", "DE", "FR"], n_accounts),
        }
    )
    owns_frame = pl.DataFrame({"src": np.array(ams)[owner], "dst": accounts})

    # Two distinct capabilities per account; each match rests on one technology.
    first = rng.integers(0, size.capabilities, n_accounts)
    second = (first + rng.integers(1, size.capabilities, n_accounts)) % size.capabilities
    cap_of = np.concatenate([first, second])
    acc_of = np.concatenate([acc_idx, acc_idx])
    tech_of = integrates[cap_of, rng.integers(0, per_cap, size.matches)]
    scores = np.round(rng.beta(2.0, 3.0, size.matches) * 0.89 + 0.1, 4)
    age = rng.uniform(0, 30 * 86400, size.matches)
    created = (
        pl.Series("created_at", (now.timestamp() - age) * 1e6)
        .cast(pl.Int64)
        .cast(pl.Datetime("us", "UTC"))
    )
    pairs = pl.DataFrame(
        {
            "account_id": accounts[acc_of],
            "account": names[acc_of],
            "capability_id": np.array(caps)[cap_of],
            "capability": np.array(cap_names)[cap_of],
            "technology_id": np.array(techs)[tech_of],
            "technology": np.array(tech_names)[tech_of],
            "am_id": np.array(ams)[owner[acc_of]],
            "score": scores,
            "created_at": created,
        }
    ).with_columns(
        pl.concat_str(pl.col("account_id"), pl.lit("\x1f"), pl.col("capability_id"))
        .map_batches(_pair_ids, return_dtype=pl.String)
        .alias("match_id"),
        ("b-" + pl.col("created_at").dt.strftime("%Y%m%d")).alias("batch_id"),
        pl.format(
            "{} runs {}, which {} integrates with", "account", "technology", "capability"
        ).alias("sentence"),
    )
    weak = pl.col("score") < 0.35
    match_frame = pairs.select(
        "match_id",
        "account_id",
        "capability_id",
        "score",
        pl.lit("prior").alias("model_version"),
        "batch_id",
        "created_at",
        pl.col("created_at").alias("as_of"),
        pl.lit("proposed").alias("status"),
        weak.alias("weak"),
        pl.when(weak)
        .then(pl.format("A weak case: {}. Nothing more recent points to a need.", "sentence"))
        .otherwise(pl.format("{}.", "sentence"))
        .alias("explanation"),
        pl.concat_list("sentence").alias("evidence"),
        pl.concat_str(
            pl.lit('[{"metapath": "tech_fit", "nodes": {"c": "'),
            "capability_id",
            pl.lit('", "t": "'),
            "technology_id",
            pl.lit('", "a": "'),
            "account_id",
            pl.lit('"}, "weight": 1.0}]'),
        ).alias("evidence_paths"),
        pl.lit('{"tech_fit": {"n": 1, "w": 1.0}}').alias("features"),
    )
    uses_frame = (
        pairs.select(pl.col("account_id").alias("src"), pl.col("technology_id").alias("dst"))
        .unique()
        .with_columns(pl.lit("bench").alias("source"))
    )

    choice = rng.choice(len(_ROUTES), size.matches, p=[r[4] for r in _ROUTES])
    route_frame = pairs.select(
        ("r-" + pl.col("match_id").str.slice(2)).alias("route_id"),
        "match_id",
        pl.Series("action", [r[0] for r in _ROUTES]).gather(choice),
        pl.Series("kind", [r[1] for r in _ROUTES], dtype=pl.String).gather(choice),
        pl.Series("rule", [r[2] for r in _ROUTES]).gather(choice),
        pl.Series("reason", [r[3] for r in _ROUTES]).gather(choice),
        pl.lit("policy-bench").alias("policy"),
        "batch_id",
        "score",
        pl.col("created_at").alias("routed_at"),
        pl.lit(True).alias("current"),
    )
    return {
        "node:AccountManager": am_frame,
        "node:Capability": cap_frame,
        "node:Technology": tech_frame,
        "node:Account": account_frame,
        "node:Match": match_frame,
        "node:Route": route_frame,
        "edge:OWNS": owns_frame,
        "edge:INTEGRATES_WITH": integrates_frame,
        "edge:USES": uses_frame,
        "edge:FOR": match_frame.select(
            pl.col("match_id").alias("src"),
            pl.lit("Match").alias("src_label"),
            pl.col("account_id").alias("dst"),
        ),
        "edge:OFFERS": match_frame.select(
            pl.col("match_id").alias("src"), pl.col("capability_id").alias("dst")
        ),
        "edge:ASSIGNED_TO": pairs.select(
            pl.col("match_id").alias("src"),
            pl.lit("Match").alias("src_label"),
            pl.col("am_id").alias("dst"),
        ),
        "edge:ROUTES": route_frame.select(
            pl.col("route_id").alias("src"), pl.col("match_id").alias("dst")
        ),
    }


def _pair_ids(keys: pl.Series) -> pl.Series:
    """``matching.run.pair_id`` for every (account, capability): the ids the matcher writes."""
    import hashlib

    return pl.Series(
        [f"m-{hashlib.sha1(k.encode()).hexdigest()[:20]}" for k in keys.to_list()],
        dtype=pl.String,
    )


def write(store: GraphStore, tables: dict[str, pl.DataFrame], *, progress: bool = True) -> float:
    """Upsert every table, nodes first; returns the seconds it took."""
    started = time.perf_counter()
    store.ensure_schema()
    for name, frame in tables.items():
        kind, _, label = name.partition(":")
        t0 = time.perf_counter()
        if kind == "node":
            store.upsert_nodes(label, frame, source="bench/console_world.py")
        else:
            store.upsert_edges(label, frame, source="bench/console_world.py")
        if progress:
            print(
                f"  world: {label} {frame.height:,} rows in {time.perf_counter() - t0:.1f}s",
                file=sys.stderr,
                flush=True,
            )
    return time.perf_counter() - started


def build(uri: str, size: WorldSize, now: dt.datetime, *, progress: bool = True) -> float:
    tables = frames(size, now)
    with connect(uri) as store:
        return write(store, tables, progress=progress)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--uri", required=True, help="a directory (embedded) or a Neo4j URI")
    parser.add_argument("--matches", type=int, default=100_000)
    parser.add_argument("--mine", type=int, default=10_000, help="matches assigned to am-000")
    parser.add_argument("--ams", type=int, default=100)
    args = parser.parse_args()
    size = WorldSize(matches=args.matches, mine=args.mine, ams=args.ams)
    seconds = build(args.uri, size, dt.datetime.now(dt.UTC))
    print(f"world written to {args.uri} in {seconds:.1f}s", file=sys.stderr)


if __name__ == "__main__":
    main()
