"""POST /api/v1/search (tenant from the token) and POST /internal/v1/search (service token, tenant in the body)."""

from __future__ import annotations

from fastapi import APIRouter

from services.search.deps import EmbeddingsDep, SettingsDep, TenantsDep
from services.search.query.schemas import InternalSearchQuery, SearchAnswer, SearchQuery
from services.search.query.service import SearchService
from shared.auth import ReadScope, ServiceDep, TenantIdDep
from shared.db import SessionDep

router = APIRouter(tags=["search"])


@router.post(
    "/api/v1/search",
    dependencies=[ReadScope],
    summary="Semantic, keyword or hybrid search",
    responses={409: {"description": "the index was built with another embedding model: reindex first"}},
)
async def search(
    body: SearchQuery,
    session: SessionDep,
    tenant_id: TenantIdDep,
    provider: EmbeddingsDep,
    tenants: TenantsDep,
    settings: SettingsDep,
) -> SearchAnswer:
    return await SearchService(session, provider, tenants, settings).search(tenant_id, body)


@router.post(
    "/internal/v1/search",
    summary="Search on behalf of a tenant (service token; chat's knowledge lookups)",
    include_in_schema=False,
)
async def internal_search(
    body: InternalSearchQuery,
    _service: ServiceDep,
    session: SessionDep,
    provider: EmbeddingsDep,
    tenants: TenantsDep,
    settings: SettingsDep,
) -> SearchAnswer:
    query = SearchQuery.model_validate(body.model_dump(exclude={"tenant_id"}))
    return await SearchService(session, provider, tenants, settings).search(body.tenant_id, query)
