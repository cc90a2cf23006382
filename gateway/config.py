"""Gateway settings: env prefix GATEWAY_."""

from functools import lru_cache

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.config import ServiceSettings, load_settings

# Per route group, per identity kind: a `limits` string ("100/minute", several joined by ";"; "" = no limit).
# Identity kinds: ip (anonymous callers), user, api_key, tenant (every caller of one tenant), channel (webhooks: the
# channel id in the path). `failed_auth` counts refused credentials per client IP (docs/gateway.md). Webhooks are
# limited per channel, not per IP: Twilio and Meta call every tenant from the same shared addresses.
DEFAULT_RATE_LIMITS: dict[str, dict[str, str]] = {
    "default": {"ip": "120/minute", "user": "600/minute", "api_key": "1200/minute", "tenant": ""},
    "auth_public": {"ip": "30/minute"},
    "failed_auth": {"ip": "30/minute;300/hour"},
    "webhooks": {"channel": "3000/second", "ip": ""},
    # The web chat widget's visitors (per client address; channels limits each visitor's messages itself).
    "widget_sessions": {"ip": "30/minute;300/hour"},
    "widget": {"ip": "600/minute"},
}


class GatewaySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", env_file=".env", extra="ignore")

    service_name: str = "gateway"
    port: int = 8000
    auth_upstream: str = "http://127.0.0.1:8001"
    chat_upstream: str = "http://127.0.0.1:8002"
    channels_upstream: str = "http://127.0.0.1:8003"
    transcription_upstream: str = "http://127.0.0.1:8004"
    search_upstream: str = "http://127.0.0.1:8005"

    # Proxying
    connect_timeout: float = Field(2.0, gt=0)
    read_timeout: float = Field(30.0, gt=0)  # between two reads of an upstream answer -> 504 before it starts
    stream_read_timeout: float = Field(300.0, gt=0)  # SSE / completions routes: time between events
    pool_connections: int = Field(200, ge=1, le=10_000)  # per upstream
    # Per upstream, for `stream` routes (SSE, completions): each open stream holds one (docs/web-chat.md).
    stream_pool_connections: int = Field(10_000, ge=1, le=100_000)
    pool_keepalive: int = Field(100, ge=1, le=10_000)
    pool_idle_seconds: float = Field(4.0, gt=0)  # close idle upstream connections sooner than uvicorn's 5 s
    max_body_bytes: int = Field(2 * 1024 * 1024, ge=1024)  # JSON API and webhooks
    max_upload_bytes: int = Field(200 * 1024 * 1024, ge=1024)  # transcriptions, documents
    buffer_body_below: int = Field(64 * 1024, ge=0)  # bodies with a Content-Length up to this are sent in one piece
    trusted_proxies: list[str] = Field(default_factory=list)  # IPs/CIDRs whose X-Forwarded-* we extend, not replace

    # Authentication at the edge
    api_key_prefix: str = "atd_"
    api_key_cache_seconds: float = Field(60.0, gt=0, le=60)  # a revoked key stops within this
    api_key_cache_size: int = Field(10_000, ge=10)
    api_key_negative_cache_seconds: float = Field(5.0, ge=0, le=60)

    # Rate limits (Redis, `limits` library); local per-process fallback while Redis is down
    rate_limits_enabled: bool = True
    rate_limit_strategy: str = Field("moving-window", pattern="^(moving-window|sliding-window-counter|fixed-window)$")
    rate_limits: dict[str, dict[str, str]] = Field(default_factory=lambda: dict(DEFAULT_RATE_LIMITS))
    rate_limit_redis_timeout: float = Field(0.5, gt=0)
    rate_limit_redis_retry_seconds: float = Field(2.0, ge=0)  # after a Redis error, use the fallback this long

    # Browser-facing headers
    cors_origins: list[str] = Field(default_factory=list)
    hsts_seconds: int = Field(0, ge=0)  # 0: no Strict-Transport-Security (set it when served over https)

    # Merged OpenAPI
    openapi_cache_seconds: float = Field(60.0, ge=0)

    # The admin console's production build served at /admin (empty: admin/dist of this checkout); docs/admin.md
    admin_dir: str = ""

    def upstreams(self) -> dict[str, str]:
        return {
            "auth": self.auth_upstream.rstrip("/"),
            "chat": self.chat_upstream.rstrip("/"),
            "channels": self.channels_upstream.rstrip("/"),
            "transcription": self.transcription_upstream.rstrip("/"),
            "search": self.search_upstream.rstrip("/"),
        }


@lru_cache
def get_settings() -> GatewaySettings:
    return load_settings(GatewaySettings)  # type: ignore[return-value]
