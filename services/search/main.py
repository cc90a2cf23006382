"""ASGI entry point: `uvicorn services.search.main:app`."""

from services.search.app import create_app

app = create_app()
