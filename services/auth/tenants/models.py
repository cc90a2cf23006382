"""Tenants with their assistant settings, and their encrypted secrets."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, String, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from services.auth.base import Base
from shared.db import Timestamps, UUIDPk

DEFAULT_SECTORS = ["financeiro", "suporte", "vendas", "admin", "geral"]


class Tenant(UUIDPk, Timestamps, Base):
    __tablename__ = "tenant"
    __table_args__ = (Index("uq_tenant_slug_live", "slug", unique=True, postgresql_where=text("deleted_at IS NULL")),)

    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20), default="active")
    system_prompt: Mapped[str] = mapped_column(Text, default="")
    default_model: Mapped[str | None] = mapped_column(String(200), nullable=True)
    llm_base_url: Mapped[str | None] = mapped_column(String(500), nullable=True)
    require_approval: Mapped[bool] = mapped_column(default=False)
    buffer_enabled: Mapped[bool] = mapped_column(default=True)
    buffer_seconds: Mapped[int] = mapped_column(default=10)
    buffer_max_wait_seconds: Mapped[int] = mapped_column(default=60)
    split_replies: Mapped[bool] = mapped_column(default=False)
    locale: Mapped[str] = mapped_column(String(20), default="pt-BR")
    timezone: Mapped[str] = mapped_column(String(64), default="America/Sao_Paulo")
    sectors: Mapped[list[str]] = mapped_column(JSONB, default=lambda: list(DEFAULT_SECTORS))
    deleted_at: Mapped[datetime | None] = mapped_column(nullable=True)


class TenantSecret(UUIDPk, Timestamps, Base):
    """A write-only secret (e.g. openai_api_key), Fernet-encrypted with SECRETS_KEY."""

    __tablename__ = "tenant_secret"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(index=True)
    name: Mapped[str] = mapped_column(String(64))
    value_encrypted: Mapped[str] = mapped_column(Text)
    last4: Mapped[str | None] = mapped_column(String(4), nullable=True)
