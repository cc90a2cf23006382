"""Stream consumers and the outbox relay of the channels service: `python -m services.channels.worker`.

- chat.outbound.v1 -> send the reply to the customer (at most once per message);
- channels.inbound.v1 (group channels-media) -> fetch voice notes and ask transcription for their text.
"""

from __future__ import annotations

import asyncio
import logging

import uvloop

from services.channels.base import Outbox, ProcessedEvent
from services.channels.config import ChannelsSettings, get_settings
from services.channels.media.forwarder import MEDIA_GROUP, MEDIA_KINDS, MediaForwarder
from services.channels.media.images import ImageForwarder
from services.channels.outbound.service import OutboundSender
from services.channels.providers.registry import Providers
from shared.crypto import SecretBox
from shared.db import create_sessionmaker
from shared.events.channels import INBOUND_RECEIVED, INBOUND_STREAM, InboundReceived
from shared.events.chat import OUTBOUND_STREAM
from shared.events.handlers import TransactionalHandler
from shared.events.worker import ConsumerSpec, create_worker_engine, run_worker
from shared.http import create_http_client

OUTBOUND_CONCURRENCY = 8  # sends in flight per worker


def has_media(message: InboundReceived) -> bool:
    """The media group's only work (voice notes, photos): anything else on channels.inbound.v1 is acked without a
    transaction."""
    return message.kind in MEDIA_KINDS


async def run(settings: ChannelsSettings, stop: asyncio.Event | None = None) -> None:
    # The twilio library logs every request and response (a dozen plain-text lines) at INFO.
    logging.getLogger("twilio").setLevel(logging.WARNING)
    box = SecretBox(settings.secrets_key)
    providers = Providers(settings)
    # The sender keeps its own record (the delivery row) and commits each statement itself, on its own pool: one
    # connection per send in flight at most, and none held while a provider answers.
    engine = create_worker_engine(settings.database_url, pool_size=OUTBOUND_CONCURRENCY // 2)
    http = create_http_client(timeout=30)
    sender = OutboundSender(
        create_sessionmaker(engine),
        box,
        providers,
        split_max_chars=settings.split_max_chars,
        max_attempts=settings.send_max_attempts,
    )
    images = ImageForwarder(http, settings.image_max_bytes, settings.images_max_per_message)
    media = MediaForwarder(box, http, settings.media_max_bytes, providers, images)
    consumers = [
        ConsumerSpec(stream=OUTBOUND_STREAM, handler=sender.handler, concurrency=OUTBOUND_CONCURRENCY),
        ConsumerSpec(
            stream=INBOUND_STREAM,
            handler=TransactionalHandler(INBOUND_RECEIVED, media.handle, accepts=has_media),
            group=MEDIA_GROUP,
            concurrency=2,
        ),
    ]
    try:
        await run_worker(settings, Outbox, ProcessedEvent, consumers, stop=stop)
    finally:
        await sender.aclose()
        await http.aclose()
        await engine.dispose()


def main() -> None:
    uvloop.run(run(get_settings()))


if __name__ == "__main__":
    main()
