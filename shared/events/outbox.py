"""Write an event into the caller's transaction; the relay publishes it after commit."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, insert, select
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
    table = outbox_model.__table__
    row = insert(table).values(
        id=envelope.id,
        stream=stream,
        type=envelope.type,
        tenant_id=tenant_id,
        idempotency_key=idempotency_key,
        payload=envelope.model_dump(mode="json")["payload"],
        occurred_at=envelope.occurred_at,
    )
    # One round trip: the row, and a NOTIFY that Postgres delivers only if this transaction commits (the relay
    # wakes at once instead of polling). A data-modifying CTE always runs to completion; the SELECT yields its one
    # row, so pg_notify runs once. The session autoflushes pending ORM changes before this statement.
    inserted = row.returning(table.c.id).cte("outbox_row")
    await session.execute(select(func.pg_notify(NOTIFY_CHANNEL, table.schema)).select_from(inserted))
    return envelope
