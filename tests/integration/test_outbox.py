"""The agent loop and the outbox on both stores, sending into a real local SMTP
server: exactly once across reruns, crashes and concurrent relays; approvals in
the same commit as their message; every send-time guardrail at send time."""

from __future__ import annotations

import datetime as dt
import json
import signal
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from app.agent_loop import LoopReport, run_agent_loop
from app.human_loop import approve_draft, resolve_item, settle_send, work_queue
from drafting.offline import OfflineDrafter
from graph_model.errors import DecisionConflict, DecisionRejected, NotAuthorized
from graph_model.store import GraphStore, UpsertNodes
from graph_model.validation import validate_nodes
from matching.run import pair_id, run_matching
from routing.channels.smtp import SmtpChannel, message_id_header
from routing.outbox import Relay, release_draft
from routing.policy import load_policy
from routing.sending import load_sending
from tests.support.hand_graph import AS_OF, add_managers, build
from tests.support.procs import run_relay, write_sending
from tests.support.servers import SmtpServer, smtp_server

SENDING = load_sending().model_copy(
    update={"from_domains": ["vendor.example"], "link_domains": ["vendor.example"]}
)
UNCAPPED = SENDING.model_copy(update={"caps": SENDING.caps.model_copy(update={"per_mailbox": 100})})
AUTO = pair_id("acme", "vault")  # normal_account: auto_send to Cat
APPROVE = pair_id("acme", "ingest")  # senior_contact: Ann approves


class Crash(BaseException):
    """Stands in for the relay process dying."""


def _crash_relay_at(stage: str, store: GraphStore, smtp: SmtpServer) -> None:
    """A relay at AS_OF that dies the first time it reaches ``stage``."""

    def crash(reached: str, message: dict[str, Any]) -> None:
        if reached == stage:
            raise Crash

    with pytest.raises(Crash):
        _relay(store, smtp, AS_OF, fault=crash)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with smtp_server() as server:
        yield server


def _loop(
    store: GraphStore, smtp: SmtpServer | None, *, now: dt.datetime = AS_OF, **extra: Any
) -> LoopReport:
    channel = SmtpChannel(smtp.host, smtp.port, starttls=False) if smtp else None
    try:
        return run_agent_loop(
            store,
            policy=load_policy(),
            drafter=OfflineDrafter(),
            sending=extra.pop("sending", SENDING),
            now=now,
            min_personalization=0.5,
            channel=channel,
            **extra,
        )
    finally:
        if channel:
            channel.close()


def _matched(store: GraphStore) -> None:
    build(store)
    add_managers(store)
    run_matching(store, as_of=AS_OF)


def _relay(store: GraphStore, smtp: SmtpServer, now: dt.datetime, **extra: Any) -> Any:
    with SmtpChannel(smtp.host, smtp.port, starttls=False) as channel:
        return Relay(store, channel, extra.pop("sending", SENDING), worker="w1", **extra).run(now)


def test_the_loop_sends_once_and_hands_the_rest_over(store: GraphStore, smtp: SmtpServer) -> None:
    _matched(store)
    first = _loop(store, smtp)
    assert first.actions == {"approve": 1, "auto_send": 1, "escalate:custom_message": 1}
    assert (first.released, first.awaiting_approval, first.escalated) == (1, 1, 1)
    assert first.relay["sent"] == 1 and len(smtp.messages) == 1
    mail = smtp.messages[0]
    assert mail["To"] == "cat@acme.example" and mail["From"] == "ada@vendor.example"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert SENDING.footer.postal_address in mail.get_payload()
    (message,) = store.nodes("OutboxMessage").to_dicts()
    assert message["status"] == "sent" and message["provider_id"] == mail["Message-ID"]
    assert message["released_by"] == "agent:normal_account"
    assert (message["released_role"], message["released_on_behalf_of"]) == ("agent", "am-1")
    draft = store.get_nodes("Draft", [message["draft_id"]]).row(0, named=True)
    assert draft["drafter"] == "offline" and draft["grounded"] and draft["status"] == "approved"
    # Run again, and again later: nothing is drafted, routed anew or sent twice.
    for later in (AS_OF, AS_OF + dt.timedelta(hours=3)):
        again = _loop(store, smtp, now=later)
        assert (again.drafted, again.released, again.already_handled) == (0, 0, 3)
        assert again.relay["sent"] == 0
    assert len(smtp.messages) == 1
    queue = work_queue(store, "am-1", now=AS_OF + dt.timedelta(hours=3))
    assert [i["type"] for i in queue] == ["approval", "escalation:custom_message"]
    assert queue[0]["age"] == "3h 0m"


