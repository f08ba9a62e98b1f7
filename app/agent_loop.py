"""One batch of the agent loop: triggers -> route -> draft -> check -> execute.

1. Escalation triggers in recent activities and signals open escalations (an
   escalated account's matches then wait).
2. Every proposed match is routed by the policy.
3. Matches routed to auto_send, approve or research_first get a draft (once per
   match; a match that already has one keeps it). Each draft is checked for
   grounding, personalization and injection (``drafting.guard``), and the match
   is routed again with the draft's results; then the built-in draft guard
   applies: a rejected draft goes to a person (escalate), an auto_send whose
   request carries a CRM name with a link, address or markup becomes an approval
   saying so, and an auto_send whose draft is otherwise not sendable becomes an
   approval.
4. The final routes are stored and executed: auto_send releases the draft to
   the outbox in the same commit that stores it; approve and research_first
   leave it pending for the AM (research_first adds a research task carrying the
   account's research summary, ``drafting.research``); escalate
   opens a non-blocking escalation for the match with its handoff packet, a task
   for a voice note, and an alert; skip and wait do nothing.
5. The relay sends what is due (send-time guardrails apply there).

The agent acts on a match once: a match with a draft or an escalation already
is left to the human loop, so running the loop again sends nothing twice.
``dry_run`` computes everything and writes and sends nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from drafting.guard import DraftCheck, check_draft
from drafting.model import Drafter, DraftRequest
from drafting.records import draft_id, draft_record
from drafting.requests import draft_requests
from drafting.research import render_research, write_research
from drafting.style import style_notes
from graph_model.errors import ModelError
from graph_model.store import GraphStore
from matching.asof import as_of_view
from routing.channels import Channel, Outgoing
from routing.channels.task import add_task
from routing.context import current_matches, routed, routing_frame
from routing.escalation import TriggerBook, detect_escalations
from routing.handoff import handoff_packet
from routing.outbox import Relay, RelayReport, release_draft
from routing.policy import ROUTING_FIELDS, Policy, Rule
from routing.route import RouteReport, store_routes
from routing.sending import SendingConfig

DRAFTED_ACTIONS = ("auto_send", "approve", "research_first")
ROUTE_QUESTIONS = {
    "voice_note": "Reach {contact} at {account} about {capability} yourself: a voice note, "
    "or a message in your own words?",
    "custom_message": "Should anyone at {account} hear about {capability}, who, and what "
    "should they hear?",
}


@dataclass
class LoopReport:
    policy: str
    drafter: str
    offline: bool
    dry_run: bool
    escalations: dict[str, Any] = field(default_factory=dict)
    routes: dict[str, Any] = field(default_factory=dict)
    actions: dict[str, int] = field(default_factory=dict)
    drafted: int = 0
    draft_failures: int = 0
    released: int = 0
    awaiting_approval: int = 0
    escalated: int = 0
    tasks: int = 0
    alerts: int = 0
    already_handled: int = 0
    relay: dict[str, Any] = field(default_factory=dict)
    matches: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def draft_guard(
    rule: Rule, why: str, check: DraftCheck | None, min_personalization: float
) -> tuple[Rule, str]:
    """Built in after the policy: what a draft's checks do to its route."""
    if check is None:
        return rule, why
    if check.rejected:
        return (
            Rule("draft_rejected", (), "escalate", "custom_message", ""),
            "the draft failed post-validation (" + "; ".join(check.violations[:3]) + "): a "
            "person writes this one",
        )
    if rule.action != "auto_send" or check.sendable(min_personalization):
        return rule, why
    problem = (
        "its claims are not all grounded in the match's evidence"
        if not check.grounded
        else f"personalization {check.personalization:.2f} is below {min_personalization:.2f}"
        if check.personalization < min_personalization
        else None
    )
    if check.holds:
        return (
            Rule("untrusted_crm_text", (), "approve", None, ""),
            "; ".join(check.holds)
            + (f"; also, {problem}" if problem else "")
            + "; the owner approves it first",
        )
    return (
        Rule("draft_below_threshold", (), "approve", None, ""),
        f"the draft cannot go out on its own: {problem}; the owner approves it first",
    )


