"""Channel API shapes. Credentials are write-only: reads show which are set and their last 4 characters."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from services.channels.providers.registry import PROVIDERS, ChannelType


class MessageTemplate(BaseModel):
    """An approved WhatsApp message template, sent instead of a reply Meta refuses outside the 24-hour window."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=512, pattern=r"^[a-z0-9_]+$")
    language: str = Field("en_US", min_length=2, max_length=15, pattern=r"^[a-z]{2,3}(_[A-Z]{2})?$")


class ChannelSettings(BaseModel):
    """Per-channel overrides of the tenant's buffer and reply settings; unset means the tenant's value."""

    model_config = ConfigDict(extra="forbid")
    buffer_enabled: bool | None = None
    buffer_seconds: float | None = Field(None, ge=0, le=300)
    buffer_max_wait_seconds: float | None = Field(None, ge=0, le=3600)
    split_replies: bool | None = None
    template: MessageTemplate | None = None  # whatsapp_cloud: sent when the 24-hour window has closed


def validate_credentials(kind: str, creds: dict[str, str], *, partial: bool = False) -> dict[str, str]:
    """Check the fields a channel type needs (its provider's credential schema), saying which one is wrong."""
    schema = PROVIDERS[kind].credentials
    schema.validate(kind, creds, partial=partial)
    return creds


class ChannelCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: ChannelType
    name: str = Field(min_length=1, max_length=200)
    assistant_id: uuid.UUID | None = None
    credentials: dict[str, str]
    settings: ChannelSettings = Field(default_factory=ChannelSettings)

    @model_validator(mode="after")
    def _credentials(self) -> ChannelCreate:
        validate_credentials(self.type, self.credentials)
        return self


class ChannelUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, min_length=1, max_length=200)
    assistant_id: uuid.UUID | None = None
    credentials: dict[str, str] | None = None
    settings: ChannelSettings | None = None

    @field_validator("credentials")
    @classmethod
    def _bounded(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is not None and len(value) > 10:
            raise ValueError("too many credential fields")
        return value


class CredentialState(BaseModel):
    is_set: bool
    last4: str | None = None


class ChannelRead(BaseModel):
    id: uuid.UUID
    type: ChannelType
    name: str
    assistant_id: uuid.UUID | None
    credentials: dict[str, CredentialState]
    settings: dict[str, Any]
    webhook_url: str
    verify_token: str | None = None  # Meta types: typed into Meta's dashboard with webhook_url
    webhook_registered_at: datetime | None
    created_at: datetime
    updated_at: datetime


class SetWebhookResult(BaseModel):
    webhook_url: str
    registered_at: datetime
    allowed_updates: list[str]
