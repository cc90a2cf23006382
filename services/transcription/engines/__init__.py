"""Speech-to-text engines behind one interface; adding one is a module with @register and a line below."""

from services.transcription.engines import assemblyai, local, openai  # noqa: F401 - register the engines
from services.transcription.engines.base import REGISTRY, Engine, EngineError, EngineUnavailable

__all__ = ["REGISTRY", "Engine", "EngineError", "EngineUnavailable", "build_engines"]


def build_engines(settings) -> dict[str, Engine]:
    return {name: factory(settings) for name, factory in REGISTRY.items()}