def run_agent_loop(
    store: GraphStore,
    *,
    policy: Policy,
    drafter: Drafter,
    sending: SendingConfig,
    now: dt.datetime,
    min_personalization: float,
    channel: Channel | None = None,
    alerts: Channel | None = None,
    triggers: TriggerBook | None = None,
    am: str | None = None,
    dry_run: bool = False,
) -> LoopReport:
    report = LoopReport(
        policy=policy.path, drafter=drafter.name, offline=drafter.name == "offline", dry_run=dry_run
    )
    found = detect_escalations(store, now=now, book=triggers, dry_run=dry_run)
    report.escalations = found.as_dict()
    report.escalations.pop("escalations", None)
    # A dry run stores nothing, but routes as if the escalations it found were open.
    unstored = {e["account_id"]: e["kind"] for e in found.escalations} if dry_run else {}
    # Routing reads the graph as it was known at ``now`` (matching.asof).
    known = as_of_view(store, now)
    frame = routing_frame(known, current_matches(known, am=am), unstored_escalations=unstored)
    first = list(routed(frame, policy))
    ids = [row["match_id"] for row, _, _ in first]
    # Matches the agent acted on before (a draft or an escalation of theirs exists).
    drafted_before = store.existing_keys("Draft", [draft_id(i) for i in ids])
    escalated_before = store.existing_keys("Escalation", [route_escalation_id(i) for i in ids])
    handled = {
        i
        for i in ids
        if draft_id(i) in drafted_before or route_escalation_id(i) in escalated_before
    }
    to_draft = [
        row["match_id"]
        for row, rule, _ in first
        if rule.action in DRAFTED_ACTIONS and row["match_id"] not in handled
    ]
    matches = frame.filter(frame["match_id"].is_in(to_draft))
    style = style_notes(store, _am_ids(store, matches["match_id"].to_list()))
    requests = {r.match_id: r for r in draft_requests(store, matches, style=style)}
    drafts: dict[str, tuple[DraftRequest, Any, DraftCheck]] = {}
    for match_id in to_draft:
        request = requests[match_id]
        try:
            content = drafter.draft(request)
        except ModelError as exc:
            report.draft_failures += 1
            report.matches.append({"match_id": match_id, "note": f"drafting failed: {exc}"})
            continue
        check = check_draft(request, content, link_domains=sending.link_domains)
        drafts[match_id] = (request, content, check)
    report.drafted = len(drafts)

    final: list[tuple[dict[str, Any], Rule, str]] = []
    for row, rule, why in first:
        drafted = drafts.get(row["match_id"])
        check = drafted[2] if drafted else None
        if check is not None:
            values = {name: row.get(name) for name in ROUTING_FIELDS}
            values.update(grounded=check.grounded, personalization=check.personalization)
            rule, why = policy.route(values)
        rule, why = draft_guard(rule, why, check, min_personalization)
        if row["match_id"] in handled:
            # Handed over earlier: the human loop owns it, its route stays as it was.
            report.already_handled += 1
            report.matches.append(
                {
                    "match_id": row["match_id"],
                    "account_id": row["account_id"],
                    "capability_id": row["capability_id"],
                    "score": row["score"],
                    "action": "handed_over",
                    "rule": "",
                    "reason": "already handed over earlier; left to the human loop",
                }
            )
            continue
        if rule.action in DRAFTED_ACTIONS and row["match_id"] not in drafts:
            # Drafting failed: a person writes it.
            rule = Rule("draft_failed", (), "escalate", "custom_message", "")
            why = "no draft could be written: a person writes this one"
        final.append((row, rule, why))
    counts: Counter[str] = Counter(rule.label for _, rule, _ in final)
    report.actions = dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    route_report = RouteReport(policy=policy.path, digest=policy.digest, dry_run=dry_run)
    store_routes(store, final, policy, now=now, report=route_report)
    report.routes = route_report.as_dict()

    pending_alerts: list[Outgoing] = []
    for row, rule, why in final:
        match_id = row["match_id"]
        entry = {
            "match_id": match_id,
            "account_id": row["account_id"],
            "capability_id": row["capability_id"],
            "score": row["score"],
            "action": rule.label,
            "rule": rule.id,
            "reason": why,
        }
        report.matches.append(entry)
        if rule.action in ("skip", "wait"):
            continue
        if dry_run:
            continue
        if rule.action in DRAFTED_ACTIONS:
            request, content, check = drafts[match_id]
            record = draft_record(request, content, check, drafter=drafter.name, now=now)
            summary = ""
            if rule.action == "research_first" and request.am_id:
                # The research the route asks for, citing the graph, before the AM decides.
                summary = render_research(
                    write_research(
                        store,
                        account_id=row["account_id"],
                        am_id=request.am_id,
                        now=now,
                        match_id=match_id,
                    )
                )
            with store.batch() as write:
                write.upsert_nodes("Draft", [record])
                write.upsert_edges("DRAFTED_FOR", [{"src": record["draft_id"], "dst": match_id}])
                if rule.action == "auto_send":
                    release_draft(
                        write,
                        record,
                        account_id=row["account_id"],
                        released_by=f"agent:{rule.id}",
                        role="agent",
                        config=sending,
                        now=now,
                        expect_status=None,
                    )
                    report.released += 1
                else:
                    report.awaiting_approval += 1
                if rule.action == "research_first" and request.am_id:
                    add_task(
                        write,
                        kind="research",
                        am_id=request.am_id,
                        account_id=row["account_id"],
                        title=f"Research {request.account_name} before approving the draft",
                        body=f"{why}\n\n{summary}" if summary else why,
                        now=now,
                        match_id=match_id,
                    )
                    report.tasks += 1
            continue
        # escalate: a draft that failed its checks goes along, for the person to see.
        if match_id in drafts:
            request, content, check = drafts[match_id]
            record = draft_record(request, content, check, drafter=drafter.name, now=now)
            with store.batch() as write:
                write.upsert_nodes("Draft", [record])
                write.upsert_edges("DRAFTED_FOR", [{"src": record["draft_id"], "dst": match_id}])
        alert = _escalate_match(store, row, rule, why, now=now, report=report)
        if alert is not None:
            pending_alerts.append(alert)

    if alerts is not None and not dry_run:
        for alert in pending_alerts:
            alerts.send(alert)
            report.alerts += 1
    if channel is not None and not dry_run:
        relay = Relay(store, channel, sending, worker=f"loop-{now:%Y%m%dT%H%M%S}")
        report.relay = relay.run(now).as_dict()
    else:
        report.relay = RelayReport().as_dict()
    return report


