"""Channels settings: env prefix CHANNELS_."""

from functools import lru_cache

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.config import ServiceSettings, load_settings


class ChannelsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CHANNELS_", env_file=".env", extra="ignore")

    service_name: str = "channels"
    port: int = 8003
    # What webhook URLs and Twilio signatures are built on (the public URL of the gateway), never the request's Host.
    # Empty: channel answers carry only the webhook path and Twilio webhooks are refused; production requires it.
    public_base_url: str = Field("", pattern=r"^(https?://[^/?#\s]+)?/?$")
    # Empty means the providers' public endpoints; tests and proxies point these elsewhere.
    telegram_api_url: str = ""
    twilio_api_url: str = ""
    # Meta's Graph API (WhatsApp Cloud API, Instagram, Messenger sends and media lookups) and its version.
    meta_graph_url: str = Field("", pattern=r"^(https?://[^/?#\s]+)?/?$")
    meta_graph_version: str = Field("v21.0", pattern=r"^v\d{1,3}\.\d{1,3}$")
    # Hosts media may be downloaded from besides the Graph host (comma-separated; `*.` matches any name under one).
    meta_media_hosts: str = "lookaside.fbsbx.com,*.fbsbx.com,*.fbcdn.net,*.cdninstagram.com"
    webhook_max_body_bytes: int = Field(256 * 1024, ge=1024)
    # Each API process wakes the outbox relay (NOTIFY) at most once per this many ms; a message stored in between
    # is covered by one NOTIFY at the interval's end (webhooks/intake/wakeup.py). 0 = a NOTIFY per message.
    webhook_notify_interval_ms: int = Field(10, ge=0, le=1000)
    # Group commit (webhooks/intake/batcher.py): each API process runs at most WEBHOOK_INSERT_STATEMENTS
    # intake statements at a time; messages arriving meanwhile go together in the next one, up to BATCH_MAX_ROWS.
    # 1 = off: one statement per message, as many at a time as the pool allows.
    webhook_batch_max_rows: int = Field(64, ge=1, le=1000)
    webhook_insert_statements: int = Field(4, ge=1, le=100)
    # Messages of one API process waiting for an intake statement; past it a webhook is a 503 (the provider retries).
    webhook_max_queued: int = Field(10_000, ge=1, le=1_000_000)
    # A cached channel whose signature check fails is re-read from the database at most once per this many seconds
    # (a token rotated by another process), so forged requests do not each cost a read.
    webhook_recheck_seconds: float = Field(1.0, ge=0, le=3600)
    # Each API process publishes the events of at most this many messages a second itself, right after their commit
    # (shared/events/direct.py, DirectPublisher: sooner to the answer, docs/benchmarks/pipeline.md); the rest go through
    # the outbox relay, which costs the API nothing under a burst. 0 = every event through the relay.
    webhook_direct_publish_per_second: int = Field(100, ge=0, le=100_000)
    # Voice notes travel inline to transcription: keep this at or below TRANSCRIPTION_MAX_INLINE_AUDIO_BYTES.
    media_max_bytes: int = Field(5 * 1024 * 1024, ge=1024)
    media_dir: str = ".data/media"
    # Customer photos (services/channels/media/images.py): the byte cap per image and how many of one message are
    # fetched; they travel inline to chat on channels.media.v1 (keep at or below CHAT_ATTACHMENT_MAX_BYTES).
    image_max_bytes: int = Field(5 * 1024 * 1024, ge=1024, le=50 * 1024 * 1024)
    images_max_per_message: int = Field(4, ge=1, le=20)
    send_max_attempts: int = Field(5, ge=1, le=20)
    send_timeout_seconds: float = Field(15.0, gt=0)
    split_max_chars: int = Field(1000, ge=100, le=4096)

    # Web chat (web/, docs/web-chat.md). Visitor tokens are HS256 JWTs signed with the first `kid:secret` pair of
    # WIDGET_TOKEN_KEYS and accepted under any of them (rotation: add the new key first, drop the old one after
    # WIDGET_TOKEN_TTL_SECONDS). Empty: a key derived from SERVICE_SECRET (which production requires to be random).
    widget_token_keys: str = Field("", pattern=r"^([A-Za-z0-9_-]{1,16}:[^,:\s]{32,}(,|$))*$")
    widget_token_ttl_seconds: int = Field(24 * 3600, ge=60, le=30 * 24 * 3600)
    widget_max_text_chars: int = Field(2000, ge=1, le=4096)
    # Per visitor, a `limits` string ("20/minute;200/hour"): messages a visitor may send (the gateway limits sessions
    # and requests per client address).
    widget_visitor_limit: str = "20/minute;300/hour"
    # Each conversation's Redis stream: what a reconnect replays and GET /api/v1/widget/messages reads.
    widget_transcript_maxlen: int = Field(500, ge=10, le=100_000)
    widget_transcript_ttl_days: int = Field(30, ge=1, le=365)
    widget_ping_seconds: int = Field(15, ge=1, le=300)  # SSE comment pings that keep proxies from closing a stream

    def production_problems(self) -> list[str]:
        problems = super().production_problems()
        if not self.public_base_url:
            problems.append("CHANNELS_PUBLIC_BASE_URL: required with ENVIRONMENT=production (webhook URLs, Twilio)")
        return problems


@lru_cache
def get_settings() -> ChannelsSettings:
    return load_settings(ChannelsSettings)  # type: ignore[return-value]
