"""Handlers of search.index.v1 (messages from chat; document and reindex steps from search itself)
and tenants.changed.v1. Each runs in the consumer's transaction, which also records its idempotency key."""

from __future__ import annotations

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
from shared.events.handlers import TransactionalHandler
from shared.events.search import (
    DOCUMENT_EMBED,
    DOCUMENT_PROCESS,
    MESSAGE_DELETED,
    MESSAGE_UPSERTED,
    MESSAGES_RESTORED,
    REINDEX_STEP,
    DocumentStep,
    MessageIndexed,
    MessagesDeleted,
    MessagesRestored,
    ReindexStep,
)
from shared.events.tenants import TENANT_CHANGED, TenantChanged
from shared.logging import get_logger

log = get_logger("search.handlers")
IndexPayload = MessageIndexed | MessagesDeleted | MessagesRestored | ReindexStep | DocumentStep
INDEX_EVENTS = (MESSAGE_UPSERTED, MESSAGE_DELETED, MESSAGES_RESTORED, REINDEX_STEP, DOCUMENT_PROCESS, DOCUMENT_EMBED)


def make_index_handler(
    provider: EmbeddingProvider, tenants: TenantProfiles, settings: SearchSettings
) -> TransactionalHandler[IndexPayload]:
    async def handle(envelope: Envelope, payload: IndexPayload, session: AsyncSession) -> None:
        tenant_id = envelope.tenant_id
        if tenant_id is None:
            log.warning("event_without_tenant", type=envelope.type, event_id=str(envelope.id))
            return
        indexing = IndexingService(session, provider, tenants, settings)
        if isinstance(payload, MessageIndexed):
            await indexing.index_message(tenant_id, payload)
        elif isinstance(payload, MessagesDeleted):
            await indexing.delete_messages(tenant_id, payload)
        elif isinstance(payload, MessagesRestored):
            await indexing.restore_messages(tenant_id, payload)
        elif isinstance(payload, DocumentStep):
            await DocumentProcessor(session, provider, tenants, settings).step_next()
        else:
            await indexing.reindex_step(tenant_id, payload.job_id, payload.after)

    return TransactionalHandler(INDEX_EVENTS, handle)


def make_tenants_handler(tenants: TenantProfiles) -> TransactionalHandler[TenantChanged]:
    """tenants.changed.v1: forget cached secrets; a locale change is re-read from auth on next use."""

    async def handle(envelope: Envelope, change: TenantChanged, session: AsyncSession) -> None:
        tenant_id = change.tenant_id or envelope.tenant_id
        if tenant_id is None:
            return
        tenants.forget(tenant_id)
        changed = set(change.changed)
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

    return TransactionalHandler(TENANT_CHANGED, handle)
