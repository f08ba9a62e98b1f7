"""The graph's vocabulary: every node label and edge type twoloop stores.

Keys are ``<thing>_id`` strings chosen by whoever creates the node (CRM ids,
content hashes for signals); datetimes always carry a time zone and are
stored in UTC.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from pydantic import AwareDatetime, Field

from graph_model.schema import EdgeModel, Key, LowerKey, NodeModel, edge_type, node_type


class Tier(StrEnum):
    A = "A"
    B = "B"
    C = "C"


class Relationship(StrEnum):
    prospect = "prospect"
    customer = "customer"
    former_customer = "former_customer"
    partner = "partner"


class SignalKind(StrEnum):
    funding = "funding"
    hiring = "hiring"
    news = "news"
    exec_change = "exec_change"
    job_change = "job_change"
    social_post = "social_post"
    web_visit = "web_visit"
    intent_topic = "intent_topic"
    tech_install = "tech_install"
    priority_statement = "priority_statement"
    support_ticket = "support_ticket"


class Seniority(StrEnum):
    individual = "individual"
    manager = "manager"
    director = "director"
    vp = "vp"
    executive = "executive"


class DealStatus(StrEnum):
    open = "open"
    won = "won"
    lost = "lost"


class ActivityKind(StrEnum):
    email = "email"
    call = "call"
    meeting = "meeting"
    note = "note"
    # A social-network connection: a request we sent (outbound) or one accepted or
    # received (inbound).
    connection = "connection"
    # An introduction: someone (a person INVOLVED who works elsewhere) referred the
    # account or person to us.
    referral = "referral"


class Direction(StrEnum):
    inbound = "inbound"
    outbound = "outbound"


class MatchStatus(StrEnum):
    proposed = "proposed"
    validated = "validated"
    deferred = "deferred"
    killed = "killed"


class RouteAction(StrEnum):
    skip = "skip"
    auto_send = "auto_send"
    research_first = "research_first"
    approve = "approve"
    escalate = "escalate"
    wait = "wait"


class DraftStatus(StrEnum):
    pending = "pending"
    approved = "approved"
    edited = "edited"
    cancelled = "cancelled"
    rejected = "rejected"
    sent = "sent"


class DecisionKind(StrEnum):
    validate = "validate"
    defer = "defer"
    kill = "kill"
    approve = "approve"
    edit = "edit"
    cancel = "cancel"
    resolve = "resolve"  # an escalation or a task
    settle = "settle"  # an unconfirmed send: sent, not sent (requeued) or cancelled
    reassign = "reassign"  # a manager or admin moved an item to another AM's queue


class ActorRole(StrEnum):
    """In what right someone acted on an item (``app.actors``)."""

    am = "am"  # the owner, on their own book
    manager = "manager"  # the owner reports to them (REPORTS_TO, any number of levels)
    admin = "admin"  # TWOLOOP_ADMINS: any book
    agent = "agent"  # the agent loop, by a policy rule


class EscalationKind(StrEnum):
    voice_note = "voice_note"
    custom_message = "custom_message"
    pricing_dispute = "pricing_dispute"
    exec_call = "exec_call"
    contract_amendment = "contract_amendment"
    legal_review = "legal_review"
    opt_out = "opt_out"
    # A play asks the AM to read what it found before anything is automated.
    review = "review"
    # A contact replied with interest: a person answers, with the thread.
    reply = "reply"


class EscalationStatus(StrEnum):
    open = "open"
    resolved = "resolved"


class OutboxStatus(StrEnum):
    pending = "pending"  # waits for the relay (and its not_before)
    sending = "sending"  # claimed by a relay
    sent = "sent"
    suppressed = "suppressed"  # suppression list or do-not-contact, at send time
    blocked = "blocked"  # a send-time guardrail refused it (escalation, sender domain)
    unconfirmed = "unconfirmed"  # a relay stopped mid-send: a person checks, never a resend
    cancelled = "cancelled"


class ChannelKind(StrEnum):
    email = "email"
    webhook = "webhook"
    task = "task"


class ReplyClass(StrEnum):
    """What an inbound reply says (``routing.replies``)."""

    interested = "interested"
    not_now = "not_now"
    question = "question"
    out_of_office = "out_of_office"
    unsubscribe = "unsubscribe"
    wrong_person = "wrong_person"
    other = "other"  # none of the above: a person reads it


class ReplyStatus(StrEnum):
    open = "open"  # waits for the AM to read it
    handled = "handled"  # the AM dealt with it, or nothing is left to do (out of office)


class PlayRunStatus(StrEnum):
    """Where a play run is (``routing.plays``)."""

    active = "active"  # its next step runs on the next tick
    waiting = "waiting"  # a wait step: until ``wait_until``
    needs_am = "needs_am"  # waits for a person (a draft to approve, an escalation, a read)
    done = "done"  # every step ran
    stopped = "stopped"  # a stop condition held, or the AM cancelled it


class TaskStatus(StrEnum):
    open = "open"
    done = "done"
    cancelled = "cancelled"


class RunStatus(StrEnum):
    running = "running"
    succeeded = "succeeded"
    failed = "failed"


# ---------------------------------------------------------------- nodes


@node_type("Account", key="account_id", indexed=("domain",))
class Account(NodeModel):
    """A company we sell to or might."""

    account_id: Key
    name: str
    domain: str | None = None
    website: str | None = None
    description: str | None = None
    employees: int | None = Field(default=None, ge=0)
    annual_revenue: float | None = Field(default=None, ge=0)
    tier: Tier | None = None
    relationship: Relationship = Relationship.prospect
    country: str | None = None
    timezone: str | None = None
    # Set by ingest from the capability catalog: inside the ideal-customer profile,
    # and on a suppression list (never contacted).
    in_icp: bool | None = None
    suppressed: bool = False
    updated_at: AwareDatetime | None = None


# do_not_contact: the relay reads every do-not-contact person's address at send time.
@node_type("Person", key="person_id", indexed=("email", "do_not_contact"))
class Person(NodeModel):
    """A contact at an account."""

    person_id: Key
    full_name: str
    email: str | None = None
    title: str | None = None
    seniority: Seniority | None = None
    department: str | None = None
    timezone: str | None = None
    do_not_contact: bool = False


@node_type("AccountManager", key="am_id", indexed=("email",))
class AccountManager(NodeModel):
    """One of our sellers; owns accounts and sends from a fixed mailbox."""

    am_id: Key
    full_name: str
    email: str
    title: str | None = None
    timezone: str | None = None


@node_type("Capability", key="capability_id")
class Capability(NodeModel):
    """Something we sell."""

    capability_id: Key
    name: str
    description: str = ""
    category: str | None = None
    # Buyer personas from the catalog: who to contact about it.
    persona_titles: list[str] = Field(default_factory=list)
    persona_departments: list[str] = Field(default_factory=list)
    persona_seniorities: list[str] = Field(default_factory=list)
    # Whom the catalog sells it to: each ICP field is ``strict`` (outside it the pair
    # is gated) or ``soft`` (inside it is evidence); None when the catalog is silent.
    industry_fit: str | None = None
    employees_fit: str | None = None
    min_employees: int | None = Field(default=None, ge=0)
    max_employees: int | None = Field(default=None, ge=0)
    countries_fit: str | None = None
    countries: list[str] = Field(default_factory=list)  # lower case
    # Pages of our own site about it (URL globs): a visit there is intent for it.
    site_pages: list[str] = Field(default_factory=list)


@node_type("Need", key="need_id")
class Need(NodeModel):
    """A problem a capability solves, with the phrases that reveal it."""

    need_id: Key
    name: str
    description: str = ""
    phrases: list[str] = Field(default_factory=list)


@node_type("Technology", key="technology_id", indexed=("name",))
class Technology(NodeModel):
    """A product an account uses or a capability integrates with."""

    technology_id: Key
    name: str
    category: str | None = None


@node_type("Industry", key="industry_id", indexed=("name",))
class Industry(NodeModel):
    """An industry accounts are in and capabilities fit."""

    industry_id: Key
    name: str


@node_type("Signal", key="signal_id")
class Signal(NodeModel):
    """A dated public or first-party event, with its source and text (untrusted)."""

    signal_id: Key
    kind: SignalKind
    occurred_at: AwareDatetime
    source: str
    url: str | None = None
    title: str | None = None
    text: str = ""
    strength: float | None = Field(default=None, ge=0.0, le=1.0)
    # Extractors that have read this signal (so a paid extractor reads each one once).
    read_by: list[str] = Field(default_factory=list)


@node_type("Opportunity", key="opportunity_id", indexed=("status",))
class Opportunity(NodeModel):
    """A CRM deal."""

    opportunity_id: Key
    name: str
    stage: str
    status: DealStatus
    amount: float | None = Field(default=None, ge=0)
    currency: str | None = None
    close_date: dt.date | None = None
    # When the CRM opened the deal: the outcomes funnel counts a deal opened after a
    # match as that match's outcome (app.analysis).
    created_at: AwareDatetime | None = None


@node_type("Activity", key="activity_id", indexed=("occurred_at",))
class Activity(NodeModel):
    """An email, call, meeting or note logged against an account."""

    activity_id: Key
    kind: ActivityKind
    occurred_at: AwareDatetime
    direction: Direction | None = None
    subject: str | None = None
    summary: str | None = None
    # An email's Message-ID and the ids it answers (In-Reply-To, then References),
    # as the mailbox or the CRM export gives them, for threading replies.
    message_id: str | None = None
    in_reply_to: list[str] = Field(default_factory=list)
    # Who wrote it (an inbound email's From address).
    from_address: str | None = None


@node_type("Match", key="match_id", indexed=("batch_id", "status", "account_id"))
class Match(NodeModel):
    """A scored pairing of a capability with an account, with its explanation.

    One node per (account, capability): a later run rescores it in place and
    keeps what a person decided (status, defer_until).
    """

    match_id: Key
    account_id: str
    capability_id: str
    score: float = Field(ge=0.0, le=1.0)
    model_version: str
    batch_id: str
    created_at: AwareDatetime
    # The as-of time of the run that scored it (recency is measured from it).
    as_of: AwareDatetime | None = None
    status: MatchStatus = MatchStatus.proposed
    defer_until: dt.date | None = None
    # The evidence is thin (the explanation says so instead of inventing urgency).
    weak: bool = False
    explanation: str = ""
    # The path instances that contributed most, one sentence each, strongest first.
    evidence: list[str] = Field(default_factory=list)
    # The same instances as paths (JSON list: metapath, nodes alias -> key, weight),
    # the evidence ids that drafts cite.
    evidence_paths: str = "[]"
    # Per-metapath path counts and weighted sums (JSON), as scored.
    features: str = "{}"


@node_type("Route", key="route_id", indexed=("match_id", "action", "current"))
class Route(NodeModel):
    """The handoff decision for a match: one action, the rule that gave it, and why.

    A match keeps every route it was given; the latest is ``current``.
    """

    route_id: Key
    match_id: str
    action: RouteAction
    # escalate: what a person does (voice_note, custom_message, ...); wait: what for.
    kind: str | None = None
    rule: str
    reason: str
    # The policy file's digest, and the match as routed (its run and score).
    policy: str
    batch_id: str
    score: float = Field(ge=0.0, le=1.0)
    routed_at: AwareDatetime
    current: bool = True


@node_type("Draft", key="draft_id", indexed=("status", "match_id", "am_id"))
class Draft(NodeModel):
    """Outreach written for a match, awaiting or past a human decision.

    Recipient and sender are set by code from the graph (the match's contact and
    the owning AM), never from model output.
    """

    draft_id: Key
    match_id: str
    am_id: str
    subject: str
    body: str
    status: DraftStatus = DraftStatus.pending
    # "offline" or "claude:<model>".
    drafter: str
    created_at: AwareDatetime
    person_id: str | None = None
    to_address: str | None = None
    from_address: str | None = None
    # JSON list of {"text", "evidence": [ids]}: what the draft asserts, and on what.
    claims: str = "[]"
    grounded: bool = False
    personalization: float = Field(default=0.0, ge=0.0, le=1.0)
    # What post-validation found (unknown evidence, links, addresses, prices, ...).
    violations: list[str] = Field(default_factory=list)
    # Why a person checks it though nothing was injected (CRM names carrying links,
    # addresses or markup).
    holds: list[str] = Field(default_factory=list)
    # The draft as first written, kept when an AM edits it (style memory learns the diff).
    original_body: str | None = None
    updated_at: AwareDatetime | None = None
    # What it is: a first ``outreach`` email, a ``follow_up`` in the thread of an
    # earlier send (``follows``: that outbox message), or a suggested social
    # ``comment`` (never emailed: approving it gives the AM a task to post it).
    purpose: str = "outreach"
    follows: str | None = None
    # The play run that asked for it (``routing.plays``), if any.
    play_run_id: str | None = None


@node_type("Escalation", key="escalation_id", indexed=("status", "account_id", "am_id"))
class Escalation(NodeModel):
    """A person takes over: a trigger in a signal or activity (pricing dispute, exec
    call, contract, legal, opt-out), or a route that escalates a match.

    While a ``blocking`` escalation is open, no automation touches the account.
    """

    escalation_id: Key
    account_id: str
    am_id: str | None = None
    match_id: str | None = None
    kind: EscalationKind
    status: EscalationStatus = EscalationStatus.open
    blocking: bool = True
    # What raised it: "signal:<id>", "activity:<id>", "route:<id>" or "reply:<id>".
    trigger: str
    excerpt: str | None = None
    # The one question the person must answer.
    question: str
    opened_at: AwareDatetime
    resolved_at: AwareDatetime | None = None
    resolved_by: str | None = None
    resolution: str | None = None
    # The handoff packet as built when it opened (JSON).
    packet: str = "{}"


@node_type(
    "OutboxMessage", key="message_id", indexed=("status", "account_id", "am_id", "person_id")
)
class OutboxMessage(NodeModel):
    """One message to send, exactly once. ``message_id`` is the idempotency key
    (derived from the draft), so creating it again is a no-op."""

    message_id: Key
    draft_id: str
    match_id: str
    account_id: str
    am_id: str
    person_id: str | None = None
    channel: ChannelKind = ChannelKind.email
    to_address: str
    from_address: str
    subject: str
    body: str
    # JSON object of extra headers (List-Unsubscribe, ...).
    headers: str = "{}"
    status: OutboxStatus = OutboxStatus.pending
    created_at: AwareDatetime
    # Who let it go: "agent:<rule>" or the approving person's id; in what right, and
    # for whom (the owning AM).
    released_by: str
    released_role: ActorRole | None = None
    released_on_behalf_of: str | None = None
    not_before: AwareDatetime | None = None
    claimed_by: str | None = None
    claimed_at: AwareDatetime | None = None
    sent_at: AwareDatetime | None = None
    provider_id: str | None = None
    attempts: int = Field(default=0, ge=0)
    note: str | None = None


@node_type("Reply", key="reply_id", indexed=("status", "am_id", "account_id", "thread_id"))
class Reply(NodeModel):
    """An inbound email that answers one of our sends, attached to its thread by
    Message-ID, with what it says (``routing.replies``). Its text is untrusted."""

    reply_id: Key
    message_id: str
    # The outbox message it answers (the thread), and who and what that was about.
    thread_id: str
    account_id: str
    am_id: str
    match_id: str | None = None
    person_id: str | None = None
    # The Activity the reply was stored as (so gates and triggers see it too).
    activity_id: str
    from_address: str | None = None
    subject: str | None = None
    body: str = ""
    received_at: AwareDatetime
    # Where it was read: "imap:<host>/<mailbox>" ("imap" when the run that threaded it
    # did not read the box itself) or "crm" (an activity from a CRM export).
    source: str
    classification: ReplyClass
    # "rules" or "claude:<model>", how sure, and why in a few words.
    classifier: str
    confidence: float = Field(default=1.0, ge=0.0, le=1.0)
    rationale: str = ""
    # What twoloop did about it (suppressed the address, escalated, stopped runs).
    actions: list[str] = Field(default_factory=list)
    status: ReplyStatus = ReplyStatus.open
    handled_at: AwareDatetime | None = None
    handled_by: str | None = None


@node_type("PlayRun", key="run_id", indexed=("status", "am_id", "account_id", "play_id"))
class PlayRun(NodeModel):
    """One play fired for one subject (an account, a person, or a match's contact),
    and where its steps are (``routing.plays``)."""

    run_id: Key
    play_id: str
    # The plays file's digest when it fired.
    plays: str
    account_id: str
    am_id: str
    person_id: str | None = None
    match_id: str | None = None
    # "account:<id>", "person:<id>" or "contact:<match>/<person>": one run at a time each.
    subject: str
    # The events that made it fire ("signal:<id>", "activity:<id>", "reply:<id>",
    # "decision:<id>", "send:<id>"), oldest first.
    events: list[str] = Field(default_factory=list)
    fired_at: AwareDatetime
    # Why it fired, in words (the play's reason filled in), and the names its steps'
    # texts fill in, as they were when it fired (JSON: placeholder -> value).
    reason: str
    names: str = "{}"
    status: PlayRunStatus = PlayRunStatus.active
    # The next step to run (0-based), and what the run waits for.
    step: int = Field(default=0, ge=0)
    wait_until: AwareDatetime | None = None
    waiting_for: str | None = None
    stopped_reason: str | None = None
    # The steps run so far, with what each made (JSON list).
    log: str = "[]"
    updated_at: AwareDatetime


@node_type("Research", key="research_id", indexed=("account_id", "am_id"))
class Research(NodeModel):
    """A research summary for the AM about an account: statements, each citing the
    signals, deals and people in the graph it rests on (``drafting.research``)."""

    research_id: Key
    account_id: str
    am_id: str
    match_id: str | None = None
    play_run_id: str | None = None
    # "offline" or "claude:<model>".
    writer: str
    created_at: AwareDatetime
    # JSON list of {"text", "cites": ["signal:<id>", "opportunity:<id>", "person:<id>", ...]}.
    statements: str = "[]"
    # Every statement cites something that is in the graph, and says nothing more.
    grounded: bool = False
    violations: list[str] = Field(default_factory=list)
    # Why it was written offline (no key, or Claude failed, or nothing it wrote passed).
    note: str | None = None


@node_type("Task", key="task_id", indexed=("status", "am_id"))
class Task(NodeModel):
    """Something only a person can do (voice note, LinkedIn message, call), created
    for the AM instead of sending anything."""

    task_id: Key
    am_id: str
    account_id: str
    kind: str
    title: str
    body: str = ""
    match_id: str | None = None
    escalation_id: str | None = None
    play_run_id: str | None = None
    status: TaskStatus = TaskStatus.open
    created_at: AwareDatetime
    done_at: AwareDatetime | None = None


@node_type("StyleNote", key="note_id", indexed=("am_id",))
class StyleNote(NodeModel):
    """A short note on how an AM writes, learned from their edits to drafts."""

    note_id: Key
    am_id: str
    # The rule that found it ("shorter", "greeting", ..., or "claude").
    rule: str
    text: str
    # How many edits showed it; compaction keeps the best supported.
    support: int = Field(default=1, ge=1)
    updated_at: AwareDatetime


@node_type("CapWindow", key="window_id")
class CapWindow(NodeModel):
    """The compare-and-set token of one send cap (``contact:<id>``, ``account:<id>``,
    ``domain:<domain>``, ``mailbox:<address>``): every claim of a message bumps the
    version of its four windows in the claim's commit, so two relays counting the
    same cap at once cannot both claim its last slot."""

    window_id: Key
    version: int = Field(default=0, ge=0)
    updated_at: AwareDatetime


@node_type("Suppression", key="address")
class Suppression(NodeModel):
    """An address, or an ``@domain`` and every domain under it, nothing is ever sent to.

    Addresses are compared without case: keys are stored lower-cased.
    """

    address: LowerKey
    reason: str
    source: str | None = None
    added_at: AwareDatetime


@node_type("Decision", key="decision_id", indexed=("decided_at",))
class Decision(NodeModel):
    """What a person decided about a match, draft, escalation, task or unconfirmed
    send, and why: who acted, in what right, and for whom."""

    decision_id: Key
    kind: DecisionKind
    decided_at: AwareDatetime
    # The acting person (an AM id, or an admin as TWOLOOP_ADMINS names them), their
    # right to act, and the item's owner they acted for (None: the item has none).
    actor: str | None = None
    role: ActorRole | None = None
    on_behalf_of: str | None = None
    reason: str | None = None
    # A kill's or a cancel's reason from a fixed list (app.decisions.REASON_CODES), so
    # reasons can be counted; ``reason`` keeps the person's own words beside it.
    reason_code: str | None = None
    defer_until: dt.date | None = None
    # A reassignment: the AM the item went to (``on_behalf_of`` is the one it left).
    reassigned_to: str | None = None
    # The match as the AM saw it (features JSON, score, model), so learning uses
    # what was decided on even after later runs rescore the match.
    features: str | None = None
    score: float | None = None
    model_version: str | None = None
    # An edit sent although the draft guard stopped it: what it found, confirmed.
    confirmed_findings: list[str] = Field(default_factory=list)


@node_type("SavedView", key="view_id", indexed=("owner",))
class SavedView(NodeModel):
    """A person's named set of queue filters in the console (``app.queue``)."""

    view_id: Key
    # The signed-in person it belongs to (their AM id, or an admin's name).
    owner: str
    name: str
    # The filters as JSON (``app.queue.QueueFilter``).
    filters: str
    saved_at: AwareDatetime


@node_type("ScoreModel", key="model_id", indexed=("active",))
class ScoreModel(NodeModel):
    """One version of the match score's weights; the active one scores the next run."""

    model_id: Key
    version: int = Field(ge=0)
    created_at: AwareDatetime
    active: bool = False
    # The model itself (bias, weights, half-lives, thresholds) as JSON.
    weights: str
    trained_on: int = Field(default=0, ge=0)
    # Held-out metrics before/after the fit (JSON), and what it was refit from.
    metrics: str = "{}"
    parent: str | None = None


@node_type("IngestRun", key="run_id", indexed=("source",))
class IngestRun(NodeModel):
    """One run of one ingest source, with its counts and watermark."""

    run_id: Key
    source: str
    started_at: AwareDatetime
    finished_at: AwareDatetime | None = None
    status: RunStatus = RunStatus.running
    rows_in: int = Field(default=0, ge=0)
    loaded: int = Field(default=0, ge=0)
    quarantined: int = Field(default=0, ge=0)
    duplicates: int = Field(default=0, ge=0)
    watermark: str | None = None
    batches: int = Field(default=0, ge=0)
    review: int = Field(default=0, ge=0)
    files: list[str] = Field(default_factory=list)
    error: str | None = None
    # Loaded anyway, but worth a look: columns no mapping reads, files without rows.
    warnings: list[str] = Field(default_factory=list)
    # Rows quarantined by an earlier run and met again (not counted as new rejects).
    known_rejects: int = Field(default=0, ge=0)


@node_type("LoopRun", key="run_id", indexed=("status",))
class LoopRun(NodeModel):
    """One run of the scheduled agent loop (``twoloop loop run``): its steps in order,
    each with its status, counts, error and seconds (JSON), written as it goes."""

    run_id: Key
    started_at: AwareDatetime
    finished_at: AwareDatetime | None = None
    # The time the run worked at (its matches' as-of time; ``--now``), usually its start.
    as_of: AwareDatetime
    status: RunStatus = RunStatus.running
    # Who ran it: host:pid.
    holder: str
    full: bool = False
    steps: str = "[]"
    error: str | None = None


@node_type("ScoredAccount", key="account_id", indexed=("recheck_at",))
class ScoredAccount(NodeModel):
    """When an account's pairs were last scored, with which model, and the first time
    time alone could change that (a score decaying past a threshold, a gate's window
    opening or closing): incremental matching rescores it then, or sooner when its
    inputs change."""

    account_id: Key
    as_of: AwareDatetime
    model_version: str
    scored_at: AwareDatetime
    recheck_at: AwareDatetime | None = None


@node_type("ChangeSet", key="changeset_id")
class ChangeSet(NodeModel):
    """The matching inputs one commit changed (ingest, extraction, escalation
    triggers), until incremental matching has rescored the accounts they reach."""

    changeset_id: Key
    # Who wrote it: "ingest:<source>", "extract:<extractor>", "triggers".
    origin: str
    created_at: AwareDatetime
    # Too many keys to list (a first load), or the capability side changed: rescore all.
    full: bool = False
    size: int = Field(default=0, ge=0)
    # JSON: label -> changed node keys (both ends of changed edges included).
    keys: str = "{}"


@node_type("Lease", key="name")
class Lease(NodeModel):
    """A job's lock in the database (Neo4j), so two machines cannot run one job
    (``ingest``, ``loop``) at once: taken and renewed by compare-and-set, free again
    when it expires or its holder gives it back (owner empty)."""

    name: Key
    owner: str = ""
    host: str | None = None
    pid: int | None = None
    renewed_at: AwareDatetime
    expires_at: AwareDatetime
    version: int = Field(default=0, ge=0)


@node_type("QuarantinedRow", key="row_id", indexed=("source",))
class QuarantinedRow(NodeModel):
    """A row an ingest source could not load, remembered by its source, file and
    content, so later runs that read it again do not count it as a new reject."""

    row_id: Key
    source: str
    file: str
    # Where it was first seen, and why it was rejected then.
    row: int
    field: str
    reason: str
    first_run: str
    first_seen: AwareDatetime


# ---------------------------------------------------------------- edges


@edge_type("WORKS_AT", endpoints=[("Person", "Account")])
class WorksAt(EdgeModel):
    """A person's current employer."""

    title: str | None = None
    since: dt.date | None = None


@edge_type("REPORTS_TO", endpoints=[("Person", "Person"), ("AccountManager", "AccountManager")])
class ReportsTo(EdgeModel):
    """Org chart line: the source reports to the target."""


@edge_type("PREVIOUSLY_AT", endpoints=[("Person", "Account")])
class PreviouslyAt(EdgeModel):
    """A past employer (a job change)."""

    title: str | None = None
    until: dt.date | None = None
    # What they championed there, when the job-change record says (capability ids or
    # names); empty when unknown. ``matching.derived`` turns it into CHAMPIONED edges.
    championed: list[str] = Field(default_factory=list)


@edge_type("CHAMPIONED", endpoints=[("Person", "Opportunity"), ("Person", "Capability")])
class Championed(EdgeModel):
    """The person championed a deal (a contact role on it) or a capability (the
    job-change record's ``championed`` column) at an employer."""

    role: str | None = None
    until: dt.date | None = None  # when they left the employer where they championed it
    source: str | None = None  # contact_role or job_change


@edge_type("SAME_AS", endpoints=[("Person", "Person")])
class SameAs(EdgeModel):
    """Two CRM records of one person: the older record (at the old employer) points to
    the newer one (at the new employer), which is the one to contact."""


@edge_type("OWNS", endpoints=[("AccountManager", "Account")])
class Owns(EdgeModel):
    """The AM who owns the account. A CRM may give several (an owner column in two
    exports, an owner who changed): ``matching.owners`` marks the one that counts
    ``primary``, and gives an account with no owner column the owner of its deals
    (``derived``)."""

    since: AwareDatetime | None = None  # when the CRM record naming this owner changed
    primary: bool | None = None
    derived: bool | None = None


@edge_type("IN_INDUSTRY", endpoints=[("Account", "Industry")])
class InIndustry(EdgeModel):
    """The account's industry."""


@edge_type("SUBSIDIARY_OF", endpoints=[("Account", "Account")])
class SubsidiaryOf(EdgeModel):
    """The source account is a subsidiary of the target."""


@edge_type("USES", endpoints=[("Account", "Technology")])
class Uses(EdgeModel):
    """The account runs this technology."""

    since: dt.date | None = None
    source: str | None = None


@edge_type("EMITTED", endpoints=[("Account", "Signal"), ("Person", "Signal")])
class Emitted(EdgeModel):
    """The account or person the signal is about or came from."""


@edge_type("INDICATES", endpoints=[("Signal", "Need")], merge_on=("extractor",))
class Indicates(EdgeModel):
    """An extractor read this need in the signal, with a confidence and its evidence."""

    extractor: str
    confidence: float = Field(ge=0.0, le=1.0)
    evidence: str | None = None


@edge_type("VIEWED", endpoints=[("Signal", "Capability")])
class Viewed(EdgeModel):
    """The signal is a visit to a page of our own site about the capability (the
    catalog's ``site_pages``)."""

    page: str


@edge_type("DESCRIBED_BY", endpoints=[("Account", "Need")])
class DescribedBy(EdgeModel):
    """The account's own description (what the company does, from the CRM) is about
    the need: it sells a remedy for it, so it is not a buyer (``matching.offers``)."""

    evidence: str | None = None
    confidence: float = Field(default=1.0, ge=0.0, le=1.0)


@edge_type("ADDRESSES", endpoints=[("Capability", "Need")])
class Addresses(EdgeModel):
    """The capability solves the need."""


@edge_type("INTEGRATES_WITH", endpoints=[("Capability", "Technology")])
class IntegratesWith(EdgeModel):
    """The capability works with the technology."""


@edge_type("FITS", endpoints=[("Capability", "Industry")])
class Fits(EdgeModel):
    """The capability is a fit for the industry."""


@edge_type("FOR", endpoints=[("Opportunity", "Account"), ("Match", "Account")])
class For(EdgeModel):
    """The account a deal or a match is for."""


@edge_type("INCLUDES", endpoints=[("Opportunity", "Capability")])
class Includes(EdgeModel):
    """A capability sold (or offered) in the deal."""

    quantity: float | None = Field(default=None, ge=0)
    amount: float | None = Field(default=None, ge=0)


@edge_type("WORKED", endpoints=[("Person", "Opportunity"), ("AccountManager", "Opportunity")])
class Worked(EdgeModel):
    """A person or AM took part in the deal (champion, buyer, seller)."""

    role: str | None = None


@edge_type("ABOUT", endpoints=[("Activity", "Account")])
class About(EdgeModel):
    """The account an activity concerns."""


@edge_type("INVOLVED", endpoints=[("Activity", "Person"), ("Activity", "AccountManager")])
class Involved(EdgeModel):
    """Who took part in the activity."""


@edge_type("OFFERS", endpoints=[("Match", "Capability")])
class Offers(EdgeModel):
    """The capability a match proposes."""


@edge_type(
    "ASSIGNED_TO",
    endpoints=[
        ("Match", "AccountManager"),
        ("Escalation", "AccountManager"),
        ("Task", "AccountManager"),
    ],
)
class AssignedTo(EdgeModel):
    """The AM whose queue the match, escalation or task is in."""


@edge_type("CONTACT", endpoints=[("Match", "Person")])
class Contact(EdgeModel):
    """The person the match suggests contacting, and why."""

    reason: str | None = None


@edge_type("ROUTES", endpoints=[("Route", "Match")])
class Routes(EdgeModel):
    """The match a route decides on."""


@edge_type("DRAFTED_FOR", endpoints=[("Draft", "Match")])
class DraftedFor(EdgeModel):
    """The match a draft was written for."""


@edge_type(
    "DECIDED_ON",
    endpoints=[
        ("Decision", "Match"),
        ("Decision", "Draft"),
        ("Decision", "Escalation"),
        ("Decision", "Task"),
        ("Decision", "OutboxMessage"),
        ("Decision", "PlayRun"),
        ("Decision", "Reply"),
    ],
)
class DecidedOn(EdgeModel):
    """What the decision is about."""


@edge_type("DECIDED_BY", endpoints=[("Decision", "AccountManager")])
class DecidedBy(EdgeModel):
    """Who made the decision, when they are an AccountManager (an admin who is not
    one is named only by the decision's ``actor``)."""


@edge_type("ESCALATES", endpoints=[("Escalation", "Account")])
class Escalates(EdgeModel):
    """The account an escalation stops automation for."""


@edge_type(
    "TRIGGERED_BY",
    endpoints=[
        ("Escalation", "Signal"),
        ("Escalation", "Activity"),
        ("Escalation", "Match"),
        ("Escalation", "Reply"),
    ],
)
class TriggeredBy(EdgeModel):
    """What raised the escalation."""


@edge_type(
    "FIRED_BY",
    endpoints=[
        ("PlayRun", "Signal"),
        ("PlayRun", "Activity"),
        ("PlayRun", "Reply"),
        ("PlayRun", "Decision"),
        ("PlayRun", "OutboxMessage"),
    ],
)
class FiredBy(EdgeModel):
    """The events that made a play fire (the run's ``events``)."""


@edge_type("ANSWERS", endpoints=[("Reply", "OutboxMessage")])
class Answers(EdgeModel):
    """The sent message a reply answers (its thread)."""


@edge_type("QUEUED_FROM", endpoints=[("OutboxMessage", "Draft")])
class QueuedFrom(EdgeModel):
    """The draft an outbox message carries."""


@edge_type("STYLE_OF", endpoints=[("StyleNote", "AccountManager")])
class StyleOf(EdgeModel):
    """The AM a style note describes."""
