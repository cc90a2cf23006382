"""Thread and message schemas."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.chat.attachments.schemas import IMAGE_PLACEHOLDER, AttachmentIn, AttachmentRead

ThreadStatus = Literal["open", "pending", "closed"]
Sector = Field(default=None, max_length=100)


def _with_images(text: str, attachments: list[AttachmentIn]) -> str:
    """A message may be only images: its text is then the placeholder (what the inbox and search show)."""
    text = text.strip()
    if not text and not attachments:
        raise ValueError("must not be empty")
    return text or IMAGE_PLACEHOLDER


class ThreadCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    assistant_id: uuid.UUID | None = None
    contact_id: uuid.UUID | None = None
    title: str | None = Field(default=None, max_length=300)
    sector: str | None = Sector
    # The first message (answered in the same call); its length is checked against CHAT_MESSAGE_MAX_CHARS.
    message: str | None = None
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=20)  # the first message's images

    @model_validator(mode="after")
    def _images_need_a_message(self) -> ThreadCreate:
        if self.attachments:
            self.message = _with_images(self.message or "", self.attachments)
        return self


class ThreadUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str | None = Field(default=None, max_length=300)
    sector: str | None = Sector
    status: ThreadStatus | None = None
    ai_enabled: bool | None = None
    assistant_id: uuid.UUID | None = None


class MessageCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    content: str = ""  # may be empty when `attachments` has images
    role: Literal["user", "agent"] = "user"
    operator_name: str | None = Field(default=None, max_length=200)
    # Images (at most CHAT_ATTACHMENTS_MAX_PER_MESSAGE), verified from their bytes before the message is stored.
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _content_or_images(self) -> MessageCreate:
        self.content = _with_images(self.content, self.attachments)
        return self


class MessageReview(BaseModel):
    model_config = ConfigDict(extra="forbid")
    validated_by: Literal["human"] = "human"
    review: Literal["approved", "rejected"]
    corrected_content: str | None = None
    operator_name: str | None = Field(default=None, max_length=200)


class MessageRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    thread_id: uuid.UUID
    contact_id: uuid.UUID | None
    role: str
    content: str
    sector: str | None
    validated_by: str | None
    review: str | None
    corrected_content: str | None
    operator_name: str | None
    reviewed_at: datetime | None
    model: str | None
    tokens_in: int | None
    tokens_out: int | None
    latency_ms: int | None
    incomplete: bool
    created_at: datetime
    attachments: list[AttachmentRead] = Field(default_factory=list)
    # role "tool" only: the call the model made, what came back (also `content`), ok|error|timeout|refused
    tool_name: str | None = None
    arguments: Any = None
    result: str | None = None
    status: str | None = None


class CreatedBy(BaseModel):
    """Who started a thread: a user (`id`: the user id) or an API key (`id`: the key id)."""

    kind: Literal["user", "api_key"]
    id: str


class ThreadRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    assistant_id: uuid.UUID | None
    contact_id: uuid.UUID | None
    channel: str
    channel_id: uuid.UUID | None
    title: str | None
    sector: str | None
    status: str
    ai_enabled: bool
    needs_human: bool
    last_message_at: datetime
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = None
    # Null for a channel's thread (the customer started it).
    created_by: CreatedBy | None = None


class ThreadCreated(ThreadRead):
    user_message: MessageRead | None = None
    assistant_message: MessageRead | None = None


class Exchange(BaseModel):
    user_message: MessageRead
    assistant_message: MessageRead | None


class SectorCount(BaseModel):
    sector: str | None
    count: int


class SectorCounts(BaseModel):
    """Live threads per sector (`null`: no sector), most first, capped."""

    items: list[SectorCount]


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message: str = ""  # may be empty when `attachments` has images
    assistant_id: uuid.UUID | None = None
    thread_id: uuid.UUID | None = None
    sector: str | None = Sector  # a new thread's (ignored with thread_id)
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _message_or_images(self) -> ChatRequest:
        self.message = _with_images(self.message, self.attachments)
        return self


class ChatReply(BaseModel):
    thread_id: uuid.UUID
    message_id: uuid.UUID | None
    user_message_id: uuid.UUID
    reply: str | None
    model: str | None = None
