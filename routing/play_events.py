"""The events plays react to, read from the graph, and what they are about.

``read_events(store, source, start, end)`` gives one row per event of a source
(signals, activities, replies, decisions, sends) in a time window, with the
fields a play's ``where`` reads (``routing.plays.EVENT_FIELDS``), who it is about
(account, person, match) and the names its reason fills in. ``subjects`` adds the
fields ``when`` reads (``routing.plays.SUBJECT_FIELDS``): the account's tier and
relationship, the person's seniority, the match's score and current route, and
the AM who owns it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl

from graph_model.store import Filter, GraphStore
from matching.owners import account_owners
from routing.escalation import open_escalations

EVENT_COLUMNS = ("event", "at", "account_id", "person_id", "match_id", "event_title")
_ITEM_OF = {
    "Match": "match",
    "Draft": "draft",
    "Escalation": "escalation",
    "Task": "task",
    "OutboxMessage": "send",
    "PlayRun": "play",
    "Reply": "reply",
}


def read_events(
    store: GraphStore, source: str, start: dt.datetime, end: dt.datetime
) -> list[dict[str, Any]]:
    """The events of ``source`` that happened in ``[start, end]``, oldest first."""
    reader = {
        "signal": _signals,
        "activity": _activities,
        "reply": _replies,
        "decision": _decisions,
        "send": _sends,
    }[source]
    rows = reader(store, start, end)
    rows.sort(key=lambda r: (r["at"], r["event"]))
    return rows


def _window(field: str, start: dt.datetime, end: dt.datetime) -> list[Filter]:
    return [Filter(field, "gte", start), Filter(field, "lte", end)]


def _works_at(store: GraphStore, people: list[str]) -> dict[str, str]:
    if not people:
        return {}
    edges = store.edges("WORKS_AT", touching=people, side="source", label="Person")
    return dict(edges.sort("dst").select("src", "dst").iter_rows())


def _signals(store: GraphStore, start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
    signals = store.nodes("Signal", _window("occurred_at", start, end))
    if signals.is_empty():
        return []
    ids = signals["signal_id"].to_list()
    emitted = store.edges("EMITTED", touching=ids, side="target", label="Signal")
    by_person = emitted.filter(pl.col("src_label") == "Person")
    by_account = emitted.filter(pl.col("src_label") == "Account")
    person_of = dict(by_person.select("dst", "src").iter_rows())
    account_of = dict(by_account.select("dst", "src").iter_rows())
    employer = _works_at(store, sorted(set(person_of.values())))
    # The needs each signal indicates, surest first, and who addresses them.
    indicates = store.edges("INDICATES", touching=ids, side="source", label="Signal")
    addressed: dict[str, str] = {}
    need_names: dict[str, str] = {}
    if indicates.height:
        needs = sorted(set(indicates["dst"].to_list()))
        need_names = store.names("Need", needs)
        addresses = store.edges("ADDRESSES", touching=needs, side="target", label="Need")
        cap_names = store.names("Capability", addresses["src"].unique().to_list())
        for cap, need in addresses.sort("src").select("src", "dst").iter_rows():
            addressed.setdefault(need, cap_names.get(cap) or cap)
    best_need: dict[str, tuple[str, str | None]] = {}
    for sig, need, conf in (
        indicates.sort(["src", "confidence", "dst"], descending=[False, True, False])
        .select("src", "dst", "confidence")
        .iter_rows()
    ):
        _ = conf
        have = best_need.get(sig)
        # Prefer the surest need one of our capabilities addresses.
        if have is None or (have[1] is None and need in addressed):
            best_need[sig] = (need, addressed.get(need))
    viewed = store.edges("VIEWED", touching=ids, side="source", label="Signal")
    viewed_cap = store.names("Capability", viewed["dst"].unique().to_list())
    viewed_of = {
        s: viewed_cap.get(c, c) for s, c in viewed.sort("dst").select("src", "dst").iter_rows()
    }
    rows = []
    for s in signals.iter_rows(named=True):
        sid = s["signal_id"]
        person = person_of.get(sid)
        account = account_of.get(sid) or (employer.get(person) if person else None)
        if account is None:
            continue
        need, capability = best_need.get(sid, (None, None))
        rows.append(
            {
                "event": f"signal:{sid}",
                "at": s["occurred_at"],
                "account_id": account,
                "person_id": person,
                "match_id": None,
                "event_title": s.get("title") or f"{s['kind'].replace('_', ' ')} ({s['source']})",
                "title": s.get("title"),
                "kind": s["kind"],
                "source": s["source"],
                "url": s.get("url"),
                "text": s.get("text") or "",
                "strength": s.get("strength"),
                "by": "person" if person else "account",
                "solves": capability is not None,
                "need": need_names.get(need, need) if need else None,
                "capability": capability or viewed_of.get(sid),
            }
        )
    return rows


def _activities(store: GraphStore, start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
    acts = store.nodes("Activity", _window("occurred_at", start, end))
    if acts.is_empty():
        return []
    ids = acts["activity_id"].to_list()
    about = dict(
        store.edges("ABOUT", touching=ids, side="source", label="Activity")
        .sort("dst")
        .select("src", "dst")
        .iter_rows()
    )
    involved = store.edges("INVOLVED", touching=ids, side="source", label="Activity")
    people_rows = involved.filter(pl.col("dst_label") == "Person")
    employer = _works_at(store, sorted(set(people_rows["dst"].to_list())))
    names = store.names("Person", people_rows["dst"].unique().to_list(), field="full_name")
    owners = account_owners(store, sorted(set(about.values())))
    network = am_network(store, sorted(set(owners.values())))
    people_of: dict[str, list[str]] = {}
    for act, person in people_rows.sort("dst").select("src", "dst").iter_rows():
        people_of.setdefault(act, []).append(person)
    rows = []
    for a in acts.iter_rows(named=True):
        aid = a["activity_id"]
        account = about.get(aid)
        if account is None:
            continue
        people = people_of.get(aid, [])
        inside = [p for p in people if employer.get(p) == account]
        outside = [p for p in people if employer.get(p) != account]
        am = owners.get(account)
        referrers = [p for p in outside if am and p in network.get(am, set())]
        referrer = (referrers or outside or [None])[0]
        rows.append(
            {
                "event": f"activity:{aid}",
                "at": a["occurred_at"],
                "account_id": account,
                "person_id": (inside or [None])[0],
                "match_id": None,
                "event_title": a.get("subject") or a["kind"],
                "kind": a["kind"],
                "direction": a.get("direction"),
                "subject": a.get("subject"),
                "summary": a.get("summary"),
                "referrer": names.get(referrer) if referrer else None,
                "referrer_in_network": bool(referrers),
            }
        )
    return rows


def am_network(store: GraphStore, ams: list[str]) -> dict[str, set[str]]:
    """The people each AM has worked with: on a deal (both WORKED it) or in an
    activity (both INVOLVED)."""
    found: dict[str, set[str]] = {am: set() for am in ams}
    if not ams:
        return found
    # Deals: AccountManager -WORKED-> Opportunity <-WORKED- Person.
    deals = store.edges("WORKED", touching=ams, side="source", label="AccountManager")
    if deals.height:
        shared = store.edges("WORKED", touching=deals["dst"].unique().to_list(), side="target")
        _pairs(found, deals.select(pl.col("src").alias("am"), "dst"), shared, "src")
    # Activities: Activity -INVOLVED-> AccountManager, and -INVOLVED-> Person.
    acts = store.edges("INVOLVED", touching=ams, side="target", label="AccountManager")
    if acts.height:
        shared = store.edges("INVOLVED", touching=acts["src"].unique().to_list(), side="source")
        mine = acts.select(pl.col("dst").alias("am"), pl.col("src").alias("dst"))
        _pairs(found, mine, shared, "dst")
    return found


def _pairs(
    found: dict[str, set[str]], mine: pl.DataFrame, shared: pl.DataFrame, person_side: str
) -> None:
    """Add to ``found`` each (AM, person) who share an item: ``mine`` is (am, dst=item),
    ``shared`` the item's edges with the person on ``person_side``."""
    item_side = "dst" if person_side == "src" else "src"
    people = shared.filter(pl.col(f"{person_side}_label") == "Person").select(
        pl.col(person_side).alias("person"), pl.col(item_side).alias("dst")
    )
    for am, person in mine.join(people, on="dst").select("am", "person").iter_rows():
        found[am].add(person)