def test_an_account_name_carrying_a_domain_is_approved_not_auto_sent(
    store: GraphStore, smtp: SmtpServer
) -> None:
    """Issue 15: untrusted CRM text reached a customer in an auto-sent subject."""
    _matched(store)
    acme = store.get_nodes("Account", ["acme"]).row(0, named=True)
    store.upsert_nodes("Account", [{**acme, "name": "Acme see evil.example now"}])
    report = _loop(store, smtp)
    assert report.actions == {"approve": 2, "escalate:custom_message": 1}
    assert (report.released, report.relay["sent"], smtp.messages) == (0, 0, [])
    hold = (
        "the account name 'Acme see evil.example now' carries a domain (evil.example): "
        "CRM text is untrusted, a person checks it"
    )
    route = store.nodes("Route", {"match_id": AUTO}).row(0, named=True)
    assert (route["action"], route["rule"]) == ("approve", "untrusted_crm_text")
    assert route["reason"].startswith(hold)
    draft = store.nodes("Draft", {"match_id": AUTO}).row(0, named=True)
    assert draft["status"] == "pending" and draft["violations"] == []
    assert draft["holds"] == [hold] and "evil.example" in draft["subject"]
    queue = {i["item"]: i for i in work_queue(store, "am-1", now=AS_OF)}
    assert hold in queue[draft["draft_id"]]["detail"]


def test_a_dry_run_stores_and_sends_nothing(store: GraphStore, smtp: SmtpServer) -> None:
    _matched(store)
    dry = _loop(store, smtp, dry_run=True)
    assert dry.actions == {"approve": 1, "auto_send": 1, "escalate:custom_message": 1}
    assert dry.drafted == 2 and dry.released == 0
    for label in ("Draft", "OutboxMessage", "Escalation", "Route", "Task"):
        assert store.nodes(label).height == 0, label
    assert smtp.messages == []


def test_a_crash_after_sending_never_sends_again(store: GraphStore, smtp: SmtpServer) -> None:
    _matched(store)
    _loop(store, None)  # released, not sent: no channel

    _crash_relay_at("sent", store, smtp)
    assert len(smtp.messages) == 1
    assert store.nodes("OutboxMessage")["status"].to_list() == ["sending"]
    # Rerun while the lease holds, and after it expired: never a second send.
    assert _relay(store, smtp, AS_OF + dt.timedelta(minutes=1)).sent == 0
    expired = _relay(store, smtp, AS_OF + dt.timedelta(minutes=11))
    assert (expired.sent, expired.unconfirmed) == (0, 1)
    assert len(smtp.messages) == 1
    (message,) = store.nodes("OutboxMessage").to_dicts()
    assert message["status"] == "unconfirmed" and "not resent" in message["note"]
    queue = work_queue(store, "am-1", now=AS_OF + dt.timedelta(minutes=12))
    assert "unconfirmed_send" in [i["type"] for i in queue]
    done = settle_send(store, message["message_id"], "sent", actor="am-1", now=AS_OF)
    assert done["status"] == "sent"


def test_a_crash_before_sending_sends_nothing_and_leaves_it_for_a_person(
    store: GraphStore, smtp: SmtpServer
) -> None:
    _matched(store)
    _loop(store, None)

    _crash_relay_at("claimed", store, smtp)
    assert smtp.messages == []
    assert _relay(store, smtp, AS_OF + dt.timedelta(minutes=11)).unconfirmed == 1
    assert smtp.messages == []


