"""Users: platform accounts (email + argon2id hash)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from services.auth.base import Base
from shared.db import Timestamps, UUIDPk


class User(UUIDPk, Timestamps, Base):
    __tablename__ = "user"

    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(500), nullable=True)
    full_name: Mapped[str] = mapped_column(String(200), default="")
    is_superuser: Mapped[bool] = mapped_column(default=False)
    is_active: Mapped[bool] = mapped_column(default=True)
    password_changed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_login_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # True once the owner of the address proved it (a mailed token) or the operator vouched (the demo seed).
    email_verified: Mapped[bool] = mapped_column(default=False, server_default="false")
    email_verified_at: Mapped[datetime | None] = mapped_column(nullable=True)
