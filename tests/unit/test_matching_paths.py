"""Each shipped metapath on a small hand-built graph with known answers; the score,
the explanations and who to contact."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from graph_model import connect
from graph_model.store import GraphStore
from matching.evaluate import Evaluator, PathResult
from matching.metapaths import load_metapaths
from matching.model import load_prior
from matching.run import Matcher, _two_decimals
from tests.support.hand_graph import AS_OF, build

ACCOUNTS = ["acme", "globex", "initech", "umbrella"]


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GraphStore]:
    store = connect(str(tmp_path_factory.mktemp("hand") / "graph"))
    store.ensure_schema()
    build(store)
    yield store
    store.close()


@pytest.fixture(scope="module")
def results(graph: GraphStore) -> dict[str, PathResult]:
    metapaths = load_metapaths()
    evaluator = Evaluator(graph, metapaths, load_prior(metapaths=metapaths), as_of=AS_OF)
    return {r.metapath.id: r for r in evaluator.evaluate(ACCOUNTS)}


def _pair(scored: pl.DataFrame, account: str, capability: str) -> pl.DataFrame:
    return scored.filter(
        (pl.col("account_id") == account) & (pl.col("capability_id") == capability)
    )


def _pairs(result: PathResult) -> set[tuple[str, ...]]:
    cols = [c for c in ("account_id", "capability_id") if c in result.pairs.columns]
    return {(*row[:-1], row[-1]) for row in result.pairs.select(*cols, "n").iter_rows()}


EXPECTED = {
    # Parallel INDICATES edges (rules and claude) count once, at the stronger one.
    "need_evidence": {("acme", "ingest", 1)},
    "buyer_priority": {("acme", "ingest", 1)},
    "tech_fit": {("acme", "ingest", 1), ("initech", "vault", 1)},
    "industry_fit": {
        ("acme", "ingest", 1),
        ("umbrella", "ingest", 1),
        ("globex", "vault", 1),
        ("initech", "vault", 1),
    },
    # peer != a: an account is not its own lookalike.
    "lookalike_wins": {("initech", "vault", 1), ("globex", "ingest", 1)},
    "parent_wins": {("initech", "vault", 1)},
    "subsidiary_wins": {("globex", "ingest", 1)},
    # Cat's role on Globex's vault deal is known (a contact role): champion_deal, and
    # the weaker champion_move (what she championed unknown) does not apply to her.
    "champion_deal": {("acme", "vault", 1)},
    "champion_move": set(),
    "am_track_record": {
        ("acme", "vault", 1),
        ("globex", "vault", 1),
        ("initech", "ingest", 1),
        ("umbrella", "ingest", 1),
    },
    "already_bought": {("globex", "vault", 1), ("initech", "ingest", 1)},
    "open_deal": {("initech", "vault", 1)},
    "recent_loss": {("initech", "vault", 1)},
    "recent_activity": {("initech", 1)},
    # The hand graph's catalog declares no site pages, size, country or strict industry
    # fit: these find nothing here (test_matching_generalize.py declares them and checks each).
    # No championed column here (test_matching_generalize.py checks it).
    "champion_declared": set(),
    "site_visit": set(),
    # No account describes itself by a need here (test_matching_generalize.py).
    "sells_it": set(),
    # The hand graph's USES edges carry no install date.
    "tech_adopted": set(),
    "site_visit_person": set(),
    "size_fit": set(),
    "region_fit": set(),
    "outside_industries": set(),
    "too_small": set(),
    "too_large": set(),
    "outside_countries": set(),
    "suppressed": {("umbrella", 1)},
    "outside_icp": {("umbrella", 1)},
}


@pytest.mark.parametrize("metapath", sorted(EXPECTED))
def test_each_metapath_finds_exactly_its_paths(
    results: dict[str, PathResult], metapath: str
) -> None:
    assert _pairs(results[metapath]) == EXPECTED[metapath]


def test_every_shipped_metapath_has_a_hand_graph_answer() -> None:
    assert {m.id for m in load_metapaths()} == set(EXPECTED)


def test_weights_multiply_confidence_strength_and_decay(results: dict[str, PathResult]) -> None:
    need = results["need_evidence"].pairs.row(0, named=True)
    # The rules edge (0.9) wins over the claude edge (0.6); hiring halves every 60 days.
    assert need["w"] == pytest.approx(0.9 * 0.8 * 0.5 ** (10 / 60))
    buyer = results["buyer_priority"].pairs.row(0, named=True)
    # A social post halves every 60 days (metapaths.yaml); this one is 45 days old.
    assert buyer["w"] == pytest.approx(0.9 * 0.5 * 0.5 ** (45 / 60))
    champion = results["champion_deal"].pairs.row(0, named=True)
    assert champion["w"] == pytest.approx(0.5 ** (30 / 365))  # she moved 30 days ago


def test_share_paths_divide_by_the_accounts_their_pivot_reaches(
    results: dict[str, PathResult],
) -> None:
    # One won deal among healthcare's two accounts (globex, initech) and software's
    # two (acme, umbrella): a share of 1/2, however many paths a bigger book would add.
    w = {
        (r[0], r[1]): r[2]
        for r in results["lookalike_wins"]
        .pairs.select("account_id", "capability_id", "w")
        .iter_rows()
    }
    assert w == {("initech", "vault"): 0.5, ("globex", "ingest"): 0.5}
    # am-1 won o1 (vault) and owns acme and globex; am-2 won o4 (ingest), owns two.
    track = results["am_track_record"].pairs
    assert set(track["w"].to_list()) == {0.5}
    # Counts stay path counts; only the weighted sum is a share.
    assert set(track["n"].to_list()) == {1}


def test_a_share_path_has_the_same_sizes_for_one_account_as_for_a_batch(
    graph: GraphStore,
) -> None:
    metapaths = [m for m in load_metapaths() if m.id == "lookalike_wins"]
    model = load_prior(metapaths=load_metapaths())
    small = Evaluator(graph, metapaths, model, as_of=AS_OF)  # walks from the pivot
    alone = small.evaluate(["initech"])[0].pairs
    assert alone.select("account_id", "capability_id", "w").rows() == [("initech", "vault", 0.5)]


def test_instances_render_sentences_with_dates_sources_and_ids(
    results: dict[str, PathResult],
) -> None:
    need = results["need_evidence"].instances.row(0, named=True)
    assert need["sentence"] == (
        'Acme: hiring on 2026-11-10 (jobs-feed) "pipeline failures" -> need: '
        "Pipeline reliability -> Managed Ingest addresses it"
    )
    assert json.loads(need["nodes"]) == {
        "c": "ingest",
        "n": "pipe",
        "s": "s-hiring",
        "a": "acme",
    }
    champion = results["champion_deal"].instances.row(0, named=True)
    assert champion["sentence"] == (
        "Cat Diaz (Director of Data Engineering), now at Acme, was Decision Maker on Globex "
        "vault, which bought Privacy Vault (closed 2025-06-01)"
    )
    loss = results["recent_loss"].instances.row(0, named=True)
    assert loss["sentence"] == "Initech turned Privacy Vault down on 2026-10-21"


def test_small_batches_walk_from_the_pivot_and_agree_with_the_cached_side(
    graph: GraphStore, results: dict[str, PathResult]
) -> None:
    metapaths = load_metapaths()
    prior = load_prior(metapaths=metapaths)
    for account in ACCOUNTS:
        one = Evaluator(graph, metapaths, prior, as_of=AS_OF, small_batch=1).evaluate([account])
        big = Evaluator(graph, metapaths, prior, as_of=AS_OF, small_batch=0).evaluate([account])
        for a, b in zip(one, big, strict=True):
            assert a.pairs.equals(b.pairs), a.metapath.id
            assert a.instances.sort(pl.all()).equals(b.instances.sort(pl.all())), a.metapath.id
        for r in one:
            want = {p for p in EXPECTED[r.metapath.id] if p[0] == account}
            assert _pairs(r) == want, r.metapath.id


def test_score_gates_explanations_and_contacts(graph: GraphStore) -> None:
    matcher = Matcher(graph, as_of=AS_OF)
    scored, instances = matcher.score(ACCOUNTS)
    rows = {(r["account_id"], r["capability_id"]): r for r in scored.iter_rows(named=True)}
    surfaced = {k for k, r in rows.items() if r["surfaced"]}
    assert surfaced == {("acme", "ingest"), ("acme", "vault"), ("globex", "ingest")}
    assert rows[("globex", "vault")]["gates"] == ["already_bought"]
    assert set(rows[("initech", "vault")]["gates"]) == {
        "open_deal",
        "recent_loss",
        "recent_activity",
    }
    assert set(rows[("umbrella", "ingest")]["gates"]) == {"suppressed", "outside_icp"}

    prior = matcher.model
    strong = rows[("acme", "ingest")]
    z = prior.bias + sum(
        prior.weights[m] * math.log1p(strong[f"w:{m}"])
        for m in ("need_evidence", "buyer_priority", "tech_fit", "industry_fit")
    )
    assert strong["score"] == pytest.approx(1 / (1 + math.exp(-z)), abs=1e-6)
    assert not strong["weak"]
    told = matcher.explain(_pair(scored, "acme", "ingest"), instances)
    assert told["explanation"] == (
        f"Score {strong['score']:.2f} (model prior): need evidence x1, buyer priority x1, "
        "tech fit x1, industry fit x1."
    )
    assert told["features"] == {
        m: {"n": 1, "w": pytest.approx(strong[f"w:{m}"])}
        for m in ("buyer_priority", "industry_fit", "need_evidence", "tech_fit")
    }
    # Strongest contribution first: the fresh hiring signal (0.64), then the person's
    # own, older post (0.225), then the technology.
    assert told["evidence"][0].startswith("Acme: hiring on 2026-11-10")
    assert told["evidence"][1].startswith("Ann Lee (Head of Data) at Acme: social post")
    assert [p["metapath"] for p in told["paths"]] == [
        "need_evidence",
        "buyer_priority",
        "tech_fit",
    ]

    # Half of globex's industry and its subsidiary bought ingest: not a weak case under
    # the prior, and a weak one under a model that asks for more.
    thin = rows[("globex", "ingest")]
    z = (
        prior.bias
        + prior.weights["subsidiary_wins"] * math.log1p(1.0)
        + prior.weights["lookalike_wins"] * math.log1p(0.5)
    )
    assert thin["score"] == pytest.approx(1 / (1 + math.exp(-z)), abs=1e-6)
    assert not thin["weak"]
    strict = Matcher(graph, as_of=AS_OF, model=prior.model_copy(update={"weak_below": 0.9}))
    scored_strict, instances_strict = strict.score(ACCOUNTS)
    thin_frame = _pair(scored_strict, "globex", "ingest")
    assert thin_frame["weak"].item()
    told = strict.explain(thin_frame, instances_strict)
    # Not "only background fit": a subsidiary bought it.
    assert told["explanation"] == (
        f"Weak case (score {thin['score']:.2f}): the evidence is thin, old or uncertain "
        "(lookalike wins x1, subsidiary wins x1). Treat it as a hypothesis to check, not a "
        "reason to write now."
    )
    assert told["evidence"] and len(told["paths"]) == len(told["evidence"])

    gated = matcher.explain(_pair(scored, "globex", "vault"), instances)
    assert gated["explanation"] == (
        "Not surfaced: blocked by already_bought (Globex already bought Privacy Vault "
        "(closed 2025-06-01))."
    )

    from matching.contacts import choose_contacts

    contacts = choose_contacts(
        graph, scored.filter(pl.col("surfaced")), instances, matcher.capabilities
    )
    assert contacts[("acme", "vault")].person_id == "cat"
    assert contacts[("acme", "vault")].reason.startswith("Champion: Cat Diaz")
    assert contacts[("acme", "ingest")].person_id == "ann"
    assert contacts[("acme", "ingest")].reason.startswith("Raised the need: Ann Lee")
    assert ("globex", "ingest") not in contacts  # nobody works there


def test_explanations_say_why_a_pair_is_not_surfaced(graph: GraphStore) -> None:
    high = Matcher(graph, as_of=AS_OF)
    high = Matcher(
        graph, as_of=AS_OF, model=high.model.model_copy(update={"surface_min_score": 0.99})
    )
    scored, instances = high.score(ACCOUNTS)
    told = high.explain(_pair(scored, "acme", "ingest"), instances)
    score = scored.filter(pl.col("account_id") == "acme", pl.col("capability_id") == "ingest")
    assert told["explanation"] == (
        f"Not surfaced: score {score['score'].item():.2f} is below 0.99 (need evidence x1, "
        "buyer priority x1, tech fit x1, industry fit x1)."
    )
    # Account-wide gates are cited once each, in the order they were found.
    told = high.explain(_pair(scored, "umbrella", "ingest"), instances)
    assert told["explanation"] == (
        "Not surfaced: blocked by suppressed, outside_icp (Umbrella is on a suppression "
        "list; Umbrella is outside the ideal-customer profile)."
    )
    many = high.explanations(scored, instances)
    assert (
        many.select("account_id", "capability_id").rows()
        == scored.select("account_id", "capability_id").rows()
    )
    with pytest.raises(ValueError, match="one scored pair, not 2"):
        high.explain(scored.head(2), instances)


@pytest.mark.parametrize(
    ("score", "text"),
    [
        (0.0, "0.00"),
        (0.004999, "0.00"),
        (0.005, "0.01"),
        (0.125, "0.13"),
        (0.5, "0.50"),
        (0.994999, "0.99"),
        (0.995, "1.00"),
        (1.0, "1.00"),
    ],
)
def test_scores_read_with_two_decimals_half_up(score: float, text: str) -> None:
    assert pl.select(_two_decimals(pl.lit(score))).item() == text


def test_persona_fit_prefers_title_then_department_and_never_seniority_alone(
    graph: GraphStore,
) -> None:
    from matching.contacts import choose_contacts

    matcher = Matcher(graph, as_of=AS_OF)
    pairs = pl.DataFrame({"account_id": ["acme"], "capability_id": ["ingest"]})
    empty = pl.DataFrame(
        schema={
            "account_id": pl.String,
            "capability_id": pl.String,
            "metapath": pl.String,
            "sentence": pl.String,
            "nodes": pl.String,
        }
    )
    chosen = choose_contacts(graph, pairs, empty, matcher.capabilities)[("acme", "ingest")]
    assert chosen.person_id == "ann"
    assert chosen.reason == (
        "Ann Lee (Head of Data) fits the Managed Ingest buyer persona: title Head of Data, "
        "department Data, seniority vp"
    )
    # Privacy Vault wants a CISO in Security: the CEO is an executive, but that alone
    # does not make him the buyer.
    pairs = pl.DataFrame({"account_id": ["acme"], "capability_id": ["vault"]})
    assert choose_contacts(graph, pairs, empty, matcher.capabilities) == {}


def test_a_new_metapath_is_evaluated_from_data_alone(graph: GraphStore, tmp_path: Path) -> None:
    path = tmp_path / "metapaths.yaml"
    path.write_text(
        """
metapaths:
  - id: colleague_of_champion
    role: evidence
    description: Someone at the account posted or was quoted about the need.
    path: >-
      (c:Capability)-[:ADDRESSES]->(n:Need)<-[r:INDICATES]-(s:Signal)<-[:EMITTED]-(p:Person)
      -[:WORKS_AT]->(a:Account)
    where: ["s.kind in [social_post, news]"]
    pivot: s
    weight: [r.confidence, s.strength]
    sentence: "{p.full_name} posted on {s.occurred_at}"
"""
    )
    mps = load_metapaths(path)
    prior = load_prior(metapaths=load_metapaths())
    (result,) = Evaluator(graph, mps, prior, as_of=AS_OF).evaluate(ACCOUNTS)
    assert _pairs(result) == {("acme", "ingest", 1)}
    # The pivot's own weight (s.strength) counts once, not once per side.
    assert result.pairs["w"].to_list() == [pytest.approx(0.9 * 0.5)]
    assert result.instances["sentence"].to_list() == ["Ann Lee posted on 2026-10-06"]
