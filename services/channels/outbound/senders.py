"""Senders: one small class per channel type, chosen by the channel's `type`.

Each keeps one provider client per credential set (its HTTP connection pool with it), so a reply does not pay
for a new client, HTTP session and TCP (+TLS) connection every time; `aclose()` closes them at shutdown.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable
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
    async def aclose(self) -> None: ...


class ClientCache:
    """Provider clients by credentials. Past `max_clients` the least recently used one is dropped and closed
    `grace` seconds later (a send may still be using it: at most the send timeout)."""

    def __init__(self, make: Callable, close: Callable, *, grace: float, max_clients: int = 256) -> None:
        self.make = make
        self.close = close
        self.grace = grace
        self.max_clients = max_clients
        self._clients: OrderedDict[tuple[str, ...], object] = OrderedDict()
        self._retired: dict[asyncio.Task, object] = {}

    def get(self, *key: str):
        client = self._clients.get(key)
        if client is not None:
            self._clients.move_to_end(key)
            return client
        client = self._clients[key] = self.make(*key)
        while len(self._clients) > self.max_clients:
            old = self._clients.popitem(last=False)[1]
            task = asyncio.create_task(self._close_later(old))
            self._retired[task] = old
            task.add_done_callback(self._retired.pop)
        return client

    async def _close_later(self, client) -> None:
        await asyncio.sleep(self.grace)
        await self.close(client)

    async def aclose(self) -> None:
        """Close every client, the retired ones included (at shutdown, when no send is running)."""
        for task, client in list(self._retired.items()):
            task.cancel()
            await self.close(client)
        while self._clients:
            await self.close(self._clients.popitem()[1])

    def __len__(self) -> int:
        return len(self._clients)


async def _close_bot(bot) -> None:
    await bot.session.close()


async def _close_twilio(client) -> None:
    await client.http_client.close()


class TelegramSender:
    def __init__(self, api_url: str, timeout: float) -> None:
        self.api_url = api_url
        self.timeout = timeout
        self.bots = ClientCache(
            lambda token: telegram.make_bot(token, self.api_url, self.timeout), _close_bot, grace=timeout + 5
        )

    async def aclose(self) -> None:
        await self.bots.aclose()

    async def send(self, credentials: dict[str, str], recipient: str, text: str) -> SendResult:
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

    async def typing(self, credentials: dict[str, str], recipient: str) -> None:
        bot = self.bots.get(credentials["bot_token"])
        await bot.send_chat_action(chat_id=int(recipient), action="typing")


class TwilioSender:
    def __init__(self, api_url: str, timeout: float) -> None:
        self.api_url = api_url
        self.timeout = timeout
        self.clients = ClientCache(
            lambda sid, token: twilio.make_client(sid, token, self.api_url, self.timeout),
            _close_twilio,
            grace=timeout + 5,
        )

    async def aclose(self) -> None:
        await self.clients.aclose()

    async def send(self, credentials: dict[str, str], recipient: str, text: str) -> SendResult:
        client = self.clients.get(credentials["account_sid"], credentials["auth_token"])
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

    async def typing(self, credentials: dict[str, str], recipient: str) -> None:
        """WhatsApp through Twilio has no typing indicator."""


async def close_senders(senders: dict[str, Sender]) -> None:
    for sender in senders.values():
        await sender.aclose()


def build_senders(settings) -> dict[str, Sender]:
    return {
        "telegram": TelegramSender(settings.telegram_api_url, settings.send_timeout_seconds),
        "whatsapp_twilio": TwilioSender(settings.twilio_api_url, settings.send_timeout_seconds),
    }
