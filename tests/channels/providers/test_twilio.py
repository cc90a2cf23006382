"""The Twilio WhatsApp provider on its own: the webhook's reading, signature and answer, and media downloads only
from Twilio, with its credentials only sent to it, size-capped. (Through the app: tests/channels/test_webhooks.py.)"""

from urllib.parse import urlencode

import httpx
import pytest

from services.channels.providers.base import MediaError, WebhookRequest
from services.channels.providers.twilio import EMPTY_TWIML, TwilioWhatsApp, allowed_twilio_url, fetch_twilio_media
from shared.errors import BadRequest, Forbidden, UnsupportedMediaType
from tests.channels.conftest import PUBLIC, TWILIO_SID, TWILIO_TOKEN, twilio_sign
from tests.support.plugin import serve_app
from tests.support.providers import TwilioStandIn

OGG = b"OggS" + b"\x00" * 2000
FORM = "application/x-www-form-urlencoded"
PATH = "/webhooks/twilio/c1"


def _request(form: dict[str, str], *, signature: str = "", content_type: str = FORM) -> WebhookRequest:
    headers = {"content-type": content_type, "x-twilio-signature": signature}
    return WebhookRequest("c1", headers, PATH, "", urlencode(form).encode())


def test_a_signed_voice_note_is_read_verified_and_parsed():
    provider = TwilioWhatsApp(public_base_url=PUBLIC)
    form = {
        "MessageSid": "SM1", "From": "whatsapp:+5511999990000", "ProfileName": "Ana", "NumMedia": "1",
        "MediaUrl0": "https://api.twilio.com/m/ME1", "MediaContentType0": "audio/ogg",
    }  # fmt: skip
    parts = provider.read(_request(form, signature=twilio_sign(PUBLIC + PATH, form)))
    assert provider.authentic(provider.verifier({"auth_token": TWILIO_TOKEN}), parts)
    assert not provider.authentic(provider.verifier({"auth_token": "another-token-0123456789"}), parts)
    [msg] = provider.messages(parts)
    assert (msg.provider_message_id, msg.kind, msg.sender_name, msg.reply_to) == (
        "SM1", "audio", "Ana", "whatsapp:+5511999990000",
    )  # fmt: skip
    answer = provider.answer([None])
    assert answer.body == EMPTY_TWIML.encode() and answer.content_type.startswith("text/xml") and answer.duplicate


def test_what_is_refused_before_any_channel_is_looked_up():
    provider = TwilioWhatsApp(public_base_url=PUBLIC)
    with pytest.raises(UnsupportedMediaType):
        provider.read(_request({"MessageSid": "SM1"}, content_type="application/json"))
    with pytest.raises(BadRequest, match="too many"):
        provider.read(_request({f"f{i}": "x" for i in range(201)}))
    with pytest.raises(Forbidden, match="CHANNELS_PUBLIC_BASE_URL"):
        TwilioWhatsApp().read(_request({"MessageSid": "SM1"}))
    with pytest.raises(BadRequest, match="neither Body nor media"):
        provider.messages(provider.read(_request({"MessageSid": "SM1", "From": "whatsapp:+551199"})))


def test_a_status_callback_is_a_delivery_report():
    provider = TwilioWhatsApp(public_base_url=PUBLIC)
    parts = provider.read(_request({"MessageSid": "SM9", "MessageStatus": "delivered", "ErrorCode": "30003"}))
    report = provider.delivery_report(parts)
    assert (report.provider_message_id, report.status, report.error) == ("SM9", "delivered", "twilio error 30003")
    with pytest.raises(BadRequest):
        provider.delivery_report(provider.read(_request({"MessageSid": "SM9"})))


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
