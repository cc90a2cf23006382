"""Chat settings: env prefix CHAT_."""

from functools import lru_cache

from pydantic_settings import SettingsConfigDict

from shared.config import ServiceSettings, load_settings


class ChatSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CHAT_", env_file=".env", extra="ignore")

    service_name: str = "chat"
    port: int = 8002


@lru_cache
def get_settings() -> ChatSettings:
    return load_settings(ChatSettings)  # type: ignore[return-value]
