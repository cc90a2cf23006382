"""One delivery per outbound message: the idempotency record of a send."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from services.channels.base import Base
from shared.db import Timestamps, UUIDPk


class Delivery(UUIDPk, Timestamps, Base):
    __tablename__ = "delivery"
    __table_args__ = (Index("ix_delivery_tenant_created", "tenant_id", "created_at"),)

    tenant_id: Mapped[uuid.UUID]
    channel_id: Mapped[uuid.UUID]
    idempotency_key: Mapped[str] = mapped_column(String(300), unique=True)
    message_id: Mapped[uuid.UUID | None]
    recipient: Mapped[str] = mapped_column(String(200))
    # sending -> sent -> delivered/read | failed | unknown (crashed mid-send: never re-sent)
    status: Mapped[str] = mapped_column(String(20))
    parts: Mapped[int] = mapped_column(default=1)
    provider_message_ids: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)
    sent_at: Mapped[datetime | None]
