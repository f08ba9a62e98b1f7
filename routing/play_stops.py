"""When a play run stops: what happened since it fired (``check_stop``).

- ``reply``: a reply from its person (or anyone at its account when it has none),
  since it fired or in the two weeks before (``REPLY_LOOKBACK``: a conversation
  about another match counts too): a threaded Reply that is not an out-of-office,
  or an inbound email from them;
- ``opt_out``: the person is do-not-contact, or their address (or domain) is on
  the suppression list;
- ``meeting``: a meeting with the account was logged;
- ``escalation``: the account was escalated by anything but the run itself.

Every run stops on ``opt_out`` and the AM's cancel (``routing.plays``); the
cancel is the human loop's (``app.play_decisions``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl

from graph_model.store import Filter, GraphStore
from routing.plays import Play

REPLY_LOOKBACK = dt.timedelta(days=14)


def check_stop(
    store: GraphStore, run: dict[str, Any], play: Play, *, now: dt.datetime
) -> str | None:
    """Why the run stops now, or None. Looks only at what happened since it fired."""
    since = run["fired_at"]
    person = run.get("person_id")
    stop_on = play.stops_on()
    if "opt_out" in stop_on and person:
        row = store.get_nodes("Person", [person], fields=["do_not_contact", "email"])
        if row.height and row["do_not_contact"][0]:
            return "the person opted out"
        address = (row["email"][0] or "").lower() if row.height else ""
        if address and _suppressed(store, address):
            return "the person's address is on the suppression list"
    if "reply" in stop_on:
        # A person who answered us shortly before the run fired is in a conversation
        # already (about this match or another): no automated follow-up either.
        who = _replied(store, run, since - REPLY_LOOKBACK, now)
        if who:
            return who
    if "meeting" in stop_on:
        met = store.edges("ABOUT", touching=[run["account_id"]], side="target", label="Account")
        if met.height:
            acts = store.get_nodes("Activity", met["src"].unique(), fields=["kind", "occurred_at"])
            booked = acts.filter(
                (pl.col("kind") == "meeting")
                & (pl.col("occurred_at") > since)
                & (pl.col("occurred_at") <= now)
            )
            if booked.height:
                return "a meeting with the account was logged"
    if "escalation" in stop_on:
        escs = store.nodes(
            "Escalation",
            [Filter("account_id", "eq", run["account_id"]), Filter("opened_at", "gt", since)],
        ).filter(pl.col("trigger") != f"play:{run['run_id']}")
        if escs.height:
            kind = escs.sort("opened_at")["kind"][0]
            return f"the account was escalated ({str(kind).replace('_', ' ')})"
    return None


def _suppressed(store: GraphStore, address: str) -> bool:
    domain = address.rsplit("@", 1)[-1]
    parts = domain.split(".")
    keys = [address] + ["@" + ".".join(parts[i:]) for i in range(len(parts) - 1)]
    return bool(store.existing_keys("Suppression", keys))


def _replied(
    store: GraphStore, run: dict[str, Any], since: dt.datetime, now: dt.datetime
) -> str | None:
    """A reply since the run fired, from its person (or anyone at its account when it
    has none): a threaded Reply that is not an out-of-office, or an inbound email
    from them."""
    person = run.get("person_id")
    where = [Filter("received_at", "gt", since), Filter("received_at", "lte", now)]
    where.append(
        Filter("person_id", "eq", person)
        if person
        else Filter("account_id", "eq", run["account_id"])
    )
    replies = store.nodes("Reply", where)
    away = (
        set(replies.filter(pl.col("classification") == "out_of_office")["activity_id"].to_list())
        if replies.height
        else set()
    )
    real = (
        replies.filter(pl.col("classification") != "out_of_office") if replies.height else replies
    )
    if real.height:
        first = real.sort("received_at").row(0, named=True)
        return f"they replied ({str(first['classification']).replace('_', ' ')})"
    if person:
        edges = store.edges("INVOLVED", touching=[person], side="target", label="Person")
    else:
        edges = store.edges("ABOUT", touching=[run["account_id"]], side="target", label="Account")
    if edges.is_empty():
        return None
    acts = store.get_nodes(
        "Activity", edges["src"].unique(), fields=["kind", "direction", "occurred_at"]
    )
    inbound = acts.filter(
        (pl.col("kind") == "email")
        & (pl.col("direction") == "inbound")
        & (pl.col("occurred_at") > since)
        & (pl.col("occurred_at") <= now)
        & ~pl.col("activity_id").is_in(sorted(away))
    )
    return "they replied (an inbound email)" if inbound.height else None