def _many_messages(store: GraphStore, n: int) -> None:
    """n released drafts to distinct people at distinct accounts (no cap applies)."""
    build(store)
    run_matching(store, as_of=AS_OF)
    accounts = [{"account_id": f"bulk{i}", "name": f"Bulk {i}"} for i in range(n)]
    people = [
        {"person_id": f"bp{i}", "full_name": f"Person {i}", "email": f"p{i}@bulk{i}.example"}
        for i in range(n)
    ]
    store.upsert_nodes("Account", accounts)
    store.upsert_nodes("Person", people)
    match = store.get_nodes("Match", [AUTO]).row(0, named=True)
    with store.batch() as write:
        for i in range(n):
            draft = {
                "draft_id": f"dr-bulk{i}",
                "match_id": match["match_id"],
                "am_id": "am-1",
                "subject": f"Hello {i}",
                "body": f"Hi Person {i},\n\nHello.",
                "status": "pending",
                "drafter": "offline",
                "created_at": AS_OF,
                "person_id": f"bp{i}",
                "to_address": f"p{i}@bulk{i}.example",
                "from_address": "ada@vendor.example",
            }
            write.upsert_nodes("Draft", [draft])
            release_draft(
                write,
                draft,
                account_id=f"bulk{i}",
                released_by="am-1",
                role="am",
                config=SENDING,
                now=AS_OF,
                expect_status=None,
            )


def test_two_relays_at_once_send_each_message_once(store: GraphStore, smtp: SmtpServer) -> None:
    _many_messages(store, 24)
    barrier = threading.Barrier(2)
    unlimited = SENDING.model_copy(
        update={"caps": SENDING.caps.model_copy(update={"per_mailbox": 100})}
    )

    def relay(worker: str) -> Any:
        barrier.wait()
        with SmtpChannel(smtp.host, smtp.port, starttls=False) as channel:
            return Relay(store, channel, unlimited, worker=worker).run(AS_OF)

    with ThreadPoolExecutor(2) as pool:
        reports = list(pool.map(relay, ["a", "b"]))
    assert sum(r.sent for r in reports) == 24
    ids = smtp.message_ids()
    assert len(ids) == 24 and len(set(ids)) == 24
    statuses = store.nodes("OutboxMessage")["status"].unique().to_list()
    assert statuses == ["sent"]


def test_a_rolled_back_approval_leaves_no_message(store: GraphStore, smtp: SmtpServer) -> None:
    _matched(store)
    _loop(store, None)
    draft = store.nodes("Draft", {"match_id": APPROVE}).row(0, named=True)
    with pytest.raises(RuntimeError), store.batch() as write:
        release_draft(
            write,
            draft,
            account_id="acme",
            released_by="am-1",
            role="am",
            config=SENDING,
            now=AS_OF,
        )
        raise RuntimeError("the approval fails after the message was added")
    assert store.nodes("OutboxMessage", {"draft_id": draft["draft_id"]}).height == 0
    assert store.get_nodes("Draft", [draft["draft_id"]])["status"].to_list() == ["pending"]
    # The real approval: one message; a second approval is a conflict, not a message.
    approve_draft(store, draft["draft_id"], actor="am-1", now=AS_OF, sending=SENDING)
    # am-2 may not act on am-1's draft; am-1's manager may, and finds it approved.
    with pytest.raises(NotAuthorized, match="its owner is am-1"):
        approve_draft(store, draft["draft_id"], actor="am-2", now=AS_OF, sending=SENDING)
    with pytest.raises(DecisionConflict, match=r"already approved \(approve by am-1"):
        approve_draft(store, draft["draft_id"], actor="am-3", now=AS_OF, sending=SENDING)
    assert store.nodes("OutboxMessage", {"draft_id": draft["draft_id"]}).height == 1
    # The loop's own auto_send to Cat waited for a relay too.
    assert _relay(store, smtp, AS_OF).sent == 2
    assert sorted(m["To"] for m in smtp.messages) == ["ann@acme.example", "cat@acme.example"]


