"""Search settings: env prefix SEARCH_."""

from functools import lru_cache

from pydantic_settings import SettingsConfigDict

from shared.config import ServiceSettings, load_settings


class SearchSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SEARCH_", env_file=".env", extra="ignore")

    service_name: str = "search"
    port: int = 8005


@lru_cache
def get_settings() -> SearchSettings:
    return load_settings(SearchSettings)  # type: ignore[return-value]
