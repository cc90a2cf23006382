"""A tenant's channel: a Telegram bot, a Twilio WhatsApp number or a web chat widget, with encrypted credentials."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from services.channels.base import Base
from shared.db import Timestamps, UUIDPk


class Channel(UUIDPk, Timestamps, Base):
    __tablename__ = "channel"
    __table_args__ = (Index("ix_channel_tenant_created", "tenant_id", "created_at"),)

    tenant_id: Mapped[uuid.UUID]
    type: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    assistant_id: Mapped[uuid.UUID | None]
    # Fernet token of a JSON object; never returned by the API.
    credentials_encrypted: Mapped[str] = mapped_column(Text)
    credentials_last4: Mapped[dict[str, str]] = mapped_column(JSONB, default=dict, server_default=text("'{}'"))
    settings: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default=text("'{}'"))
    # Web channels: the widget's key (docs/web-chat.md); public, unguessable, unique. None for other types.
    public_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    webhook_registered_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]
