"""``twoloop demo --history``: simulated weeks of the human loop on the sample world,
on both stores. Every funnel stage is reached through the real APIs, the Maildir
holds exactly the sent messages, a refit is stored, and a second run changes
nothing."""

from __future__ import annotations

import json
import mailbox
from pathlib import Path

import polars as pl
import pytest

from app import analysis
from app.agent_loop import run_agent_loop
from app.demo_history import REPLY_TEXTS, simulate_history
from bench.faults import compare, graph_state
from drafting.offline import OfflineDrafter
from graph_model.settings import Settings
from graph_model.store import GraphStore
from ingest.config import load_config
from ingest.pipeline import Ingestor
from ingest.sample import AS_OF, write_sample
from matching.derived import link_derived
from matching.indicates import choose_extractors, run_extraction
from matching.run import run_matching
from routing.policy import load_policy
from routing.sending import load_sending
from tests.integration.test_cli import run

SENDING = load_sending()  # the sample's AMs write from northwind.example, as shipped
STAGES = ["surfaced", "decided", "drafted", "sent", "replied", "opportunity"]


@pytest.fixture(scope="module")
def sample_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("history-world") / "sample"
    write_sample(out, accounts=160, seed=7)
    return out


def demo_world(store: GraphStore, sample_dir: Path) -> None:
    """What ``twoloop demo`` builds before the history: ingest, needs, matches, one
    stored agent batch with nothing sent."""
    assert Ingestor(store, load_config(sample_dir / "ingest.yaml")).run().ok
    extractors = choose_extractors(store, Settings())
    for extractor in extractors:
        run_extraction(store, extractor)
    link_derived(store, extractors=extractors)
    run_matching(store, as_of=AS_OF)
    run_agent_loop(
        store,
        policy=load_policy(),
        drafter=OfflineDrafter(),
        sending=SENDING,
        now=AS_OF,
        min_personalization=0.5,
    )


def test_history_reaches_every_stage_and_a_second_run_changes_nothing(
    store: GraphStore, sample_dir: Path, tmp_path: Path
) -> None:
    demo_world(store, sample_dir)
    mail = tmp_path / "demo-mail"
    report = simulate_history(
        store, sample_dir, start=AS_OF, weeks=4, seed=7, sending=SENDING, mail_dir=mail
    )
    assert report.simulated and report.reviewed_weeks == [1, 2, 3, 4]

    by_am = analysis.funnel(store, by="am")
    totals = by_am.select(STAGES).sum().row(0, named=True)
    assert all(totals[stage] > 0 for stage in STAGES), totals
    assert (by_am["decided"] > 0).all()  # every AM with matches reviewed some

    kinds = set(store.nodes("Decision")["kind"].cast(pl.String).to_list())
    assert {"validate", "kill", "approve", "cancel"} <= kinds
    assert report.drafts["edited"] >= 1 and report.decisions.get("defer", 0) >= 1
    # AMs review volumes of their own.
    assert len(set(report.decisions_by_am.values())) > 1
    # Every event comes after the matches it is about.
    assert store.nodes("Decision")["decided_at"].min() > AS_OF  # type: ignore[operator]

    versions = analysis.learning_versions(store)
    assert versions.height >= 2 and report.learned == versions["model_id"][-1]

    sent = store.nodes("OutboxMessage").filter(pl.col("status") == "sent")
    assert report.sent == sent.height > 0
    assert len(mailbox.Maildir(mail, create=False)) == sent.height == report.in_mail_dir
    replies = store.nodes("Activity").filter(pl.col("activity_id").str.starts_with("act-sim-"))
    assert replies.height == report.replies > 0
    assert replies["subject"].str.starts_with("Re: ").all()
    # Each is read as mail is: in the thread of the message it answers, classified by
    # the reply rules, as the class its words say.
    threaded = store.nodes("Reply")
    assert threaded.height == replies.height
    said = {text: cls for _, cls, text in REPLY_TEXTS}
    for r in threaded.iter_rows(named=True):
        assert r["classification"] == said[r["body"].removeprefix("Simulated reply: ")]
    assert threaded["classification"].n_unique() >= 2
    # The shipped plays ran every week: follow-ups wait on (or drafted) unanswered sends.
    follow_ups = store.nodes("PlayRun").filter(pl.col("play_id") == "follow_up_no_reply")
    assert follow_ups.height > 0
    # And the simulated pricing visits, connections and referrals fired their plays.
    assert {"pricing_page_twice", "connection_accepted", "referral_in_network"} <= set(report.plays)
    assert report.replies_by_class and sum(report.replies_by_class.values()) == report.replies

    before, counts = graph_state(store), store.counts()
    decisions = sorted(store.nodes("Decision")["decision_id"].to_list())
    again = simulate_history(
        store, sample_dir, start=AS_OF, weeks=4, seed=7, sending=SENDING, mail_dir=mail
    )
    assert again.reviewed_weeks == [] and again.already_there == [1, 2, 3, 4]
    assert compare(before, graph_state(store)).clean
    assert store.counts() == counts
    assert sorted(store.nodes("Decision")["decision_id"].to_list()) == decisions
    assert len(mailbox.Maildir(mail, create=False)) == sent.height
    assert again.as_dict() == report.as_dict() | {
        "reviewed_weeks": [],
        "already_there": [1, 2, 3, 4],
    }


def test_the_demo_command_runs_the_history_twice_to_the_same_graph(tmp_path: Path) -> None:
    # The command as a user runs it (embedded store, a small world): the history is
    # labelled simulated, and a second run decides nothing again.
    args = ["demo", "--history", "2", "--accounts", "80", "--graph", str(tmp_path / "g")]
    assert "--history" in run(["demo", "--help"], tmp_path).stdout
    refused = run(["demo", "--example", "--history", "2", *args[-2:]], tmp_path, check=False)
    assert refused.returncode == 2 and "sample world" in refused.stderr
    first = json.loads(run([*args, "--json"], tmp_path).stdout)["history"]
    assert first["simulated"] and first["reviewed_weeks"] == [1, 2]
    assert first["mail_dir"] == str(Path(".twoloop/demo-mail"))
    assert (tmp_path / ".twoloop" / "demo-mail" / "new").is_dir()
    stats = json.loads(
        run(["graph", "stats", "--json", "--graph", str(tmp_path / "g")], tmp_path).stdout
    )
    text = run(args, tmp_path).stdout
    assert "simulated history" in text and "SIMULATED" in text
    assert "weeks 1, 2 were already simulated" in text
    again = json.loads(
        run(["graph", "stats", "--json", "--graph", str(tmp_path / "g")], tmp_path).stdout
    )
    # Ingest runs are a log: each demo run adds its own (and its change set), as
    # without --history.
    for counts in (stats, again):
        for log in ("IngestRun", "ChangeSet"):
            counts["nodes"].pop(log)
    assert again["nodes"] == stats["nodes"] and again["edges"] == stats["edges"]
