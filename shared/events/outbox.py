"""Write events into the caller's transaction; the relay publishes them after commit."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.events.contract import EventType, P
from shared.events.direct import CommittedEvent
from shared.events.envelope import Envelope
from shared.logging import get_logger

log = get_logger("events.outbox")
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
    defer_seconds: float = 0.0,
) -> Envelope:
    """Add the event to the outbox in the same transaction as the data it describes.

    `defer_seconds` (DIRECT_PUBLISH_GRACE_SECONDS): the producer publishes it itself after commit
    (shared/events/direct.py), the relay only if that failed."""
    event = OutboxEvent(stream=stream, type=type, idempotency_key=idempotency_key, payload=payload, tenant_id=tenant_id)
    return (await emit_many(session, outbox_model, [event], defer_seconds=defer_seconds))[0]


async def emit_event(
    session: AsyncSession,
    outbox_model: type,
    event: EventType[P],
    payload: P,
    *,
    idempotency_key: str,
    tenant_id: uuid.UUID | None = None,
    exclude_none: bool = False,
    defer_seconds: float = 0.0,
) -> Envelope:
    """`emit` of a typed contract: its stream, its type name and its checked payload come from `event`."""
    return await emit(
        session,
        outbox_model,
        stream=event.stream,
        type=event,
        idempotency_key=idempotency_key,
        payload=event.dump(payload, exclude_none=exclude_none),
        tenant_id=tenant_id,
        defer_seconds=defer_seconds,
    )


async def emit_many(
    session: AsyncSession, outbox_model: type, events: Sequence[OutboxEvent], *, defer_seconds: float = 0.0
) -> list[Envelope]:
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
                # Postgres' clock, like the relay's `created_at <= statement_timestamp()`: a producer whose clock runs
                # ahead of the database's cannot delay its own events.
                "created_at": func.now() + func.make_interval(0, 0, 0, 0, 0, 0, defer_seconds)
                if defer_seconds
                else func.now(),
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


def row_envelope(row: Mapping[str, Any]) -> Envelope:
    """The envelope an outbox row stands for, as asyncpg returns it (id, type, tenant_id, idempotency_key, payload,
    occurred_at): the same id every time it is published, so consumers recognise a republished row."""
    payload = row["payload"]
    return Envelope(
        id=row["id"],
        type=row["type"],
        tenant_id=row["tenant_id"],
        occurred_at=row["occurred_at"],
        idempotency_key=row["idempotency_key"],
        payload=orjson.loads(payload) if isinstance(payload, str) else payload,
    )


def committed_event(row: Mapping[str, Any]) -> CommittedEvent:
    """The event an outbox row (as RETURNING gives it: id, stream, type, tenant_id, idempotency_key, payload,
    occurred_at) stands for: the same envelope the relay would build from it."""
    return CommittedEvent(stream=row["stream"], envelope=row_envelope(row))
