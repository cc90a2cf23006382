"""Chat settings: env prefix CHAT_."""

from functools import lru_cache
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.config import ServiceSettings, load_settings


class ChatSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CHAT_", env_file=".env", extra="ignore")

    service_name: str = "chat"
    port: int = 8002
    # Platform default LLM (any OpenAI-compatible endpoint); a tenant's own key/model/base URL win.
    # Base URL and key both empty (and none set by the tenant): knowledge-only mode.
    llm_base_url: str = ""
    llm_api_key: str = ""
    llm_model: str = "gpt-4o-mini"
    llm_timeout_seconds: float = Field(60.0, gt=0)
    llm_max_retries: int = Field(2, ge=0, le=10)
    llm_max_tokens: int = Field(1024, ge=1, le=32_000)
    # The OpenAI SDK's HTTP transport: "aiohttp" (its DefaultAioHttpClient; less CPU per call,
    # docs/pipeline.md) or "httpx" (its default). Both honour HTTP(S)_PROXY from the environment.
    llm_http_transport: Literal["aiohttp", "httpx"] = "aiohttp"
    # Context: the last N messages within a token budget (counted with tiktoken), never cut in half.
    context_max_messages: int = Field(10, ge=1, le=200)
    context_token_budget: int = Field(3000, ge=100, le=200_000)
    message_max_chars: int = Field(4000, ge=1, le=100_000)
    # Knowledge: the search service's internal endpoint; empty means none (knowledge-only mode hands over).
    search_url: str = ""
    search_timeout_seconds: float = Field(5.0, gt=0)
    knowledge_limit: int = Field(3, ge=1, le=20)
    knowledge_threshold: float = Field(0.75, ge=0, le=1)
    # The hand-over reply for every customer; empty: shared/i18n's text in the customer's language.
    handover_message: str = ""
    # Tenant settings come from auth's internal endpoint (empty: AUTH_URL), cached and dropped on tenants.changed.v1.
    tenant_settings_url: str = ""
    tenant_cache_seconds: float = Field(300.0, ge=0)
    tenant_fallback_cache_seconds: float = Field(10.0, ge=0)
    export_max_messages: int = Field(5000, ge=1, le=100_000)
    sse_ping_seconds: int = Field(15, ge=1)
    # Channel conversations: how long a flusher holds a burst before another may take it, and how many
    # bursts one worker answers at once.
    buffer_lease_seconds: float = Field(120.0, ge=1)
    flusher_concurrency: int = Field(8, ge=1, le=256)
    # Images on messages (services/chat/attachments): the byte cap per image (inline base64 is also bounded by the
    # gateway's body cap), how many one message may carry, how many a vision model sees per answer (newest first),
    # and the fetch of an attachment `url` (public addresses only unless allowed: tests and local set-ups).
    attachment_max_bytes: int = Field(5 * 1024 * 1024, ge=1024, le=50 * 1024 * 1024)
    attachments_max_per_message: int = Field(4, ge=1, le=20)
    context_max_images: int = Field(4, ge=0, le=20)
    attachment_fetch_timeout_seconds: float = Field(10.0, gt=0)
    attachment_allow_private_urls: bool = False
    # Tools (function calling): tool rounds per answer, the whole loop's time budget, what a tool's answer may
    # be (bytes read; characters kept and handed to the model), the cap on a tool's own timeout, and whether tool
    # URLs may reach private, loopback and link-local addresses (tests and local set-ups only).
    tools_max_rounds: int = Field(5, ge=1, le=20)
    tools_time_budget_seconds: float = Field(60.0, gt=0, le=600)
    tools_response_max_bytes: int = Field(256 * 1024, ge=1024, le=10 * 1024 * 1024)
    tools_result_max_chars: int = Field(8000, ge=100, le=100_000)
    tools_timeout_max_seconds: float = Field(30.0, gt=0, le=300)
    tools_allow_private_networks: bool = False


@lru_cache
def get_settings() -> ChatSettings:
    return load_settings(ChatSettings)  # type: ignore[return-value]
