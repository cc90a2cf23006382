"""The Telegram provider on its own: the secret token, which updates are messages, the answer, and voice files by
getFile. (Through the app: tests/channels/test_webhooks.py; setWebhook: tests/channels/test_configs.py.)"""

import httpx
import orjson
import pytest

from services.channels.providers.base import MediaError, WebhookRegistrationError, WebhookRequest
from services.channels.providers.telegram import Telegram, fetch_telegram_file
from shared.errors import BadRequest
from tests.channels.conftest import BOT_TOKEN
from tests.support.plugin import serve_app
from tests.support.providers import TelegramStandIn

OGG = b"OggS" + b"\x00" * 2000


def _request(update, secret: str = "s3cret") -> WebhookRequest:
    body = update if isinstance(update, bytes) else orjson.dumps(update)
    return WebhookRequest("c1", {"x-telegram-bot-api-secret-token": secret}, "/webhooks/telegram/c1", "", body)


def _update(**message) -> dict:
    return {"update_id": 7, "message": {"message_id": 1, "date": 0, "chat": {"id": 42, "type": "private"}, **message}}


def test_the_secret_token_is_checked():
    provider = Telegram()
    verifier = provider.verifier({"bot_token": BOT_TOKEN, "webhook_secret": "s3cret"})
    assert provider.authentic(verifier, provider.read(_request(_update(text="oi"))))
    assert not provider.authentic(verifier, provider.read(_request(_update(text="oi"), secret="guess")))
    assert not provider.authentic(provider.verifier({"bot_token": BOT_TOKEN}), provider.read(_request({}, secret="")))


def test_text_and_voice_are_messages_anything_else_is_acknowledged_and_dropped():
    provider = Telegram()
    [text] = provider.messages(provider.read(_request(_update(text="oi", **{"from": _user()}))))
    assert (text.kind, text.text, text.sender, text.sender_name, text.reply_to) == ("text", "oi", "9", "Ana B", "42")
    voice = {"file_id": "V1", "file_unique_id": "u", "duration": 3, "mime_type": "audio/ogg"}
    [audio] = provider.messages(provider.read(_request(_update(voice=voice))))
    assert audio.kind == "audio" and audio.media[0]["file_id"] == "V1"
    sticker = {"file_id": "S", "file_unique_id": "u", "type": "regular", "width": 1, "height": 1,
               "is_animated": False, "is_video": False}  # fmt: skip
    assert provider.messages(provider.read(_request(_update(sticker=sticker)))) == ()
    assert orjson.loads(provider.answer([]).body) == {"ok": True, "handled": False}
    assert orjson.loads(provider.answer([None]).body) == {"ok": True, "handled": True, "duplicate": True}
    with pytest.raises(BadRequest, match="not a Telegram Update"):
        provider.messages(provider.read(_request(b"{not json")))


async def test_set_webhook_only_on_https_without_a_stand_in():
    with pytest.raises(BadRequest, match="https"):
        await Telegram().register_webhook({"bot_token": BOT_TOKEN, "webhook_secret": "s"}, "http://x/webhooks/t/1")
    assert issubclass(WebhookRegistrationError, Exception)


def _user() -> dict:
    return {"id": 9, "is_bot": False, "first_name": "Ana", "last_name": "B"}


async def test_telegram_get_file_then_download():
    tg = TelegramStandIn(files={"VOICE1": OGG})
    async with serve_app(tg.app) as base, httpx.AsyncClient() as http:
        media = await fetch_telegram_file(http, BOT_TOKEN, "VOICE1", max_bytes=10_000, api_url=base)
        assert media.content == OGG
        assert [c["method"] for c in tg.calls] == ["getFile", "download"]
        with pytest.raises(MediaError):
            await fetch_telegram_file(http, BOT_TOKEN, "MISSING", max_bytes=10_000, api_url=base)
        with pytest.raises(MediaError, match="larger"):
            await fetch_telegram_file(http, BOT_TOKEN, "VOICE1", max_bytes=100, api_url=base)
