"""The web chat widget (`web`): no provider behind it. Visitors post through /api/v1/widget/messages with a visitor
token (services/channels/web/), so there is no webhook, signature or media to fetch; a reply is appended to the
visitor's transcript and published to whichever channels replica holds their stream (web/transcript.py)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from services.channels.providers.base import (
    CredentialSchema,
    DeliveryReport,
    Incoming,
    Media,
    MediaError,
    ProviderDefaults,
    ReplyPart,
    SendError,
    SendResult,
    WebhookAnswer,
    WebhookRegistration,
    WebhookRegistrationUnsupported,
    WebhookRequest,
)
from services.channels.web.transcript import Transcript
from shared.errors import NotFound


class WebWidget(ProviderDefaults):
    type = "web"
    webhook_path = ""  # none: the widget posts to /api/v1/widget/messages
    credentials = CredentialSchema(fields=())
    max_chars = 4096
    forbidden = "invalid or missing visitor token"
    has_status_callback = False
    webhook_summary = "Web chat widget (no webhook: /api/v1/widget/*)"
    status_summary = ""
    webhook_refusals: dict = {}

    def __init__(self, redis_url: str, maxlen: int = 500, ttl_days: int = 30) -> None:
        self.redis = aioredis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=5)
        self.transcript = Transcript(self.redis, maxlen=maxlen, ttl_days=ttl_days)

    @classmethod
    def from_settings(cls, settings) -> WebWidget:
        return cls(settings.redis_url, settings.widget_transcript_maxlen, settings.widget_transcript_ttl_days)

    # ---- inbound: the visitor token (web/tokens.py) is the check, verified before the intake --------------------
    def verifier(self, credentials: Mapping[str, str]) -> None:
        return None

    def read(self, request: WebhookRequest) -> Any:
        raise NotFound("web channels have no webhook")

    def authentic(self, verifier: Any, request: Any) -> bool:
        return True

    def messages(self, request: Any) -> Sequence[Incoming]:
        return ()

    def answer(self, stored: Sequence[uuid.UUID | None]) -> WebhookAnswer:
        return WebhookAnswer(b"", "application/json", None)

    def delivery_report(self, request: Any) -> DeliveryReport:
        raise NotImplementedError("the widget sends no delivery reports")

    # ---- outbound -----------------------------------------------------------------------------------------------
    async def send(self, credentials: Mapping[str, str], recipient: str, text: str) -> SendResult:
        """`recipient` is the conversation (web/transcript.py `conversation`), as the intake gave it as reply_to."""
        part = text if isinstance(text, ReplyPart) else ReplyPart(text)
        try:
            entry = await self.transcript.append(recipient, part.role, str(part), part.created_at)
        except RedisError as exc:
            raise SendError(f"web: {type(exc).__name__}", permanent=False) from None
        return SendResult(entry)

    async def typing(self, credentials: Mapping[str, str], recipient: str) -> None:
        await self.transcript.typing(recipient)

    async def fetch_media(
        self, http: httpx.AsyncClient, credentials: Mapping[str, str], item: Mapping[str, Any], max_bytes: int
    ) -> Media:
        raise MediaError("web chat messages carry no provider media")

    async def register_webhook(self, credentials: Mapping[str, str], url: str) -> WebhookRegistration:
        raise WebhookRegistrationUnsupported("the web widget has no webhook")

    async def aclose(self) -> None:
        await self.redis.aclose()
