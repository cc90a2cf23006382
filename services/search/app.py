"""create_app() for the search service."""

from fastapi import FastAPI

from services.search.config import SearchSettings, get_settings
from shared.app import create_service_app


def create_app(settings: SearchSettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    return create_service_app(
        settings,
        title="Search",
        description="Semantic, keyword and hybrid search; knowledge documents.",
        routers=[],
    )
