"""ASGI entry point: `uvicorn services.transcription.main:app`."""

from services.transcription.app import create_app

app = create_app()
