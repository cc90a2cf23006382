"""Telegram through aiogram's Bot, pointed at the real Bot API or at CHANNELS_TELEGRAM_API_URL: JSON updates with
a secret-token header we generate, sends and typing, voice notes and photos by getFile, and setWebhook."""

from __future__ import annotations

import hmac
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import PRODUCTION, TelegramAPIServer
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import Update
from pydantic import ValidationError

from services.channels.providers.base import (
    CredentialSchema,
    DeliveryReport,
    Incoming,
    Media,
    MediaError,
    ProviderDefaults,
    SendError,
    SendResult,
    WebhookAnswer,
    WebhookRegistration,
    WebhookRegistrationError,
    WebhookRequest,
    read_capped,
    short,
)
from services.channels.providers.clients import ClientCache
from shared.errors import BadRequest

ALLOWED_UPDATES = ["message", "edited_message"]
_NOT_HANDLED = orjson.dumps({"ok": True, "handled": False})
_STORED = orjson.dumps({"ok": True, "handled": True, "duplicate": False})
_DUPLICATE = orjson.dumps({"ok": True, "handled": True, "duplicate": True})


def make_bot(token: str, api_url: str = "", timeout: float = 15.0) -> Bot:
    """A Bot for one token; close it with `await bot.session.close()`."""
    server = TelegramAPIServer.from_base(api_url.rstrip("/")) if api_url else PRODUCTION
    return Bot(token=token, session=AiohttpSession(api=server, timeout=timeout))


def file_url(api_url: str, token: str, file_path: str) -> str:
    server = TelegramAPIServer.from_base(api_url.rstrip("/")) if api_url else PRODUCTION
    return server.file_url(token, file_path)


@dataclass(frozen=True, slots=True)
class TelegramRequest:
    secret: str  # X-Telegram-Bot-Api-Secret-Token
    body: bytes


def telegram_incoming(update: Update) -> Incoming | None:
    """What we handle: text, voice, audio, photos (the largest size; getFile fetches it later), and edited text.
    Anything else is acknowledged and dropped."""
    message = update.message or update.edited_message
    if message is None or message.chat is None:
        return None
    user = message.from_user
    name = " ".join(p for p in (user.first_name, user.last_name) if p) if user else None
    base = {
        "provider_message_id": str(update.update_id),
        "sender": str(user.id if user else message.chat.id),
        "sender_name": short(name),
        "reply_to": str(message.chat.id),
    }
    if update.edited_message is not None:
        if not message.text:
            return None
        return Incoming(kind="edited", text=message.text, **base)
    if message.voice or message.audio:
        f = message.voice or message.audio
        media = [
            {
                "file_id": f.file_id,
                "content_type": f.mime_type or "audio/ogg",
                "duration": f.duration,
                "file_size": f.file_size,
            }
        ]
        return Incoming(kind="audio", text=message.caption, media=media, **base)
    if message.photo:
        largest = max(message.photo, key=lambda size: (size.width * size.height, size.file_size or 0))
        media = [{"file_id": largest.file_id, "content_type": "image/jpeg", "file_size": largest.file_size}]
        return Incoming(kind="image", text=message.caption, media=media, **base)
    if message.document and (message.document.mime_type or "").startswith("image/"):  # a photo sent as a file
        doc = message.document
        media = [{"file_id": doc.file_id, "content_type": doc.mime_type, "file_size": doc.file_size}]
        return Incoming(kind="image", text=message.caption, media=media, **base)
    if message.text:
        return Incoming(kind="text", text=message.text, **base)
    return None


async def fetch_telegram_file(
    http: httpx.AsyncClient, bot_token: str, file_id: str, *, max_bytes: int, api_url: str = ""
) -> Media:
    """getFile, then the file from the Bot API server it names."""
    bot = make_bot(bot_token, api_url)
    try:
        info = await bot.get_file(file_id)
    except Exception as exc:  # noqa: BLE001 - any refusal means we cannot get the file
        raise MediaError(f"Telegram getFile failed: {type(exc).__name__}") from None
    finally:
        await bot.session.close()
    if info.file_size and info.file_size > max_bytes:
        raise MediaError(f"media is larger than {max_bytes} bytes")
    if not info.file_path:
        raise MediaError("Telegram returned no file path")
    url = file_url(api_url, bot_token, info.file_path)
    async with http.stream("GET", url, follow_redirects=False, timeout=30) as resp:
        if resp.status_code != 200:
            raise MediaError(f"Telegram file download answered {resp.status_code}")
        return Media(await read_capped(resp, max_bytes), resp.headers.get("content-type", "audio/ogg"))


async def _close_bot(bot) -> None:
    await bot.session.close()