def route_escalation_id(match_id: str) -> str:
    return "e-" + hashlib.sha1(f"route\x1f{match_id}".encode()).hexdigest()[:20]


def _am_ids(store: GraphStore, match_ids: list[str]) -> list[str]:
    if not match_ids:
        return []
    edges = store.edges("ASSIGNED_TO", touching=match_ids, side="source", label="Match")
    return sorted(set(edges["dst"].to_list()))


def _escalate_match(
    store: GraphStore,
    row: dict[str, Any],
    rule: Rule,
    why: str,
    *,
    now: dt.datetime,
    report: LoopReport,
) -> Outgoing | None:
    match_id, account_id = row["match_id"], row["account_id"]
    account = store.get_nodes("Account", [account_id]).row(0, named=True)
    capability = store.get_nodes("Capability", [row["capability_id"]])
    cap_name = capability["name"][0] if capability.height else row["capability_id"]
    contact = store.edges("CONTACT", touching=[match_id], side="source", label="Match")
    person = store.get_nodes("Person", contact["dst"]) if contact.height else None
    contact_name = person["full_name"][0] if person is not None and person.height else "someone"
    kind = rule.kind or "custom_message"
    template = ROUTE_QUESTIONS.get(kind, ROUTE_QUESTIONS["custom_message"])
    question = template.format(contact=contact_name, account=account["name"], capability=cap_name)
    eid = route_escalation_id(match_id)
    packet = handoff_packet(
        store,
        account_id,
        question=question,
        match_id=match_id,
        trigger={"source": f"route:{rule.id}", "kind": kind, "excerpt": why},
    )
    owner = store.edges("ASSIGNED_TO", touching=[match_id], side="source", label="Match")
    am_id = owner["dst"][0] if owner.height else None
    with store.batch() as write:
        write.upsert_nodes(
            "Escalation",
            [
                {
                    "escalation_id": eid,
                    "account_id": account_id,
                    "am_id": am_id,
                    "match_id": match_id,
                    "kind": kind,
                    "status": "open",
                    "blocking": False,
                    "trigger": f"route:{rule.id}",
                    "excerpt": why,
                    "question": question,
                    "opened_at": now,
                    "packet": packet.model_dump_json(),
                }
            ],
        )
        write.upsert_edges("ESCALATES", [{"src": eid, "dst": account_id}])
        write.upsert_edges(
            "TRIGGERED_BY",
            [{"src_label": "Escalation", "src": eid, "dst_label": "Match", "dst": match_id}],
        )
        if am_id:
            write.upsert_edges(
                "ASSIGNED_TO", [{"src_label": "Escalation", "src": eid, "dst": am_id}]
            )
            if kind == "voice_note":
                add_task(
                    write,
                    kind="voice_note",
                    am_id=am_id,
                    account_id=account_id,
                    title=f"Voice note to {contact_name} at {account['name']} about {cap_name}",
                    body=packet.as_text(),
                    now=now,
                    match_id=match_id,
                    escalation_id=eid,
                )
                report.tasks += 1
    report.escalated += 1
    return Outgoing(
        message_id=eid,
        to_address=am_id or "",
        from_address="twoloop",
        subject=f"Escalation ({kind.replace('_', ' ')}): {account['name']}",
        body=packet.as_text(),
    )
