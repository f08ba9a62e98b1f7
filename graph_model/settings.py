"""The one settings registry.

Every setting has a name, a default and help text here and is read from the
environment as ``TWOLOOP_<NAME>``. README's configuration table must list each
one (a test checks it).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from graph_model.errors import ConfigError


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TWOLOOP_", extra="ignore", frozen=True)

    graph_uri: str = Field(
        default=".twoloop/graph",
        description="Where the graph lives: a directory for the embedded store, or a "
        "neo4j://, neo4j+s://, bolt:// or bolt+s:// URI for Neo4j or Aura.",
    )
    neo4j_user: str = Field(default="neo4j", description="Neo4j user name.")
    neo4j_password: str | None = Field(
        default=None, description="Neo4j password; unset means connect without authentication."
    )
    neo4j_database: str = Field(default="neo4j", description="Neo4j database name (Aura: neo4j).")
    batch_size: int = Field(
        default=10_000,
        ge=1,
        le=1_000_000,
        description="Rows per UNWIND batch and Neo4j transaction.",
    )
    neo4j_write_workers: int = Field(
        default=2,
        ge=1,
        le=16,
        description="Concurrent write transactions for large upserts into Neo4j (edges are "
        "split by source node so writers never deadlock).",
    )
    neo4j_retry_seconds: float = Field(
        default=30.0,
        gt=0,
        description="How long a Neo4j transaction is retried on transient errors.",
    )
    lock_timeout: float = Field(
        default=30.0,
        ge=0,
        description="Seconds a writer waits for the embedded store's write lock.",
    )
    lease_seconds: float = Field(
        default=600.0,
        gt=0,
        description="Neo4j: how long an ingest or loop lease lives without renewal; its "
        "holder renews it every third of that, so a holder that died frees it this long after "
        "(at once when it died on this machine).",
    )
    compact_segments: int = Field(
        default=16,
        ge=1,
        description="Embedded store: a table with more Parquet segments than this is "
        "compacted into one on the next write.",
    )
    anthropic_api_key: str | None = Field(
        default=None,
        validation_alias=AliasChoices("TWOLOOP_ANTHROPIC_API_KEY", "ANTHROPIC_API_KEY"),
        description="Claude API key (ANTHROPIC_API_KEY is read too); unset means the offline "
        "implementations (rules and paraphrase extractors, offline drafter) are used, and "
        "commands say so.",
    )
    anthropic_base_url: str | None = Field(
        default=None,
        description="Messages API base URL, e.g. a gateway or a local test server; unset means "
        "the SDK's default.",
    )
    claude_extract_model: str = Field(
        default="claude-haiku-4-5",
        description="Claude model for signal -> need extraction.",
    )
    offline_extractor: Literal["paraphrase", "rules"] = Field(
        default="paraphrase",
        description="What extracts needs from signals when no Claude key is set: paraphrase "
        "(the rules extractor and the paraphrase extractor, a local all-MiniLM-L6-v2 that "
        "finds needs stated in other words; needs the pinned model packages) or rules "
        "(catalog phrases only).",
    )
    claude_draft_model: str = Field(
        default="claude-sonnet-4-5",
        description="Claude model for outreach drafts (and style notes from AM edits).",
    )
    draft_min_personalization: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="A draft scoring below this personalization (0 to 1) is never sent "
        "automatically: its auto_send becomes an approval.",
    )
    claude_timeout: float = Field(
        default=60.0, gt=0, description="Seconds before one Claude request times out."
    )
    claude_max_retries: int = Field(
        default=3,
        ge=0,
        le=10,
        description="Retries of a Claude request on transient errors (429, 5xx, overload, "
        "connection), with the SDK's backoff.",
    )
    smtp_host: str | None = Field(
        default=None,
        description="SMTP server the outbox relay sends email through; unset means no email "
        "goes out (messages wait in the outbox, and commands say so).",
    )
    smtp_port: int = Field(default=587, ge=1, le=65535, description="SMTP port.")
    smtp_starttls: bool = Field(
        default=True, description="Upgrade the SMTP connection with STARTTLS before sending."
    )
    smtp_user: str | None = Field(default=None, description="SMTP login; unset means no AUTH.")
    smtp_password: str | None = Field(default=None, description="SMTP password.")
    imap_url: str | None = Field(
        default=None,
        description="The mailbox replies are read from: imap://USER@HOST:PORT/INBOX (plain, "
        "local servers only), imap+starttls://... or imaps://...; unset means replies come "
        "only from CRM exports.",
    )
    imap_password: str | None = Field(
        default=None, description="The IMAP password, when TWOLOOP_IMAP_URL does not hold it."
    )
    claude_reply_model: str = Field(
        default="claude-haiku-4-5",
        description="Claude model that classifies inbound replies (the rules do without a key).",
    )
    alert_webhook_url: str | None = Field(
        default=None,
        description="Slack-compatible incoming webhook for alerts to people (escalations, "
        "voice-note requests); unset means alerts only land in the queue.",
    )
    plays_file: str | None = Field(
        default=None,
        description="The plays file (event-triggered motions: twoloop plays); unset means "
        "the shipped routing/plays.yaml, `off` runs no plays.",
    )
    sending_config: str | None = Field(
        default=None,
        description="The send-time rules file (from domains, caps, quiet hours, footer); "
        "unset means the shipped routing/sending.yaml.",
    )
    admins: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="Who may act on every AM's book in the human loop (approve, edit, "
        "cancel, decide, resolve), recorded as acting on behalf of the owner: "
        "comma-separated AccountManager ids or emails; unset means nobody.",
    )
    console_host: str = Field(
        default="127.0.0.1",
        description="Address the console (twoloop console) listens on; dev sign-in refuses "
        "anything but a loopback address.",
    )
    console_port: int = Field(default=8501, ge=1, le=65535, description="Console port.")
    console_auth: Literal["oidc", "dev"] = Field(
        default="oidc",
        description="How people sign in to the console: oidc (an OpenID Connect provider, the "
        "settings below) or dev (pick a user from a list, loopback only, with a banner).",
    )
    console_oidc_metadata_url: str | None = Field(
        default=None,
        description="The provider's discovery document "
        "(https://issuer/.well-known/openid-configuration); required for oidc sign-in.",
    )
    console_oidc_client_id: str | None = Field(
        default=None, description="The console's client id at the OpenID Connect provider."
    )
    console_oidc_client_secret: str | None = Field(
        default=None, description="The console's client secret at the OpenID Connect provider."
    )
    console_cookie_secret: str | None = Field(
        default=None,
        description="Secret that signs the console's sign-in cookie (32+ random characters); "
        "required for oidc sign-in.",
    )
    console_redirect_uri: str | None = Field(
        default=None,
        description="Where the provider sends people back after sign-in; unset means "
        "http://HOST:PORT/oauth2callback from the two settings above. Register it with the "
        "provider.",
    )
    console_stale_days: int = Field(
        default=14,
        ge=1,
        description="An item waiting in a queue longer than this many days is flagged stale.",
    )
    dev_neo4j_heap: str = Field(default="1g", description="Heap (-Xmx) of the dev/test Neo4j.")
    dev_neo4j_pagecache_mb: int = Field(
        default=512, ge=16, description="Page cache of the dev/test Neo4j, in MiB."
    )
    chromium: str = Field(
        default="/usr/bin/chromium",
        description="The Chromium executable the console's browser tests drive (Debian's "
        "chromium package; make test installs it).",
    )
    test_neo4j_uri: str | None = Field(
        default=None,
        description="Tests use this Neo4j instead of starting their own (it will be written to).",
    )

    @field_validator("admins", mode="before")
    @classmethod
    def _split_admins(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value


def load_settings() -> Settings:
    """Read settings from the environment, as our own typed error on bad values."""
    try:
        return Settings()
    except ValidationError as exc:
        err = exc.errors()[0]
        name = "TWOLOOP_" + str(err["loc"][0]).upper() if err["loc"] else "TWOLOOP_?"
        raise ConfigError(name, err["msg"]) from None


def setting_env_names() -> list[str]:
    return ["TWOLOOP_" + name.upper() for name in Settings.model_fields]
