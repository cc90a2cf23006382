"""create_app() for the transcription service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.transcription.config import TranscriptionSettings, get_settings
from services.transcription.exports.router import router as exports_router
from services.transcription.jobs.router import router as jobs_router
from services.transcription.jobs.storage import FileStore
from services.transcription.tenants import tenant_configs
from shared.app import create_service_app
from shared.egress import EgressGuard, Resolver
from shared.tenant_settings import watching_changes


def create_app(settings: TranscriptionSettings | None = None, resolver: Resolver | None = None) -> FastAPI:
    """`resolver` replaces the system's for the webhook_url check at creation (tests feed it stub answers)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def _state(app: FastAPI) -> AsyncIterator[None]:
        app.state.store = FileStore(settings.storage_dir)
        app.state.tenants = tenant_configs(settings, app.state.http)
        app.state.egress_guard = EgressGuard(settings.egress_policy(), resolver)
        async with watching_changes(app.state.redis, app.state.tenants):
            yield

    return create_service_app(
        settings,
        title="Transcription",
        description="Audio transcription jobs with progress and exports.",
        routers=[jobs_router, exports_router],
        lifespan_hooks=[_state],
    )
