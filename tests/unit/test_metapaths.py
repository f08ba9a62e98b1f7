"""Metapaths as data: the shipped file, and every way a metapath file can be wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from graph_model.errors import ConfigFileInvalid
from matching.metapaths import DEFAULT_FILE, Hop, load_metapaths, parse_pattern


def test_the_shipped_metapaths_cover_the_issue_and_load_against_the_registry() -> None:
    paths = {m.id: m for m in load_metapaths()}
    assert {
        "need_evidence",
        "buyer_priority",
        "tech_fit",
        "industry_fit",
        "lookalike_wins",
        "parent_wins",
        "champion_move",
        "am_track_record",
    } <= {k for k, m in paths.items() if m.role == "evidence"}
    assert {"already_bought", "open_deal", "recent_activity", "recent_loss", "suppressed"} <= {
        k for k, m in paths.items() if m.role == "gate"
    }
    need = paths["need_evidence"]
    assert need.nodes == {"c": "Capability", "n": "Need", "s": "Signal", "a": "Account"}
    assert need.hops[1] == Hop("INDICATES", "r", "n", "s", forward=False)
    assert need.pivot == "n" and need.weight == (("r", "confidence"), ("s", "strength"))
    assert paths["recent_activity"].capability_alias is None
    assert paths["lookalike_wins"].account_alias == "a"


def test_patterns_read_both_directions_and_edge_aliases() -> None:
    nodes, hops, edges = parse_pattern(
        "(c:Capability) <-[:INCLUDES]- (o:Opportunity)-[f:FOR]->(a:Account)"
    )
    assert nodes == {"c": "Capability", "o": "Opportunity", "a": "Account"}
    assert hops == [Hop("INCLUDES", None, "c", "o", False), Hop("FOR", "f", "o", "a", True)]
    assert edges == {"f": "FOR"}


def _write(tmp_path: Path, **entry: object) -> Path:
    base = {
        "id": "x",
        "role": "evidence",
        "description": "d",
        "path": "(c:Capability)-[:FITS]->(i:Industry)<-[:IN_INDUSTRY]-(a:Account)",
        "pivot": "i",
        "sentence": "{a.name} in {i.name}",
    }
    path = tmp_path / "metapaths.yaml"
    path.write_text(yaml.safe_dump({"metapaths": [base | entry]}))
    return path


def test_adding_a_metapath_is_a_data_change(tmp_path: Path) -> None:
    data = yaml.safe_load(DEFAULT_FILE.read_text())
    data["metapaths"].append(
        {
            "id": "sibling_wins",
            "role": "evidence",
            "description": "A sister company bought it.",
            "path": "(c:Capability)<-[:INCLUDES]-(o:Opportunity)-[:FOR]->(sis:Account)"
            "-[:SUBSIDIARY_OF]->(parent:Account)<-[:SUBSIDIARY_OF]-(a:Account)",
            "where": ["o.status == won", "sis != a"],
            "pivot": "parent",
            "sentence": "{sis.name}, also owned by {parent.name}, bought {c.name}",
        }
    )
    path = tmp_path / "metapaths.yaml"
    path.write_text(yaml.safe_dump(data))
    added = {m.id: m for m in load_metapaths(path)}["sibling_wins"]
    assert [h.edge_type for h in added.hops] == [
        "INCLUDES",
        "FOR",
        "SUBSIDIARY_OF",
        "SUBSIDIARY_OF",
    ]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            {"path": "(c:Capability)-[:FITS]->(i:Industy)<-[:IN_INDUSTRY]-(a:Account)"},
            "(i:Industy): no such label",
        ),
        (
            {"path": "(c:Capability)<-[:FITS]-(i:Industry)<-[:IN_INDUSTRY]-(a:Account)"},
            "[:FITS] does not go from Industry to Capability",
        ),
        (
            {"path": "(c:Capability)-[:FIT]->(i:Industry)<-[:IN_INDUSTRY]-(a:Account)"},
            "[:FIT]: no such edge type",
        ),
        (
            {"path": "(c:Capability)-[:FITS]-(i:Industry)<-[:IN_INDUSTRY]-(a:Account)"},
            "needs exactly one direction",
        ),
        (
            {"path": "(c:Capability)-[:FITS]->(c:Industry)<-[:IN_INDUSTRY]-(a:Account)"},
            "alias 'c' is used twice",
        ),
        ({"path": "(c:Capability)-[:FITS]->(i:Industry)"}, "must end at an (alias:Account)"),
        ({"path": "(c:Capability)-[:FITS]->(i:Industry) junk"}, "cannot read the path"),
        ({"pivot": None}, "pivot must name a node"),
        ({"pivot": "c"}, "pivot must name a node"),
        ({"sentence": "{a.nam} in {i.name}"}, "Account has no field 'nam'"),
        ({"sentence": "{z.name}"}, "unknown alias 'z'"),
        ({"where": ["i.name ~ x"]}, "expected 'alias.field OP value'"),
        ({"where": ["i.name within soon"]}, "'within' takes days"),
        ({"where": ["i != c.name"]}, "only 'alias != alias' compares two nodes"),
        ({"weight": ["a.color"]}, "Account has no field 'color'"),
        ({"role": "maybe"}, "Input should be 'evidence' or 'gate'"),
        ({"colour": "red"}, "Extra inputs are not permitted"),
        ({"share_of": "i"}, "share_of 'i': must name the account alias 'a'"),
        ({"share_of": "a", "role": "gate"}, "share_of applies to an evidence path"),
    ],
)
def test_a_wrong_metapath_names_the_file_entry_and_reason(
    tmp_path: Path, entry: dict[str, object], message: str
) -> None:
    path = _write(tmp_path, **entry)
    with pytest.raises(ConfigFileInvalid) as caught:
        load_metapaths(path)
    text = str(caught.value)
    assert str(path) in text and message in text, text


def test_duplicate_ids_are_refused(tmp_path: Path) -> None:
    path = _write(tmp_path)
    data = yaml.safe_load(path.read_text())
    data["metapaths"].append(data["metapaths"][0])
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigFileInvalid, match="duplicate metapath id 'x'"):
        load_metapaths(path)
