"""create_app() for the chat service."""

from fastapi import FastAPI

from services.chat.config import ChatSettings, get_settings
from shared.app import create_service_app


def create_app(settings: ChatSettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    return create_service_app(
        settings,
        title="Chat",
        description="Assistants, threads, messages, AI answers, review, buffers.",
        routers=[],
    )
