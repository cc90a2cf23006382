"""create_app() for the channels service."""

from fastapi import FastAPI

from services.channels.config import ChannelsSettings, get_settings
from shared.app import create_service_app


def create_app(settings: ChannelsSettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    return create_service_app(
        settings,
        title="Channels",
        description="WhatsApp (Twilio) and Telegram webhooks and outbound sending.",
        routers=[],
    )
