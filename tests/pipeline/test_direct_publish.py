"""Chat publishes an answer's events itself right after its commit; the outbox relay is the safety net.

A row written for direct publishing carries `created_at = now() + DIRECT_PUBLISH_GRACE_SECONDS`, and the relay only
takes rows whose `created_at` has passed. So: published at once, the relay never sends it again; chat dead between
its commit and its XADD, the relay publishes it once the grace is over (nothing lost); chat dead between its XADD
and the mark, the relay publishes it a second time and the channels consumer sees one event (one send).

Dying is played for real where it can be: the XADD goes to a Redis port nobody listens on, the mark to a closed
connection. The grace is not waited for: the test moves the rows' `created_at` back by it.
"""

from __future__ import annotations

import asyncio
import dataclasses
from types import SimpleNamespace

import asyncpg
import pytest
import redis.asyncio as aioredis
from sqlalchemy import text

from devtools.embedded import free_port
from services.channels.base import ProcessedEvent as ChannelsProcessed
from services.channels.config import ChannelsSettings
from services.channels.configs.schemas import ChannelCreate
from services.channels.configs.service import ChannelService
from services.channels.outbound.service import OutboundSender
from services.channels.providers.registry import Providers
from services.chat.base import Outbox
from services.chat.threads.answers import AnswerService
from services.chat.threads.fast_repository import BurstQuery, FastMessageRepository
from services.chat.threads.turns import Answer, Turn
from shared.crypto import SecretBox
from shared.events import Envelope
from shared.events.chat import OUTBOUND_STREAM
from shared.events.consumer import StreamConsumer
from shared.events.consumer_settings import ConsumerSettings
from shared.events.direct import DIRECT_PUBLISH_GRACE_SECONDS, publish_committed
from shared.events.outbox import committed_event
from shared.events.raw import raw_connection
from shared.events.relay import OutboxRelay
from tests.chat.inbound_support import chat_world
from tests.support.plugin import serve_app
from tests.support.providers import TwilioStandIn

BOX = SecretBox("test-secrets-key")
TWILIO_SID = "AC" + "3" * 32
TWILIO_TOKEN = "twilio-direct-publish-token"
CUSTOMER = "whatsapp:+5511988887777"


