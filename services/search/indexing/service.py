"""Indexing messages from search.index.v1, and re-embedding a tenant's entries with the current model."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from services.search.base import Outbox
from services.search.config import SearchSettings
from services.search.embeddings.base import EmbeddingProvider
from services.search.indexing.models import TenantIndex
from services.search.indexing.repository import EntryRepository
from services.search.indexing.schemas import ReindexRead
from services.search.tenants.service import TenantProfiles
from shared.db import utcnow
from shared.events.outbox import emit_event
from shared.events.search import (
    REINDEX_STEP,
    MessageIndexed,
    MessagesDeleted,
    MessagesRestored,
    ReindexStep,
)
from shared.logging import get_logger

log = get_logger("search.indexing")
EMBED_INPUT_CHARS = 8000  # beyond the models' context anyway


async def claim_identity(row: TenantIndex, provider: EmbeddingProvider) -> None:
    """The first vectors a tenant gets fix its index identity (model + dimension)."""
    if row.embedding_model is None:
        row.embedding_model = provider.model
        row.embedding_dim = provider.dimensions


class IndexingService:
    def __init__(
        self,
        session: AsyncSession,
        provider: EmbeddingProvider,
        tenants: TenantProfiles,
        settings: SearchSettings,
    ) -> None:
        self.session = session
        self.provider = provider
        self.tenants = tenants
        self.settings = settings
        self.entries = EntryRepository(session)

    async def index_message(self, tenant_id: uuid.UUID, event: MessageIndexed) -> None:
        """Idempotent on the message id: a redelivery rewrites the same row; a deleted one stays deleted."""
        if event.deleted:
            await self.entries.tombstone_message(tenant_id, event.message_id)
            return
        before = await self.session.get(TenantIndex, tenant_id)
        before_config = before.ts_config if before is not None else None
        profile = await self.tenants.note_locale(self.session, tenant_id, event.locale)
        if before_config is not None and profile.ts_config != before_config:
            await self.entries.set_ts_config(tenant_id, profile.ts_config)  # the tenant's language changed
        vector = None
        if event.text.strip():
            [vector] = await self.provider.embed([event.text[:EMBED_INPUT_CHARS]], tenant_id=tenant_id)
            await claim_identity(profile, self.provider)
        await self.entries.upsert_message(
            tenant_id,
            message_id=event.message_id,
            thread_id=event.thread_id,
            contact_id=event.contact_id,
            sector=event.sector,
            role=event.role,
            body=event.text,
            created_at=event.created_at,
            ts_config=profile.ts_config,
            embedding=vector,
            model=self.provider.model if vector is not None else None,
            dim=self.provider.dimensions if vector is not None else None,
        )

    async def restore_messages(self, tenant_id: uuid.UUID, event: MessagesRestored) -> None:
        await self.entries.unhide_thread(tenant_id, event.thread_id)

    async def delete_messages(self, tenant_id: uuid.UUID, event: MessagesDeleted) -> None:
        if event.soft:
            await self.entries.hide_messages(
                tenant_id, message_id=event.message_id, thread_id=event.thread_id, contact_id=event.contact_id
            )
            return
        if event.message_id:
            await self.entries.tombstone_message(tenant_id, event.message_id)
        if event.thread_id or event.contact_id:
            await self.entries.tombstone_scope(tenant_id, thread_id=event.thread_id, contact_id=event.contact_id)

    # --- reindex -------------------------------------------------------------------------------------------

    def reindex_read(self, row: TenantIndex) -> ReindexRead:
        total = row.reindex_total or 0
        progress = 100 if row.reindex_status == "done" else (min(99, 100 * row.reindex_done // total) if total else 0)
        return ReindexRead(
            job_id=row.reindex_job_id,
            status=row.reindex_status,
            progress=progress,
            total=total,
            done=row.reindex_done,
            embedding_model=row.embedding_model,
            target_model=self.provider.model,
            dimensions=self.provider.dimensions,
            error=row.reindex_error,
            started_at=row.reindex_started_at,
            finished_at=row.reindex_finished_at,
        )

    async def status(self, tenant_id: uuid.UUID) -> ReindexRead:
        return self.reindex_read(await self.tenants.profile(self.session, tenant_id))

    async def request_reindex(self, tenant_id: uuid.UUID) -> ReindexRead:
        """Queue a re-embedding of every live entry; a queued or running job is returned as is (idempotent)."""
        row = await self.tenants.profile(self.session, tenant_id)
        if row.reindex_status in ("queued", "running"):
            return self.reindex_read(row)
        job_id = uuid.uuid4()
        row.reindex_job_id = job_id
        row.reindex_status = "queued"
        row.reindex_total = await self.entries.count_live(tenant_id)
        row.reindex_done = 0
        row.reindex_error = None
        row.reindex_started_at = utcnow()
        row.reindex_finished_at = None
        await self.session.flush()
        await self._emit_step(tenant_id, job_id, None)
        log.info("reindex_queued", tenant_id=str(tenant_id), job_id=str(job_id), total=row.reindex_total)
        return self.reindex_read(row)

    async def _emit_step(self, tenant_id: uuid.UUID, job_id: uuid.UUID, after: uuid.UUID | None) -> None:
        await emit_event(
            self.session,
            Outbox,
            REINDEX_STEP,
            ReindexStep(job_id=job_id, after=after),
            idempotency_key=f"{REINDEX_STEP}:{job_id}:{after or 'start'}",
            tenant_id=tenant_id,
        )

    async def reindex_step(self, tenant_id: uuid.UUID, job_id: uuid.UUID, after: uuid.UUID | None) -> bool:
        """Re-embed one batch after `after`; queues the next step. True when the job finished."""
        row = await self.tenants.profile(self.session, tenant_id)
        if row.reindex_job_id != job_id or row.reindex_status not in ("queued", "running"):
            return True  # superseded or already finished: nothing to do
        if after is None:
            await self.entries.set_ts_config(tenant_id, row.ts_config)  # the locale may have changed too
        row.reindex_status = "running"
        batch = await self.entries.live_batch_after(tenant_id, after, self.settings.embed_batch_rows)
        embeddable = [(i, t) for i, t in batch if t.strip()]
        if embeddable:
            vectors = await self.provider.embed([t[:EMBED_INPUT_CHARS] for _, t in embeddable], tenant_id=tenant_id)
            await self.entries.set_embeddings(
                tenant_id,
                [(i, v) for (i, _), v in zip(embeddable, vectors, strict=True)],
                self.provider.model,
                self.provider.dimensions,
            )
        row.reindex_done += len(batch)
        row.reindex_total = max(row.reindex_total, row.reindex_done)
        if len(batch) < self.settings.embed_batch_rows:
            row.reindex_status = "done"
            row.reindex_finished_at = utcnow()
            row.embedding_model = self.provider.model
            row.embedding_dim = self.provider.dimensions
            await self.session.flush()
            log.info("reindex_done", tenant_id=str(tenant_id), job_id=str(job_id), entries=row.reindex_done)
            return True
        await self.session.flush()
        await self._emit_step(tenant_id, job_id, batch[-1][0])
        return False
