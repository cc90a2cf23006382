"""POST /api/v1/search/reindex (admin): re-embed everything with the current model; GET shows progress."""

from __future__ import annotations

from fastapi import APIRouter

from services.search.deps import EmbeddingsDep, SettingsDep, TenantsDep
from services.search.indexing.schemas import ReindexRead
from services.search.indexing.service import IndexingService
from shared.auth import AdminScope, TenantIdDep
from shared.db import SessionDep

router = APIRouter(prefix="/api/v1/search/reindex", tags=["search"])


@router.post(
    "", status_code=202, dependencies=[AdminScope], summary="Re-embed the tenant's index with the current model"
)
async def reindex(
    session: SessionDep, tenant_id: TenantIdDep, provider: EmbeddingsDep, tenants: TenantsDep, settings: SettingsDep
) -> ReindexRead:
    return await IndexingService(session, provider, tenants, settings).request_reindex(tenant_id)


@router.get("", dependencies=[AdminScope], summary="Progress of the tenant's reindex")
async def reindex_status(
    session: SessionDep, tenant_id: TenantIdDep, provider: EmbeddingsDep, tenants: TenantsDep, settings: SettingsDep
) -> ReindexRead:
    return await IndexingService(session, provider, tenants, settings).status(tenant_id)
