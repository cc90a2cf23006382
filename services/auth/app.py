"""create_app() for the auth service."""

from fastapi import FastAPI

from services.auth.config import AuthSettings, get_settings
from shared.app import create_service_app


def create_app(settings: AuthSettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    return create_service_app(
        settings,
        title="Auth and tenants",
        description="Users, tenants, roles, tokens, API keys and secrets.",
        routers=[],
    )
