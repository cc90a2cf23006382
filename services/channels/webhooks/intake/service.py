"""The webhook hot path: authenticate, parse and store an inbound message with its event in one statement.

Every provider's messages cross this code, so it is written for CPU per request (docs/pipeline.md, "The webhook
intake"):

- **One round trip.** The inbound row, its `channels.inbound.v1` outbox row and the relay's NOTIFY are one
  statement on an asyncpg connection in autocommit (statements.py): Postgres commits it before the answer leaves,
  so a 2xx still means durable, and a provider retry of the same message inserts nothing (`ON CONFLICT DO NOTHING`
  on `(channel_id, provider_message_id)`).
- **Concurrent messages share a statement (group commit, batcher.py).** At most CHANNELS_WEBHOOK_INSERT_STATEMENTS
  statements per API process at a time; messages that arrive meanwhile go together in the next one (up to
  CHANNELS_WEBHOOK_BATCH_MAX_ROWS). Nothing waits for a timer. BATCH_MAX_ROWS=1 turns it off.
- **One relay wake-up per interval, not per message (wakeup.py).**
- **The channel is cached, and the statement re-checks it (channel_cache.py).** Any change to a channel bumps its
  `updated_at`, so a stale entry stores nothing, is dropped, and the request is re-authenticated against the fresh
  row.
- **Events published by the API itself while traffic is quiet** (shared/events/direct.py, DirectPublisher), the
  relay as the safety net.
- Postgres unreachable or out of connections answers 503 with Retry-After (providers retry), never a 500.

What a provider's request means (signature, payload, answer) is the provider's (services/channels/providers/).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import asyncpg
import orjson
from prometheus_client import CollectorRegistry, Histogram

from services.channels.base import Outbox
from services.channels.providers.base import (
    ChannelProvider,
    DeliveryReport,
    Incoming,
    WebhookAnswer,
    WebhookRequest,
)
from services.channels.webhooks.intake.batcher import MAX_QUEUED, InsertBatcher
from services.channels.webhooks.intake.channel_cache import RECHECK_AFTER_SECONDS, CachedChannel, ChannelCache
from services.channels.webhooks.intake.pool import IntakeDatabase
from services.channels.webhooks.intake.statements import SQL_ACCEPT, SQL_STATUSES, InboundRow
from services.channels.webhooks.intake.wakeup import RelayWake
from shared.crypto import SecretBox
from shared.errors import Forbidden, ServiceUnavailable
from shared.events.channels import INBOUND_STREAM
from shared.events.direct import DIRECT_PUBLISH_GRACE_SECONDS, DirectPublisher


class WebhookIntake:
    """Shared by the ASGI fast path (webhooks/asgi.py) and the FastAPI routes (webhooks/router.py)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        box: SecretBox,
        notify_interval: float = 0.01,
        *,
        batch_max_rows: int = 64,
        insert_statements: int = 4,
        max_queued: int = MAX_QUEUED,
        recheck_seconds: float = RECHECK_AFTER_SECONDS,
        registry: CollectorRegistry | None = None,
        direct: DirectPublisher | None = None,
    ) -> None:
        self.pool = pool
        self.db = IntakeDatabase(pool)
        self.direct = direct
        self.wake = RelayWake(pool, notify_interval, Outbox.__table__.schema)
        self.channels = ChannelCache(self.db, box, recheck_seconds)
        rows = None
        if registry is not None and batch_max_rows > 1:
            rows = Histogram(
                "channels_webhook_insert_rows",
                "Messages stored per intake statement (group commit: webhooks/intake/batcher.py)",
                registry=registry,
                buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
            )
        self.batcher = (
            InsertBatcher(self, batch_max_rows, insert_statements, rows, max_queued) if batch_max_rows > 1 else None
        )

    async def close(self) -> None:
        if self.batcher is not None:
            await self.batcher.close()
        if self.direct is not None:
            await self.direct.close()
        await self.wake.close()

    # ---- a provider's webhook -----------------------------------------------------------------------------------

    async def authenticate(self, provider: ChannelProvider, channel_id: str, request) -> CachedChannel:
        """The channel, once the provider's signature check holds for it (re-checked against the fresh row on a
        cached miss). 404 for no such channel of this provider, 403 for a signature that does not hold."""
        ch, recheckable = await self.channels.get(channel_id, provider)
        if not provider.authentic(ch.verifier, request):
            if recheckable:
                ch, _ = await self.channels.get(channel_id, provider, fresh=True)
            if not recheckable or not provider.authentic(ch.verifier, request):
                raise Forbidden(provider.forbidden)
        return ch

    async def receive(self, provider: ChannelProvider, request: WebhookRequest) -> WebhookAnswer:
        """A provider's message webhook: every message stored once, then the provider's answer. 4xx for anything
        not authentic or not well formed."""
        parts = provider.read(request)
        ch = await self.authenticate(provider, request.channel_id, parts)
        stored = []
        for msg in provider.messages(parts):  # a loop, not a comprehension: no coroutine of its own per request
            stored.append(await self.accept(provider, ch, msg, parts))
        reports = provider.statuses(parts)
        if reports:
            await self.record_statuses(ch, reports)
        return provider.answer(stored)

    async def record_statuses(self, ch: CachedChannel, reports: Sequence[DeliveryReport]) -> None:
        """Delivery reports move this channel's deliveries forward: one statement for the whole batch."""
        ids = [r.provider_message_id for r in reports]
        statuses = [r.status[:20] for r in reports]
        errors = [r.error for r in reports]
        closed = [r.outside_window for r in reports]
        await self.db.run(lambda conn: conn.fetchrow(SQL_STATUSES, ch.tenant_id, ch.id, ids, statuses, errors, closed))

    # ---- storing ------------------------------------------------------------------------------------------------

    async def _insert(self, ch: CachedChannel, msg: Incoming) -> tuple[bool, uuid.UUID | None]:
        received_at = datetime.now(UTC)
        inbound_id = uuid.uuid4()
        row = InboundRow(
            channel_id=ch.id,
            updated_at=ch.updated_at,
            inbound_id=inbound_id,
            tenant_id=ch.tenant_id,
            provider_message_id=msg.provider_message_id,
            kind=msg.kind,
            sender=msg.sender,
            sender_name=msg.sender_name,
            text=msg.text,
            media=orjson.dumps(msg.media).decode(),
            received_at=received_at,
            event_id=uuid.uuid4(),
            idempotency_key=f"inbound:{ch.id}:{msg.provider_message_id}",
            payload=orjson.dumps(
                {
                    "inbound_id": str(inbound_id),
                    "channel_id": str(ch.id),
                    "channel_type": ch.type,
                    "assistant_id": str(ch.assistant_id) if ch.assistant_id else None,
                    "provider_message_id": msg.provider_message_id,
                    "kind": msg.kind,
                    "sender": msg.sender,
                    "sender_name": msg.sender_name,
                    "sender_email": msg.sender_email,
                    "reply_to": msg.reply_to or msg.sender,
                    "text": msg.text,
                    "media": msg.media,
                    "channel_settings": ch.settings,
                    "received_at": received_at.isoformat(),
                }
            ).decode(),
        )
        if self.batcher is not None:
            outcome = await self.batcher.run(row)
            return outcome.channel_ok, (inbound_id if outcome.stored else None)
        direct = self.direct is not None and self.direct.take()
        notify = not direct and self.wake.inline()
        delay = DIRECT_PUBLISH_GRACE_SECONDS if direct else 0.0
        answer = await self.db.run(lambda conn: conn.fetchrow(SQL_ACCEPT, *row.values(), INBOUND_STREAM, notify, delay))
        if answer["stored"] and direct:
            self.direct.publish([row.event()])
        elif answer["stored"] and not notify:
            self.wake.after_commit()
        return bool(answer["channel_ok"]), (inbound_id if answer["stored"] else None)

    async def accept(self, provider: ChannelProvider, ch: CachedChannel, msg: Incoming, parts) -> uuid.UUID | None:
        """Store once; None for a provider retry. After a cache miss the request is re-authenticated against the
        channel's row as it is now (`parts`: the provider's reading of the request)."""
        ok, inbound_id = await self._insert(ch, msg)
        if ok:
            return inbound_id
        # The channel changed or went away since it was cached: authenticate against the row as it is now.
        fresh, _ = await self.channels.get(str(ch.id), provider, fresh=True)
        if not provider.authentic(fresh.verifier, parts):
            raise Forbidden(provider.forbidden)
        ok, inbound_id = await self._insert(fresh, msg)
        if not ok:  # changed again in between: extremely unlikely; the provider retries
            raise ServiceUnavailable("the channel is being updated; retry", headers={"Retry-After": "1"})
        return inbound_id
