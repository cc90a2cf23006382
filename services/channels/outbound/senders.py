"""Senders: one small class per channel type, chosen by the channel's `type`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

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
from twilio.base.exceptions import TwilioRestException

from services.channels.providers import telegram, twilio


class SendError(Exception):
    """A send that failed; `retry_after` set when the provider said when to come back."""

    def __init__(self, message: str, *, permanent: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


@dataclass
class SendResult:
    provider_message_id: str


class Sender(Protocol):
    async def send(self, credentials: dict[str, str], recipient: str, text: str) -> SendResult: ...
    async def typing(self, credentials: dict[str, str], recipient: str) -> None: ...


class TelegramSender:
    def __init__(self, api_url: str, timeout: float) -> None:
        self.api_url = api_url
        self.timeout = timeout

    async def send(self, credentials: dict[str, str], recipient: str, text: str) -> SendResult:
        bot = telegram.make_bot(credentials["bot_token"], self.api_url, self.timeout)
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
        finally:
            await bot.session.close()

    async def typing(self, credentials: dict[str, str], recipient: str) -> None:
        bot = telegram.make_bot(credentials["bot_token"], self.api_url, self.timeout)
        try:
            await bot.send_chat_action(chat_id=int(recipient), action="typing")
        finally:
            await bot.session.close()


class TwilioSender:
    def __init__(self, api_url: str, timeout: float) -> None:
        self.api_url = api_url
        self.timeout = timeout

    async def send(self, credentials: dict[str, str], recipient: str, text: str) -> SendResult:
        client = twilio.make_client(credentials["account_sid"], credentials["auth_token"], self.api_url, self.timeout)
        try:
            msg = await client.messages.create_async(
                from_=twilio.whatsapp_address(credentials["from_number"]),
                to=twilio.whatsapp_address(recipient),
                body=text,
            )
            return SendResult(msg.sid)
        except TwilioRestException as exc:
            if exc.status == 429 or exc.status >= 500:
                raise SendError(f"twilio: HTTP {exc.status}", permanent=False) from None
            raise SendError(f"twilio refused: HTTP {exc.status} code {exc.code}", permanent=True) from None
        except (OSError, TimeoutError) as exc:
            raise SendError(f"twilio: {type(exc).__name__}", permanent=False) from None
        finally:
            await client.http_client.close()

    async def typing(self, credentials: dict[str, str], recipient: str) -> None:
        """WhatsApp through Twilio has no typing indicator."""


def build_senders(settings) -> dict[str, Sender]:
    return {
        "telegram": TelegramSender(settings.telegram_api_url, settings.send_timeout_seconds),
        "whatsapp_twilio": TwilioSender(settings.twilio_api_url, settings.send_timeout_seconds),
    }
