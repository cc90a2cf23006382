"""Channels settings: env prefix CHANNELS_."""

from functools import lru_cache

from pydantic_settings import SettingsConfigDict

from shared.config import ServiceSettings, load_settings


class ChannelsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CHANNELS_", env_file=".env", extra="ignore")

    service_name: str = "channels"
    port: int = 8003


@lru_cache
def get_settings() -> ChannelsSettings:
    return load_settings(ChannelsSettings)  # type: ignore[return-value]