def test_two_people_approving_at_once_make_one_message(store: GraphStore) -> None:
    _matched(store)
    _loop(store, None)
    draft_id = store.nodes("Draft", {"match_id": APPROVE})["draft_id"][0]
    barrier = threading.Barrier(2)

    def approve(am: str) -> str:
        barrier.wait()
        try:
            approve_draft(store, draft_id, actor=am, now=AS_OF, sending=SENDING)
            return "won"
        except DecisionConflict:
            return "conflict"

    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(pool.map(approve, ["am-1", "am-3"]))  # the owner and their manager
    assert outcomes == ["conflict", "won"]
    assert store.nodes("OutboxMessage", {"draft_id": draft_id}).height == 1


def _released(store: GraphStore) -> dict[str, Any]:
    _matched(store)
    _loop(store, None)
    return store.nodes("OutboxMessage").row(0, named=True)


@pytest.mark.parametrize("change", ["suppression", "do_not_contact", "account", "domain"])
def test_suppression_is_checked_at_send_time(
    store: GraphStore, smtp: SmtpServer, change: str
) -> None:
    message = _released(store)
    if change == "suppression":
        store.upsert_nodes(
            "Suppression", [{"address": "cat@acme.example", "reason": "asked", "added_at": AS_OF}]
        )
    elif change == "domain":
        store.upsert_nodes(
            "Suppression", [{"address": "@acme.example", "reason": "legal", "added_at": AS_OF}]
        )
    elif change == "do_not_contact":
        cat = store.get_nodes("Person", ["cat"]).row(0, named=True)
        store.upsert_nodes("Person", [{**cat, "do_not_contact": True}])
    else:
        acme = store.get_nodes("Account", ["acme"]).row(0, named=True)
        store.upsert_nodes("Account", [{**acme, "suppressed": True}])
    report = _relay(store, smtp, AS_OF)
    assert (report.sent, report.suppressed) == (0, 1)
    assert store.get_nodes("OutboxMessage", [message["message_id"]])["status"][0] == "suppressed"
    assert smtp.messages == []


def _released_to(store: GraphStore, address: str, **changes: Any) -> dict[str, Any]:
    message = {**_released(store), "to_address": address, **changes}
    store.upsert_nodes("OutboxMessage", [message])
    return message


def _suppressed_only(store: GraphStore, smtp: SmtpServer, message: dict[str, Any]) -> None:
    report = _relay(store, smtp, AS_OF)
    assert (report.sent, report.suppressed) == (0, 1)
    assert store.get_nodes("OutboxMessage", [message["message_id"]])["status"][0] == "suppressed"
    assert smtp.messages == []


@pytest.mark.parametrize(
    "entry", ["@example.com", "john@mail.example.com", "JOHN@Mail.Example.COM", " @Example.com"]
)
def test_suppression_ignores_case_and_covers_subdomains_at_send_time(
    store: GraphStore, smtp: SmtpServer, entry: str
) -> None:
    message = _released_to(store, "John@Mail.Example.com")
    store.upsert_nodes("Suppression", [{"address": entry, "reason": "asked", "added_at": AS_OF}])
    # Stored lower-cased, whoever writes it.
    assert store.nodes("Suppression")["address"].to_list() == [entry.strip().lower()]
    _suppressed_only(store, smtp, message)


def test_a_mixed_case_entry_stored_before_keys_were_lower_cased_still_suppresses(
    store: GraphStore, smtp: SmtpServer
) -> None:
    message = _released_to(store, "john@mail.example.com")
    spec = store.registry.node("Suppression")
    legacy = validate_nodes(
        spec, [{"address": "x", "reason": "asked", "added_at": AS_OF}]
    ).with_columns(pl.lit("@Example.COM").alias("address"))
    store._apply([UpsertNodes(spec, legacy)], chunked=False)  # around validation, as old data
    assert store.nodes("Suppression")["address"].to_list() == ["@Example.COM"]
    _suppressed_only(store, smtp, message)


