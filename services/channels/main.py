"""ASGI entry point: `uvicorn services.channels.main:app`."""

from services.channels.app import create_app

app = create_app()
