"""Auth and tenants settings: env prefix AUTH_."""

from functools import lru_cache

from pydantic_settings import SettingsConfigDict

from shared.config import ServiceSettings, load_settings


class AuthSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AUTH_", env_file=".env", extra="ignore")

    service_name: str = "auth"
    port: int = 8001


@lru_cache
def get_settings() -> AuthSettings:
    return load_settings(AuthSettings)  # type: ignore[return-value]
