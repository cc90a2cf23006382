"""Telegram through aiogram's Bot, pointed at the real Bot API or at CHANNELS_TELEGRAM_API_URL."""

from __future__ import annotations

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import PRODUCTION, TelegramAPIServer

ALLOWED_UPDATES = ["message", "edited_message"]


def make_bot(token: str, api_url: str = "", timeout: float = 15.0) -> Bot:
    """A Bot for one token; close it with `await bot.session.close()`."""
    server = TelegramAPIServer.from_base(api_url.rstrip("/")) if api_url else PRODUCTION
    return Bot(token=token, session=AiohttpSession(api=server, timeout=timeout))


def file_url(api_url: str, token: str, file_path: str) -> str:
    server = TelegramAPIServer.from_base(api_url.rstrip("/")) if api_url else PRODUCTION
    return server.file_url(token, file_path)
