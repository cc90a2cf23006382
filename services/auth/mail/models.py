"""Mail waiting for delivery: written in the request's transaction, sent by auth's worker, deleted once sent."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from services.auth.base import Base
from shared.db import UUIDPk, utcnow


class MailOutbox(UUIDPk, Base):
    __tablename__ = "mail_outbox"
    __table_args__ = (Index("ix_mail_outbox_due", "next_attempt_at", postgresql_where=text("failed_at IS NULL")),)

    kind: Mapped[str] = mapped_column(String(40))
    to_address: Mapped[str] = mapped_column(String(320))
    # The whole RFC 5322 message, SecretBox-encrypted: it may carry a one-time token. Emptied when given up on.
    message_encrypted: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    failed_at: Mapped[datetime | None] = mapped_column(nullable=True)
