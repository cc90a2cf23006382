"""create_app() for the transcription service."""

from fastapi import FastAPI

from services.transcription.config import TranscriptionSettings, get_settings
from shared.app import create_service_app


def create_app(settings: TranscriptionSettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    return create_service_app(
        settings,
        title="Transcription",
        description="Audio transcription jobs with progress and exports.",
        routers=[],
    )
