"""Issue 16: the console's Team and Outcomes pages, in Streamlit's AppTest (dev
sign-in on the embedded store): a manager sees their team and reassigns, an AM
gets no Team page, an admin rolls the score model back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from app.console.auth import DEV_USER
from graph_model import connect
from graph_model.store import GraphStore
from matching.model import load_prior, save_version
from matching.run import pair_id
from routing.sending import load_sending
from tests.support.hand_graph import AS_OF, add_managers, build, hand_over

MAIN = str(Path(__file__).resolve().parents[2] / "app" / "console" / "main.py")
SENDING = load_sending().model_copy(
    update={"from_domains": ["vendor.example"], "link_domains": ["vendor.example"]}
)
APPROVE = pair_id("acme", "ingest")
EVIL = "Eve **Fox** [click](https://evil.example)"


def _world(store: GraphStore) -> None:
    """The hand graph after one agent batch; am-5 (a name full of markdown) also
    reports to am-3, and two learned score-model versions (v2 active)."""
    build(store)
    add_managers(store)
    store.upsert_nodes(
        "AccountManager", [{"am_id": "am-5", "full_name": EVIL, "email": "eve@vendor.example"}]
    )
    store.upsert_edges(
        "REPORTS_TO",
        [
            {
                "src_label": "AccountManager",
                "src": "am-5",
                "dst_label": "AccountManager",
                "dst": "am-3",
            }
        ],
    )
    hand_over(store, sending=SENDING)
    held = {"log_loss": 0.6, "auc": 0.7, "accuracy": 0.65}
    for parent in ("prior", "v1"):
        save_version(
            store,
            load_prior(),
            trained_on=40,
            metrics={"held_out_before": held, "held_out_after": {**held, "auc": 0.8}},
            parent=parent,
            now=AS_OF,
        )


@pytest.fixture
def graph(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    uri = str(tmp_path / "graph")
    with connect(uri) as store:
        store.ensure_schema()
        _world(store)
    monkeypatch.setenv("TWOLOOP_CONSOLE_AUTH", "dev")
    monkeypatch.setenv("TWOLOOP_GRAPH_URI", uri)
    monkeypatch.setenv("TWOLOOP_ADMINS", "ops@vendor.example")
    return uri


def _signed_in(who: str) -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=120)
    at.session_state[DEV_USER] = who
    at.run()
    assert not at.exception, at.exception
    return at


def _pages(at: AppTest) -> set[str]:
    return {str(info.get("url_pathname")) for info in at._registered_pages.values()}


def _open(at: AppTest, url_path: str) -> AppTest:
    """``switch_page`` for the console's pages: they are functions registered under a
    url path, not files, so AppTest finds them by that path."""
    (page,) = [h for h, i in at._registered_pages.items() if i.get("url_pathname") == url_path]
    at._page_hash = page
    at.run()
    assert not at.exception, at.exception
    return at


def _labelled(widgets: Any, label: str) -> Any:
    (widget,) = [w for w in widgets if w.label == label]
    return widget


def test_a_manager_sees_the_team_and_reassigns(graph: str) -> None:
    at = _open(_signed_in("am-3"), "team")
    assert "team" in _pages(at)
    (table, *_) = at.dataframe
    stats = table.value
    assert list(stats["am_id"]) == ["am-3", "am-1", "am-5"]
    assert int(stats.loc[stats["am_id"] == "am-1", "queue"].iloc[0]) >= 2
    assert len(at.get("vega_lite_chart")) >= 1  # the chart beside the table
    with connect(graph) as store:
        draft_id = store.nodes("Draft", {"match_id": APPROVE, "status": "pending"})["draft_id"][0]
    item = _labelled(at.selectbox, "Item")
    assert any(draft_id in o and "am-1" in o for o in item.options)
    # A choice that the API refuses is shown as one error line, not a traceback.
    item.set_value(draft_id)
    _labelled(at.selectbox, "Reassign to").set_value("am-1")
    _labelled(at.button, "Reassign").click()
    at.run()
    assert not at.exception
    assert [e.value for e in at.error] and "already in am" in at.error[0].value
    # Now to Eve: the draft and its match move to her queue.
    _labelled(at.selectbox, "Reassign to").set_value("am-5")
    _labelled(at.text_input, "Note").input("Eve knows Acme")
    _labelled(at.button, "Reassign").click()
    at.run()
    assert not at.exception and not at.error
    assert any("Moved" in s.value for s in at.success)
    with connect(graph) as store:
        assert store.get_node("Draft", draft_id)["am_id"] == "am-5"
        (decision,) = store.nodes("Decision", {"kind": "reassign"}).to_dicts()
    assert (decision["actor"], decision["role"], decision["on_behalf_of"]) == (
        "am-3",
        "manager",
        "am-1",
    )
    assert (decision["reassigned_to"], decision["reason"]) == ("am-5", "Eve knows Acme")
    # The page read afresh: the draft is listed under am-5 now.
    options = _labelled(at.selectbox, "Item").options
    assert any(draft_id in o and "am-5" in o for o in options)
    # Graph text never reaches markdown: Eve's name is in no markdown element.
    markdown = [m.value for m in [*at.markdown, *at.caption, *at.success, *at.error]]
    assert not any("[click]" in m or "**Fox**" in m for m in markdown)


def test_an_am_gets_no_team_page(graph: str) -> None:
    for am in ("am-1", "am-2"):
        at = _signed_in(am)
        assert "team" not in _pages(at) and "outcomes" in _pages(at)
    at = _open(_signed_in("am-1"), "outcomes")
    assert not [b for b in at.button if b.label == "Roll back"]


def test_outcomes_show_the_funnel_and_an_admin_rolls_back(graph: str) -> None:
    at = _open(_signed_in("ops@vendor.example"), "outcomes")
    assert "team" in _pages(at)
    funnel = at.dataframe[0].value
    assert list(funnel.columns)[:2] == ["group", "surfaced"]
    assert list(funnel["surfaced"]) == [3] and list(funnel["drafted"]) == [2]  # all am-1's
    assert len(at.get("vega_lite_chart")) >= 3  # funnel, calibration, versions
    _labelled(at.selectbox, "Group by").set_value("metapath")
    at.run()
    groups = set(at.dataframe[0].value["group"])
    assert {"need_evidence", "tech_fit"} <= groups
    versions = at.dataframe[2].value
    assert list(versions["model_id"]) == ["prior", "v1", "v2"]
    assert list(versions["active"]) == [False, False, True]
    target = _labelled(at.selectbox, "Roll back to")
    assert target.options == ["prior", "v1"] and target.value == "v1"
    _labelled(at.button, "Roll back").click()
    at.run()
    assert not at.exception and not at.error
    with connect(graph) as store:
        active = store.nodes("ScoreModel", {"active": True})["model_id"].to_list()
    assert active == ["v1"]
    assert list(at.dataframe[2].value["active"]) == [False, True, False]
