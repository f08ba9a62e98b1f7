"""The task channel: what only a person can do (a voice note, a LinkedIn message,
a call, research) becomes a Task in the AM's queue; nothing is sent."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from graph_model.store import WriteBatch

TASK_KINDS = (
    "voice_note",
    "linkedin_message",
    "call",
    "research",
    "custom_message",
    "post_comment",
)


def task_id(kind: str, subject_id: str) -> str:
    return "t-" + hashlib.sha1(f"{kind}\x1f{subject_id}".encode()).hexdigest()[:20]


def add_task(
    write: WriteBatch,
    *,
    kind: str,
    am_id: str,
    account_id: str,
    title: str,
    body: str,
    now: dt.datetime,
    match_id: str | None = None,
    escalation_id: str | None = None,
    play_run_id: str | None = None,
) -> dict[str, Any]:
    """Queue a task for the AM in ``write``; its id is derived from what it is about,
    so adding it again changes nothing."""
    if kind not in TASK_KINDS:
        raise ValueError(f"unknown task kind {kind!r}")
    record = {
        "task_id": task_id(kind, play_run_id or escalation_id or match_id or account_id),
        "am_id": am_id,
        "account_id": account_id,
        "kind": kind,
        "title": title,
        "body": body,
        "match_id": match_id,
        "escalation_id": escalation_id,
        "play_run_id": play_run_id,
        "status": "open",
        "created_at": now,
    }
    write.upsert_nodes("Task", [record])
    write.upsert_edges(
        "ASSIGNED_TO", [{"src_label": "Task", "src": record["task_id"], "dst": am_id}]
    )
    return record
