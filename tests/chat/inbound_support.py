"""A chat worker's inbound side without the process: the runtime, the raw InboundHandler and real StreamConsumers on
the real channels.inbound.v1 stream, on a committed database (tests/chat/test_inbound_store.py,
tests/pipeline/test_direct_publish.py)."""

from __future__ import annotations

import asyncio
import uuid
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from types import SimpleNamespace

from sqlalchemy import text

from services.chat.base import ProcessedEvent
from services.chat.buffers.store import BufferStore
from services.chat.config import ChatSettings
from services.chat.pipeline.inbound import InboundHandler
from services.chat.runtime import chat_runtime
from shared.db import create_sessionmaker
from shared.events import Envelope
from shared.events.channels import INBOUND_RECEIVED, INBOUND_STREAM
from shared.events.consumer import StreamConsumer
from shared.events.consumer_settings import ConsumerSettings
from shared.events.handlers import RawHandler
from shared.events.worker import create_worker_engine
from shared.http import create_http_client

STREAM = INBOUND_STREAM


class World:
    def __init__(self, sm, redis, handler: InboundHandler, wakes: list) -> None:
        self.sm, self.redis, self.handler, self.wakes = sm, redis, handler, wakes
        self.tenant_id = uuid.uuid4()
        self.channel_id = uuid.uuid4()
        self.consumers: list[StreamConsumer] = []

    def consumer(self, name: str) -> StreamConsumer:
        settings = ConsumerSettings(
            stream=STREAM, group="chat", consumer_name=name, batch=1, block_ms=50, retry_backoff_ms=50
        )
        handler = RawHandler(INBOUND_RECEIVED, self.handler.handle)
        c = StreamConsumer(self.redis, self.sm, ProcessedEvent, handler, settings)
        self.consumers.append(c)
        return c

    def inbound(self, sender: str = "whatsapp:+5511999990000", text_: str = "oi", **extra) -> Envelope:
        inbound_id, pmid = uuid.uuid4(), f"SM{uuid.uuid4().hex}"
        payload = {
            "inbound_id": str(inbound_id),
            "channel_id": str(self.channel_id),
            "channel_type": "whatsapp_twilio",
            "assistant_id": None,
            "provider_message_id": pmid,
            "kind": "text",
            "sender": sender,
            "sender_name": None,
            "reply_to": sender,
            "text": text_,
            "media": [],
            "channel_settings": {"buffer_enabled": False},
            "received_at": datetime.now(UTC).isoformat(),
        } | extra
        return Envelope(
            type=STREAM, tenant_id=self.tenant_id, idempotency_key=f"inbound:{self.channel_id}:{pmid}", payload=payload
        )

    async def deliver(self, *envelopes: Envelope, consumers: int = 1) -> None:
        """XADD them, then let `consumers` group members take them at once (each one entry at a time)."""
        for env in envelopes:
            await self.redis.xadd(STREAM, env.to_fields())
        members = [self.consumer(f"c{len(self.consumers)}-{i}") for i in range(consumers)]
        for m in members:
            await m.ensure_group()
        for _ in range(100):
            await asyncio.gather(*(m.poll_once() for m in members))
            last = (await self.redis.xinfo_stream(STREAM))["last-generated-id"]
            [group] = await self.redis.xinfo_groups(STREAM)
            if group["pending"] == 0 and group["last-delivered-id"] == last:
                return
        raise AssertionError("entries left unhandled")

    async def rows(self, sql: str, **params) -> list:
        async with self.sm() as s:
            return list((await s.execute(text(sql), {"t": self.tenant_id} | params)).all())


@asynccontextmanager
async def chat_world(stack, committed_db, redis):
    settings = stack.settings(ChatSettings, auth_url="", tenant_settings_url="", search_url="")
    engine = create_worker_engine(committed_db, 10)
    http = create_http_client()
    app = SimpleNamespace(
        state=SimpleNamespace(settings=settings, http=http, redis=redis, sessionmaker=create_sessionmaker(engine))
    )
    wakes: list[float] = []
    try:
        async with chat_runtime(app):
            store = BufferStore(redis, lease_seconds=30)
            handler = InboundHandler(app.state.chat, store, wake=lambda: wakes.append(1))
            yield World(app.state.sessionmaker, redis, handler, wakes)
    finally:
        await http.aclose()
        await engine.dispose()
