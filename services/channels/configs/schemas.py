"""Channel API shapes. Credentials are write-only: reads show which are set and their last 4 characters."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from services.channels.providers.registry import PROVIDERS, ChannelType

MAX_ALLOWED_ORIGINS = 20
_ORIGIN = re.compile(r"^(https?)://([a-z0-9.-]{1,253}|\[[0-9a-f:.]{2,45}\])(:\d{1,5})?$")


def canonical_origin(value: str) -> str | None:
    """`scheme://host[:port]` lower-cased, the default port dropped, or None if `value` is not an origin."""
    value = value.strip().lower().rstrip("/")
    match = _ORIGIN.match(value)
    if match is None:
        return None
    scheme, host, port = match.groups()
    if port and (scheme, port) in (("http", ":80"), ("https", ":443")):
        port = None
    if port and not 0 < int(port[1:]) < 65536:
        return None
    return f"{scheme}://{host}{port or ''}"


class MessageTemplate(BaseModel):
    """An approved WhatsApp message template, sent instead of a reply Meta refuses outside the 24-hour window."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=512, pattern=r"^[a-z0-9_]+$")
    language: str = Field("en_US", min_length=2, max_length=15, pattern=r"^[a-z]{2,3}(_[A-Z]{2})?$")


class ChannelSettings(BaseModel):
    """Per-channel overrides of the tenant's buffer and reply settings (unset means the tenant's value), and the web
    widget's own (web channels only)."""

    model_config = ConfigDict(extra="forbid")
    buffer_enabled: bool | None = None
    buffer_seconds: float | None = Field(None, ge=0, le=300)
    buffer_max_wait_seconds: float | None = Field(None, ge=0, le=3600)
    split_replies: bool | None = None
    template: MessageTemplate | None = None  # whatsapp_cloud: sent when the 24-hour window has closed
    allowed_origins: list[str] | None = Field(None, max_length=MAX_ALLOWED_ORIGINS)
    greeting: str | None = Field(None, max_length=500)
    color: str | None = Field(None, pattern=r"^#[0-9a-fA-F]{6}$")
    locale: Literal["en", "pt-BR"] | None = None

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        out: list[str] = []
        for item in value:
            origin = canonical_origin(item) if isinstance(item, str) and len(item) <= 300 else None
            if origin is None:
                raise ValueError(f"{str(item)[:100]!r} is not an origin (scheme://host[:port], http or https)")
            if origin not in out:
                out.append(origin)
        return out

    def web_only(self) -> list[str]:
        """The web widget's fields that were set (refused on other channel types)."""
        return [k for k in ("allowed_origins", "greeting", "color", "locale") if getattr(self, k) is not None]


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
    credentials: dict[str, str] = Field(default_factory=dict)
    settings: ChannelSettings = Field(default_factory=ChannelSettings)

    @model_validator(mode="after")
    def _credentials(self) -> ChannelCreate:
        validate_credentials(self.type, self.credentials)
        if self.type != "web" and self.settings.web_only():
            raise ValueError(f"{', '.join(self.settings.web_only())}: only for web channels")
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
    public_key: str | None = None  # web: the widget's data-key (public, not a secret)
    webhook_url: str
    verify_token: str | None = None  # Meta types: typed into Meta's dashboard with webhook_url
    webhook_registered_at: datetime | None
    created_at: datetime
    updated_at: datetime


class SetWebhookResult(BaseModel):
    webhook_url: str
    registered_at: datetime
    allowed_updates: list[str]
