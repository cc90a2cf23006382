"""Outbox relay: publishes committed outbox rows to their Redis streams, then marks them published.

At-least-once: a crash between XADD and the mark publishes the row again on the next pass, so
consumers dedupe by idempotency key (shared/events/consumer.py does it for them).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.db import utcnow
from shared.events.envelope import Envelope
from shared.events.outbox import NOTIFY_CHANNEL, row_envelope
from shared.events.raw import raw_connection
from shared.logging import get_logger

log = get_logger("events.relay")
PRUNE_BATCH = 5_000  # rows per prune statement (and transaction)
PRUNE_BATCHES = 20  # statements per table and prune pass


def envelope_of(row: Any) -> Envelope:
    """The envelope an outbox row stands for (same id, so a republished row is recognisably the same event)."""
    return Envelope(
        id=row.id,
        type=row.type,
        tenant_id=row.tenant_id,
        occurred_at=row.occurred_at,
        idempotency_key=row.idempotency_key,
        payload=row.payload,
    )


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    """Until `stop` or `seconds`, leaving no task behind (an un-cancelled `stop.wait()` per call piles up)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


class OutboxRelay:
    """Moves outbox rows to streams; several relays may run at once (rows are claimed FOR UPDATE SKIP LOCKED)."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        redis,
        outbox_model: type,
        *,
        batch: int = 100,
        interval: float = 0.2,
        stream_maxlen: int = 100_000,
        retention: timedelta | None = timedelta(days=7),
        prune_every: float = 600.0,
        notify: bool = True,
        coalesce: float = 0.005,
        processed_model: type | None = None,
        processed_retention: timedelta | None = timedelta(days=7),
        prune_batch: int = PRUNE_BATCH,
        prune_batches: int = PRUNE_BATCHES,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.redis = redis
        self.outbox = outbox_model
        self.batch = batch
        self.interval = interval
        self.stream_maxlen = stream_maxlen
        self.retention = retention
        self.prune_every = prune_every
        self.processed = processed_model
        self.processed_retention = processed_retention
        self.prune_batch = prune_batch
        self.prune_batches = prune_batches
        self.notify = notify
        # After a pass that published something, the next one waits this long even if woken: under a burst every
        # commit NOTIFYs, and one pass per commit (claim, XADD, mark: three round trips and a transaction for one
        # row) cost more than the rows. A lone event never waits (its wake comes long after the last pass).
        self.coalesce = coalesce
        self._wake = asyncio.Event()
        table = outbox_model.__table__.fullname
        # A row with a future created_at is its producer's to publish (direct.DIRECT_PUBLISH_GRACE_SECONDS).
        self._sql_claim = (
            f"SELECT id, stream, type, tenant_id, idempotency_key, payload, occurred_at FROM {table} "
            "WHERE published_at IS NULL AND created_at <= statement_timestamp() "
            "ORDER BY created_at LIMIT $1 FOR UPDATE SKIP LOCKED"
        )
        self._sql_mark = f"UPDATE {table} SET published_at = now() WHERE id = ANY($1::uuid[])"
        self._sql_failed = f"UPDATE {table} SET attempts = attempts + 1, last_error = $2 WHERE id = $1"

    def wake(self) -> None:
        """Ask for a pass now instead of at the next interval (e.g. right after a commit in the same process)."""
        self._wake.set()

    async def publish_once(self) -> int:
        """One pass: claim up to `batch` unpublished rows, XADD them, mark them; returns how many were published.

        Prepared statements on the raw asyncpg connection (shared/events/raw.py): a pass is on the path of every
        event (the webhook's channels.inbound.v1 among them), and through the ORM it cost more CPU than the XADD."""
        async with raw_connection(self.sessionmaker, autocommit=False) as conn, conn.transaction():
            rows = await conn.fetch(self._sql_claim, self.batch)
            if not rows:
                return 0
            results = await self._publish(rows)
            return await self._mark(conn, rows, results)

    async def _publish(self, rows: Sequence[Any]) -> list[Any]:
        """XADD every row in one round trip; an error for one row does not stop the others."""
        pipe = self.redis.pipeline(transaction=False)
        for row in rows:
            pipe.xadd(row["stream"], row_envelope(row).to_fields(), maxlen=self.stream_maxlen, approximate=True)
        return await pipe.execute(raise_on_error=False)

    async def _mark(self, conn: asyncpg.Connection, rows: Sequence[Any], results: list[Any]) -> int:
        published = [row["id"] for row, res in zip(rows, results, strict=True) if not isinstance(res, Exception)]
        if published:
            await conn.execute(self._sql_mark, published)
        for row, res in zip(rows, results, strict=True):
            if isinstance(res, Exception):
                log.warning(
                    "outbox_publish_failed", outbox_id=str(row["id"]), stream=row["stream"], error=str(res)[:300]
                )
                await conn.execute(self._sql_failed, row["id"], f"{type(res).__name__}: {res}"[:2000])
        return len(published)

    async def prune(self) -> int:
        """Delete outbox rows published longer ago than the retention (the streams hold them now) and, given the
        service's processed_event model, the consumers' records of events handled longer ago than theirs (a
        redelivery comes seconds or minutes late, never days: the outbox's grace is 10 s, a dead consumer's entries
        are reclaimed after EVENTS_CLAIM_IDLE_MS). Returns the rows deleted.

        In batches of `prune_batch` rows, each its own short transaction, at most `prune_batches` per table and pass:
        a first pass over a large backlog (records were never pruned before) neither holds one long transaction nor
        keeps this relay from publishing for long; what is left goes at the next pass."""
        deleted = 0
        targets = []
        if self.retention is not None:
            targets.append((self.outbox, "published_at", self.retention))
        if self.processed is not None and self.processed_retention is not None:
            targets.append((self.processed, "processed_at", self.processed_retention))
        for model, column, retention in targets:
            table = model.__table__.fullname
            sql = text(
                f"DELETE FROM {table} WHERE ctid = ANY(ARRAY("
                f"SELECT ctid FROM {table} WHERE {column} < :cutoff LIMIT :n FOR UPDATE SKIP LOCKED))"
            )
            cutoff = utcnow() - retention
            for _ in range(self.prune_batches):
                async with self.sessionmaker() as session, session.begin():
                    count = (await session.execute(sql, {"cutoff": cutoff, "n": self.prune_batch})).rowcount or 0
                deleted += count
                if count < self.prune_batch:
                    break
                await asyncio.sleep(0)  # let the publishing go on between batches
        return deleted

    async def listen(self, stop: asyncio.Event) -> None:
        """Wake on every commit that wrote an outbox row of our schema (NOTIFY from emit(), delivered by Postgres
        only on commit), so an event leaves in milliseconds instead of at the next poll; polling stays as the net."""
        schema = self.outbox.__table__.schema
        engine = self.sessionmaker.kw["bind"]

        def on_notify(_conn, _pid, _channel, payload: str) -> None:
            if payload == schema:
                self._wake.set()

        while not stop.is_set():
            try:
                async with engine.connect() as conn:
                    raw = (await conn.get_raw_connection()).driver_connection
                    await raw.add_listener(NOTIFY_CHANNEL, on_notify)
                    self._wake.set()  # anything committed while we were not listening
                    while not stop.is_set() and not raw.is_closed():
                        await _wait(stop, 5)
                    if not raw.is_closed():
                        await raw.remove_listener(NOTIFY_CHANNEL, on_notify)
            except Exception as exc:  # noqa: BLE001 - polling carries on while the listener reconnects
                log.info("outbox_listen_retry", error=type(exc).__name__)
                await _wait(stop, 2)

    async def run(self, stop: asyncio.Event) -> None:
        """Publish until `stop` is set; errors (database or Redis down) are logged and retried with backoff."""
        backoff = self.interval
        next_prune = time.monotonic() + self.prune_every
        listener = asyncio.create_task(self.listen(stop)) if self.notify else None
        try:
            await self._loop(stop, backoff, next_prune)
        finally:
            if listener is not None:
                listener.cancel()
                await asyncio.gather(listener, return_exceptions=True)

    async def _loop(self, stop: asyncio.Event, backoff: float, next_prune: float) -> None:
        while not stop.is_set():
            self._wake.clear()  # before the pass: a commit notified during it triggers the next one at once
            try:
                count = await self.publish_once()
                if time.monotonic() >= next_prune:
                    next_prune = time.monotonic() + self.prune_every
                    await self.prune()
                backoff = self.interval
            except Exception as exc:  # noqa: BLE001 - the relay outlives outages
                log.warning("outbox_relay_error", error=f"{type(exc).__name__}: {exc}"[:300])
                count = 0
                backoff = min(max(backoff * 2, 0.1), 5.0)
            if count >= self.batch:
                continue  # more are waiting: no sleep
            if count and self.coalesce:
                await asyncio.sleep(self.coalesce)
            waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
            await asyncio.wait(waiters, timeout=backoff, return_when=asyncio.FIRST_COMPLETED)
            for w in waiters:
                w.cancel()
