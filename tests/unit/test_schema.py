from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import AwareDatetime

from graph_model.errors import IdentifierRejected, SchemaError
from graph_model.schema import (
    IDENTIFIER_PATTERN,
    REGISTRY,
    EdgeModel,
    NodeModel,
    SchemaRegistry,
    check_identifier,
    edge_type,
    node_type,
)

DESIGN_LABELS = {
    "Account",
    "Person",
    "AccountManager",
    "Capability",
    "Need",
    "Technology",
    "Industry",
    "Signal",
    "Opportunity",
    "Activity",
    "Match",
    "Draft",
    "Decision",
    "IngestRun",
}
DESIGN_EDGES = {
    "WORKS_AT",
    "REPORTS_TO",
    "PREVIOUSLY_AT",
    "OWNS",
    "IN_INDUSTRY",
    "SUBSIDIARY_OF",
    "USES",
    "EMITTED",
    "INDICATES",
    "ADDRESSES",
    "INTEGRATES_WITH",
    "FITS",
    "FOR",
    "INCLUDES",
    "WORKED",
}


def test_registry_holds_the_design_vocabulary() -> None:
    assert set(REGISTRY.nodes) >= DESIGN_LABELS
    assert set(REGISTRY.edges) >= DESIGN_EDGES
    assert REGISTRY.edge("EMITTED").src_labels == ("Account", "Person")
    assert REGISTRY.edge("INDICATES").merge_on == ("extractor",)


def test_enums_datetimes_and_requiredness_are_typed() -> None:
    account = REGISTRY.node("Account")
    assert account.fields["tier"].enum == ("A", "B", "C")
    assert not account.fields["tier"].required
    assert account.fields["name"].required
    signal = REGISTRY.node("Signal")
    assert signal.fields["occurred_at"].kind == "datetime"
    assert "funding" in (signal.fields["kind"].enum or ())
    assert signal.fields["strength"].ge == 0.0 and signal.fields["strength"].le == 1.0


def test_every_identifier_matches_the_pattern() -> None:
    names = list(REGISTRY.nodes) + list(REGISTRY.edges)
    names += [f for s in REGISTRY.nodes.values() for f in s.fields]
    names += [f for s in REGISTRY.edges.values() for f in s.fields]
    assert all(IDENTIFIER_PATTERN.match(n) for n in names)


@given(st.text())
def test_identifier_check_accepts_only_plain_names(name: str) -> None:
    try:
        check_identifier(name)
    except IdentifierRejected:
        return
    assert name.isascii() and name[0].isalpha()
    assert all(c.isalnum() or c == "_" for c in name)


def test_registration_rejects_bad_declarations() -> None:
    registry = SchemaRegistry()

    with pytest.raises(IdentifierRejected):

        @node_type("Bad Label", key="k", registry=registry)
        class _Bad(NodeModel):
            k: str

    with pytest.raises(SchemaError, match="must be a required str"):

        @node_type("IntKey", key="k", registry=registry)
        class _IntKey(NodeModel):
            k: int

    with pytest.raises(SchemaError, match="AwareDatetime"):

        @node_type("Naive", key="k", registry=registry)
        class _Naive(NodeModel):
            k: str
            at: dt.datetime

    @node_type("Thing", key="k", registry=registry)
    class _Thing(NodeModel):
        k: str
        at: AwareDatetime | None = None

    with pytest.raises(SchemaError, match="unregistered label"):

        @edge_type("LINKS", endpoints=[("Thing", "Other")], registry=registry)
        class _Links(EdgeModel):
            pass

    with pytest.raises(SchemaError, match="registered twice"):

        @node_type("Thing", key="k", registry=registry)
        class _Again(NodeModel):
            k: str


def test_unknown_names_say_what_is_known() -> None:
    with pytest.raises(SchemaError, match="known labels: Account"):
        REGISTRY.node("Acount")
    with pytest.raises(SchemaError, match="unknown edge type"):
        REGISTRY.edge("WORKS_FOR")
