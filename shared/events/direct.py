"""Publish committed outbox rows right after their commit, with the relay as the safety net.

One mechanism with two front doors: a producer writes its outbox rows with `created_at = now() + grace`
(DIRECT_PUBLISH_GRACE_SECONDS), so the relay leaves them alone; after the commit it XADDs them and marks them
published (`xadd_committed` + `MARK_SQL`). A failure before the XADD leaves the rows to the relay once the grace is
over (late, never lost); a failure between the XADD and the mark publishes them twice with the same envelope id and
idempotency key, which consumers skip (shared/events/consumer.py).

- `publish_committed` / `publish_now`: inline, awaited by the producer (chat's answers, auth's key changes);
- `DirectPublisher`: in the background, rate-limited, marks batched (the channels webhook intake, where the API's
  CPU under a burst is better left to the relay: docs/pipeline.md).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
from sqlalchemy import func

from shared.events.envelope import Envelope
from shared.logging import get_logger

log = get_logger("events.direct")
# A row its producer publishes itself right after commit is written with `created_at` this far in the future: the
# relay only takes rows whose `created_at` has passed, so it leaves this one alone unless the producer died between
# its commit and its XADD, and then publishes it after this grace.
DIRECT_PUBLISH_GRACE_SECONDS = 10.0


def mark_sql(outbox_table: str) -> str:
    """Mark XADDed rows published (the relay then never takes them)."""
    return f"UPDATE {outbox_table} SET published_at = now() WHERE id = ANY($1::uuid[]) AND published_at IS NULL"


@dataclass(frozen=True, slots=True)
class DirectEvent:
    """A committed outbox row to XADD: its id (to mark it), its stream and its stream fields."""

    id: uuid.UUID
    stream: str
    fields: dict[str, str]


@dataclass(frozen=True)
class CommittedEvent:
    """An outbox row written with a deferred `created_at` (DIRECT_PUBLISH_GRACE_SECONDS), committed, to publish now."""

    stream: str
    envelope: Envelope

    def direct(self) -> DirectEvent:
        return DirectEvent(self.envelope.id, self.stream, self.envelope.to_fields())


async def xadd_committed(redis, events: Sequence[DirectEvent], *, maxlen: int) -> None:
    """XADD the events in one round trip (a pipeline for several)."""
    if len(events) == 1:
        e = events[0]
        await redis.xadd(e.stream, e.fields, maxlen=maxlen, approximate=True)
        return
    pipe = redis.pipeline(transaction=False)
    for e in events:
        pipe.xadd(e.stream, e.fields, maxlen=maxlen, approximate=True)
    await pipe.execute()


async def publish_committed(
    redis, conn: asyncpg.Connection, outbox_table: str, events: Sequence[CommittedEvent], *, maxlen: int
) -> bool:
    """XADD committed events at once instead of through the relay, then mark their rows published.

    Never raises (the relay is the safety net). Returns whether both steps succeeded."""
    if not events:
        return True
    try:
        await xadd_committed(redis, [e.direct() for e in events], maxlen=maxlen)
    except Exception as exc:  # noqa: BLE001 - the relay is the safety net
        log.warning("direct_publish_failed", step="xadd", error=f"{type(exc).__name__}: {exc}"[:300])
        return False
    try:
        await conn.execute(mark_sql(outbox_table), [e.envelope.id for e in events])
    except Exception as exc:  # noqa: BLE001 - published; the relay will publish it again (consumers dedupe)
        log.warning("direct_publish_failed", step="mark", error=f"{type(exc).__name__}: {exc}"[:300])
        return False
    return True


async def publish_now(
    redis, sessionmaker, outbox_model: type, events: Sequence[CommittedEvent], *, maxlen: int
) -> bool:
    """`publish_committed` for a producer holding a SQLAlchemy sessionmaker rather than an asyncpg connection."""
    if not events or redis is None:
        return not events
    table = outbox_model.__table__
    try:
        await xadd_committed(redis, [e.direct() for e in events], maxlen=maxlen)
        async with sessionmaker() as session, session.begin():
            await session.execute(
                table.update()
                .where(table.c.id.in_([e.envelope.id for e in events]), table.c.published_at.is_(None))
                .values(published_at=func.now())
            )
    except Exception as exc:  # noqa: BLE001 - the relay is the safety net (consumers skip a second copy)
        log.warning("direct_publish_failed", error=f"{type(exc).__name__}: {exc}"[:300])
        return False
    return True


class DirectPublisher:
    """`publish_committed` in the background, for a hot path whose answer must not wait for it: XADDs run as tasks,
    and the marks of every XADD made meanwhile go in one UPDATE per MARK_MAX ids, by one marker task.

    It costs the producer's CPU per event, so it is rate-limited: at most `per_second` events a second are published
    this way (`take`, counted per event, a statement as a whole); the rest go through the relay. 0 turns it off.
    After a failed XADD it pauses for PAUSE_SECONDS (the relay's way at once instead of the grace for every event)."""

    PAUSE_SECONDS = 1.0
    MARK_MAX = 1000  # ids per UPDATE

    def __init__(self, redis, pool: asyncpg.Pool, outbox_table: str, *, per_second: int, maxlen: int) -> None:
        self.redis = redis
        self.pool = pool
        self.per_second = per_second
        self.maxlen = maxlen
        self._window = -float("inf")
        self._used = 0
        self._paused_until = -float("inf")
        self._tasks: set[asyncio.Task] = set()
        self._unmarked: list[uuid.UUID] = []
        self._marker: asyncio.Task | None = None
        self._sql_mark = mark_sql(outbox_table)

    def take(self, events: int = 1) -> bool:
        """Whether the next statement's events are published directly: only if they all fit in this second's
        allowance, which they then use up."""
        if self.per_second <= 0:
            return False
        now = time.monotonic()
        if now < self._paused_until:
            return False
        if now - self._window >= 1.0:
            self._window, self._used = now, 0
        if self._used + events > self.per_second:
            return False
        self._used += events
        return True

    def publish(self, events: list[DirectEvent]) -> None:
        """XADD committed rows in the background: the caller does not wait."""
        if not events:
            return
        task = asyncio.get_running_loop().create_task(self._publish(events))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _publish(self, events: list[DirectEvent]) -> None:
        try:
            await xadd_committed(self.redis, events, maxlen=self.maxlen)
        except Exception as exc:  # noqa: BLE001 - the relay publishes the rows after the grace
            self._paused_until = time.monotonic() + self.PAUSE_SECONDS
            log.warning("direct_publish_failed", step="xadd", events=len(events), error=type(exc).__name__)
            return
        self._unmarked.extend(e.id for e in events)
        if self._marker is None or self._marker.done():
            self._marker = asyncio.get_running_loop().create_task(self._mark())

    async def _mark(self) -> None:
        while self._unmarked:
            ids, self._unmarked = self._unmarked[: self.MARK_MAX], self._unmarked[self.MARK_MAX :]
            try:
                async with self.pool.acquire(timeout=5) as conn:
                    await conn.execute(self._sql_mark, ids)
            except Exception as exc:  # noqa: BLE001 - published; the relay publishes them again (consumers dedupe)
                log.warning("direct_publish_failed", step="mark", events=len(ids), error=type(exc).__name__)

    async def close(self, timeout: float = 2.0) -> None:
        """Let XADDs and marks in flight finish (a shutdown should not leave published rows to be published again)."""
        pending = [*self._tasks]
        if pending:
            await asyncio.wait(pending, timeout=timeout)
        if self._marker is not None and not self._marker.done():
            await asyncio.wait([self._marker], timeout=timeout)
        for task in [*self._tasks, *([self._marker] if self._marker else [])]:
            if not task.done():
                task.cancel()
