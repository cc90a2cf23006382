"""Outbound replies: sent through the real provider libraries to stand-ins, at most once, retried, split."""

import asyncio
import uuid

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import create_async_engine

from services.channels.base import ProcessedEvent
from services.channels.config import ChannelsSettings
from services.channels.configs.schemas import ChannelCreate
from services.channels.configs.service import ChannelService
from services.channels.outbound.models import Delivery
from services.channels.outbound.service import OutboundSender, PermanentSendFailure
from services.channels.outbound.split import split_reply
from services.channels.providers.clients import ClientCache
from services.channels.providers.registry import Providers
from shared.crypto import SecretBox
from shared.db import create_sessionmaker
from shared.events import Envelope
from shared.events.chat import OUTBOUND_REPLY, OUTBOUND_STREAM, TYPING
from shared.events.consumer import StreamConsumer
from shared.events.consumer_settings import ConsumerSettings
from tests.channels.conftest import BOT_TOKEN, TWILIO_SID, TWILIO_TOKEN
from tests.support.plugin import serve_app, wait_for
from tests.support.providers import TelegramStandIn, TwilioStandIn

BOX = SecretBox("test-secrets-key")


@pytest.fixture
async def world(stack, committed_db):
    tg, tw = TelegramStandIn(), TwilioStandIn(TWILIO_SID, TWILIO_TOKEN)
    engine = create_async_engine(committed_db)
    maker = create_sessionmaker(engine)
    async with serve_app(tg.app) as tg_url, serve_app(tw.app) as tw_url:
        settings = stack.settings(ChannelsSettings, telegram_api_url=tg_url, twilio_api_url=tw_url)
        sender = OutboundSender(maker, BOX, Providers(settings), split_max_chars=60, base_backoff=0.01)
        tenant = uuid.uuid4()
        async with maker() as s, s.begin():
            svc = ChannelService(s, BOX)
            telegram = await svc.create(
                tenant, ChannelCreate(type="telegram", name="tg", credentials={"bot_token": BOT_TOKEN})
            )
            whatsapp = await svc.create(
                tenant,
                ChannelCreate(
                    type="whatsapp_twilio",
                    name="wa",
                    credentials={"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN, "from_number": "+14155238886"},
                ),
            )
        yield {
            "tg_url": tg_url,
            "tw_url": tw_url,
            "tg": tg,
            "tw": tw,
            "sender": sender,
            "maker": maker,
            "tenant": tenant,
            "telegram": telegram.id,
            "whatsapp": whatsapp.id,
        }
        await sender.aclose()
    await engine.dispose()


def _event(w, channel_key, text="Sua pizza chega às 20h.", key=None, **extra):
    return Envelope(
        type=OUTBOUND_REPLY,
        tenant_id=w["tenant"],
        idempotency_key=key or f"reply:{uuid.uuid4()}",
        payload={
            "channel_id": str(w[channel_key]),
            "recipient": "4242" if channel_key == "telegram" else "whatsapp:+5511999990000",
            "text": text,
            "message_id": str(uuid.uuid4()),
        }
        | extra,
    )


async def _handle(w, event):
    """As the channels worker's consumer runs it: an idempotent handler, no transaction of the consumer's."""
    await w["sender"].handler(event)


async def _delivery(w, key):
    async with w["maker"]() as s:
        return (await s.execute(select(Delivery).where(Delivery.idempotency_key == key))).scalar_one()


async def test_telegram_send_once_even_when_redelivered(world):
    event = _event(world, "telegram")
    for _ in range(3):
        await _handle(world, event)
    [call] = world["tg"].named("sendMessage")
    assert call["token"] == BOT_TOKEN and call["params"]["chat_id"] == "4242"
    assert call["params"]["text"] == "Sua pizza chega às 20h."
    d = await _delivery(world, event.idempotency_key)
    assert d.status == "sent" and d.provider_message_ids


async def test_crash_after_send_never_sends_twice(world):
    """The process died after the provider accepted and before the `sent` update: the redelivery must not re-send.
    (The durable state such a crash leaves, `sending`, is written back after a real send; the SIGKILL itself is
    tests/e2e/test_chaos.py's.)"""
    event = _event(world, "telegram")
    await _handle(world, event)
    async with world["maker"]() as s, s.begin():
        await s.execute(
            update(Delivery).where(Delivery.idempotency_key == event.idempotency_key).values(status="sending")
        )
    await _handle(world, event)  # redelivered
    assert len(world["tg"].named("sendMessage")) == 1
    d = await _delivery(world, event.idempotency_key)
    assert d.status == "unknown" and "not re-sent" in d.error


async def test_retry_after_then_success(world):
    world["tg"].fail(429, times=1, retry_after=1)
    world["tg"].fail(500, times=1)
    event = _event(world, "telegram")
    await _handle(world, event)
    calls = world["tg"].named("sendMessage")
    assert len(calls) == 3
    assert calls[1]["at"] - calls[0]["at"] >= 0.9  # Retry-After honoured
    d = await _delivery(world, event.idempotency_key)
    assert d.status == "sent" and d.attempts == 3


async def test_permanent_failure_recorded_and_raised(world):
    world["tg"].fail(400, times=1)
    event = _event(world, "telegram")
    with pytest.raises(PermanentSendFailure):
        await _handle(world, event)
    d = await _delivery(world, event.idempotency_key)
    assert d.status == "failed" and "refused" in d.error
    await _handle(world, event)  # a redelivery does not try again
    assert len(world["tg"].named("sendMessage")) == 1


async def test_a_permanent_refusal_is_dead_lettered_at_once_by_the_consumer(world, redis):
    """Through the channels worker's consumer: one call to the provider, the delivery `failed` with the error, and
    the event in the DLQ at the first failure (a redelivery could only find the delivery and do nothing)."""
    world["tg"].fail(400, times=1)
    settings = ConsumerSettings(stream=OUTBOUND_STREAM, group="channels", consumer_name="c1", block_ms=50)
    consumer = StreamConsumer(redis, world["maker"], ProcessedEvent, world["sender"].handler, settings)
    await consumer.ensure_group()
    event = _event(world, "telegram")
    await redis.xadd(OUTBOUND_STREAM, event.to_fields())
    assert await consumer.poll_once() == 1
    ((_, dead),) = await redis.xrange(f"{OUTBOUND_STREAM}.dlq")
    assert b"PermanentSendFailure" in dead[b"error"] and dead[b"attempts"] == b"1"
    assert (await redis.xpending(OUTBOUND_STREAM, "channels"))["pending"] == 0
    assert len(world["tg"].named("sendMessage")) == 1
    d = await _delivery(world, event.idempotency_key)
    assert d.status == "failed" and "refused" in d.error


async def test_a_pooled_connection_lost_during_the_send_still_records_it_sent(world, stack, committed_db):
    """The provider took the reply while every pooled connection of the sender died (a Postgres restart, a proxy
    timeout): the `sent` update gets one retry on a fresh connection instead of leaving a sent reply `sending`."""
    engine = create_async_engine(
        committed_db, connect_args={"server_settings": {"application_name": "sender-under-test"}}
    )
    settings = stack.settings(ChannelsSettings, telegram_api_url=world["tg_url"], twilio_api_url=world["tw_url"])
    sender = OutboundSender(create_sessionmaker(engine), BOX, Providers(settings))
    try:
        world["tg"].hang(seconds=1.0)
        event = _event(world, "telegram")
        sending = asyncio.create_task(sender.handler(event))
        await wait_for(lambda: world["tg"].named("sendMessage"), timeout=10)
        async with world["maker"]() as s:
            killed = await s.scalar(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name = 'sender-under-test'"
                )
            )
        assert killed >= 1
        await sending
        assert len(world["tg"].named("sendMessage")) == 1
        d = await _delivery(world, event.idempotency_key)
        assert d.status == "sent" and d.error is None
    finally:
        await sender.aclose()
        await engine.dispose()


