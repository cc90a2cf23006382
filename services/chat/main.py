"""ASGI entry point: `uvicorn services.chat.main:app`."""

from services.chat.app import create_app

app = create_app()
