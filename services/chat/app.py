"""create_app() for the chat service."""

from fastapi import FastAPI

from services.chat.assistants.router import router as assistants_router
from services.chat.attachments.router import router as attachments_router
from services.chat.buffers.router import router as buffers_router
from services.chat.config import ChatSettings, get_settings
from services.chat.contacts.router import router as contacts_router
from services.chat.export.router import router as export_router
from services.chat.live.router import router as live_router
from services.chat.metrics.router import router as metrics_router
from services.chat.openai_compat.router import router as openai_router
from services.chat.runtime import chat_runtime
from services.chat.threads.router import router as threads_router
from services.chat.tools.kit import tools_lifespan
from services.chat.tools.router import router as tools_router
from shared.app import create_service_app
from shared.egress import Resolver


def create_app(settings: ChatSettings | None = None, resolver: Resolver | None = None) -> FastAPI:
    """`resolver` replaces the system's for tool URLs (tests give names stub answers)."""
    settings = settings or get_settings()
    return create_service_app(
        settings,
        title="Chat",
        description="Assistants and their tools, threads, messages, AI answers (sync + SSE), review, export, metrics, "
        "OpenAI-compatible API.",
        routers=[
            buffers_router,
            assistants_router,
            tools_router,
            contacts_router,
            export_router,
            threads_router,
            attachments_router,
            metrics_router,
            live_router,
            openai_router,
        ],
        lifespan_hooks=[chat_runtime, tools_lifespan(resolver)],
    )
