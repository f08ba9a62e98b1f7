from __future__ import annotations

import polars as pl
import pytest

from graph_model.errors import ConfigError
from ingest.resolve import FuzzyThresholds, dedupe_people, reconcile

INDUSTRIES = ["Technology", "Logistics", "Financial Technology", "Healthcare", "GTX Pro"]


def _by_name(frame: pl.DataFrame) -> dict[str, tuple[str | None, str | None, str]]:
    return {
        r["name"]: (r["canonical"], r["candidate"], r["resolution"])
        for r in frame.iter_rows(named=True)
    }


def test_spacing_case_and_typos_reconcile() -> None:
    out = _by_name(
        reconcile(["GTXPro", "gtx pro", "technolgy", "LOGISTICS", "Healthcare"], INDUSTRIES)
    )
    assert out["GTXPro"] == ("GTX Pro", "GTX Pro", "exact")
    assert out["gtx pro"] == ("GTX Pro", "GTX Pro", "exact")
    assert out["technolgy"] == ("Technology", "Technology", "merged")
    assert out["LOGISTICS"][2] == "exact"


def test_uncertain_matches_go_to_review_and_are_never_merged() -> None:
    out = _by_name(
        reconcile(["Health care tech", "Logistix", "Underwater basket weaving"], INDUSTRIES)
    )
    assert out["Logistix"] == (None, "Logistics", "review")
    assert out["Underwater basket weaving"][0] is None
    assert out["Underwater basket weaving"][2] == "unmatched"
    for canonical, _, resolution in out.values():
        assert canonical is None or resolution in ("exact", "merged")


def test_near_ties_between_two_entries_are_ambiguous() -> None:
    out = _by_name(reconcile(["Acme Lab"], ["Acme Labs", "Acme Lab1"]))
    assert out["Acme Lab"][2] == "review"


def test_thresholds_are_validated() -> None:
    with pytest.raises(ConfigError, match="review_at"):
        FuzzyThresholds(merge_at=70, review_at=80)


def test_reconcile_returns_one_row_per_distinct_name() -> None:
    out = reconcile(pl.Series(["Technology", "Technology", None, "technolgy"]), INDUSTRIES)
    assert out["name"].to_list() == ["Technology", "technolgy"]


def test_dedupe_people_by_email_keeps_the_most_complete_record() -> None:
    people = pl.DataFrame(
        {
            "person_id": ["c1", "c2", "c3", "c4", "c5"],
            "email": ["Maya@Acme.com", "maya@acme.com ", None, "omar@acme.com", "bad"],
            "title": [None, "VP Data", "CTO", None, None],
        }
    )
    kept, duplicates = dedupe_people(people)
    assert kept["person_id"].to_list() == ["c2", "c3", "c4", "c5"]
    assert duplicates["person_id"].to_list() == ["c1"]
    assert duplicates["email_key"].to_list() == ["maya@acme.com"]
    assert kept.height + duplicates.height == people.height
