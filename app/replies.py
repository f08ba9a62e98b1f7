"""Reading replies end to end: the mailbox (when one is configured), then threading,
classifying and acting on every inbound email that answers one of our sends
(``ingest.mailbox`` then ``routing.replies``). ``twoloop replies read`` and the
scheduled loop's ``replies`` step both call ``read_replies``."""

from __future__ import annotations

import datetime as dt
import ssl
from dataclasses import dataclass
from typing import Any

from graph_model.errors import ModelError
from graph_model.settings import Settings
from graph_model.store import GraphStore
from ingest.mailbox import MailboxConfig, parse_imap_url, read_mailbox
from routing.replies import ReplyClassifier, RulesClassifier, load_reply_rules, thread_replies


def configured_mailbox(settings: Settings, url: str | None = None) -> MailboxConfig | None:
    """The mailbox ``url`` (else ``TWOLOOP_IMAP_URL``) names, or None when neither is set."""
    given = url or settings.imap_url
    if not given:
        return None
    return parse_imap_url(given, password=settings.imap_password)


def choose_reply_classifier(settings: Settings) -> ReplyClassifier:
    """Claude when a key is set, else the rules."""
    if settings.anthropic_api_key:
        from routing.claude_replies import ClaudeReplyClassifier

        try:
            return ClaudeReplyClassifier(settings)
        except ModelError:
            pass
    return RulesClassifier(load_reply_rules())


@dataclass(frozen=True)
class ReplySetup:
    mailbox: MailboxConfig | None = None
    classifier: ReplyClassifier | None = None
    tls: ssl.SSLContext | None = None


def read_replies(
    store: GraphStore, setup: ReplySetup, *, now: dt.datetime, dry_run: bool = False
) -> dict[str, Any]:
    """Fetch the mailbox (if any; not in a dry run), then thread and classify every
    unthreaded inbound email activity. Returns the mailbox's counts (or None) and
    the replies' (``routing.replies.ReplyReport``)."""
    mailbox = None
    if setup.mailbox is not None and not dry_run:
        mailbox = read_mailbox(store, setup.mailbox, now=now, tls=setup.tls).as_dict()
    threaded = thread_replies(
        store,
        now=now,
        classifier=setup.classifier,
        origin=setup.mailbox.origin if setup.mailbox else None,
        dry_run=dry_run,
    )
    return {"mailbox": mailbox, **threaded.as_dict()}
