"""Channel API shapes. Credentials are write-only: reads show which are set and their last 4 characters."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ChannelType = Literal["telegram", "whatsapp_twilio"]
_TELEGRAM_TOKEN = re.compile(r"^\d{3,15}:[A-Za-z0-9_-]{20,100}$")
_TWILIO_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
_PHONE = re.compile(r"^(whatsapp:)?\+[1-9]\d{6,15}$")
REQUIRED_CREDENTIALS = {"telegram": ("bot_token",), "whatsapp_twilio": ("account_sid", "auth_token", "from_number")}


class ChannelSettings(BaseModel):
    """Per-channel overrides of the tenant's buffer and reply settings; unset means the tenant's value."""

    model_config = ConfigDict(extra="forbid")
    buffer_enabled: bool | None = None
    buffer_seconds: float | None = Field(None, ge=0, le=300)
    buffer_max_wait_seconds: float | None = Field(None, ge=0, le=3600)
    split_replies: bool | None = None


def validate_credentials(kind: str, creds: dict[str, str], *, partial: bool = False) -> dict[str, str]:
    """Check the fields a channel type needs, with a message that says which one is wrong."""
    allowed = REQUIRED_CREDENTIALS[kind]
    unknown = set(creds) - set(allowed)
    if unknown:
        raise ValueError(f"unknown credential(s) for {kind}: {', '.join(sorted(unknown))}")
    missing = [k for k in allowed if not creds.get(k)]
    if missing and not partial:
        raise ValueError(f"missing credential(s) for {kind}: {', '.join(missing)}")
    for key, value in creds.items():
        if not isinstance(value, str) or len(value) > 300:
            raise ValueError(f"{key} must be a string of at most 300 characters")
    if creds.get("bot_token") and not _TELEGRAM_TOKEN.match(creds["bot_token"]):
        raise ValueError("bot_token does not look like a Telegram bot token (<digits>:<secret>)")
    if creds.get("account_sid") and not _TWILIO_SID.match(creds["account_sid"]):
        raise ValueError("account_sid must look like AC followed by 32 hex characters")
    if creds.get("from_number") and not _PHONE.match(creds["from_number"]):
        raise ValueError("from_number must be E.164, optionally prefixed with 'whatsapp:' (whatsapp:+5511...)")
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
    webhook_registered_at: datetime | None
    created_at: datetime
    updated_at: datetime


class SetWebhookResult(BaseModel):
    webhook_url: str
    registered_at: datetime
    allowed_updates: list[str]
