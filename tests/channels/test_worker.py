"""The channels worker as it runs in production: relay + consumers on the real Redis streams."""

import asyncio
import base64
import uuid

import orjson
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from services.channels.app import create_app
from services.channels.base import Outbox
from services.channels.config import ChannelsSettings
from services.channels.worker import run
from shared.db import create_sessionmaker
from shared.events import Envelope
from shared.events.chat import OUTBOUND_REPLY, OUTBOUND_STREAM
from shared.events.outbox import emit
from shared.events.transcription import REQUESTED_STREAM
from tests.channels.conftest import PUBLIC, create_channel
from tests.support.plugin import app_client, serve_app, wait_for
from tests.support.providers import TelegramStandIn

OGG = b"OggS" + bytes(range(256)) * 8


@pytest.fixture
async def running(stack, committed_db, redis):
    tg = TelegramStandIn(files={"VOICE9": OGG})
    async with serve_app(tg.app) as tg_url:
        settings = stack.settings(
            ChannelsSettings, telegram_api_url=tg_url, public_base_url=PUBLIC, events_relay_interval_ms=50
        )
        stop = asyncio.Event()
        task = asyncio.create_task(run(settings, stop))
        try:
            yield {"tg": tg, "settings": settings}
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)


async def test_outbound_event_reaches_telegram_once(running, stack, committed_db, make_token):
    tenant = uuid.uuid4()
    headers = {"Authorization": f"Bearer {make_token(tenant_id=tenant)}"}
    async with app_client(create_app(running["settings"])) as client:
        ch = await create_channel(client, headers, kind="telegram")
    engine = create_async_engine(committed_db)
    maker = create_sessionmaker(engine)
    async with maker() as s, s.begin():
        for _ in range(2):  # the same reply emitted twice (a producer retry): one send
            await emit(
                s,
                Outbox,
                stream=OUTBOUND_STREAM,
                type=OUTBOUND_REPLY,
                tenant_id=tenant,
                idempotency_key="reply:m1",
                payload={"channel_id": ch["id"], "recipient": "777", "text": "Olá!", "message_id": str(uuid.uuid4())},
            )
    await wait_for(lambda: running["tg"].named("sendMessage"), timeout=15)
    await asyncio.sleep(0.5)
    [call] = running["tg"].named("sendMessage")
    assert call["params"]["chat_id"] == "777" and call["params"]["text"] == "Olá!"
    await engine.dispose()


async def test_voice_note_forwarded_to_transcription(running, stack, committed_db, make_token, redis):
    tenant = uuid.uuid4()
    headers = {"Authorization": f"Bearer {make_token(tenant_id=tenant)}"}
    async with app_client(create_app(running["settings"])) as client:
        ch = await create_channel(client, headers, kind="telegram")
        from sqlalchemy import text

        from shared.crypto import SecretBox

        engine = create_async_engine(committed_db)
        async with engine.connect() as conn:
            enc = (await conn.execute(text("SELECT credentials_encrypted FROM channels.channel"))).scalar_one()
        await engine.dispose()
        secret = orjson.loads(SecretBox("test-secrets-key").decrypt(enc))["webhook_secret"]
        update = {
            "update_id": 9,
            "message": {
                "message_id": 9,
                "date": 1763790000,
                "chat": {"id": 55, "type": "private"},
                "from": {"id": 55, "is_bot": False, "first_name": "Bia"},
                "voice": {"file_id": "VOICE9", "file_unique_id": "v9", "duration": 2, "mime_type": "audio/ogg"},
            },
        }
        r = await client.post(
            f"/webhooks/telegram/{ch['id']}", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": secret}
        )
        assert r.status_code == 200, r.text

    async def requested():
        return await redis.xrange(REQUESTED_STREAM)

    [(_, fields)] = await wait_for(requested, timeout=15)
    env = Envelope.from_fields(fields)
    assert env.tenant_id == tenant
    assert base64.b64decode(env.payload["audio_b64"]) == OGG
    assert env.payload["correlation"]["kind"] == "channel_inbound"
    assert [c["method"] for c in running["tg"].calls] == ["getFile", "download"]
