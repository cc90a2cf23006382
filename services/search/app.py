"""create_app() for the search service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.search.config import SearchSettings, get_settings
from services.search.documents.limits import BodyLimitMiddleware
from services.search.documents.router import router as documents_router
from services.search.embeddings.base import EmbeddingProvider, build_provider
from services.search.indexing.router import router as reindex_router
from services.search.query.router import router as search_router
from services.search.tenants.service import TenantProfiles, search_tenant_settings
from shared.app import create_service_app
from shared.tenant_settings import watching_changes


def build_tenants(settings: SearchSettings, http) -> TenantProfiles:
    return TenantProfiles(
        search_tenant_settings(settings, http),
        ttl_seconds=settings.tenant_cache_seconds,
        default_ts_config=settings.default_ts_config,
    )


def create_app(settings: SearchSettings | None = None, *, embeddings: EmbeddingProvider | None = None) -> FastAPI:
    """`embeddings` overrides the provider the settings name (tests share one loaded model)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def search_state(app: FastAPI) -> AsyncIterator[None]:
        app.state.tenants = build_tenants(settings, app.state.http)
        app.state.embeddings = embeddings or build_provider(
            settings, lambda tid: app.state.tenants.secret(tid, "openai_api_key")
        )
        if app.state.tenants.settings is None:
            yield
            return
        async with watching_changes(app.state.redis, app.state.tenants.settings):
            yield

    app = create_service_app(
        settings,
        title="Search",
        description="Semantic, keyword and hybrid search; knowledge documents.",
        routers=[search_router, reindex_router, documents_router],
        lifespan_hooks=[search_state],
    )
    app.add_middleware(
        BodyLimitMiddleware, prefix="/api/v1/documents", max_bytes=settings.max_document_bytes + 64 * 1024
    )
    return app
