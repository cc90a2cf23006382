"""An assistant: a tenant's named AI persona (instructions, model, temperature, knowledge on/off)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from services.chat.base import Base
from shared.db import Timestamps, UUIDPk


class Assistant(UUIDPk, Timestamps, Base):
    __tablename__ = "assistant"
    __table_args__ = (
        Index("ix_assistant_tenant_created", "tenant_id", "created_at"),
        # At most one live default per tenant.
        Index(
            "uq_assistant_default",
            "tenant_id",
            unique=True,
            postgresql_where=text("is_default AND deleted_at IS NULL"),
        ),
    )

    tenant_id: Mapped[uuid.UUID]
    name: Mapped[str] = mapped_column(String(200))
    instructions: Mapped[str] = mapped_column(Text, default="")
    model: Mapped[str | None] = mapped_column(String(200))
    temperature: Mapped[float | None]
    use_knowledge: Mapped[bool] = mapped_column(default=True)
    is_default: Mapped[bool] = mapped_column(default=False)
    # The model reads images: a message's images go to it as image inputs (else the text says "[image]").
    vision: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    deleted_at: Mapped[datetime | None]
