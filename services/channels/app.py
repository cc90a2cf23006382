"""create_app() for the channels service."""

from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.channels.config import ChannelsSettings, get_settings
from services.channels.configs.router import router as channels_router
from services.channels.webhooks.router import router as webhooks_router
from shared.app import create_service_app
from shared.crypto import SecretBox


def create_app(settings: ChannelsSettings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def secrets(app: FastAPI):
        app.state.box = SecretBox(settings.secrets_key)
        yield

    return create_service_app(
        settings,
        title="Channels",
        description="WhatsApp (Twilio) and Telegram webhooks and outbound sending.",
        routers=[channels_router, webhooks_router],
        lifespan_hooks=[secrets],
    )
