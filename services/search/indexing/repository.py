"""Entries: upserts, tombstones, chunk inserts, embedding updates. Every method takes tenant_id."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.search.embeddings.base import vector_literal


class EntryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def upsert_message(
        self,
        tenant_id: uuid.UUID,
        *,
        message_id: uuid.UUID,
        thread_id: uuid.UUID | None,
        contact_id: uuid.UUID | None,
        sector: str | None,
        role: str | None,
        body: str,
        created_at: datetime,
        ts_config: str,
        embedding: list[float] | None,
        model: str | None,
        dim: int | None,
    ) -> bool:
        """Insert or replace a message's entry; a tombstoned (deleted) message stays deleted. True if written."""
        result = await self.session.execute(
            text(
                """
                INSERT INTO search.entry (id, tenant_id, source, ref_id, chunk_index, thread_id, contact_id, sector,
                    role, text, ts_config, embedding, embedding_model, embedding_dim, created_at, indexed_at)
                VALUES (:id, :tid, 'messages', :mid, 0, :thread, :contact, :sector, :role, :body,
                    CAST(:cfg AS regconfig), CAST(:vec AS vector), :model, :dim, :created, now())
                ON CONFLICT (tenant_id, source, ref_id, chunk_index) DO UPDATE SET
                    thread_id = EXCLUDED.thread_id, contact_id = EXCLUDED.contact_id, sector = EXCLUDED.sector,
                    role = EXCLUDED.role, text = EXCLUDED.text, ts_config = EXCLUDED.ts_config,
                    embedding = EXCLUDED.embedding, embedding_model = EXCLUDED.embedding_model,
                    embedding_dim = EXCLUDED.embedding_dim, created_at = EXCLUDED.created_at, indexed_at = now()
                WHERE search.entry.deleted_at IS NULL
                RETURNING id
                """
            ),
            {
                "id": uuid.uuid4(),
                "tid": tenant_id,
                "mid": message_id,
                "thread": thread_id,
                "contact": contact_id,
                "sector": sector,
                "role": role,
                "body": body,
                "cfg": ts_config,
                "vec": vector_literal(embedding) if embedding is not None else None,
                "model": model,
                "dim": dim,
                "created": created_at,
            },
        )
        return result.first() is not None

    async def tombstone_message(self, tenant_id: uuid.UUID, message_id: uuid.UUID) -> None:
        """Forget a message's text and vector, keeping a tombstone so a late upsert cannot bring it back."""
        await self.session.execute(
            text(
                """
                INSERT INTO search.entry (id, tenant_id, source, ref_id, chunk_index, text, created_at, deleted_at)
                VALUES (:id, :tid, 'messages', :mid, 0, '', now(), now())
                ON CONFLICT (tenant_id, source, ref_id, chunk_index) DO UPDATE SET
                    text = '', embedding = NULL, embedding_model = NULL, embedding_dim = NULL,
                    deleted_at = coalesce(search.entry.deleted_at, now()), hidden_at = NULL
                """
            ),
            {"id": uuid.uuid4(), "tid": tenant_id, "mid": message_id},
        )

    async def tombstone_scope(
        self, tenant_id: uuid.UUID, *, thread_id: uuid.UUID | None = None, contact_id: uuid.UUID | None = None
    ) -> int:
        """Forget every message of a thread or a contact (hidden ones too)."""
        column = "thread_id" if thread_id else "contact_id"
        result = await self.session.execute(
            text(
                f"""
                UPDATE search.entry SET text = '', embedding = NULL, embedding_model = NULL, embedding_dim = NULL,
                    deleted_at = coalesce(deleted_at, now()), hidden_at = NULL
                WHERE tenant_id = :tid AND source = 'messages' AND {column} = :scope
                    AND (deleted_at IS NULL OR hidden_at IS NOT NULL)
                """
            ),
            {"tid": tenant_id, "scope": thread_id or contact_id},
        )
        return result.rowcount or 0

    async def hide_messages(
        self,
        tenant_id: uuid.UUID,
        *,
        message_id: uuid.UUID | None = None,
        thread_id: uuid.UUID | None = None,
        contact_id: uuid.UUID | None = None,
    ) -> int:
        """Soft delete: out of every search (deleted_at), text and vector kept for `unhide_thread`."""
        column, scope = (
            ("ref_id", message_id)
            if message_id
            else ("thread_id", thread_id)
            if thread_id
            else ("contact_id", contact_id)
        )
        result = await self.session.execute(
            text(
                f"""
                UPDATE search.entry SET deleted_at = now(), hidden_at = now()
                WHERE tenant_id = :tid AND source = 'messages' AND {column} = :scope AND deleted_at IS NULL
                """
            ),
            {"tid": tenant_id, "scope": scope},
        )
        return result.rowcount or 0

    async def unhide_thread(self, tenant_id: uuid.UUID, thread_id: uuid.UUID) -> int:
        """Restore: the thread's hidden messages are searchable again; erased ones stay erased."""
        result = await self.session.execute(
            text(
                """
                UPDATE search.entry SET deleted_at = NULL, hidden_at = NULL, indexed_at = now()
                WHERE tenant_id = :tid AND source = 'messages' AND thread_id = :thread AND hidden_at IS NOT NULL
                """
            ),
            {"tid": tenant_id, "thread": thread_id},
        )
        return result.rowcount or 0

    async def insert_chunks(
        self, tenant_id: uuid.UUID, document_id: uuid.UUID, chunks: Sequence[str], ts_config: str
    ) -> None:
        """Document chunks, not embedded yet (the worker embeds them in steps)."""
        if not chunks:
            return
        await self.session.execute(
            text(
                """
                INSERT INTO search.entry (id, tenant_id, source, ref_id, chunk_index, document_id, text, ts_config,
                    created_at)
                SELECT gen_random_uuid(), :tid, 'documents', :did, c.ord - 1, :did, c.body, CAST(:cfg AS regconfig),
                    now()
                FROM unnest(CAST(:bodies AS text[])) WITH ORDINALITY AS c(body, ord)
                ON CONFLICT (tenant_id, source, ref_id, chunk_index) DO NOTHING
                """
            ),
            {"tid": tenant_id, "did": document_id, "bodies": list(chunks), "cfg": ts_config},
        )

    async def unembedded_chunks(
        self, tenant_id: uuid.UUID, document_id: uuid.UUID, limit: int
    ) -> list[tuple[uuid.UUID, str]]:
        rows = await self.session.execute(
            text(
                """
                SELECT id, text FROM search.entry
                WHERE tenant_id = :tid AND document_id = :did AND embedding IS NULL AND deleted_at IS NULL
                ORDER BY chunk_index LIMIT :n
                """
            ),
            {"tid": tenant_id, "did": document_id, "n": limit},
        )
        return [(r.id, r.text) for r in rows]

    async def set_embeddings(
        self, tenant_id: uuid.UUID, items: Sequence[tuple[uuid.UUID, list[float]]], model: str, dim: int
    ) -> None:
        if not items:
            return
        await self.session.execute(
            text(
                """
                UPDATE search.entry AS e SET embedding = CAST(v.vec AS vector), embedding_model = :model,
                    embedding_dim = :dim, indexed_at = now()
                FROM unnest(CAST(:ids AS uuid[]), CAST(:vecs AS text[])) AS v(id, vec)
                WHERE e.id = v.id AND e.tenant_id = :tid
                """
            ),
            {
                "tid": tenant_id,
                "ids": [i for i, _ in items],
                "vecs": [vector_literal(v) for _, v in items],
                "model": model,
                "dim": dim,
            },
        )

    async def delete_document(self, tenant_id: uuid.UUID, document_id: uuid.UUID) -> int:
        result = await self.session.execute(
            text("DELETE FROM search.entry WHERE tenant_id = :tid AND source = 'documents' AND document_id = :did"),
            {"tid": tenant_id, "did": document_id},
        )
        return result.rowcount or 0

    async def count_live(self, tenant_id: uuid.UUID) -> int:
        return int(
            await self.session.scalar(
                text("SELECT count(*) FROM search.entry WHERE tenant_id = :tid AND deleted_at IS NULL"),
                {"tid": tenant_id},
            )
            or 0
        )

    async def live_batch_after(
        self, tenant_id: uuid.UUID, after: uuid.UUID | None, limit: int
    ) -> list[tuple[uuid.UUID, str]]:
        """Live entries of a tenant in id order, for a resumable reindex."""
        rows = await self.session.execute(
            text(
                """
                SELECT id, text FROM search.entry
                WHERE tenant_id = :tid AND deleted_at IS NULL AND (CAST(:after AS uuid) IS NULL OR id > :after)
                ORDER BY id LIMIT :n
                """
            ),
            {"tid": tenant_id, "after": after, "n": limit},
        )
        return [(r.id, r.text) for r in rows]

    async def set_ts_config(self, tenant_id: uuid.UUID, ts_config: str) -> int:
        result = await self.session.execute(
            text(
                "UPDATE search.entry SET ts_config = CAST(:cfg AS regconfig) "
                "WHERE tenant_id = :tid AND ts_config <> CAST(:cfg AS regconfig)"
            ),
            {"tid": tenant_id, "cfg": ts_config},
        )
        return result.rowcount or 0
