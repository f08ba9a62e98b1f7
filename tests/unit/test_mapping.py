"""Mappings: validation errors name the file and the place; transforms type values or
report a problem per bad value, never raise on data."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import polars as pl
import pytest

from graph_model.errors import ConfigFileInvalid
from graph_model.schema import REGISTRY
from ingest.mapping import (
    CompileContext,
    ValueSpec,
    builtin_mapping,
    builtin_names,
    cast_to_field,
    compile_value,
    load_mapping,
)


def test_every_builtin_reader_loads_and_documents_its_columns() -> None:
    names = builtin_names()
    assert {"salesforce/account", "salesforce/contact", "hubspot/companies", "signals"} <= set(
        names
    )
    for name in names:
        mapping = builtin_mapping(name)
        assert mapping.columns, name
        assert mapping.referenced_columns() <= set(mapping.columns) | {
            c for j in mapping.joins for c in j.columns.values()
        }, name


@pytest.mark.parametrize(
    ("body", "where", "reason"),
    [
        (
            "name: x\nnodes: [{label: Acount, key: Id}]\n",
            "nodes[0].label",
            "unknown label 'Acount'",
        ),
        (
            "name: x\nnodes: [{label: Account, key: Id, properties: {nme: Name}}]\n",
            "nodes[0].properties.nme",
            "Account has no property 'nme'",
        ),
        (
            "name: x\nnodes: [{label: Account, key: {column: Id, transforms: [lowr]}}]\n",
            "nodes[0].key.transforms[0]",
            "unknown transform 'lowr'",
        ),
        (
            "name: x\nedges: [{type: OWNS, src: {label: Account, key: a},"
            " dst: {label: Account, key: b}}]\n",
            "edges[0]",
            "Account->Account is not allowed for OWNS",
        ),
        (
            "name: x\nnodes: [{label: Account, key: {column: a, const: b}}]\n",
            "nodes.0.key",
            "exactly one",
        ),
        ("name: x\nbogus: 1\n", "bogus", "Extra inputs"),
    ],
)
def test_bad_mappings_name_file_place_and_reason(
    tmp_path: Path, body: str, where: str, reason: str
) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(body)
    with pytest.raises(ConfigFileInvalid) as info:
        load_mapping(path)
    message = str(info.value)
    assert message.startswith(f"{path}: {where}"), message
    assert reason in message


def typed(values: Sequence[str | None], spec: ValueSpec, kind: str, **ctx: object):
    frame = pl.DataFrame({"v": list(values)}, schema={"v": pl.String})
    context = CompileContext(frame=frame, **ctx)  # type: ignore[arg-type]
    field = {
        "int": REGISTRY.node("Account").fields["employees"],
        "float": REGISTRY.node("Account").fields["annual_revenue"],
        "bool": REGISTRY.node("Person").fields["do_not_contact"],
        "date": REGISTRY.node("Opportunity").fields["close_date"],
        "datetime": REGISTRY.node("Signal").fields["occurred_at"],
        "str": REGISTRY.node("Account").fields["name"],
        "list": REGISTRY.node("Need").fields["phrases"],
    }[kind]
    out = cast_to_field(compile_value(spec, context), field, "v", context)
    bad = frame.select([p.bad.fill_null(False).alias(f"p{i}") for i, p in enumerate(out.problems)])
    flags = [any(row) for row in bad.rows()] if out.problems else [False] * len(values)
    return frame.select(out.expr.alias("v"))["v"].to_list(), flags


def test_numbers_booleans_and_dates_become_values_or_problems() -> None:
    values, bad = typed(
        ["1,200", "$3,400.50", "lots", None], ValueSpec(column="v", transforms=["number"]), "float"
    )
    assert values == [1200.0, 3400.5, None, None] and bad == [False, False, True, False]
    values, bad = typed(["12", "12.0", "12.5"], ValueSpec(column="v"), "int")
    assert values == [12, 12, None] and bad == [False, False, True]
    values, bad = typed(["true", "No", "maybe"], ValueSpec(column="v"), "bool")
    assert values == [True, False, None] and bad == [False, False, True]
    spec = ValueSpec.model_validate(
        {"column": "v", "transforms": [{"date": ["%Y-%m-%d", "%m/%d/%Y"]}]}
    )
    values, bad = typed(["2026-11-30", "11/30/2026", "30.11.2026"], spec, "date")
    assert values == [dt.date(2026, 11, 30), dt.date(2026, 11, 30), None]
    assert bad == [False, False, True]


def test_datetimes_need_a_zone_unless_the_mapping_gives_one() -> None:
    raw = [
        "2026-11-02T10:00:00Z",
        "2026-11-02T10:00:00.000+0000",
        "2026-11-02T12:00:00+02:00",
        "2026-11-02 10:00",
    ]
    values, bad = typed(raw, ValueSpec(column="v"), "datetime")
    utc = dt.datetime(2026, 11, 2, 10, tzinfo=dt.UTC)
    assert [v == utc if v else None for v in values] == [True, True, True, None]
    assert bad == [False, False, False, True]
    values, bad = typed(
        ["2026-11-02 11:00"], ValueSpec(column="v"), "datetime", timezone="Europe/Berlin"
    )
    assert values[0] == utc and bad == [False]


def test_value_maps_cases_templates_and_otherwise() -> None:
    spec = ValueSpec.model_validate(
        {
            "column": "v",
            "transforms": ["trim", {"map": {"Tier A": "A", "b": "B", "other": "reject"}}],
        }
    )
    values, bad = typed([" tier a ", "B", "Z"], spec, "str")
    assert values == ["A", "B", None] and bad == [False, False, True]
    spec = ValueSpec.model_validate({"column": "v", "otherwise": {"const": "fallback"}})
    assert typed([None, "x"], spec, "str")[0] == ["fallback", "x"]
    spec = ValueSpec.model_validate({"column": "v", "transforms": [{"split": ";"}]})
    assert typed(["a; b;;c", None], spec, "list")[0] == [["a", "b", "c"], []]
    values, _ = typed(["  Head of  Data "], ValueSpec(column="v", transforms=["seniority"]), "str")
    assert values == ["director"]


def test_fuzzy_resolution_merges_confident_names_and_holds_back_near_misses() -> None:
    vocab = [("Software", "software"), ("Financial Services", "financial-services")]
    spec = ValueSpec.model_validate({"column": "v", "transforms": [{"resolve": "Industry"}]})
    frame = pl.DataFrame({"v": ["Sofware", "Finance Services", "Mining", None]})
    ctx = CompileContext(frame=frame, vocabulary=lambda _label: vocab)
    out = compile_value(spec, ctx)
    assert frame.select(out.expr)["v"].to_list() == ["software", None, "mining", None]
    assert [item.value for _cond, item in ctx.review] == ["Finance Services"]


def test_readme_documents_every_reader_as_generated() -> None:
    import re

    from ingest.docs import readers_markdown

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = re.search(r"<!-- readers:start -->\n(.*?)<!-- readers:end -->", readme, flags=re.S)
    assert block is not None
    assert block.group(1) == readers_markdown(), "regenerate: python -m ingest.docs"
