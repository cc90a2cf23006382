"""Media downloads: only from the provider, with its credentials only sent to it, size-capped."""

import httpx
import pytest

from services.channels.providers.base import MediaError
from services.channels.providers.telegram import fetch_telegram_file
from services.channels.providers.twilio import allowed_twilio_url, fetch_twilio_media
from tests.channels.conftest import BOT_TOKEN, TWILIO_SID, TWILIO_TOKEN
from tests.support.plugin import serve_app
from tests.support.providers import TelegramStandIn, TwilioStandIn

OGG = b"OggS" + b"\x00" * 2000


async def test_twilio_media_with_basic_auth_and_cap():
    tw = TwilioStandIn(TWILIO_SID, TWILIO_TOKEN, media={"ME1": (OGG, "audio/ogg")})
    async with serve_app(tw.app) as base, httpx.AsyncClient() as http:
        media = await fetch_twilio_media(
            http, f"{base}/media/ME1", TWILIO_SID, TWILIO_TOKEN, max_bytes=10_000, twilio_api_url=base
        )
        assert media.content == OGG and media.content_type == "audio/ogg"
        assert tw.calls[-1]["auth_ok"]
        with pytest.raises(MediaError, match="larger"):
            await fetch_twilio_media(
                http, f"{base}/media/ME1", TWILIO_SID, TWILIO_TOKEN, max_bytes=100, twilio_api_url=base
            )
        with pytest.raises(MediaError, match="answered 401"):
            await fetch_twilio_media(
                http, f"{base}/media/ME1", TWILIO_SID, "wrong", max_bytes=10_000, twilio_api_url=base
            )
        calls = len(tw.calls)
        with pytest.raises(MediaError, match="refusing"):
            await fetch_twilio_media(
                http,
                "http://169.254.169.254/latest/meta-data",
                TWILIO_SID,
                TWILIO_TOKEN,
                max_bytes=10_000,
                twilio_api_url=base,
            )
        assert len(tw.calls) == calls


def test_twilio_host_allowlist():
    assert allowed_twilio_url("https://api.twilio.com/2010-04-01/Accounts/AC/Messages/MM/Media/ME")
    for url in (
        "http://api.twilio.com/x",
        "https://api.twilio.com.evil.io/x",
        "https://127.0.0.1/x",
        "https://evil.com/api.twilio.com",
        "file:///etc/passwd",
    ):
        assert not allowed_twilio_url(url), url


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
