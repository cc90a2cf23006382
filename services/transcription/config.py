"""Transcription settings: env prefix TRANSCRIPTION_."""

from functools import lru_cache

from pydantic_settings import SettingsConfigDict

from shared.config import ServiceSettings, load_settings


class TranscriptionSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TRANSCRIPTION_", env_file=".env", extra="ignore")

    service_name: str = "transcription"
    port: int = 8004


@lru_cache
def get_settings() -> TranscriptionSettings:
    return load_settings(TranscriptionSettings)  # type: ignore[return-value]
