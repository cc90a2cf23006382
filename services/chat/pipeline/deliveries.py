"""channels.delivery_failed.v1: a reply the customer never got; when channels says a human must take over (WhatsApp's
24-hour window closed, no template), the thread goes to the human queue like an AI hand-over (`needs_human`)."""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.chat.live.publisher import LivePublisher
from services.chat.threads.models import Message
from services.chat.threads.repository import ThreadRepository
from shared.events import Envelope
from shared.events.channels import DeliveryFailed

log = structlog.get_logger("deliveries")


@dataclass
class DeliveryFailedHandler:
    live: LivePublisher | None = None

    async def handle(self, envelope: Envelope, p: DeliveryFailed, session: AsyncSession) -> None:
        if not p.needs_human or envelope.tenant_id is None:
            return
        thread_id = p.thread_id
        if thread_id is None and p.message_id is not None:  # a failure the provider reported later (a status)
            thread_id = await session.scalar(
                select(Message.thread_id).where(Message.id == p.message_id, Message.tenant_id == envelope.tenant_id)
            )
        if thread_id is None:
            return
        thread = await ThreadRepository(session).get(envelope.tenant_id, thread_id, lock=True)
        if thread is None or thread.needs_human:
            return
        thread.needs_human = True
        log.info("thread_needs_human", thread_id=str(thread.id), reason=p.reason[:200])
        if self.live is not None:
            self.live.thread_updated(session, thread)
