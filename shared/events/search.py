"""Payloads of search.index.v1 (consumed by the search service; chat emits one per stored message).

`search.message.upserted` carries the message's current state: the first one indexes it, a later one
(an edit) replaces its text; `deleted: true` (soft delete) removes it. `search.message.deleted` removes
one message, or every message of a thread or a contact (erasure). The envelope's `tenant_id` is required
and `idempotency_key` should be unique per change (e.g. `message:{id}:{version}`); the search service is
idempotent on the message id anyway, and a deleted message is never brought back by a late upsert.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field, model_validator

INDEX_STREAM = "search.index.v1"
MESSAGE_UPSERTED = "search.message.upserted"
MESSAGE_DELETED = "search.message.deleted"


class MessageIndexed(BaseModel):
    message_id: uuid.UUID
    thread_id: uuid.UUID | None = None
    contact_id: uuid.UUID | None = None
    sector: str | None = Field(None, max_length=100)
    role: str | None = Field(None, max_length=20)  # user | assistant | agent | system
    text: str = Field("", max_length=100_000)
    created_at: datetime
    locale: str | None = Field(None, max_length=20)  # the tenant's locale, if the producer knows it
    deleted: bool = False


class MessagesDeleted(BaseModel):
    message_id: uuid.UUID | None = None
    thread_id: uuid.UUID | None = None
    contact_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _one_scope(self) -> MessagesDeleted:
        if not (self.message_id or self.thread_id or self.contact_id):
            raise ValueError("one of message_id, thread_id, contact_id is required")
        return self
