"""Searchable entries and each tenant's index identity (model, dimension, text search config, reindex job)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pgvector.sqlalchemy import Vector
from sqlalchemy import Computed, Index, SmallInteger, String, Text, UniqueConstraint
from sqlalchemy import text as sql
from sqlalchemy.dialects.postgresql import REGCONFIG, TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from services.search.base import Base
from services.search.embeddings.base import INDEX_DIM
from shared.db import Timestamps, utcnow


class Entry(Base):
    """One searchable unit: a message, or one chunk of a knowledge document."""

    __tablename__ = "entry"
    __table_args__ = (
        UniqueConstraint("tenant_id", "source", "ref_id", "chunk_index"),
        Index("ix_entry_tenant_source_created", "tenant_id", "source", "created_at"),
        Index("ix_entry_document", "document_id", "chunk_index"),
        Index("ix_entry_tsv", "tsv", postgresql_using="gin"),
        # no global vector index (migration 0004): per-tenant partial ones, indexing/vector_indexes/
    )
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID]
    source: Mapped[str] = mapped_column(String(16))  # "messages" | "documents"
    ref_id: Mapped[uuid.UUID]  # message id or document id
    chunk_index: Mapped[int] = mapped_column(default=0, server_default=sql("0"))
    document_id: Mapped[uuid.UUID | None]
    thread_id: Mapped[uuid.UUID | None]
    contact_id: Mapped[uuid.UUID | None]
    sector: Mapped[str | None] = mapped_column(String(100))
    role: Mapped[str | None] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text)
    ts_config: Mapped[str] = mapped_column(REGCONFIG, server_default=sql("'simple'::regconfig"))
    tsv: Mapped[str] = mapped_column(TSVECTOR, Computed("to_tsvector(ts_config, text)", persisted=True))
    embedding: Mapped[list[float] | None] = mapped_column(Vector(INDEX_DIM))
    embedding_model: Mapped[str | None] = mapped_column(String(200))
    embedding_dim: Mapped[int | None] = mapped_column(SmallInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    indexed_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=sql("now()"))
    deleted_at: Mapped[datetime | None]
    # Set with deleted_at by a soft delete (text and vector kept); a restore clears both. An erased entry has
    # deleted_at only.
    hidden_at: Mapped[datetime | None]


class TenantIndex(Base, Timestamps):
    """What a tenant's vectors were built with, its text search config, and its reindex job."""

    __tablename__ = "tenant_index"
    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    embedding_model: Mapped[str | None] = mapped_column(String(200))
    embedding_dim: Mapped[int | None] = mapped_column(SmallInteger)
    locale: Mapped[str | None] = mapped_column(String(20))
    ts_config: Mapped[str] = mapped_column(String(40), default="simple", server_default=sql("'simple'"))
    locale_checked_at: Mapped[datetime | None]
    reindex_job_id: Mapped[uuid.UUID | None]
    reindex_status: Mapped[str] = mapped_column(String(16), default="idle", server_default=sql("'idle'"))
    reindex_total: Mapped[int] = mapped_column(default=0, server_default=sql("0"))
    reindex_done: Mapped[int] = mapped_column(default=0, server_default=sql("0"))
    reindex_error: Mapped[str | None] = mapped_column(Text)
    reindex_started_at: Mapped[datetime | None]
    reindex_finished_at: Mapped[datetime | None]
