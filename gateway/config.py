"""Gateway settings: env prefix GATEWAY_."""

from functools import lru_cache

from pydantic_settings import SettingsConfigDict

from shared.config import ServiceSettings, load_settings


class GatewaySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", env_file=".env", extra="ignore")

    service_name: str = "gateway"
    port: int = 8000
    auth_upstream: str = "http://127.0.0.1:8001"
    chat_upstream: str = "http://127.0.0.1:8002"
    channels_upstream: str = "http://127.0.0.1:8003"
    transcription_upstream: str = "http://127.0.0.1:8004"
    search_upstream: str = "http://127.0.0.1:8005"


@lru_cache
def get_settings() -> GatewaySettings:
    return load_settings(GatewaySettings)  # type: ignore[return-value]
