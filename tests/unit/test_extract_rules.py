"""The rules extractor: catalog phrases, variants, negation, verbatim evidence."""

from __future__ import annotations

import polars as pl
import pytest

from matching.extract import (
    EXACT_CONFIDENCE,
    VARIANT_CONFIDENCE,
    NeedTerms,
    RulesExtractor,
    is_negated,
    phrase_pattern,
)

NEEDS = [
    NeedTerms("pipeline-reliability", "Pipeline reliability", phrases=("pipeline failures",)),
    NeedTerms("data-hiring", "Data team growth", phrases=("hiring data engineers",)),
    NeedTerms("realtime", "Real-time analytics", phrases=("real-time analytics",)),
    NeedTerms("silent", "No phrases at all"),
]


def _signals(*texts: str, titles: list[str | None] | None = None) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "signal_id": [f"s{i}" for i in range(len(texts))],
            "kind": ["news"] * len(texts),
            "title": titles or [None] * len(texts),
            "text": list(texts),
        },
        schema={"signal_id": pl.String, "kind": pl.String, "title": pl.String, "text": pl.String},
    )


def _found(*texts: str) -> dict[tuple[str, str], tuple[float, str]]:
    frame, _ = RulesExtractor(NEEDS).extract(_signals(*texts))
    return {(r["src"], r["dst"]): (r["confidence"], r["evidence"]) for r in frame.to_dicts()}


def test_a_catalog_phrase_word_for_word_is_found_with_its_sentence_as_evidence() -> None:
    text = "Q3 update. Honestly, Pipeline Failures cost us a week! Anyway."
    found = _found(text)
    assert found == {
        ("s0", "pipeline-reliability"): (
            EXACT_CONFIDENCE,
            "Honestly, Pipeline Failures cost us a week",
        )
    }
    assert found[("s0", "pipeline-reliability")][1] in text


@pytest.mark.parametrize(
    "text",
    [
        "our pipeline failure rate is awful",
        "pipeline-failures again",
        "realtime analytic dashboards",
    ],
)
def test_variants_are_found_with_lower_confidence(text: str) -> None:
    ((confidence, evidence),) = _found(text).values()
    assert confidence == VARIANT_CONFIDENCE and evidence == text


@pytest.mark.parametrize(
    "text",
    [
        "We are not hiring data engineers this year; the platform team is fully staffed.",
        "We aren't hiring data engineers.",
        "Pipeline failures are a thing of the past since we rebuilt our stack.",
        "Without pipeline failures since March.",
        "Our pipeline failures are solved.",
    ],
)
def test_a_denied_need_is_not_found(text: str) -> None:
    frame, stats = RulesExtractor(NEEDS).extract(_signals(text))
    assert frame.height == 0 and stats.negated == 1


def test_negation_stays_inside_its_sentence() -> None:
    text = "We are not a small shop. We are hiring data engineers now."
    assert _found(text) == {
        ("s0", "data-hiring"): (EXACT_CONFIDENCE, "We are hiring data engineers now")
    }
    start = text.index("hiring")
    assert not is_negated(text, start, start + 6)


def test_paraphrases_are_not_found_by_rules() -> None:
    assert _found("our nightly loads keep falling over and someone restarts them by hand") == {}


def test_the_title_is_read_too_and_one_edge_per_need() -> None:
    frame, stats = RulesExtractor(NEEDS).extract(
        _signals(
            "pipeline failures, pipeline failures, pipeline failure",
            titles=["Real-time analytics wanted"],
        )
    )
    assert sorted(frame["dst"].to_list()) == ["pipeline-reliability", "realtime"]
    assert stats.findings == 2 and set(frame["extractor"]) == {"rules"}


def test_no_signals_or_no_phrases_gives_an_empty_typed_frame() -> None:
    frame, _ = RulesExtractor(NEEDS).extract(_signals())
    assert frame.height == 0 and frame.columns == [
        "src",
        "dst",
        "extractor",
        "confidence",
        "evidence",
    ]
    frame, _ = RulesExtractor([NEEDS[3]]).extract(_signals("pipeline failures"))
    assert frame.height == 0


def test_phrase_patterns_escape_regex_text() -> None:
    assert phrase_pattern("C++ (legacy) costs") == r"\bc[\s\-]*legacy(?:e?s)?[\s\-]*cost(?:e?s)?\b"
    with pytest.raises(ValueError, match="no words"):
        phrase_pattern("+++")
