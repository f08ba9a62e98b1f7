"""What the agent-loop commands run with, chosen from the settings (drafter, email and
alert channels, send config), and one agent-loop batch run with it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from app.agent_loop import LoopReport, run_agent_loop
from app.loop import LoopSetup
from app.replies import ReplySetup, choose_reply_classifier, configured_mailbox
from drafting.model import Drafter
from drafting.offline import OfflineDrafter
from graph_model.errors import ConfigFileInvalid
from graph_model.settings import Settings, load_settings
from graph_model.store import GraphStore
from ingest.config import load_config
from matching.indicates import choose_extractors
from routing.channels.smtp import SmtpChannel
from routing.channels.webhook import WebhookChannel
from routing.plays import configured_plays
from routing.policy import load_policy
from routing.sending import configured_sending


def choose_drafter(settings: Settings) -> Drafter:
    """Claude when a key is set, else the offline drafter."""
    if settings.anthropic_api_key:
        from drafting.claude import ClaudeDrafter

        return ClaudeDrafter(settings)
    return OfflineDrafter()


def email_channel(settings: Settings) -> SmtpChannel | None:
    if not settings.smtp_host:
        return None
    return SmtpChannel(
        settings.smtp_host,
        settings.smtp_port,
        starttls=settings.smtp_starttls,
        username=settings.smtp_user,
        password=settings.smtp_password,
    )


def agent_batch(
    store: GraphStore,
    *,
    policy: Path,
    now: dt.datetime,
    am: str | None,
    dry_run: bool,
    send: bool = True,
) -> LoopReport:
    """One agent-loop batch with the configured drafter, channel and alerts; with
    ``send=False`` nothing leaves the machine (messages wait in the outbox)."""
    settings = load_settings()
    checked = load_policy(policy)
    channel = email_channel(settings) if send else None
    alerts = (
        WebhookChannel(settings.alert_webhook_url) if send and settings.alert_webhook_url else None
    )
    try:
        return run_agent_loop(
            store,
            policy=checked,
            drafter=choose_drafter(settings),
            sending=configured_sending(settings),
            now=now,
            min_personalization=settings.draft_min_personalization,
            channel=channel,
            alerts=alerts,
            am=am,
            dry_run=dry_run,
        )
    finally:
        if channel is not None:
            channel.close()


def loop_setup(policy: Path, config: Path | None) -> LoopSetup:
    """What ``loop run`` and scheduled loops run with, from the settings."""
    settings = load_settings()
    plays, plays_error = None, None
    try:
        plays = configured_plays(None, settings)
    except ConfigFileInvalid as exc:
        plays_error = exc
    return LoopSetup(
        policy=load_policy(policy),
        drafter=choose_drafter(settings),
        sending=configured_sending(settings),
        min_personalization=settings.draft_min_personalization,
        extractors=lambda store: choose_extractors(store, settings),
        config=load_config(config) if config else None,
        channel=email_channel(settings),
        alerts=WebhookChannel(settings.alert_webhook_url) if settings.alert_webhook_url else None,
        plays=plays,
        plays_error=plays_error,
        settings=settings,
        replies=ReplySetup(
            mailbox=configured_mailbox(settings), classifier=choose_reply_classifier(settings)
        ),
    )