@pytest.mark.parametrize("record", ["same_record", "second_record"])
def test_do_not_contact_follows_the_address_whatever_its_case(
    store: GraphStore, smtp: SmtpServer, record: str
) -> None:
    if record == "same_record":
        # The message names no person; Cat's record (cat@acme.example) is do-not-contact.
        message = _released_to(store, "CAT@Acme.Example", person_id=None)
        cat = store.get_nodes("Person", ["cat"]).row(0, named=True)
        store.upsert_nodes("Person", [{**cat, "do_not_contact": True}])
    else:
        # Cat's own record may be contacted; a second record of her address may not.
        message = _released_to(store, "cat@acme.example")
        store.upsert_nodes(
            "Person",
            [
                {
                    "person_id": "cat-2",
                    "full_name": "Cat Ray",
                    "email": "Cat@ACME.example",
                    "do_not_contact": True,
                }
            ],
        )
    _suppressed_only(store, smtp, message)


def test_an_escalation_after_release_blocks_the_send(store: GraphStore, smtp: SmtpServer) -> None:
    message = _released(store)
    store.upsert_nodes(
        "Activity",
        [
            {
                "activity_id": "r9",
                "kind": "email",
                "occurred_at": AS_OF,
                "summary": "Our lawyers will call.",
            }
        ],
    )
    store.upsert_edges("ABOUT", [{"src": "r9", "dst": "acme"}])
    report = _loop(store, smtp)
    assert report.escalations["by_kind"] == {"legal_review": 1}
    assert report.relay["blocked"] == 1 and smtp.messages == []
    row = store.get_nodes("OutboxMessage", [message["message_id"]]).row(0, named=True)
    assert row["status"] == "blocked" and "legal_review" in row["note"]


def test_quiet_hours_and_caps_defer_to_a_later_relay(store: GraphStore, smtp: SmtpServer) -> None:
    message = _released(store)
    cat = store.get_nodes("Person", ["cat"]).row(0, named=True)
    store.upsert_nodes("Person", [{**cat, "timezone": "Asia/Tokyo"}])  # 21:00 in Tokyo
    night = _relay(store, smtp, AS_OF)
    assert (night.sent, night.deferred) == (0, 1)
    row = store.get_nodes("OutboxMessage", [message["message_id"]]).row(0, named=True)
    # Saturday and Sunday are quiet too: Monday 08:00 in Tokyo.
    assert row["not_before"] == dt.datetime(2026, 11, 22, 23, 0, tzinfo=dt.UTC)
    assert _relay(store, smtp, AS_OF + dt.timedelta(hours=1)).due == 0  # not due yet
    monday = _relay(store, smtp, dt.datetime(2026, 11, 23, 0, 0, tzinfo=dt.UTC))
    assert monday.sent == 1 and len(smtp.messages) == 1


def test_a_sender_outside_the_allowlist_is_blocked(store: GraphStore, smtp: SmtpServer) -> None:
    _released(store)
    report = _relay(
        store, smtp, AS_OF, sending=SENDING.model_copy(update={"from_domains": ["other.example"]})
    )
    assert report.blocked == 1 and smtp.messages == []


def test_the_contact_cap_defers_a_second_message(store: GraphStore, smtp: SmtpServer) -> None:
    _many_messages(store, 2)
    both_to_cat = store.nodes("OutboxMessage").with_columns(
        pl.lit("cat@acme.example").alias("to_address"), pl.lit("cat").alias("person_id")
    )
    store.upsert_nodes("OutboxMessage", both_to_cat)
    report = _relay(store, smtp, AS_OF)
    assert (report.sent, report.deferred) == (1, 1)
    later = store.nodes("OutboxMessage", {"status": "pending"}).row(0, named=True)
    assert later["not_before"] == AS_OF + dt.timedelta(hours=24)
    assert "per contact" in later["note"]


# ---------------------------------------------------------------- issue 15: crashes, caps


def _all_to_cat(store: GraphStore) -> None:
    """Every released message goes to Cat at Acme (one contact, one cap)."""
    to_cat = store.nodes("OutboxMessage").with_columns(
        pl.lit("cat@acme.example").alias("to_address"),
        pl.lit("cat").alias("person_id"),
        pl.lit("acme").alias("account_id"),
    )
    store.upsert_nodes("OutboxMessage", to_cat)


