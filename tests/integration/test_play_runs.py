"""Each default play driven from its input events to the AM's queue or the outbox,
on both stores; follow-ups that stop; waiting for a person never times out into a
send; the AM's read and cancel."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

import pytest

from app.human_loop import approve_draft, resolve_escalation, work_queue
from app.play_decisions import settle_play_run
from app.queue import queue_frame
from graph_model.errors import DecisionConflict, DecisionRejected, NotAuthorized
from graph_model.store import Filter, GraphStore
from routing.context import current_matches, routed, routing_frame
from routing.play_runs import run_plays
from routing.plays import PlayBook, plays_from_data
from routing.policy import load_policy
from tests.support.hand_graph import AS_OF
from tests.support.items_world import SENDING
from tests.support.plays_world import only, plays_world

NOW = AS_OF + dt.timedelta(hours=1)


@pytest.fixture
def world(store: GraphStore) -> GraphStore:
    plays_world(store)
    return store


def tick(store: GraphStore, book: PlayBook, now: dt.datetime = NOW) -> Any:
    return run_plays(store, book, now=now, sending=SENDING, min_personalization=0.5)


def runs(store: GraphStore, play: str) -> list[dict[str, Any]]:
    return store.nodes("PlayRun", [Filter("play_id", "eq", play)]).to_dicts()


def queue(store: GraphStore, am: str, now: dt.datetime = NOW) -> list[dict[str, Any]]:
    return queue_frame(store, am, now=now).to_dicts()


def test_pricing_twice_researches_then_stops_automation_until_the_am_has_read_it(
    world: GraphStore,
) -> None:
    book = only("pricing_page_twice")
    report = tick(world, book)
    assert report.fired == {"pricing_page_twice": 1} and report.research == 1
    (run,) = runs(world, "pricing_page_twice")
    assert run["account_id"] == "acme" and run["am_id"] == "am-1"
    assert run["status"] == "needs_am" and run["waiting_for"].startswith("escalation:")
    assert run["events"] == ["signal:v1", "signal:v2"]
    # The research summary, citing the graph, for the AM.
    (research,) = world.nodes("Research", [Filter("play_run_id", "eq", run["run_id"])]).to_dicts()
    statements = json.loads(research["statements"])
    assert statements and all(s["cites"] for s in statements)
    # The escalation in the AM's queue, with the play as its rule and its reason.
    eid = run["waiting_for"].split(":", 1)[1]
    escalation = world.get_node("Escalation", eid)
    assert escalation["kind"] == "review" and escalation["blocking"]
    (row,) = [r for r in queue(world, "am-1") if r["item"] == eid]
    assert row["kind"] == "escalation" and row["rule"] == "play:pricing_page_twice"
    assert row["reason"] == "Acme visited our pricing page 2 times in 7 days"
    assert "Read the research summary" in row["what"]
    (item,) = [i for i in work_queue(world, "am-1", now=NOW) if i["item"] == eid]
    assert item["why"] == (
        "play pricing_page_twice: Acme visited our pricing page 2 times in 7 days"
    )
    # Before any action: every Acme match now routes to wait.
    frame = routing_frame(world, current_matches(world))
    acme = [(r, rule) for r, rule, _ in routed(frame, load_policy()) if r["account_id"] == "acme"]
    assert acme and all(rule.id == "account_escalated" for _, rule in acme)
    # A rerun stores nothing twice.
    again = tick(world, book)
    assert again.fired == {} and len(runs(world, "pricing_page_twice")) == 1
    assert world.nodes("Research").height == 1
    # The AM resolves it; the run is done.
    resolve_escalation(world, eid, actor="am-1", resolution="Call them Monday", now=NOW)
    tick(world, book, NOW + dt.timedelta(minutes=5))
    assert runs(world, "pricing_page_twice")[0]["status"] == "done"


def test_a_tier_a_connection_gives_the_am_a_voice_note_task_with_a_summary(
    world: GraphStore,
) -> None:
    report = tick(world, only("connection_accepted"))
    assert report.fired == {"connection_accepted": 1} and report.tasks == 1
    (run,) = runs(world, "connection_accepted")
    assert run["person_id"] == "bob" and run["status"] == "done"
    (task,) = world.nodes("Task", [Filter("play_run_id", "eq", run["run_id"])]).to_dicts()
    assert task["kind"] == "voice_note" and task["am_id"] == "am-1"
    assert task["title"] == (
        "Send Bob Ray at Acme a voice note: they accepted your connection request"
    )
    assert task["body"].startswith("Why: Bob Ray at Acme accepted your connection request")
    assert "[signal:" in task["body"] or "[person:" in task["body"]  # the cited summary
    (row,) = [r for r in queue(world, "am-1") if r["item"] == task["task_id"]]
    assert row["rule"] == "play:connection_accepted"


def test_a_prospect_posting_about_a_problem_gets_an_alert_and_a_comment_to_approve(
    world: GraphStore,
) -> None:
    book = only("prospect_posts_problem")
    report = tick(world, book)
    assert report.alerts == 1 and report.drafts == 1
    (run,) = runs(world, "prospect_posts_problem")
    assert run["status"] == "needs_am" and run["waiting_for"].startswith("draft:")
    draft = world.get_node("Draft", run["waiting_for"].split(":", 1)[1])
    assert draft["purpose"] == "comment" and draft["to_address"] is None
    assert draft["status"] == "pending" and draft["play_run_id"] == run["run_id"]
    (row,) = [r for r in queue(world, "am-1") if r["item"] == draft["draft_id"]]
    assert row["kind"] == "draft" and row["rule"] == "play:prospect_posts_problem"
    assert "posted about Pipeline reliability" in row["reason"]
    # Approving a comment gives the AM a task to post it; no email, the match unchanged.
    match_before = world.get_node("Match", draft["match_id"])["status"]
    done = approve_draft(world, draft["draft_id"], actor="am-1", now=NOW, sending=SENDING)
    assert done["message_id"] is None and done["task_id"]
    task = world.get_node("Task", done["task_id"])
    assert task["kind"] == "post_comment" and task["body"] == draft["body"]
    assert world.get_node("Match", draft["match_id"])["status"] == match_before
    assert world.nodes("OutboxMessage", [Filter("draft_id", "eq", draft["draft_id"])]).is_empty()
    tick(world, book, NOW + dt.timedelta(minutes=5))
    assert runs(world, "prospect_posts_problem")[0]["status"] == "done"


def test_a_referral_from_the_network_asks_the_am_to_write_the_first_message(
    world: GraphStore,
) -> None:
    tick(world, only("referral_in_network"))
    (run,) = runs(world, "referral_in_network")
    assert run["am_id"] == "am-2" and run["account_id"] == "initech"
    eid = run["waiting_for"].split(":", 1)[1]
    escalation = world.get_node("Escalation", eid)
    assert escalation["kind"] == "custom_message" and escalation["blocking"]
    assert escalation["question"].startswith("Rita Ray referred Ivy Nolan at Initech")
    assert "Write the first message yourself" in escalation["question"]
    (row,) = [r for r in queue(world, "am-2") if r["item"] == eid]
    assert row["reason"] == "Rita Ray, who you have worked with, referred Initech"
    assert not [r for r in queue(world, "am-1") if r["item"] == eid]


def _follow_up(world: GraphStore) -> dict[str, Any]:
    (run,) = runs(world, "follow_up_no_reply")
    return run


def test_no_reply_after_five_business_days_drafts_a_follow_up_in_the_thread(
    world: GraphStore,
) -> None:
    book = only("follow_up_no_reply")
    tick(world, book)
    run = _follow_up(world)
    # Fired at the send (Friday noon), seen by the tick an hour later.
    assert run["status"] == "waiting" and run["person_id"] == "cat"
    # Five business days from the send (Friday noon), not from the tick that saw it.
    assert run["wait_until"] == dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)
    (row,) = [r for r in queue(world, "am-1") if r["item"] == run["run_id"]]
    assert row["kind"] == "play" and row["action"] == "play:wait"
    assert row["what"].startswith("next step on Fri 27 Nov")
    # The CLI's queue (twoloop queue) says the same.
    (item,) = [i for i in work_queue(world, "am-1", now=NOW) if i["item"] == run["run_id"]]
    assert item["type"] == "play:wait" and "on Fri 27 Nov" in item["what"]
    assert item["why"] == f"play follow_up_no_reply: {run['reason']}"
    tick(world, book, AS_OF + dt.timedelta(days=3))
    assert _follow_up(world)["status"] == "waiting"
    tick(world, book, AS_OF + dt.timedelta(days=8))
    run = _follow_up(world)
    assert run["status"] == "needs_am"
    draft = world.get_node("Draft", run["waiting_for"].split(":", 1)[1])
    sent = world.get_node("OutboxMessage", run["events"][0].split(":", 1)[1])
    assert draft["purpose"] == "follow_up" and draft["follows"] == sent["message_id"]
    assert draft["to_address"] == sent["to_address"] == "cat@acme.example"
    assert draft["subject"] == "Re: " + sent["subject"]
    done = approve_draft(
        world, draft["draft_id"], actor="am-1", now=AS_OF + dt.timedelta(days=8), sending=SENDING
    )
    message = world.get_node("OutboxMessage", done["message_id"])
    headers = json.loads(message["headers"])
    assert headers["In-Reply-To"] == f"<{sent['message_id']}@vendor.example>"
    tick(world, book, AS_OF + dt.timedelta(days=8, minutes=5))
    assert _follow_up(world)["status"] == "done"


def _reply(world: GraphStore, classification: str, at: dt.datetime, rid: str = "r1") -> None:
    sent = world.nodes("OutboxMessage", [Filter("person_id", "eq", "cat")]).row(0, named=True)
    world.upsert_nodes(
        "Activity",
        [
            {
                "activity_id": f"a-{rid}",
                "kind": "email",
                "direction": "inbound",
                "occurred_at": at,
                "subject": "Re: " + sent["subject"],
            }
        ],
    )
    world.upsert_edges("INVOLVED", [{"src": f"a-{rid}", "dst_label": "Person", "dst": "cat"}])
    world.upsert_nodes(
        "Reply",
        [
            {
                "reply_id": rid,
                "message_id": f"<{rid}@acme.example>",
                "thread_id": sent["message_id"],
                "account_id": "acme",
                "am_id": "am-1",
                "match_id": sent["match_id"],
                "person_id": "cat",
                "activity_id": f"a-{rid}",
                "received_at": at,
                "subject": "Re: " + sent["subject"],
                "from_address": "cat@acme.example",
                "source": "imap:test/INBOX",
                "classification": classification,
                "classifier": "rules",
            }
        ],
    )


@pytest.mark.parametrize(
    ("stop", "why"),
    [
        ("reply", "they replied (question)"),
        ("meeting", "a meeting with the account was logged"),
        ("opt_out", "the person opted out"),
        ("escalation", "the account was escalated (pricing dispute)"),
    ],
)
def test_a_follow_up_stops_on_a_reply_a_meeting_an_opt_out_or_an_escalation(
    world: GraphStore, stop: str, why: str
) -> None:
    book = only("follow_up_no_reply")
    tick(world, book)
    at = AS_OF + dt.timedelta(days=2)
    if stop == "reply":
        _reply(world, "question", at)
    elif stop == "meeting":
        world.upsert_nodes(
            "Activity",
            [{"activity_id": "m2", "kind": "meeting", "occurred_at": at, "subject": "Intro"}],
        )
        world.upsert_edges("ABOUT", [{"src": "m2", "dst": "acme"}])
    elif stop == "opt_out":
        cat = world.get_node("Person", "cat")
        world.upsert_nodes("Person", [{**cat, "do_not_contact": True}])
    else:
        world.upsert_nodes(
            "Escalation",
            [
                {
                    "escalation_id": "e-x",
                    "account_id": "acme",
                    "am_id": "am-1",
                    "kind": "pricing_dispute",
                    "trigger": "activity:zz",
                    "question": "?",
                    "opened_at": at,
                }
            ],
        )
    tick(world, book, AS_OF + dt.timedelta(days=8))
    run = _follow_up(world)
    assert run["status"] == "stopped" and run["stopped_reason"] == why
    assert world.nodes("Draft", [Filter("purpose", "eq", "follow_up")]).is_empty()


def test_open_replies_are_in_the_queue_with_what_they_say(world: GraphStore) -> None:
    _reply(world, "question", AS_OF + dt.timedelta(days=1))
    later = AS_OF + dt.timedelta(days=2)
    (row,) = [r for r in queue(world, "am-1", later) if r["kind"] == "reply"]
    assert row["item"] == "r1" and row["action"] == "reply:question"
    (item,) = [i for i in work_queue(world, "am-1", now=later) if i["item"] == "r1"]
    subject = world.nodes("OutboxMessage", [Filter("person_id", "eq", "cat")])["subject"][0]
    assert item["type"] == "reply:question"
    assert item["what"] == f"cat@acme.example: Re: {subject}"
    assert item["why"].startswith("replied: question")


def test_an_out_of_office_reply_does_not_stop_the_follow_up(world: GraphStore) -> None:
    book = only("follow_up_no_reply")
    tick(world, book)
    _reply(world, "out_of_office", AS_OF + dt.timedelta(days=2))
    tick(world, book, AS_OF + dt.timedelta(days=8))
    assert _follow_up(world)["status"] == "needs_am"


def test_a_reply_while_the_follow_up_waits_for_approval_withdraws_the_draft(
    world: GraphStore,
) -> None:
    book = only("follow_up_no_reply")
    tick(world, book)
    tick(world, book, AS_OF + dt.timedelta(days=8))
    draft_id = _follow_up(world)["waiting_for"].split(":", 1)[1]
    _reply(world, "interested", AS_OF + dt.timedelta(days=9))
    tick(world, book, AS_OF + dt.timedelta(days=10))
    assert _follow_up(world)["status"] == "stopped"
    assert world.get_node("Draft", draft_id)["status"] == "cancelled"


AUTO: dict[str, Any] = {
    "plays": [
        {
            "id": "auto_follow_up",
            "trigger": {"event": "send", "per": "contact"},
            "reason": "no reply from {person}",
            "steps": [{"wait": {"business_days": 1}}, {"send": {"purpose": "follow_up"}}],
            "stop_on": ["reply"],
        }
    ]
}


def _route(world: GraphStore, match_id: str, action: str) -> None:
    (route,) = world.nodes(
        "Route", [Filter("match_id", "eq", match_id), Filter("current", "eq", True)]
    ).to_dicts()
    world.upsert_nodes("Route", [{**route, "action": action}])


def test_send_within_guardrails_sends_only_below_the_threshold(world: GraphStore) -> None:
    book = plays_from_data(AUTO, "auto.yaml")
    tick(world, book)
    match_id = _run(world)["match_id"]
    assert world.nodes("Route", [Filter("match_id", "eq", match_id)])["action"][0] == "auto_send"
    report = tick(world, book, AS_OF + dt.timedelta(days=4))
    run = _run(world)
    draft = world.nodes("Draft", [Filter("play_run_id", "eq", run["run_id"])]).row(0, named=True)
    if not (draft["grounded"] and draft["personalization"] >= 0.5 and not draft["holds"]):
        pytest.fail(f"the offline follow-up should pass its checks: {draft}")
    assert report.sent == 1 and run["status"] == "done"
    (message,) = world.nodes(
        "OutboxMessage", [Filter("draft_id", "eq", draft["draft_id"])]
    ).to_dicts()
    assert message["released_by"] == "agent:play:auto_follow_up" and message["status"] == "pending"


def _run(world: GraphStore) -> dict[str, Any]:
    (run,) = runs(world, "auto_follow_up")
    return run


def test_above_the_threshold_a_send_step_waits_for_a_person_however_long(
    world: GraphStore,
) -> None:
    book = plays_from_data(AUTO, "auto.yaml")
    tick(world, book)
    _route(world, _run(world)["match_id"], "approve")
    tick(world, book, AS_OF + dt.timedelta(days=4))
    run = _run(world)
    assert run["status"] == "needs_am"
    log = json.loads(run["log"])
    assert "not sent: the match's route is approve, not auto_send" in log[-1]["note"]
    # Forty days on, nobody has answered: still waiting, still nothing sent.
    tick(world, book, AS_OF + dt.timedelta(days=40))
    assert _run(world)["status"] == "needs_am"
    draft_id = _run(world)["waiting_for"].split(":", 1)[1]
    assert world.get_node("Draft", draft_id)["status"] == "pending"
    assert world.nodes("OutboxMessage", [Filter("draft_id", "eq", draft_id)]).is_empty()


def test_the_am_cancels_a_run_and_reads_one(world: GraphStore) -> None:
    book = only("follow_up_no_reply")
    tick(world, book)
    run = _follow_up(world)
    with pytest.raises(DecisionRejected):
        settle_play_run(world, run["run_id"], actor="am-1", decision="read", now=NOW)
    with pytest.raises(NotAuthorized):
        settle_play_run(world, run["run_id"], actor="am-2", decision="cancel", now=NOW)
    done = settle_play_run(
        world, run["run_id"], actor="am-1", decision="cancel", now=NOW, reason="I called her"
    )
    assert done["status"] == "stopped"
    assert _follow_up(world)["stopped_reason"] == "the AM cancelled it: I called her"
    with pytest.raises(DecisionConflict):
        settle_play_run(world, run["run_id"], actor="am-1", decision="cancel", now=NOW)
    tick(world, book, AS_OF + dt.timedelta(days=8))
    assert _follow_up(world)["status"] == "stopped"
    assert world.nodes("Draft", [Filter("purpose", "eq", "follow_up")]).is_empty()
    # A run that left only an alert to read waits until the AM has read it.
    alert_only = dataclasses.replace(
        only("prospect_posts_problem"),
        plays=(
            dataclasses.replace(
                only("prospect_posts_problem").plays[0],
                steps=only("prospect_posts_problem").plays[0].steps[:1],
            ),
        ),
    )
    tick(world, alert_only)
    (read,) = runs(world, "prospect_posts_problem")
    assert read["status"] == "needs_am" and read["waiting_for"] == "read"
    (row,) = [r for r in queue(world, "am-1") if r["item"] == read["run_id"]]
    assert row["action"] == "play:read" and "posted about Pipeline reliability" in row["what"]
    settle_play_run(world, read["run_id"], actor="am-1", decision="read", now=NOW)
    assert runs(world, "prospect_posts_problem")[0]["status"] == "done"
    assert not [r for r in queue(world, "am-1") if r["item"] == read["run_id"]]


def test_a_research_first_route_gives_the_am_a_research_task_with_the_summary(
    store: GraphStore, tmp_path: Any
) -> None:
    from app.agent_loop import run_agent_loop
    from drafting.offline import OfflineDrafter
    from matching.run import run_matching
    from routing.policy import policy_from_data
    from tests.support.hand_graph import build

    build(store)
    run_matching(store, as_of=AS_OF)
    policy = policy_from_data(
        {"rules": [{"id": "look_first", "action": "research_first", "reason": "look first"}]},
        "research.yaml",
    )
    run_agent_loop(
        store,
        policy=policy,
        drafter=OfflineDrafter(),
        sending=SENDING,
        now=AS_OF,
        min_personalization=0.5,
    )
    tasks = store.nodes("Task", [Filter("kind", "eq", "research")]).to_dicts()
    assert tasks
    researched = store.nodes("Research")
    for task in tasks:
        assert task["body"].startswith("look first\n\n")
        # The summary's statements, each with the graph ids it cites.
        assert "[" in task["body"] and ("signal:" in task["body"] or "account:" in task["body"])
        assert task["account_id"] in researched["account_id"].to_list()


def test_a_follow_up_approved_before_an_unread_reply_waits_for_the_reply_to_be_read(
    world: GraphStore, tmp_path: Any
) -> None:
    from app.human_loop import handle_reply
    from routing.channels.maildir import MaildirChannel
    from routing.outbox import Relay

    book = only("follow_up_no_reply")
    tick(world, book)
    # Monday noon: the follow-up is drafted.
    tick(world, book, AS_OF + dt.timedelta(days=10))
    draft_id = _follow_up(world)["waiting_for"].split(":", 1)[1]
    # Cat answers; the AM approves the follow-up before any tick has seen the reply.
    _reply(world, "question", AS_OF + dt.timedelta(days=10, hours=1))
    done = approve_draft(
        world, draft_id, actor="am-1", now=AS_OF + dt.timedelta(days=10, hours=2), sending=SENDING
    )
    channel = MaildirChannel(tmp_path / "mail")
    Relay(world, channel, SENDING, worker="t").run(AS_OF + dt.timedelta(days=10, hours=3))
    message = world.get_node("OutboxMessage", done["message_id"])
    assert message["status"] == "pending" and not channel.messages()
    assert "replied on" in (message["note"] or "") and "twoloop replies handle" in message["note"]
    # Once the AM has read the reply, their approval stands.
    handle_reply(world, "r1", actor="am-1", now=AS_OF + dt.timedelta(days=10, hours=4))
    Relay(world, channel, SENDING, worker="t").run(AS_OF + dt.timedelta(days=10, hours=5))
    after = world.get_node("OutboxMessage", done["message_id"])
    assert after["status"] == "sent", after["note"]


def test_a_person_who_just_replied_gets_no_follow_up_on_another_send(world: GraphStore) -> None:
    # Cat answered two days before the send the play follows (about another thread).
    _reply(world, "not_now", AS_OF - dt.timedelta(days=2))
    tick(world, only("follow_up_no_reply"))
    run = _follow_up(world)
    assert run["status"] == "stopped" and run["stopped_reason"] == "they replied (not now)"


def test_a_plays_file_leaves_the_runs_of_plays_it_does_not_have_alone(world: GraphStore) -> None:
    tick(world, only("follow_up_no_reply"))
    report = tick(world, only("pricing_page_twice"), AS_OF + dt.timedelta(days=8))
    assert report.left_alone == {"follow_up_no_reply": 1}
    assert _follow_up(world)["status"] == "waiting"


def test_two_plays_following_up_one_send_write_two_drafts(world: GraphStore) -> None:
    steps: list[dict[str, Any]] = [
        {"wait": {"business_days": 1}},
        {"draft": {"purpose": "follow_up"}},
    ]
    twice = {"plays": [{**AUTO["plays"][0], "id": f"nudge_{n}", "steps": steps} for n in (1, 2)]}
    book = plays_from_data(twice, "twice.yaml")
    tick(world, book)
    tick(world, book, AS_OF + dt.timedelta(days=4))
    drafts = world.nodes("Draft", [Filter("purpose", "eq", "follow_up")])
    assert drafts.height == 2 and drafts["play_run_id"].n_unique() == 2
    assert set(world.nodes("PlayRun")["status"].to_list()) == {"needs_am"}
