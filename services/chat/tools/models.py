"""A tool of an assistant: an HTTP endpoint of the tenant's, or a built-in."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Index, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from services.chat.base import Base
from shared.db import Timestamps, UUIDPk


class AssistantTool(UUIDPk, Timestamps, Base):
    __tablename__ = "assistant_tool"
    __table_args__ = (Index("uq_assistant_tool_name", "tenant_id", "assistant_id", "name", unique=True),)

    tenant_id: Mapped[uuid.UUID]
    assistant_id: Mapped[uuid.UUID]
    type: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    url: Mapped[str | None] = mapped_column(String(2000))
    method: Mapped[str] = mapped_column(String(8), default="POST")
    timeout_seconds: Mapped[float] = mapped_column(default=10.0)
    secret_name: Mapped[str | None] = mapped_column(String(100))
