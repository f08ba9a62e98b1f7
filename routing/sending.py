"""The send-time rules (``routing/sending.yaml``), validated on load."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from graph_model.settings import Settings
from graph_model.yamlfile import read_yaml, validate

DEFAULT_FILE = Path(__file__).with_name("sending.yaml")


class Caps(BaseModel):
    model_config = ConfigDict(extra="forbid")

    per_contact: int = Field(ge=0)
    per_account: int = Field(ge=0)
    per_domain: int = Field(ge=0)
    per_mailbox: int = Field(ge=0)


class QuietHours(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: dt.time
    end: dt.time
    weekends: bool = True

    @field_validator("start", "end", mode="before")
    @classmethod
    def _clock(cls, value: object) -> object:
        if isinstance(value, str):
            return dt.time.fromisoformat(value)
        return value


class Footer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    postal_address: str = Field(min_length=5)
    unsubscribe_url: str = Field(pattern=r"^https://.*\{message_id\}")
    unsubscribe_mailto: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")


class SendingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    from_domains: list[str] = Field(min_length=1)
    link_domains: list[str] = Field(default_factory=list)
    caps: Caps
    quiet_hours: QuietHours
    footer: Footer
    lease_minutes: int = Field(default=10, ge=1)


def configured_sending(settings: Settings) -> SendingConfig:
    """The send-time rules ``TWOLOOP_SENDING_CONFIG`` names, or the shipped ones."""
    return load_sending(Path(settings.sending_config) if settings.sending_config else None)


def load_sending(path: Path | None = None) -> SendingConfig:
    path = path or DEFAULT_FILE
    return validate(SendingConfig, read_yaml(path), str(path))
