"""The three kinds of stream handler: what the consumer holds open around one, and which record makes it run once.

Each takes the event types it handles (contracts, shared/events/contract.py) and gets the payload already validated
as the type's model; a type it does not list is acked untouched, a payload its contract refuses goes to the DLQ.

- `TransactionalHandler(events, fn)`: `fn(envelope, payload, session)` runs in ONE transaction with the consumer
  group's `processed_event` row (a duplicate is skipped); the handler must not commit.
- `RawHandler(events, fn)`: the same on a raw asyncpg connection (`fn(envelope, payload, conn)`, the hot paths,
  where the ORM's CPU per statement was most of the cost); it may return an `AfterCommit`, run on that connection
  once the transaction committed, before the XACK.
- `IdempotentHandler(events, fn)`: `fn(envelope, payload)` keeps its own durable record of what it did, keyed by
  the idempotency key, committed by itself (the outbound sender's delivery row): no consumer transaction, no
  connection, no `processed_event` row; nothing is held open while it waits on a provider.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import asyncpg
from pydantic import BaseModel
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.events.contract import EventType
from shared.events.envelope import Envelope
from shared.events.raw import raw_connection
from shared.logging import get_logger

log = get_logger("events.consumer")
P = TypeVar("P", bound=BaseModel)
AfterCommit = Callable[[asyncpg.Connection], Awaitable[None]]
Events = EventType | tuple[EventType, ...]


@dataclass(frozen=True)
class Record:
    """Where a consumer group records the idempotency keys it processed: its service's `processed_event`."""

    sessionmaker: async_sessionmaker[AsyncSession] | None
    model: type
    group: str
    sql: str = field(init=False, repr=False)  # the raw kind's insert of the record

    def __post_init__(self) -> None:
        sql = (
            f"INSERT INTO {self.model.__table__.fullname} (consumer, idempotency_key, event_id, processed_at) "
            "VALUES ($1, $2, $3, now()) ON CONFLICT DO NOTHING RETURNING 1"
        )
        object.__setattr__(self, "sql", sql)


@dataclass(frozen=True)
class _Kind(Generic[P]):
    events: Events
    fn: Callable[..., Awaitable[Any]]
    # Which events the handler has anything to do for: the others are acked at once, with no transaction and no
    # `processed_event` row (there is no effect to make idempotent).
    accepts: Callable[[P], bool] | None = None
    holds_connection = True  # counted in the worker's pool size
    _by_type: Mapping[str, EventType] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        events = self.events if isinstance(self.events, tuple) else (self.events,)
        if not events:
            raise ValueError("a handler takes at least one event type")
        object.__setattr__(self, "_by_type", {str(e): e for e in events})

    @property
    def streams(self) -> set[str]:
        """The streams its event types travel on (a consumer reads one: shared/events/worker.py checks it)."""
        return {str(e.stream) for e in self._by_type.values()}

    def payload(self, envelope: Envelope) -> P | None:
        """The validated payload, or None when this handler has nothing to do for the event (acked untouched)."""
        contract = self._by_type.get(envelope.type)
        if contract is None:
            return None
        payload = contract.parse(envelope)  # InvalidPayload: to the DLQ at once
        if self.accepts is not None and not self.accepts(payload):
            return None
        return payload

    async def run(self, record: Record, envelope: Envelope, payload: P) -> bool:
        """Handle one event; True if it was a duplicate (its key already processed, the handler skipped)."""
        raise NotImplementedError


@dataclass(frozen=True)
class TransactionalHandler(_Kind[P]):
    fn: Callable[[Envelope, P, AsyncSession], Awaitable[None]]

    async def __call__(self, envelope: Envelope, session: AsyncSession) -> None:
        """Run the handler in the caller's transaction, without the consumer's record (tests, replays)."""
        payload = self.payload(envelope)
        if payload is not None:
            await self.fn(envelope, payload, session)

    async def run(self, record: Record, envelope: Envelope, payload: P) -> bool:
        model = record.model
        async with record.sessionmaker() as session, session.begin():
            inserted = await session.execute(
                insert(model)
                .values(consumer=record.group, idempotency_key=envelope.idempotency_key, event_id=envelope.id)
                .on_conflict_do_nothing()
                .returning(model.idempotency_key)
            )
            if inserted.first() is None:
                return True
            await self.fn(envelope, payload, session)
        return False


@dataclass(frozen=True)
class RawHandler(_Kind[P]):
    fn: Callable[[Envelope, P, asyncpg.Connection], Awaitable[AfterCommit | None]]

    async def run(self, record: Record, envelope: Envelope, payload: P) -> bool:
        async with raw_connection(record.sessionmaker, autocommit=False) as conn:
            async with conn.transaction():
                first = await conn.fetchval(record.sql, record.group, envelope.idempotency_key, envelope.id)
                if first is None:
                    return True
                after = await self.fn(envelope, payload, conn)
            if after is not None:
                try:
                    await after(conn)
                except Exception as exc:  # noqa: BLE001 - committed already: what follows is best effort
                    log.warning("after_commit_failed", type=envelope.type, error=f"{type(exc).__name__}: {exc}"[:300])
        return False


@dataclass(frozen=True)
class IdempotentHandler(_Kind[P]):
    fn: Callable[[Envelope, P], Awaitable[None]]
    holds_connection = False

    async def __call__(self, envelope: Envelope) -> None:
        payload = self.payload(envelope)
        if payload is not None:
            await self.fn(envelope, payload)

    async def run(self, record: Record, envelope: Envelope, payload: P) -> bool:
        await self.fn(envelope, payload)  # its own record says whether it is a duplicate
        return False


Handler = TransactionalHandler | RawHandler | IdempotentHandler
