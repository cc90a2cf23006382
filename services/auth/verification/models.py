"""One-time tokens mailed to prove an address (sign-up) or to accept an invitation; only their hash is stored."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from services.auth.base import Base
from shared.db import UUIDPk, utcnow


class EmailToken(UUIDPk, Base):
    __tablename__ = "email_token"

    user_id: Mapped[uuid.UUID] = mapped_column(index=True)
    email: Mapped[str] = mapped_column(String(320))  # the address the token was mailed to
    purpose: Mapped[str] = mapped_column(String(20))  # "verify" (sign-up) or "invite" (sets the password)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # An invitation to an account with something at stake: the membership is granted when the owner accepts.
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    role: Mapped[str | None] = mapped_column(String(20), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None] = mapped_column(nullable=True)