async def test_server_errors_exhaust_retries(world):
    world["tw"].fail(500, times=10)
    event = _event(world, "whatsapp")
    with pytest.raises(PermanentSendFailure):
        await _handle(world, event)
    assert len(world["tw"].named("messages.create")) == world["sender"].max_attempts
    assert (await _delivery(world, event.idempotency_key)).status == "failed"


async def test_twilio_split_reply_with_basic_auth(world):
    text = (
        "Olá Ana! Recebemos seu pedido. A pizza grande de calabresa sai do forno em 20 minutos. "
        "O entregador leva mais 15. Obrigado por pedir conosco!"
    )
    event = _event(world, "whatsapp", text=text, split_replies=True)
    await _handle(world, event)
    calls = world["tw"].named("messages.create")
    assert all(c["auth_ok"] for c in calls)
    assert [c["params"]["To"] for c in calls] == ["whatsapp:+5511999990000"] * len(calls)
    assert calls[0]["params"]["From"] == "whatsapp:+14155238886"
    bodies = [c["params"]["Body"] for c in calls]
    assert len(bodies) > 1 and all(len(b) <= 60 for b in bodies)
    assert " ".join(bodies) == text
    d = await _delivery(world, event.idempotency_key)
    assert d.parts == len(bodies) and d.provider_message_ids.count("SM") == len(bodies)


