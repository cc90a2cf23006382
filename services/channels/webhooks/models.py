"""Inbound messages as received, deduplicated on the provider's id per channel."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from services.channels.base import Base
from shared.db import UUIDPk, utcnow


class InboundMessage(UUIDPk, Base):
    __tablename__ = "inbound_message"
    __table_args__ = (UniqueConstraint("channel_id", "provider_message_id"),)

    tenant_id: Mapped[uuid.UUID]
    channel_id: Mapped[uuid.UUID]
    provider_message_id: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))  # text | audio | media | edited
    sender: Mapped[str] = mapped_column(String(200))
    sender_name: Mapped[str | None] = mapped_column(String(200))
    text: Mapped[str | None] = mapped_column(Text)
    media: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
