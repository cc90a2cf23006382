"""Write events into the caller's transaction; the relay publishes them after commit."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.events.envelope import Envelope

NOTIFY_CHANNEL = "atende_outbox"


@dataclass(frozen=True)
class OutboxEvent:
    """An event to write (see `emit_many`)."""

    stream: str
    type: str
    idempotency_key: str
    payload: dict[str, Any]
    tenant_id: uuid.UUID | None = None


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
    event = OutboxEvent(stream=stream, type=type, idempotency_key=idempotency_key, payload=payload, tenant_id=tenant_id)
    return (await emit_many(session, outbox_model, [event]))[0]


async def emit_many(session: AsyncSession, outbox_model: type, events: Sequence[OutboxEvent]) -> list[Envelope]:
    """Add several events to the outbox in one statement (one round trip, one NOTIFY), in the caller's transaction."""
    envelopes = [
        Envelope(type=e.type, tenant_id=e.tenant_id, idempotency_key=e.idempotency_key, payload=e.payload)
        for e in events
    ]
    if not envelopes:
        return []
    table = outbox_model.__table__
    rows = insert(table).values(
        [
            {
                "id": env.id,
                "stream": e.stream,
                "type": env.type,
                "tenant_id": e.tenant_id,
                "idempotency_key": e.idempotency_key,
                "payload": env.model_dump(mode="json")["payload"],
                "occurred_at": env.occurred_at,
            }
            for e, env in zip(events, envelopes, strict=True)
        ]
    )
    # One round trip: the rows, and a NOTIFY that Postgres delivers only if this transaction commits (the relay
    # wakes at once instead of polling). A data-modifying CTE always runs to completion; the count yields one row,
    # so pg_notify runs once. The session autoflushes pending ORM changes before this statement.
    inserted = rows.returning(table.c.id).cte("outbox_rows")
    counted = select(func.count()).select_from(inserted).subquery()
    await session.execute(select(func.pg_notify(NOTIFY_CHANNEL, table.schema)).select_from(counted))
    return envelopes