class Telegram(ProviderDefaults):
    type = "telegram"
    webhook_path = "telegram"
    credentials = CredentialSchema(
        fields=("bot_token",),
        formats={
            "bot_token": (
                re.compile(r"^\d{3,15}:[A-Za-z0-9_-]{20,100}$"),
                "bot_token does not look like a Telegram bot token (<digits>:<secret>)",
            )
        },
        generated=("webhook_secret",),
    )
    max_chars = 4096
    forbidden = "invalid or missing X-Telegram-Bot-Api-Secret-Token"
    has_status_callback = False
    webhook_summary = "Telegram bot update webhook"
    status_summary = ""
    webhook_refusals: dict = {}

    def __init__(self, api_url: str = "", timeout: float = 15.0) -> None:
        self.api_url = api_url
        self.timeout = timeout
        self.bots = ClientCache(
            lambda token: make_bot(token, self.api_url, self.timeout), _close_bot, grace=timeout + 5
        )

    @classmethod
    def from_settings(cls, settings) -> Telegram:
        return cls(settings.telegram_api_url, settings.send_timeout_seconds)

    # ---- inbound ------------------------------------------------------------------------------------------------
    def verifier(self, credentials: Mapping[str, str]) -> bytes:
        return credentials.get("webhook_secret", "").encode()

    def read(self, request: WebhookRequest) -> TelegramRequest:
        return TelegramRequest(request.headers.get("x-telegram-bot-api-secret-token", ""), request.body)

    def authentic(self, verifier: bytes, request: TelegramRequest) -> bool:
        """A channel without a secret (none is: we generate it at creation) takes nothing, not an empty header."""
        return bool(verifier) and hmac.compare_digest(request.secret.encode(), verifier)

    def messages(self, request: TelegramRequest) -> Sequence[Incoming]:
        try:
            update = Update.model_validate(orjson.loads(request.body))
        except (orjson.JSONDecodeError, ValidationError, TypeError):
            raise BadRequest("body is not a Telegram Update") from None
        incoming = telegram_incoming(update)
        return () if incoming is None else (incoming,)

    def answer(self, stored: Sequence[uuid.UUID | None]) -> WebhookAnswer:
        if not stored:
            return WebhookAnswer(_NOT_HANDLED, "application/json", None)
        duplicate = stored[0] is None
        return WebhookAnswer(_DUPLICATE if duplicate else _STORED, "application/json", duplicate)

    def delivery_report(self, request: TelegramRequest) -> DeliveryReport:
        raise NotImplementedError("Telegram sends no delivery reports")

    # ---- outbound -----------------------------------------------------------------------------------------------
    async def send(self, credentials: Mapping[str, str], recipient: str, text: str) -> SendResult:
        bot = self.bots.get(credentials["bot_token"])
        try:
            msg = await bot.send_message(chat_id=int(recipient), text=text)
            return SendResult(str(msg.message_id))
        except TelegramRetryAfter as exc:
            raise SendError("telegram: too many requests", permanent=False, retry_after=exc.retry_after) from None
        except (TelegramServerError, TelegramNetworkError) as exc:
            raise SendError(f"telegram: {type(exc).__name__}", permanent=False) from None
        except (TelegramBadRequest, TelegramForbiddenError, TelegramNotFound, TelegramUnauthorizedError) as exc:
            raise SendError(f"telegram refused: {exc.message}", permanent=True) from None
        except TelegramAPIError as exc:  # anything else (e.g. a 429 without retry_after): try again later
            raise SendError(f"telegram: {exc.message}", permanent=False) from None

    async def typing(self, credentials: Mapping[str, str], recipient: str) -> None:
        bot = self.bots.get(credentials["bot_token"])
        await bot.send_chat_action(chat_id=int(recipient), action="typing")

    async def fetch_media(
        self, http: httpx.AsyncClient, credentials: Mapping[str, str], item: Mapping[str, Any], max_bytes: int
    ) -> Media:
        return await fetch_telegram_file(
            http, credentials["bot_token"], item["file_id"], max_bytes=max_bytes, api_url=self.api_url
        )

    async def register_webhook(self, credentials: Mapping[str, str], url: str) -> WebhookRegistration:
        """setWebhook with our secret token; Telegram only calls https URLs (a stand-in API may take http)."""
        if not url.startswith("https://") and not self.api_url:
            raise BadRequest("Telegram only calls https webhooks: set CHANNELS_PUBLIC_BASE_URL to your https URL")
        bot = make_bot(credentials["bot_token"], self.api_url)
        try:
            await bot.set_webhook(
                url,
                secret_token=credentials["webhook_secret"],
                allowed_updates=ALLOWED_UPDATES,
                drop_pending_updates=False,
            )
        except TelegramNetworkError as exc:
            raise WebhookRegistrationError(f"Telegram did not answer: {type(exc).__name__}", unavailable=True) from None
        except TelegramAPIError as exc:
            raise WebhookRegistrationError(f"Telegram refused setWebhook: {exc.message}") from None
        finally:
            await bot.session.close()
        return WebhookRegistration(url, ALLOWED_UPDATES)

    async def aclose(self) -> None:
        await self.bots.aclose()
