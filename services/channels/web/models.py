"""A web chat visitor: the browser's id for one conversation of one web channel, and what they told us."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from services.channels.base import Base
from shared.db import UUIDPk, utcnow


class WebVisitor(UUIDPk, Base):
    __tablename__ = "web_visitor"

    tenant_id: Mapped[uuid.UUID]
    channel_id: Mapped[uuid.UUID]
    name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
