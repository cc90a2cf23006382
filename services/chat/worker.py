"""Stream consumers, the outbox relay and the buffer flusher of the chat service: `python -m services.chat.worker`.

- channels.inbound.v1 -> store the customer's message, put it in its conversation's buffer;
- transcription.completed.v1 -> a voice note gets its text;
- channels.delivery_failed.v1 -> a reply the customer could not get: the thread to a human when channels says so;
- the flusher answers due bursts (several workers share the work through atomic claims);
- search.index.v1 -> message.created on the console's live feed (services/chat/live/mirror.py).
"""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace

import redis.asyncio as aioredis
import uvloop

from services.chat.attachments.inbound import MediaHandler
from services.chat.base import Outbox, ProcessedEvent
from services.chat.buffers.store import BufferStore
from services.chat.config import ChatSettings, get_settings
from services.chat.live.mirror import LiveMirror
from services.chat.live.publisher import LivePublisher
from services.chat.pipeline.deliveries import DeliveryFailedHandler
from services.chat.pipeline.flusher import Flusher
from services.chat.pipeline.inbound import InboundHandler, TranscriptHandler
from services.chat.runtime import chat_runtime
from services.chat.tools.kit import tools_lifespan
from shared.db import create_sessionmaker
from shared.events.channels import DELIVERY_FAILED, DELIVERY_FAILED_STREAM, INBOUND_RECEIVED, INBOUND_STREAM
from shared.events.handlers import RawHandler, TransactionalHandler
from shared.events.media import MEDIA_READY, MEDIA_STREAM
from shared.events.transcription import COMPLETED_STREAM, TRANSCRIPTION_COMPLETED
from shared.events.worker import ConsumerSpec, create_worker_engine, run_worker, stopping_together
from shared.http import create_http_client


async def run(settings: ChatSettings, stop: asyncio.Event | None = None) -> None:
    # The OpenAI SDK's HTTP client (httpx2, not covered by shared.logging's httpx filter) logs each call at INFO.
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    stop = stop or asyncio.Event()
    engine = create_worker_engine(settings.database_url, settings.db_pool_size)
    redis = aioredis.from_url(settings.redis_url, socket_connect_timeout=2, socket_timeout=15)
    http = create_http_client()
    app = SimpleNamespace(
        state=SimpleNamespace(settings=settings, http=http, redis=redis, sessionmaker=create_sessionmaker(engine))
    )
    try:
        async with chat_runtime(app), tools_lifespan(None)(app):
            store = BufferStore(redis, lease_seconds=settings.buffer_lease_seconds)
            flusher = Flusher(app.state.chat, store, concurrency=settings.flusher_concurrency)
            inbound = InboundHandler(app.state.chat, store, wake=flusher.wake)
            photos = MediaHandler(settings.attachment_max_bytes, settings.attachments_max_per_message, flusher.wake)
            consumers = [
                # One at a time per worker: a customer's messages are stored in the order they arrive.
                ConsumerSpec(stream=INBOUND_STREAM, handler=RawHandler(INBOUND_RECEIVED, inbound.handle)),
                ConsumerSpec(
                    stream=COMPLETED_STREAM,
                    handler=TransactionalHandler(TRANSCRIPTION_COMPLETED, TranscriptHandler(wake=flusher.wake).handle),
                ),
                ConsumerSpec(stream=MEDIA_STREAM, handler=TransactionalHandler(MEDIA_READY, photos.handle)),
                ConsumerSpec(
                    stream=DELIVERY_FAILED_STREAM,
                    handler=TransactionalHandler(DELIVERY_FAILED, DeliveryFailedHandler(LivePublisher(redis)).handle),
                ),
            ]
            await asyncio.gather(
                stopping_together(stop, run_worker(settings, Outbox, ProcessedEvent, consumers, stop=stop)),
                stopping_together(stop, flusher.run(stop)),
                stopping_together(stop, LiveMirror(redis).run(stop)),
            )
    finally:
        await http.aclose()
        await redis.aclose()
        await engine.dispose()


def main() -> None:
    uvloop.run(run(get_settings()))


if __name__ == "__main__":
    main()