@pytest.fixture
async def world(stack, committed_db, redis):
    tw = TwilioStandIn(TWILIO_SID, TWILIO_TOKEN)
    async with chat_world(stack, committed_db, redis) as w, serve_app(tw.app) as tw_url:
        settings = stack.settings(ChannelsSettings, twilio_api_url=tw_url)
        sender = OutboundSender(w.sm, BOX, Providers(settings))
        async with w.sm() as s, s.begin():
            channel = await ChannelService(s, BOX).create(
                w.tenant_id,
                ChannelCreate(
                    type="whatsapp_twilio",
                    name="wa",
                    credentials={"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN, "from_number": "+14155238886"},
                ),
            )
        w.channel_id = channel.id
        w.tw, w.sender = tw, sender
        dead = aioredis.from_url(f"redis://127.0.0.1:{free_port()}", socket_connect_timeout=0.5)
        rt = w.handler.runtime
        # The same runtime whose Redis is gone: its XADD fails after the commit, as if chat had died right there.
        w.crashed = dataclasses.replace(rt, state=SimpleNamespace(sessionmaker=w.sm, redis=dead, settings=rt.settings))
        try:
            yield w
        finally:
            await sender.aclose()
            await dead.aclose()


async def _turn(w, text_: str) -> Turn:
    """A customer message stored through the inbound consumer, and the flusher's turn for it. The message's own
    index row is the relay's (services/chat/pipeline/inbound.py): published here, so what follows is the answer's."""
    await w.deliver(w.inbound(sender=CUSTOMER, text_=text_))
    assert await OutboxRelay(w.sm, w.redis, Outbox, notify=False).publish_once() == 1
    [thread] = await w.rows("SELECT id FROM chat.thread WHERE tenant_id = :t")
    [message] = await w.rows("SELECT id FROM chat.message WHERE content = :c", c=text_)
    async with raw_connection(w.sm, autocommit=True) as conn:
        snap = await FastMessageRepository(conn).read_burst(BurstQuery(w.tenant_id, thread.id, 10, [message.id]))
    tenant = await w.handler.runtime.tenants.get(w.tenant_id)
    return Turn(
        tenant=tenant, thread=snap.thread, contact=snap.contact, user_message=snap.recent[0],
        needs_answer=True, batch_key=snap.batch_key,
    )  # fmt: skip


async def _grace_passes(w) -> None:
    async with w.sm() as s, s.begin():
        await s.execute(
            text(
                "UPDATE chat.outbox SET created_at = created_at - make_interval(secs => :g) WHERE published_at IS NULL"
            ),
            {"g": DIRECT_PUBLISH_GRACE_SECONDS + 1},
        )


async def _outbound(w) -> list[Envelope]:
    return [Envelope.from_fields(f) for _, f in await w.redis.xrange(OUTBOUND_STREAM)]


async def _send_all(w) -> StreamConsumer:
    """The channels worker's outbound consumer, until the stream is handled."""
    settings = ConsumerSettings(stream=OUTBOUND_STREAM, group="channels", consumer_name="sender", block_ms=50)
    consumer = StreamConsumer(w.redis, w.sm, ChannelsProcessed, w.sender.handler, settings)
    await consumer.ensure_group()
    for _ in range(50):
        await consumer.poll_once()
        [group] = await w.redis.xinfo_groups(OUTBOUND_STREAM)
        last = (await w.redis.xinfo_stream(OUTBOUND_STREAM))["last-generated-id"]
        if group["pending"] == 0 and group["last-delivered-id"] == last:
            return consumer
        await asyncio.sleep(0.02)
    raise AssertionError("outbound entries left unhandled")


async def test_published_at_once_and_never_again_by_the_relay(world):
    turn = await _turn(world, "Vocês abrem hoje?")
    await AnswerService(world.handler.runtime).store_channel_answer(turn, Answer(content="Abrimos às 18h.", model="m"))
    [reply] = await _outbound(world)
    assert reply.payload["text"] == "Abrimos às 18h." and reply.payload["recipient"] == CUSTOMER
    assert await world.rows("SELECT id FROM chat.outbox WHERE published_at IS NULL") == []
    await _grace_passes(world)
    assert await OutboxRelay(world.sm, world.redis, Outbox, notify=False).publish_once() == 0
    await _send_all(world)
    assert [c["params"]["Body"] for c in world.tw.named("messages.create")] == ["Abrimos às 18h."]


async def test_chat_dead_between_commit_and_publish_the_relay_publishes_once_after_the_grace(world):
    turn = await _turn(world, "Tem pizza de calabresa?")
    await AnswerService(world.crashed).store_channel_answer(turn, Answer(content="Tem sim!", model="m"))
    assert await _outbound(world) == []  # committed, not published
    [answer] = await world.rows("SELECT id FROM chat.message WHERE role = 'assistant'")
    relay = OutboxRelay(world.sm, world.redis, Outbox, notify=False)
    assert await relay.publish_once() == 0  # within the grace the rows are their producer's
    await _grace_passes(world)
    assert await relay.publish_once() == 2  # the answer's index event and its reply
    assert await relay.publish_once() == 0
    [reply] = await _outbound(world)
    assert reply.idempotency_key == f"chat.outbound:{answer.id}"
    await _send_all(world)
    assert [c["params"]["Body"] for c in world.tw.named("messages.create")] == ["Tem sim!"]
    [delivery] = await world.rows("SELECT status FROM channels.delivery WHERE tenant_id = :t")
    assert delivery.status == "sent"


async def test_chat_dead_between_publish_and_mark_the_duplicate_is_sent_once(world, committed_db):
    turn = await _turn(world, "Quanto custa a grande?")
    await AnswerService(world.crashed).store_channel_answer(turn, Answer(content="R$ 59,90.", model="m"))
    rows = await world.rows(
        "SELECT id, stream, type, tenant_id, idempotency_key, payload, occurred_at FROM chat.outbox "
        "WHERE published_at IS NULL"
    )
    events = [committed_event(r._mapping) for r in rows]
    closed = await asyncpg.connect(committed_db.replace("postgresql+asyncpg://", "postgresql://"))
    await closed.close()
    # The XADD goes out, the process dies before the mark: the rows stay unpublished.
    assert not await publish_committed(world.redis, closed, "chat.outbox", events, maxlen=1000)
    assert len(await _outbound(world)) == 1
    await _grace_passes(world)
    assert await OutboxRelay(world.sm, world.redis, Outbox, notify=False).publish_once() == 2
    first, second = await _outbound(world)
    assert first.id == second.id and first.idempotency_key == second.idempotency_key  # the same event, twice
    await _send_all(world)
    assert [c["params"]["Body"] for c in world.tw.named("messages.create")] == ["R$ 59,90."]
    # The delivery row is the sender's one record of the event (no processed_event row: an idempotent handler).
    deliveries = await world.rows(
        "SELECT status FROM channels.delivery WHERE idempotency_key = :k", k=first.idempotency_key
    )
    assert [d.status for d in deliveries] == ["sent"]