def test_a_relay_killed_mid_send_leaves_at_most_one_message_in_doubt(
    store: GraphStore, smtp: SmtpServer, tmp_path: Path
) -> None:
    """kill -9 after the third send: the first two are marked, the third is the only one
    in doubt, the rest were never claimed and go out on the next run, once."""
    _many_messages(store, 8)
    sending = write_sending(UNCAPPED, tmp_path / "sending.yaml")
    uri = store.uri
    killed = run_relay(
        uri,
        (smtp.host, smtp.port),
        sending,
        now=AS_OF,
        worker="doomed",
        kill_at="sent",
        kill_after=3,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert len(smtp.messages) == 3
    statuses = store.nodes("OutboxMessage")["status"].value_counts().sort("status")
    assert dict(statuses.iter_rows()) == {"pending": 5, "sending": 1, "sent": 2}
    after = run_relay(
        uri, (smtp.host, smtp.port), sending, now=AS_OF + dt.timedelta(minutes=11), worker="next"
    )
    assert after.returncode == 0, after.stderr
    report = json.loads(after.stdout)
    assert (report["sent"], report["unconfirmed"]) == (5, 1)
    ids = smtp.message_ids()
    assert len(ids) == 8 and len(set(ids)) == 8
    (doubt,) = store.nodes("OutboxMessage", {"status": "unconfirmed"}).to_dicts()
    assert "--sent, --not-sent or --cancel" in doubt["note"]


def test_an_unconfirmed_send_is_settled_by_an_explicit_choice(
    store: GraphStore, smtp: SmtpServer
) -> None:
    """'Yes, it went out' was once read as cancelled: free text settles nothing now; a
    not-sent message goes out again under the same key and Message-ID."""
    _many_messages(store, 2)

    _crash_relay_at("claimed", store, smtp)
    later = AS_OF + dt.timedelta(minutes=11)
    assert _relay(store, smtp, later).unconfirmed == 1
    (doubt,) = store.nodes("OutboxMessage", {"status": "unconfirmed"}).to_dicts()
    mid = doubt["message_id"]
    with pytest.raises(DecisionRejected, match="--sent, --not-sent"):
        resolve_item(store, mid, actor="am-1", now=later, answer="Yes, it went out")
    assert store.get_node("OutboxMessage", mid)["status"] == "unconfirmed"
    done = settle_send(store, mid, "not_sent", actor="am-1", now=later)
    assert done["status"] == "pending"
    with pytest.raises(DecisionConflict, match="not unconfirmed"):
        settle_send(store, mid, "sent", actor="am-1", now=later)
    assert _relay(store, smtp, later).sent == 1
    resent = store.get_node("OutboxMessage", mid)
    assert resent["status"] == "sent" and resent["attempts"] == 2
    assert resent["provider_id"] == message_id_header(mid, "ada@vendor.example")
    assert smtp.message_ids().count(resent["provider_id"]) == 1


@pytest.mark.parametrize(("outcome", "status"), [("sent", "sent"), ("cancel", "cancelled")])
def test_settling_sent_or_cancelled_never_resends(
    store: GraphStore, smtp: SmtpServer, outcome: str, status: str
) -> None:
    _many_messages(store, 1)

    _crash_relay_at("sent", store, smtp)
    later = AS_OF + dt.timedelta(minutes=11)
    _relay(store, smtp, later)
    (doubt,) = store.nodes("OutboxMessage", {"status": "unconfirmed"}).to_dicts()
    settle_send(store, doubt["message_id"], outcome, actor="am-1", now=later)  # type: ignore[arg-type]
    assert _relay(store, smtp, later + dt.timedelta(days=2)).sent == 0
    assert store.get_node("OutboxMessage", doubt["message_id"])["status"] == status
    assert len(smtp.messages) == 1


def test_a_message_in_flight_counts_against_the_cap(store: GraphStore, smtp: SmtpServer) -> None:
    """Two relays overlapping (twoloop run relaying while a scheduled relay runs): the
    second must count the first one's message in flight, not only sent ones."""
    _many_messages(store, 2)
    _all_to_cat(store)
    second: list[Any] = []

    def overlap(stage: str, message: dict[str, Any]) -> None:
        if stage == "claimed" and not second:
            with SmtpChannel(smtp.host, smtp.port) as channel:
                second.append(Relay(store, channel, SENDING, worker="scheduled").run(AS_OF))

    with SmtpChannel(smtp.host, smtp.port) as channel:
        first = Relay(store, channel, SENDING, worker="loop", fault=overlap).run(AS_OF, limit=1)
    assert first.sent == 1
    assert (second[0].sent, second[0].deferred) == (0, 1)
    assert [m["To"] for m in smtp.messages] == ["cat@acme.example"]


def test_two_relays_racing_for_the_last_slot_cannot_both_win(
    store: GraphStore, smtp: SmtpServer
) -> None:
    """Both count the cap free; the other claims first; the loser's claim conflicts on
    the cap window, it counts again and defers."""
    _many_messages(store, 2)
    _all_to_cat(store)
    first_id, second_id = sorted(store.nodes("OutboxMessage")["message_id"].to_list())
    early = store.get_node("OutboxMessage", first_id)
    store.upsert_nodes(
        "OutboxMessage",
        [
            {
                **early,
                "created_at": AS_OF - dt.timedelta(minutes=5),
                "not_before": AS_OF + dt.timedelta(minutes=1),
            }
        ],
    )
    raced: list[Any] = []

    def race(stage: str, message: dict[str, Any]) -> None:
        if stage == "checked" and not raced:
            with SmtpChannel(smtp.host, smtp.port) as channel:
                raced.append(Relay(store, channel, SENDING, worker="other").run(AS_OF))

    with SmtpChannel(smtp.host, smtp.port) as channel:
        mine = Relay(store, channel, SENDING, worker="me", fault=race).run(
            AS_OF + dt.timedelta(minutes=2), limit=1
        )
    assert raced and raced[0].sent == 1  # the other relay took the slot with its message
    assert (mine.sent, mine.deferred) == (0, 1)
    assert len(smtp.messages) == 1
    assert store.get_node("OutboxMessage", first_id)["status"] == "pending"
    assert store.get_node("OutboxMessage", second_id)["status"] == "sent"


class _MarkedMeanwhile:
    """The real store, with one interleaving forced: another relay marks its message
    ``sent`` just before this relay reads the messages in flight."""

    def __init__(self, store: GraphStore, mark: dict[str, Any]) -> None:
        self._store, self._mark = store, mark

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def nodes(self, label: str, where: Any = None, **kwargs: Any) -> Any:
        # The read that counts messages in flight (status in [..., "sending", ...]).
        counting = any(
            getattr(f, "field", None) == "status" and f.op == "in" and "sending" in f.value
            for f in where or []
        )
        if label == "OutboxMessage" and self._mark and counting:
            self._store.upsert_nodes("OutboxMessage", [self._mark])
            self._mark = {}
        return self._store.nodes(label, where, **kwargs)


def test_a_message_marked_sent_while_the_caps_are_counted_still_counts(
    store: GraphStore, smtp: SmtpServer
) -> None:
    """Counted in two reads (sent, then in flight), a message another relay marked
    sent between them was in neither, and a second email went to the contact."""
    _many_messages(store, 2)
    _all_to_cat(store)
    first_id, second_id = sorted(store.nodes("OutboxMessage")["message_id"].to_list())
    first = store.get_node("OutboxMessage", first_id)
    claimed = {**first, "status": "sending", "claimed_by": "other", "claimed_at": AS_OF}
    store.upsert_nodes("OutboxMessage", [claimed])  # the other relay holds it in flight
    sent = {**claimed, "status": "sent", "sent_at": AS_OF, "provider_id": "<elsewhere>"}
    with SmtpChannel(smtp.host, smtp.port) as channel:
        report = Relay(_MarkedMeanwhile(store, sent), channel, SENDING, worker="me").run(AS_OF)  # type: ignore[arg-type]
    assert (report.sent, report.deferred) == (0, 1)
    assert smtp.messages == []
    assert store.get_node("OutboxMessage", second_id)["status"] == "pending"
