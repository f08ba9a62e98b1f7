from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from graph_model.errors import RecordRejected
from graph_model.schema import REGISTRY, NodeSpec
from graph_model.validation import validate_edges, validate_nodes

ACCOUNT = REGISTRY.node("Account")
SIGNAL = REGISTRY.node("Signal")


def rejected(records: object, spec: NodeSpec = ACCOUNT) -> RecordRejected:
    with pytest.raises(RecordRejected) as caught:
        validate_nodes(spec, records)  # type: ignore[arg-type]
    return caught.value


def test_record_errors_name_label_key_field_and_row() -> None:
    err = rejected([{"account_id": "a1", "name": "A"}, {"account_id": "a2"}])
    assert (err.label, err.key, err.field, err.row, err.reason) == (
        "Account",
        "a2",
        "name",
        1,
        "is required",
    )
    assert str(err) == "Account key='a2' at row 1: field 'name' is required"
    err = rejected([{"account_id": "a1", "name": "A", "employees": -3}])
    assert err.field == "employees" and "greater than or equal to 0" in err.reason
    err = rejected([{"account_id": "a1", "name": "A", "colour": "red"}])
    assert err.field == "colour" and err.reason == "is not a property of Account"
    err = rejected(
        [
            {
                "signal_id": "s",
                "kind": "hiring",
                "source": "x",
                "occurred_at": dt.datetime(2026, 1, 1),
            }
        ],
        SIGNAL,
    )
    assert err.field == "occurred_at" and "timezone" in err.reason


def test_frame_errors_name_the_first_bad_row() -> None:
    frame = pl.DataFrame(
        {"account_id": ["a1", "a2", "a3"], "name": ["A", "B", "C"], "tier": ["A", "X", "Y"]}
    )
    err = rejected(frame)
    assert (err.key, err.field, err.row) == ("a2", "tier", 1)
    assert "one of A, B, C" in err.reason
    err = rejected(pl.DataFrame({"account_id": ["a1", ""], "name": ["A", "B"]}))
    assert (err.field, err.row, err.reason) == ("account_id", 1, "must not be empty")
    err = rejected(pl.DataFrame({"account_id": ["a1"], "name": ["A"], "employees": ["many"]}))
    assert err.field == "employees" and "integer" in err.reason
    err = rejected(pl.DataFrame({"account_id": ["a1"]}))
    assert err.field == "name" and "column is missing" in err.reason
    naive = pl.DataFrame(
        {
            "signal_id": ["s"],
            "kind": ["news"],
            "source": ["x"],
            "occurred_at": [dt.datetime(2026, 1, 1)],
        }
    )
    assert "time-zone" in rejected(naive, SIGNAL).reason


def test_frames_convert_time_zones_to_utc() -> None:
    frame = pl.DataFrame(
        {
            "signal_id": ["s"],
            "kind": ["news"],
            "source": ["x"],
            "occurred_at": [dt.datetime(2026, 3, 29, 3, 30)],
        }
    ).with_columns(pl.col("occurred_at").dt.replace_time_zone("Europe/Berlin"))
    out = validate_nodes(SIGNAL, frame)
    assert out["occurred_at"].dtype == pl.Datetime("us", "UTC")
    assert out["occurred_at"][0] == dt.datetime(2026, 3, 29, 1, 30, tzinfo=dt.UTC)


def test_edge_endpoint_labels() -> None:
    emitted = REGISTRY.edge("EMITTED")
    with pytest.raises(RecordRejected, match="allows Account, Person"):
        validate_edges(emitted, [{"src": "a", "dst": "s"}])
    with pytest.raises(RecordRejected, match="Signal->Signal is not allowed"):
        validate_edges(emitted, [{"src": "a", "dst": "s", "src_label": "Signal"}])
    out = validate_edges(REGISTRY.edge("OWNS"), pl.DataFrame({"src": ["am"], "dst": ["a"]}))
    assert out.row(0)[:4] == ("AccountManager", "am", "Account", "a")


tiers = st.sampled_from([None, "A", "B", "C"])
account_rows = st.lists(
    st.fixed_dictionaries(
        {
            "account_id": st.text(min_size=1, max_size=8),
            "name": st.text(max_size=10),
            "tier": tiers,
            "employees": st.none() | st.integers(min_value=0, max_value=10**9),
            "annual_revenue": st.none() | st.floats(min_value=0, max_value=1e12),
            "updated_at": st.none()
            | st.datetimes(
                min_value=dt.datetime(2000, 1, 1),
                max_value=dt.datetime(2100, 1, 1),
                timezones=st.just(ZoneInfo("America/New_York")),
                allow_imaginary=False,  # no local times inside a DST gap
            ),
        }
    ),
    max_size=12,
)


@settings(max_examples=60, deadline=None)
@given(account_rows)
def test_record_and_frame_paths_agree(rows: list[dict[str, object]]) -> None:
    from_records = validate_nodes(ACCOUNT, rows)
    frame = pl.DataFrame(
        rows,
        schema={
            "account_id": pl.String,
            "name": pl.String,
            "tier": pl.String,
            "employees": pl.Int64,
            "annual_revenue": pl.Float64,
            "updated_at": pl.Datetime("us", "America/New_York"),
        },
    )
    from_frame = validate_nodes(ACCOUNT, frame)
    assert_frame_equal(from_records, from_frame)
    assert from_records["account_id"].n_unique() == from_records.height


SUPPRESSION = REGISTRY.node("Suppression")


def test_suppression_keys_are_stored_lower_cased_on_both_paths() -> None:
    when = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    rows = [
        {"address": " John@Mail.Example.COM ", "reason": "asked", "added_at": when},
        {"address": "@Example.com", "reason": "legal", "added_at": when},
    ]
    wanted = ["john@mail.example.com", "@example.com"]
    assert validate_nodes(SUPPRESSION, rows)["address"].to_list() == wanted
    assert validate_nodes(SUPPRESSION, pl.DataFrame(rows))["address"].to_list() == wanted
    # Two spellings of one address are one entry.
    twice = [rows[1], {**rows[1], "address": "@EXAMPLE.COM"}]
    assert validate_nodes(SUPPRESSION, pl.DataFrame(twice))["address"].to_list() == [wanted[1]]
