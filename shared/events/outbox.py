"""Write an event into the caller's transaction; the relay publishes it after commit."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from shared.events.envelope import Envelope

NOTIFY_CHANNEL = "atende_outbox"


async def emit(
    session: AsyncSession,
    outbox_model: type,
    *,
    stream: str,
    type: str,
    idempotency_key: str,
    payload: dict[str, Any],
    tenant_id: uuid.UUID | None = None,
) -> Envelope:
    """Add the event to the outbox in the same transaction as the data it describes."""
    envelope = Envelope(type=type, tenant_id=tenant_id, idempotency_key=idempotency_key, payload=payload)
    session.add(
        outbox_model(
            id=envelope.id,
            stream=stream,
            type=envelope.type,
            tenant_id=tenant_id,
            idempotency_key=idempotency_key,
            payload=envelope.model_dump(mode="json")["payload"],
            occurred_at=envelope.occurred_at,
        )
    )
    await session.flush()
    # Delivered by Postgres only if this transaction commits: the relay wakes at once instead of polling.
    await session.execute(text("SELECT pg_notify(:c, :s)"), {"c": NOTIFY_CHANNEL, "s": outbox_model.__table__.schema})
    return envelope