async def test_other_tenants_channel_is_refused(world):
    event = _event(world, "telegram")
    event.tenant_id = uuid.uuid4()
    with pytest.raises(PermanentSendFailure):
        await _handle(world, event)
    assert world["tg"].named("sendMessage") == []


async def test_typing_indicator(world):
    event = _event(world, "telegram", text="")
    event.type = TYPING
    await _handle(world, event)
    [call] = world["tg"].named("sendChatAction")
    assert call["params"]["action"] == "typing"


async def test_twilio_client_and_its_connections_are_reused_per_credentials(world):
    twilio_sender = world["sender"].providers["whatsapp_twilio"]
    for _ in range(3):
        await _handle(world, _event(world, "whatsapp"))
    assert len(world["tw"].named("messages.create")) == 3
    assert len(twilio_sender.clients) == 1  # one client (and one HTTP session) for these credentials
    [client] = twilio_sender.clients._clients.values()
    assert not client.http_client.session.closed
    await world["sender"].aclose()
    assert client.http_client.session.closed and len(twilio_sender.clients) == 0


async def test_client_cache_closes_the_least_recently_used_after_its_grace():
    closed = []

    async def close(client):
        closed.append(client)

    cache = ClientCache(lambda key: f"client-{key}", close, grace=0.05, max_clients=2)
    assert cache.get("a") == "client-a" and cache.get("b") == "client-b"
    assert cache.get("a") == "client-a"  # now most recently used
    assert cache.get("c") == "client-c"  # "b" retired, closed after the grace (a send may still be using it)
    assert closed == []
    await asyncio.sleep(0.1)
    assert closed == ["client-b"] and len(cache) == 2
    await cache.aclose()
    assert sorted(closed) == ["client-a", "client-b", "client-c"]


def test_split_reply_keeps_sentences_and_limits():
    text = "Primeira frase. Segunda frase bem maior que a primeira! Terceira? " + "palavra " * 30
    parts = split_reply(text, 40)
    assert all(len(p) <= 40 for p in parts)
    assert parts[0] == "Primeira frase."
    assert " ".join(parts).split() == text.split()
    assert split_reply("x" * 95, 40) == ["x" * 40, "x" * 40, "x" * 15]
    assert split_reply("curta", 40) == ["curta"]
