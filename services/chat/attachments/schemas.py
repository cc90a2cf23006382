"""Attachments as the API takes them (`url` or base64 `data`) and lists them (facts and a URL serving the bytes)."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

IMAGE_PLACEHOLDER = "[image]"  # a message's text when it carries images and no words


class AttachmentIn(BaseModel):
    """One image: fetched once from `url` (public addresses only) or decoded from `data`. `mime_type` is a hint
    only: the stored type is the one the bytes prove (JPEG, PNG, WebP or GIF)."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["image"] = "image"
    url: str | None = Field(default=None, max_length=2048)
    data: str | None = Field(default=None, max_length=40_000_000)  # base64; the byte cap is CHAT_ATTACHMENT_MAX_BYTES
    mime_type: str | None = Field(default=None, max_length=100)

    @model_validator(mode="after")
    def _one_source(self) -> AttachmentIn:
        if (self.url is None) == (self.data is None):
            raise ValueError("an attachment has either `url` or `data` (base64), not both")
        return self


class AttachmentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    position: int
    type: str
    mime_type: str
    size: int
    sha256: str
    url: str  # GET it with the same credentials: the bytes, with the verified content type


def attachment_url(message_id: uuid.UUID, position: int) -> str:
    return f"/api/v1/messages/{message_id}/attachments/{position}"
