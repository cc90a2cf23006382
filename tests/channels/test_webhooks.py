"""Provider webhooks: authentic, well-formed, deduplicated messages are stored with their event; nothing else is."""

import uuid

import orjson
import pytest
from sqlalchemy import func, select, text

from services.channels.base import Outbox
from services.channels.webhooks.models import InboundMessage
from tests.channels.conftest import PUBLIC, create_channel, twilio_sign


async def _counts(session):
    inbound = (await session.execute(select(func.count()).select_from(InboundMessage))).scalar_one()
    events = (await session.execute(select(func.count()).select_from(Outbox))).scalar_one()
    return inbound, events


def _twilio_form(sid="SM" + "a" * 32, body="Olá, quero uma pizza", **extra):
    return {
        "MessageSid": sid,
        "AccountSid": "AC" + "1" * 32,
        "From": "whatsapp:+5511999990000",
        "To": "whatsapp:+14155238886",
        "Body": body,
        "NumMedia": "0",
        "ProfileName": "Ana",
    } | extra


async def _post_twilio(client, channel_id, form, *, signature=None, path=""):
    url = f"{PUBLIC}/webhooks/twilio/{channel_id}{path}"
    sig = signature if signature is not None else twilio_sign(url, form)
    return await client.post(f"/webhooks/twilio/{channel_id}{path}", data=form, headers={"X-Twilio-Signature": sig})


async def test_twilio_message_stored_once_with_event(channels_client, admin_headers, session):
    ch = await create_channel(channels_client, admin_headers)
    form = _twilio_form()
    for _ in range(3):  # Twilio retries: same MessageSid
        r = await _post_twilio(channels_client, ch["id"], form)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("text/xml") and "<Response>" in r.text
    assert await _counts(session) == (1, 1)
    event = (await session.execute(select(Outbox))).scalar_one()
    assert event.stream == "channels.inbound.v1"
    assert event.payload["text"] == "Olá, quero uma pizza"
    assert event.payload["sender"] == "whatsapp:+5511999990000" and event.payload["sender_name"] == "Ana"
    assert str(event.tenant_id) == str((await session.execute(text("SELECT tenant_id FROM channels.channel"))).scalar())


async def test_twilio_voice_note_is_audio(channels_client, admin_headers, session):
    ch = await create_channel(channels_client, admin_headers)
    form = _twilio_form(
        body="",
        NumMedia="1",
        MediaUrl0="https://api.twilio.com/2010-04-01/Accounts/x/Media/ME1",
        MediaContentType0="audio/ogg",
    )
    r = await _post_twilio(channels_client, ch["id"], form)
    assert r.status_code == 200, r.text
    msg = (await session.execute(select(InboundMessage))).scalar_one()
    assert msg.kind == "audio" and msg.media[0]["content_type"] == "audio/ogg"


async def test_twilio_forwarded_host_is_what_is_signed(stack, db_conn, admin_headers):
    """Without a configured public URL, the URL Twilio called is rebuilt from the proxy's forwarded headers."""
    from services.channels.app import create_app
    from services.channels.config import ChannelsSettings
    from shared.testing import app_client

    async with app_client(create_app(stack.settings(ChannelsSettings)), db_conn=db_conn) as client:
        ch = await create_channel(client, admin_headers)
        form = _twilio_form()
        url = f"https://bot.example.com/webhooks/twilio/{ch['id']}"
        headers = {
            "X-Twilio-Signature": twilio_sign(url, form),
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "bot.example.com",
        }
        r = await client.post(f"/webhooks/twilio/{ch['id']}", data=form, headers=headers)
        assert r.status_code == 200, r.text
        headers["X-Forwarded-Host"] = "evil.example.com"
        r = await client.post(f"/webhooks/twilio/{ch['id']}", data=form | {"MessageSid": "SM2"}, headers=headers)
        assert r.status_code == 403