def _replies(store: GraphStore, start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
    replies = store.nodes("Reply", _window("received_at", start, end))
    return [
        {
            "event": f"reply:{r['reply_id']}",
            "at": r["received_at"],
            "account_id": r["account_id"],
            "person_id": r.get("person_id"),
            "match_id": r.get("match_id"),
            "event_title": r.get("subject") or "a reply",
            "classification": r["classification"],
            "subject": r.get("subject"),
        }
        for r in replies.iter_rows(named=True)
    ]


def _decisions(store: GraphStore, start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
    decisions = store.nodes("Decision", _window("decided_at", start, end))
    if decisions.is_empty():
        return []
    on = store.edges(
        "DECIDED_ON", touching=decisions["decision_id"].to_list(), side="source", label="Decision"
    )
    target = {
        src: (label, key)
        for src, label, key in on.sort("dst").select("src", "dst_label", "dst").iter_rows()
    }
    accounts: dict[tuple[str, str], tuple[str | None, str | None]] = {}
    for label in sorted({lab for lab, _ in target.values()}):
        keys = sorted({k for lab, k in target.values() if lab == label})
        spec = store.registry.node(label)
        frame = store.get_nodes(label, keys)
        for row in frame.iter_rows(named=True):
            accounts[(label, row[spec.key])] = (row.get("account_id"), row.get("match_id"))
    # Drafts name their match, not their account.
    draft_matches = {m for (lab, _), (_, m) in accounts.items() if lab == "Draft" and m}
    match_account = (
        dict(
            store.get_nodes("Match", sorted(draft_matches), fields=["account_id"])
            .select("match_id", "account_id")
            .iter_rows()
        )
        if draft_matches
        else {}
    )
    rows = []
    for d in decisions.iter_rows(named=True):
        label, key = target.get(d["decision_id"], (None, None))
        if label is None or key is None:
            continue
        account, match = accounts.get((label, key), (None, None))
        if label == "Match":
            match = key
        account = account or (match_account.get(match) if match else None)
        if account is None:
            continue
        rows.append(
            {
                "event": f"decision:{d['decision_id']}",
                "at": d["decided_at"],
                "account_id": account,
                "person_id": None,
                "match_id": match,
                "event_title": f"{d['kind']} on a {_ITEM_OF.get(label, label.lower())}",
                "kind": d["kind"],
                "reason_code": d.get("reason_code"),
                "item": _ITEM_OF.get(label, label.lower()),
            }
        )
    return rows


def _sends(store: GraphStore, start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
    sent = store.nodes(
        "OutboxMessage", [Filter("status", "eq", "sent"), *_window("sent_at", start, end)]
    )
    if sent.is_empty():
        return []
    drafts = store.get_nodes("Draft", sent["draft_id"].unique().to_list(), fields=["purpose"])
    purpose = dict(drafts.select("draft_id", "purpose").iter_rows())
    return [
        {
            "event": f"send:{m['message_id']}",
            "at": m["sent_at"],
            "account_id": m["account_id"],
            "person_id": m.get("person_id"),
            "match_id": m["match_id"],
            "event_title": m["subject"],
            "purpose": purpose.get(m["draft_id"]) or "outreach",
            "subject": m["subject"],
            "message_id": m["message_id"],
        }
        for m in sent.iter_rows(named=True)
        if m.get("channel", "email") == "email"
    ]


def subjects(store: GraphStore, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """For each event, what it is about: the subject fields plays filter on, the AM,
    the match a play would act on, and the names a reason fills in."""
    if not events:
        return []
    account_ids = sorted({e["account_id"] for e in events})
    accounts = {
        r["account_id"]: r for r in store.get_nodes("Account", account_ids).iter_rows(named=True)
    }
    owners = account_owners(store, account_ids)
    people_ids = sorted({e["person_id"] for e in events if e.get("person_id")})
    people = (
        {r["person_id"]: r for r in store.get_nodes("Person", people_ids).iter_rows(named=True)}
        if people_ids
        else {}
    )
    escalated = set(open_escalations(store, account_ids)["account_id"].to_list())
    open_deal = _open_deals(store, account_ids)
    matches = store.nodes(
        "Match",
        [
            Filter("account_id", "in", account_ids),
            Filter("status", "in", ["proposed", "validated", "deferred"]),
        ],
    )
    given = sorted({e["match_id"] for e in events if e.get("match_id")})
    if given:
        matches = pl.concat(
            [
                matches,
                store.get_nodes("Match", given).filter(
                    ~pl.col("match_id").is_in(matches["match_id"].implode())
                ),
            ],
            how="diagonal_relaxed",
        )
    cap_ids = matches["capability_id"].unique().to_list() if matches.height else []
    capabilities = (
        {
            r["capability_id"]: r
            for r in store.get_nodes("Capability", cap_ids).iter_rows(named=True)
        }
        if cap_ids
        else {}
    )
    by_match = {r["match_id"]: r for r in matches.iter_rows(named=True)}
    routes = _current_routes(store, list(by_match))
    assigned = _assigned(store, list(by_match))
    ams = store.names(
        "AccountManager", set(owners.values()) | set(assigned.values()), field="full_name"
    )
    out: list[dict[str, Any]] = []
    for e in events:
        account = accounts.get(e["account_id"], {})
        match = by_match.get(e["match_id"]) if e.get("match_id") else None
        if match is None:
            match = _best_match(matches, e["account_id"], capabilities, e.get("capability"))
        person = people.get(e.get("person_id") or "", {})
        capability = capabilities.get(match["capability_id"], {}) if match else {}
        am = (assigned.get(match["match_id"]) if match else None) or owners.get(e["account_id"])
        out.append(
            {
                "account_id": e["account_id"],
                "person_id": e.get("person_id"),
                "match_id": match["match_id"] if match else e.get("match_id"),
                "am_id": am,
                "am": ams.get(am or "", am),
                "account": account.get("name", e["account_id"]),
                "person": person.get("full_name"),
                "capability": e.get("capability") or capability.get("name"),
                "tier": account.get("tier") or "none",
                "relationship": account.get("relationship"),
                "in_icp": account.get("in_icp"),
                "employees": account.get("employees"),
                "country": account.get("country"),
                "open_deal": e["account_id"] in open_deal,
                "escalated": e["account_id"] in escalated,
                "seniority": person.get("seniority"),
                "department": person.get("department"),
                "title": person.get("title"),
                "event": e.get("event_title"),
                "need": e.get("need"),
                "referrer": e.get("referrer"),
                "persona": _persona(person, capability) if person else None,
                "do_not_contact": person.get("do_not_contact") if person else None,
                "score": match["score"] if match else None,
                "route": routes.get(match["match_id"]) if match else None,
            }
        )
    return out


def _open_deals(store: GraphStore, account_ids: list[str]) -> set[str]:
    opps = store.edges("FOR", touching=account_ids, side="target", label="Account").filter(
        pl.col("src_label") == "Opportunity"
    )
    if opps.is_empty():
        return set()
    status = store.get_nodes("Opportunity", opps["src"].unique(), fields=["status"]).select(
        pl.col("opportunity_id").alias("src"), "status"
    )
    joined = opps.join(status, on="src").filter(pl.col("status") == "open")
    return set(joined["dst"].to_list())


def _current_routes(store: GraphStore, match_ids: list[str]) -> dict[str, str]:
    if not match_ids:
        return {}
    routes = store.nodes(
        "Route", [Filter("match_id", "in", match_ids), Filter("current", "eq", True)]
    )
    return dict(routes.sort("routed_at").select("match_id", "action").iter_rows())


def _assigned(store: GraphStore, match_ids: list[str]) -> dict[str, str]:
    if not match_ids:
        return {}
    edges = store.edges("ASSIGNED_TO", touching=match_ids, side="source", label="Match")
    return dict(edges.sort("dst").select("src", "dst").iter_rows())


def _best_match(
    matches: pl.DataFrame,
    account_id: str,
    capabilities: dict[str, dict[str, Any]],
    capability_name: str | None,
) -> dict[str, Any] | None:
    """The account's match a play acts on: the one for the capability the event is
    about, else the best scored."""
    if matches.is_empty():
        return None
    mine = matches.filter(pl.col("account_id") == account_id).sort(
        ["score", "match_id"], descending=[True, False]
    )
    if mine.is_empty():
        return None
    if capability_name:
        for row in mine.iter_rows(named=True):
            if capabilities.get(row["capability_id"], {}).get("name") == capability_name:
                return row
    return mine.row(0, named=True)


def _persona(person: dict[str, Any], capability: dict[str, Any]) -> bool:
    """The person fits the capability's buyer persona: a title word, the department
    or the seniority the catalog names (no persona named: anyone senior fits)."""
    titles = [t.lower() for t in capability.get("persona_titles") or []]
    departments = [d.lower() for d in capability.get("persona_departments") or []]
    seniorities = list(capability.get("persona_seniorities") or [])
    title = (person.get("title") or "").lower()
    if not (titles or departments or seniorities):
        return person.get("seniority") in ("director", "vp", "executive")
    return bool(
        (titles and any(t in title for t in titles))
        or (departments and (person.get("department") or "").lower() in departments)
        or (seniorities and person.get("seniority") in seniorities)
    )
