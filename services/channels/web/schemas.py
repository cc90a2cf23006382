"""Web chat API shapes (API.md, "Web chat")."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class SessionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    public_key: str = Field(min_length=1, max_length=64)
    visitor_id: uuid.UUID | None = None  # kept by the browser: a returning visitor resumes their conversation
    name: str | None = Field(None, max_length=200)
    email: str | None = Field(None, max_length=320, pattern=r"^[^@\s]{1,64}@[^@\s]{1,255}$")


class WidgetLook(BaseModel):
    """What the widget shows, from the channel's settings."""

    name: str
    greeting: str | None = None
    color: str | None = None
    locale: Literal["en", "pt-BR"] = "en"


class SessionRead(BaseModel):
    visitor_token: str
    visitor_id: uuid.UUID
    expires_in: int
    channel: WidgetLook


class WidgetAttachment(BaseModel):
    """An image the visitor sends, inline (a URL from a visitor would be ours to fetch: not taken)."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["image"] = "image"
    data: str = Field(min_length=1, max_length=30_000_000)  # base64 or a data URL; capped by CHANNELS_IMAGE_MAX_BYTES
    mime_type: str | None = Field(None, max_length=100)  # a hint, ignored: the bytes decide


class WidgetMessageCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = ""  # capped by CHANNELS_WIDGET_MAX_TEXT_CHARS (413); may be empty with attachments
    attachments: list[WidgetAttachment] = Field(default_factory=list, max_length=20)
    # The widget's own id for this message: a retried POST with the same one is stored once.
    client_id: str | None = Field(None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")


class WidgetMessageAccepted(BaseModel):
    id: str  # the message's id in the visitor's conversation (as in GET items and `message` events)


class WidgetMessageRead(BaseModel):
    id: str
    role: Literal["user", "assistant", "agent"]
    content: str
    created_at: str


class WidgetMessagePage(BaseModel):
    items: list[WidgetMessageRead]
