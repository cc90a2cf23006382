"""Contact schemas."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.events.channels import CHANNEL_TYPES

ContactChannel = Literal[("api", "web", *CHANNEL_TYPES)]  # type: ignore[valid-type] - channels' types and ours


class ContactCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, max_length=200)
    channel: ContactChannel = "api"
    channel_id: uuid.UUID | None = None
    external_id: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=50)
    email: str | None = Field(default=None, max_length=320)
    attributes: dict[str, Any] = Field(default_factory=dict, max_length=50)


class ContactMerge(BaseModel):
    model_config = ConfigDict(extra="forbid")
    contact_id: uuid.UUID  # the contact that joins this one and goes away


class ContactRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    name: str | None
    channel: str
    channel_id: uuid.UUID | None
    external_id: str | None
    phone: str | None
    email: str | None
    attributes: dict[str, Any]
    last_seen_at: datetime | None
    created_at: datetime