@pytest.mark.parametrize(
    "case",
    [
        "bad_signature",
        "no_signature",
        "other_token",
        "tampered_body",
        "malformed",
        "wrong_type",
        "no_sid",
        "unknown_channel",
        "not_uuid",
        "too_big",
    ],
)
async def test_twilio_bad_input_stores_nothing(channels_client, admin_headers, session, case):
    ch = await create_channel(channels_client, admin_headers)
    cid = ch["id"]
    form = _twilio_form()
    url = f"{PUBLIC}/webhooks/twilio/{cid}"
    expected = {
        "bad_signature": 403,
        "no_signature": 403,
        "other_token": 403,
        "tampered_body": 403,
        "malformed": 400,
        "wrong_type": 415,
        "no_sid": 400,
        "unknown_channel": 404,
        "not_uuid": 404,
        "too_big": 413,
    }[case]
    if case == "bad_signature":
        r = await _post_twilio(channels_client, cid, form, signature="AAAA")
    elif case == "no_signature":
        r = await channels_client.post(f"/webhooks/twilio/{cid}", data=form)
    elif case == "other_token":
        r = await _post_twilio(channels_client, cid, form, signature=twilio_sign(url, form, token="other"))
    elif case == "tampered_body":
        sig = twilio_sign(url, form)
        r = await _post_twilio(channels_client, cid, form | {"Body": "transfer money"}, signature=sig)
    elif case == "malformed":
        r = await channels_client.post(
            f"/webhooks/twilio/{cid}",
            content=b"%%%=&&==",
            headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "x"},
        )
        # a malformed body cannot carry a valid signature either; the parse error is reported first
    elif case == "wrong_type":
        r = await channels_client.post(f"/webhooks/twilio/{cid}", json=form, headers={"X-Twilio-Signature": "x"})
    elif case == "no_sid":
        bad = {k: v for k, v in form.items() if k != "MessageSid"}
        r = await _post_twilio(channels_client, cid, bad)
    elif case == "unknown_channel":
        other = str(uuid.uuid4())
        r = await _post_twilio(channels_client, other, form)
    elif case == "not_uuid":
        r = await channels_client.post("/webhooks/twilio/xyz", data=form)
    else:
        big = form | {"Body": "x" * 300_000}
        r = await _post_twilio(channels_client, cid, big)
    assert r.status_code == expected, (case, r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/problem+json")
    assert await _counts(session) == (0, 0)


def _tg_update(update_id=1, text_="oi, tudo bem?", chat_id=4242, **kw):
    msg = {
        "message_id": update_id,
        "date": 1763790000,
        "chat": {"id": chat_id, "type": "private"},
        "from": {"id": chat_id, "is_bot": False, "first_name": "Ana", "last_name": "Souza"},
    }
    if text_ is not None:
        msg["text"] = text_
    msg |= kw
    return {"update_id": update_id, "message": msg}


async def _secret(session) -> str:
    from services.channels.configs.models import Channel
    from shared.crypto import SecretBox

    ch = (await session.execute(select(Channel))).scalar_one()
    return orjson.loads(SecretBox("test-secrets-key").decrypt(ch.credentials_encrypted))["webhook_secret"]


async def test_telegram_update_stored_once(channels_client, admin_headers, session):
    ch = await create_channel(channels_client, admin_headers, kind="telegram")
    secret = await _secret(session)
    for _ in range(3):
        r = await channels_client.post(
            f"/webhooks/telegram/{ch['id']}", json=_tg_update(77), headers={"X-Telegram-Bot-Api-Secret-Token": secret}
        )
        assert r.status_code == 200, r.text
    assert await _counts(session) == (1, 1)
    event = (await session.execute(select(Outbox))).scalar_one()
    assert event.payload["text"] == "oi, tudo bem?" and event.payload["reply_to"] == "4242"
    assert event.payload["sender_name"] == "Ana Souza" and event.payload["provider_message_id"] == "77"


async def test_telegram_voice_edit_and_ignored(channels_client, admin_headers, session):
    ch = await create_channel(channels_client, admin_headers, kind="telegram")
    headers = {"X-Telegram-Bot-Api-Secret-Token": await _secret(session)}
    voice = _tg_update(
        1,
        text_=None,
        voice={"file_id": "VOICE1", "file_unique_id": "u1", "duration": 3, "mime_type": "audio/ogg", "file_size": 5000},
    )
    edited = {
        "update_id": 2,
        "edited_message": _tg_update(2, "corrigindo: duas pizzas")["message"] | {"edit_date": 1763790100},
    }
    sticker = _tg_update(
        3,
        text_=None,
        sticker={
            "file_id": "S",
            "file_unique_id": "s",
            "type": "regular",
            "width": 1,
            "height": 1,
            "is_animated": False,
            "is_video": False,
        },
    )
    callback = {
        "update_id": 4,
        "callback_query": {"id": "1", "from": {"id": 1, "is_bot": False, "first_name": "A"}, "chat_instance": "c"},
    }
    for body in (voice, edited, sticker, callback):
        r = await channels_client.post(f"/webhooks/telegram/{ch['id']}", json=body, headers=headers)
        assert r.status_code == 200, r.text
    rows = (await session.execute(select(InboundMessage).order_by(InboundMessage.provider_message_id))).scalars().all()
    assert [(m.kind, m.text) for m in rows] == [("audio", None), ("edited", "corrigindo: duas pizzas")]
    assert rows[0].media[0]["file_id"] == "VOICE1"


@pytest.mark.parametrize("case", ["no_secret", "wrong_secret", "malformed", "not_update", "unknown", "too_big"])
async def test_telegram_bad_input_stores_nothing(channels_client, admin_headers, session, case):
    ch = await create_channel(channels_client, admin_headers, kind="telegram")
    secret = await _secret(session)
    url = f"/webhooks/telegram/{ch['id']}"
    good = {"X-Telegram-Bot-Api-Secret-Token": secret}
    if case == "no_secret":
        r = await channels_client.post(url, json=_tg_update())
    elif case == "wrong_secret":
        r = await channels_client.post(url, json=_tg_update(), headers={"X-Telegram-Bot-Api-Secret-Token": secret[:-1]})
    elif case == "malformed":
        r = await channels_client.post(url, content=b"{not json", headers=good)
    elif case == "not_update":
        r = await channels_client.post(url, json={"update_id": "abc", "message": 5}, headers=good)
    elif case == "unknown":
        r = await channels_client.post(f"/webhooks/telegram/{uuid.uuid4()}", json=_tg_update(), headers=good)
    else:
        r = await channels_client.post(url, content=b"{" + b" " * 400_000 + b"}", headers=good)
    expected = {
        "no_secret": 403,
        "wrong_secret": 403,
        "malformed": 400,
        "not_update": 400,
        "unknown": 404,
        "too_big": 413,
    }[case]
    assert r.status_code == expected, (case, r.text)
    assert r.headers["content-type"].startswith("application/problem+json")
    assert await _counts(session) == (0, 0)


async def test_twilio_channel_does_not_take_telegram_updates(channels_client, admin_headers, session):
    """A webhook for one channel type cannot be used to inject into another."""
    ch = await create_channel(channels_client, admin_headers, kind="whatsapp_twilio")
    r = await channels_client.post(
        f"/webhooks/telegram/{ch['id']}", json=_tg_update(), headers={"X-Telegram-Bot-Api-Secret-Token": "x"}
    )
    assert r.status_code == 404
    assert await _counts(session) == (0, 0)
