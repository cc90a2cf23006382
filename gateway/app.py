"""create_app() for the gateway."""

from fastapi import FastAPI

from gateway.config import GatewaySettings, get_settings
from shared.app import create_service_app


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    return create_service_app(settings, title="Atende API", description="The platform's public API.")
