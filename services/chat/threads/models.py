"""Threads (conversations) and their messages, with AI metadata and human reviews."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Identity, Index, SmallInteger, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from services.chat.base import Base
from shared.db import Timestamps, UUIDPk, utcnow

THREAD_STATUSES = ("open", "pending", "closed")
ROLES = ("user", "assistant", "agent", "system", "tool")
VALIDATED_BY = ("pending", "ai", "human")


class Thread(UUIDPk, Timestamps, Base):
    __tablename__ = "thread"
    __table_args__ = (
        Index("ix_thread_tenant_activity", "tenant_id", "last_message_at", "id"),
        Index("ix_thread_tenant_contact", "tenant_id", "contact_id"),
        Index(
            "ix_thread_tenant_owner",
            "tenant_id",
            "created_by_id",
            "last_message_at",
            "id",
            postgresql_where=text("created_by_id IS NOT NULL"),
        ),
    )

    tenant_id: Mapped[uuid.UUID]
    assistant_id: Mapped[uuid.UUID | None]
    contact_id: Mapped[uuid.UUID | None]
    channel: Mapped[str] = mapped_column(String(32), default="api")
    channel_id: Mapped[uuid.UUID | None]
    # The channel address replies go to; null: the contact's own (a merged contact's threads keep their address).
    recipient: Mapped[str | None] = mapped_column(String(200))
    title: Mapped[str | None] = mapped_column(String(300))
    sector: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20), default="open")
    ai_enabled: Mapped[bool] = mapped_column(default=True)
    # Set when the AI handed over (knowledge-only without an answer); cleared by a human reply.
    needs_human: Mapped[bool] = mapped_column(default=False)
    last_message_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=text("now()"))
    deleted_at: Mapped[datetime | None]
    # Who started it: "user" (a user id) or "api_key" (a key id); both null for a channel's thread.
    created_by_kind: Mapped[str | None] = mapped_column(String(16))
    created_by_id: Mapped[str | None] = mapped_column(String(64))

    @property
    def created_by(self) -> dict | None:
        if self.created_by_kind is None or self.created_by_id is None:
            return None
        return {"kind": self.created_by_kind, "id": self.created_by_id}


class Message(UUIDPk, Base):
    __tablename__ = "message"
    __table_args__ = (
        Index("ix_message_thread_seq", "thread_id", "seq"),
        Index("ix_message_tenant_created", "tenant_id", "created_at"),
        Index("ix_message_tenant_contact", "tenant_id", "contact_id", "seq"),
        Index(
            "uq_message_tenant_external",
            "tenant_id",
            "external_id",
            unique=True,
            postgresql_where=text("external_id IS NOT NULL"),
        ),
        Index(
            "uq_message_tenant_batch",
            "tenant_id",
            "batch_key",
            unique=True,
            postgresql_where=text("batch_key IS NOT NULL"),
        ),
        Index(
            "uq_message_tenant_call",
            "tenant_id",
            "call_key",
            unique=True,
            postgresql_where=text("call_key IS NOT NULL"),
        ),
    )

    # Total order of messages (created_at can tie inside one transaction); keyset pages use it.
    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=False), unique=True)
    tenant_id: Mapped[uuid.UUID]
    thread_id: Mapped[uuid.UUID]
    contact_id: Mapped[uuid.UUID | None]
    role: Mapped[str] = mapped_column(String(20))
    content: Mapped[str] = mapped_column(Text)
    sector: Mapped[str | None] = mapped_column(String(100))
    validated_by: Mapped[str | None] = mapped_column(String(20))
    review: Mapped[str | None] = mapped_column(String(20))
    corrected_content: Mapped[str | None] = mapped_column(Text)
    operator_name: Mapped[str | None] = mapped_column(String(200))
    reviewed_at: Mapped[datetime | None]
    model: Mapped[str | None] = mapped_column(String(200))
    tokens_in: Mapped[int | None]
    tokens_out: Mapped[int | None]
    latency_ms: Mapped[int | None]
    # True when the answer stopped early (the client went away mid-stream, or the provider broke off).
    incomplete: Mapped[bool] = mapped_column(default=False)
    # Channel pipeline: the inbound message this row stores (idempotency), a voice note's transcript state
    # (pending | done | failed), and for an answer the burst it answers (one answer per burst).
    external_id: Mapped[str | None] = mapped_column(String(200))
    transcript_status: Mapped[str | None] = mapped_column(String(20))
    batch_key: Mapped[str | None] = mapped_column(String(64))
    # Images stored with it (services/chat/attachments): attachments are read only for messages that have some.
    attachment_count: Mapped[int] = mapped_column(SmallInteger, default=0, server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=text("now()"))
    # A tool call (role "tool"): {name, arguments, status, call_id}, its result in `content`; `call_key` is its
    # idempotency key (services/chat/tools/records.py), committed before the call runs.
    tool_call: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    call_key: Mapped[str | None] = mapped_column(String(64))

    @property
    def tool_name(self) -> str | None:
        return self.tool_call.get("name") if self.tool_call else None

    @property
    def arguments(self) -> Any:
        return self.tool_call.get("arguments") if self.tool_call else None

    @property
    def result(self) -> str | None:
        return self.content if self.tool_call else None

    @property
    def status(self) -> str | None:
        return self.tool_call.get("status") if self.tool_call else None
