"""A contact: one customer, reached on a channel (telegram, whatsapp_twilio) or through the API/web."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from services.chat.base import Base
from shared.db import Timestamps, UUIDPk


class Contact(UUIDPk, Timestamps, Base):
    __tablename__ = "contact"
    __table_args__ = (
        Index("ix_contact_tenant_created", "tenant_id", "created_at"),
        Index(
            "ix_contact_tenant_merged_into",
            "tenant_id",
            "merged_into_id",
            postgresql_where=text("merged_into_id IS NOT NULL"),
        ),
        # One contact per (channel, address): an inbound message finds its customer again.
        Index(
            "uq_contact_channel_external",
            "tenant_id",
            "channel_id",
            "external_id",
            unique=True,
            postgresql_where=text("channel_id IS NOT NULL AND external_id IS NOT NULL"),
        ),
    )

    tenant_id: Mapped[uuid.UUID]
    name: Mapped[str | None] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(32), default="api")
    channel_id: Mapped[uuid.UUID | None]
    # The address on the channel (Telegram chat id, WhatsApp number) the replies go to.
    external_id: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(50))
    email: Mapped[str | None] = mapped_column(String(320))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default=text("'{}'"))
    last_seen_at: Mapped[datetime | None]
    # Merged into another contact: hidden from the API, kept as that contact's alias for this channel address.
    merged_into_id: Mapped[uuid.UUID | None]
