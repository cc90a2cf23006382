"""ASGI entry point: `uvicorn services.auth.main:app`."""

from services.auth.app import create_app

app = create_app()
