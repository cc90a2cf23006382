"""Live buffer shapes for the admin view."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel


class BufferedMessage(BaseModel):
    id: uuid.UUID
    content: str
    created_at: datetime


class BufferRead(BaseModel):
    key: str
    thread_id: uuid.UUID
    contact: str
    channel: str
    messages: list[BufferedMessage]
    first_at: datetime
    due_at: datetime
    seconds_left: float


class FlushAccepted(BaseModel):
    key: str
    status: str = "flushing"
