"""Handlers of search.index.v1 (messages from chat; document and reindex steps from search itself)
and tenants.changed.v1. Each runs in the consumer's transaction, which also records its idempotency key."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from services.search.config import SearchSettings
from services.search.documents.service import DocumentProcessor
from services.search.embeddings.base import EmbeddingProvider
from services.search.indexing.models import TenantIndex
from services.search.indexing.repository import EntryRepository
from services.search.indexing.service import IndexingService
from services.search.tenants.service import TenantProfiles
from shared.events.envelope import Envelope
from shared.events.search import (
    DOCUMENT_EMBED,
    DOCUMENT_PROCESS,
    MESSAGE_DELETED,
    MESSAGE_UPSERTED,
    MESSAGES_RESTORED,
    REINDEX_STEP,
    MessageIndexed,
    MessagesDeleted,
    MessagesRestored,
)
from shared.logging import get_logger

log = get_logger("search.handlers")
Handler = Callable[[Envelope, AsyncSession], Awaitable[None]]


def make_index_handler(provider: EmbeddingProvider, tenants: TenantProfiles, settings: SearchSettings) -> Handler:
    async def handle(envelope: Envelope, session: AsyncSession) -> None:
        tenant_id = envelope.tenant_id
        if tenant_id is None:
            log.warning("event_without_tenant", type=envelope.type, event_id=str(envelope.id))
            return
        indexing = IndexingService(session, provider, tenants, settings)
        if envelope.type == MESSAGE_UPSERTED:
            await indexing.index_message(tenant_id, MessageIndexed.model_validate(envelope.payload))
        elif envelope.type == MESSAGE_DELETED:
            await indexing.delete_messages(tenant_id, MessagesDeleted.model_validate(envelope.payload))
        elif envelope.type == MESSAGES_RESTORED:
            await indexing.restore_messages(tenant_id, MessagesRestored.model_validate(envelope.payload))
        elif envelope.type in (DOCUMENT_PROCESS, DOCUMENT_EMBED):
            await DocumentProcessor(session, provider, tenants, settings).step_next()
        elif envelope.type == REINDEX_STEP:
            after = envelope.payload.get("after")
            await indexing.reindex_step(
                tenant_id, uuid.UUID(envelope.payload["job_id"]), uuid.UUID(after) if after else None
            )
        else:
            log.info("event_ignored", type=envelope.type)

    return handle


def make_tenants_handler(tenants: TenantProfiles) -> Handler:
    """tenants.changed.v1: forget cached secrets; a locale change is re-read from auth on next use."""

    async def handle(envelope: Envelope, session: AsyncSession) -> None:
        raw = envelope.payload.get("tenant_id") or envelope.tenant_id
        if raw is None:
            return
        tenant_id = uuid.UUID(str(raw))
        tenants.forget(tenant_id)
        changed = set(envelope.payload.get("changed") or [])
        if changed and "locale" not in changed:
            return
        row = await session.get(TenantIndex, tenant_id)
        if row is None:
            return  # nothing indexed yet: read on first use
        before = row.ts_config
        await session.execute(
            update(TenantIndex).where(TenantIndex.tenant_id == tenant_id).values(locale_checked_at=None)
        )
        row = await tenants.profile(session, tenant_id)
        if row.ts_config != before:
            await EntryRepository(session).set_ts_config(tenant_id, row.ts_config)

    return handle
