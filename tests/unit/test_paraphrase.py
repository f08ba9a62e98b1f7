"""The paraphrase extractor: needs in other words, denials skipped, verbatim evidence,
and its precision and recall on the hand-written set (tests/data/paraphrases.yaml)."""

from __future__ import annotations

import pytest

from bench.paraphrase_quality import (
    Figures,
    as_signals,
    labelled_items,
    measure,
    sample_catalog_needs,
)
from matching.encoder import OnnxMiniLM
from matching.extract import RulesExtractor, sentence_denies, speaks_as_seller
from matching.paraphrase import ParaphraseExtractor, confidence_of, could_state_a_need

NEED_STATED = "Our data loading jobs fail every night and someone has to restart them by hand"


@pytest.fixture(scope="module")
def encoder() -> OnnxMiniLM:
    return OnnxMiniLM()


@pytest.fixture(scope="module")
def described(encoder: OnnxMiniLM) -> ParaphraseExtractor:
    return ParaphraseExtractor(sample_catalog_needs(described=True), encoder=encoder)


def test_finds_a_need_in_other_words_that_the_rules_miss(
    described: ParaphraseExtractor,
) -> None:
    text = f"Q3 update from the data team. {NEED_STATED}! Thanks all."
    frame, _ = described.extract(as_signals([text]))
    assert frame.select("src", "dst", "extractor").rows() == [
        ("item-0", "pipeline-reliability", "paraphrase")
    ]
    # The evidence is the stating sentence, verbatim.
    assert frame["evidence"][0] == NEED_STATED and NEED_STATED in text
    assert 0.0 <= frame["confidence"][0] <= 1.0
    rules, _ = RulesExtractor(sample_catalog_needs()).extract(as_signals([text]))
    assert rules.height == 0


@pytest.mark.parametrize(
    "text",
    [
        "Our overnight data loads have not failed once this year.",
        "Failed overnight data loads are a thing of the past.",
        "Overnight data loads that failed and had to be restarted by hand are fixed now.",
        "We launched a service that restarts failed overnight data loads for our customers.",
    ],
)
def test_a_denied_solved_or_sold_need_is_not_found(
    described: ParaphraseExtractor, text: str
) -> None:
    frame, stats = described.extract(as_signals([text]))
    assert frame.height == 0 and stats.negated == 1


def test_denial_and_seller_cues_read_the_whole_sentence() -> None:
    assert sentence_denies("We don't need real-time dashboards")
    assert sentence_denies("None of our nightly loads crashed this quarter")
    assert sentence_denies("Replica lag is no longer a problem")
    # A need stated with a negation is still a need.
    assert not sentence_denies("Sales can't see product usage in the CRM")
    assert not sentence_denies("Reloading the database no longer fits in the night")
    assert speaks_as_seller("We help companies reduce their Snowflake spend, book a demo")
    assert not speaks_as_seller("We must cut our Snowflake spend before launching in Germany")


def test_short_sentences_are_skipped_and_confidence_stays_in_range() -> None:
    assert not could_state_a_need("Acme runs Snowflake")
    assert could_state_a_need("Acme runs Snowflake for everything")
    assert confidence_of(0.43, 0.43) == 0.5
    assert confidence_of(1.0, 0.43) == 0.85
    assert 0.5 < confidence_of(0.6, 0.43) < 0.85


def test_identical_sentences_are_embedded_once_and_each_signal_gets_its_edge(
    described: ParaphraseExtractor,
) -> None:
    frame, stats = described.extract(as_signals([NEED_STATED, NEED_STATED + ".", "Hi there"]))
    assert sorted(frame["src"].to_list()) == ["item-0", "item-1"]
    assert "(1 distinct)" in stats.notes[0]


# ------------------------------------------------------------------ quality
# Target (issue 17 point 6): recall >= 0.7 at precision >= 0.9.


def _meets_target(figures: Figures) -> bool:
    return figures.recall >= 0.7 and figures.precision >= 0.9


def test_with_described_needs_the_target_is_met_on_the_tuning_half(
    described: ParaphraseExtractor,
) -> None:
    figures = measure(described, labelled_items("tuning"))
    assert _meets_target(figures), figures.as_dict()


@pytest.mark.xfail(
    strict=True,
    reason="held-out half, described needs: recall 0.59 at precision 0.70 (bench/RESULTS.md)",
)
def test_with_described_needs_the_target_is_met_on_the_held_out_half(
    described: ParaphraseExtractor,
) -> None:
    figures = measure(described, labelled_items("held-out"))
    assert _meets_target(figures), figures.as_dict()


@pytest.mark.xfail(
    strict=True,
    reason="the sample catalog's needs have a name and two phrases only: recall 0.03 "
    "(bench/RESULTS.md)",
)
def test_with_the_sample_catalog_the_target_is_met(encoder: OnnxMiniLM) -> None:
    extractor = ParaphraseExtractor(sample_catalog_needs(), encoder=encoder)
    assert _meets_target(measure(extractor, labelled_items()))


def test_the_rules_find_none_of_the_paraphrases() -> None:
    figures = measure(RulesExtractor(sample_catalog_needs()), labelled_items())
    assert figures.true_positives == 0
