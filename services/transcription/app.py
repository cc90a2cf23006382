"""create_app() for the transcription service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.transcription.config import TranscriptionSettings, get_settings
from services.transcription.exports.router import router as exports_router
from services.transcription.jobs.router import router as jobs_router
from services.transcription.jobs.storage import FileStore
from shared.app import create_service_app


@asynccontextmanager
async def _store(app: FastAPI) -> AsyncIterator[None]:
    app.state.store = FileStore(app.state.settings.storage_dir)
    yield


def create_app(settings: TranscriptionSettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    return create_service_app(
        settings,
        title="Transcription",
        description="Audio transcription jobs with progress and exports.",
        routers=[jobs_router, exports_router],
        lifespan_hooks=[_store],
    )
