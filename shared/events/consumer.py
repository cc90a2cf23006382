"""Stream consumer: a consumer group per service, ack only after the handler's effects are committed,
reclaim of entries a dead consumer left pending (XAUTOCLAIM), dead-letter stream `<stream>.dlq`.

For each entry: parse the envelope and validate its payload against the handler's contract, then run the handler as
its kind says (shared/events/handlers.py: in ONE transaction with the group's `processed_event` record, or with its
own record); then XACK. A duplicate (same key already recorded) skips the handler. A handler that raises leaves the
entry pending; it is retried after a backoff (by this consumer, XCLAIM) or after `claim_idle_ms` by any consumer
(XAUTOCLAIM). After `max_deliveries` failed deliveries the entry goes to `<stream>.dlq` with its error and is acked;
an unreadable envelope or payload, or a PermanentError, goes there at once. Knobs: ConsumerSettings.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from redis.exceptions import ResponseError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.events.consumer_settings import ConsumerSettings
from shared.events.dead_letter import dead_letter
from shared.events.envelope import Envelope
from shared.events.errors import PermanentError, TransientError, is_transient
from shared.events.handlers import Handler, Record
from shared.logging import get_logger

log = get_logger("events.consumer")

__all__ = ["PermanentError", "StreamConsumer", "TransientError", "is_transient"]


def _s(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class StreamConsumer:
    """Consumes one stream as one member of a consumer group, with one handler (shared/events/handlers.py).

    `concurrency` > 1 runs up to that many handlers at once: entries of a batch are then handled in
    no particular order. Retries and reclaims also break stream order. A handler that needs
    per-conversation ordering must enforce it itself (e.g. a row lock or a version check).
    """

    def __init__(
        self,
        redis,
        sessionmaker: async_sessionmaker[AsyncSession] | None,
        processed_model: type,
        handler: Handler,
        settings: ConsumerSettings,
    ) -> None:
        self.redis = redis
        self.handler = handler
        self.settings = settings
        self.record = Record(sessionmaker, processed_model, settings.group)
        self.stream = settings.stream
        self.group = settings.group
        self.name = settings.consumer_name
        self._sem = asyncio.Semaphore(settings.concurrency)
        self._stop = asyncio.Event()
        # entry id -> (monotonic time of this consumer's next retry, delivery count to keep or None to count it)
        self._retry_at: dict[str, tuple[float, int | None]] = {}
        self._tries: dict[str, int] = {}  # entry id -> failures seen here, for the backoff
        self._in_flight: set[str] = set()
        self._claim_cursor = "0-0"
        self._next_claim = 0.0

    def stop(self) -> None:
        """Stop reading; `run` returns once the in-flight entries are finished."""
        self._stop.set()

    async def ensure_group(self) -> None:
        """The group (and stream) if missing, and this consumer in it from the start: Redis 6.2 lists a consumer only
        once an entry is delivered to it, so a live consumer of a quiet stream was missing from XINFO CONSUMERS."""
        try:
            await self.redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        await self.redis.xgroup_createconsumer(self.stream, self.group, self.name)

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Consume until `stop()` (or the given event) is set; Redis/DB outages are logged and retried."""
        watcher = asyncio.create_task(self._watch(stop)) if stop is not None else None
        backoff = 0.1
        try:
            while not self._stop.is_set():
                try:
                    await self.ensure_group()
                    while not self._stop.is_set():
                        await self.poll_once()
                    backoff = 0.1
                except Exception as exc:  # noqa: BLE001 - a consumer outlives outages
                    log.warning("consumer_error", stream=self.stream, error=f"{type(exc).__name__}: {exc}"[:300])
                    try:
                        await asyncio.wait_for(self._stop.wait(), backoff)
                    except TimeoutError:
                        pass
                    backoff = min(backoff * 2, 5.0)
        finally:
            if watcher is not None:
                watcher.cancel()

    async def _watch(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self._stop.set()

    async def poll_once(self) -> int:
        """One round: own retries that are due, reclaim of idle entries, then new entries. Returns entries handled."""
        handled = 0
        now = time.monotonic()
        due = {eid: keep for eid, (at, keep) in self._retry_at.items() if at <= now}
        if due:
            for eid in due:
                self._retry_at.pop(eid, None)
            idle = min(self.settings.retry_backoff_ms, self.settings.claim_idle_ms)
            counted = [eid for eid, keep in due.items() if keep is None]
            claimed = []
            if counted:
                claimed += await self.redis.xclaim(
                    self.stream, self.group, self.name, min_idle_time=idle, message_ids=counted
                )
            for eid, keep in due.items():
                if keep is not None:  # an outage: redeliver without counting it
                    claimed += await self.redis.xclaim(
                        self.stream, self.group, self.name, min_idle_time=idle, message_ids=[eid], retrycount=keep
                    )
            handled += await self._handle_claimed(claimed)
        if time.monotonic() >= self._next_claim:
            self._next_claim = time.monotonic() + max(self.settings.claim_idle_ms / 2000, 0.05)
            handled += await self.reclaim()
        if self._stop.is_set():
            return handled
        block = self.settings.block_ms
        if self._retry_at:
            next_retry = min(at for at, _ in self._retry_at.values())
            block = max(1, min(block, int((next_retry - time.monotonic()) * 1000)))
        reply = await self.redis.xreadgroup(
            self.group, self.name, {self.stream: ">"}, count=self.settings.batch, block=block
        )
        for _stream, entries in reply or []:
            handled += await self._handle_many([(eid, fields, 1) for eid, fields in entries])
        return handled

    async def reclaim(self) -> int:
        """XAUTOCLAIM entries idle longer than claim_idle_ms (a dead consumer's, or our own failed ones)."""
        reply = await self.redis.xautoclaim(
            self.stream,
            self.group,
            self.name,
            min_idle_time=self.settings.claim_idle_ms,
            start_id=self._claim_cursor,
            count=self.settings.batch,
        )
        self._claim_cursor = _s(reply[0])
        entries = reply[1]
        for eid, _ in entries:
            keep = self._retry_at.pop(_s(eid), (0, None))[1] if eid is not None else None
            if keep is not None:  # our own outage retry, taken early by XAUTOCLAIM: do not count it
                await self.redis.xclaim(
                    self.stream, self.group, self.name, min_idle_time=0, message_ids=[eid], retrycount=keep, justid=True
                )
        handled = await self._handle_claimed(entries)
        if self._claim_cursor == "0-0":
            await self._forget_idle_consumers()
        return handled

    async def _handle_claimed(self, entries: list) -> int:
        """Entries obtained by XCLAIM/XAUTOCLAIM: look their delivery counts up, then handle them."""
        if any(eid is None or fields is None for eid, fields in entries):
            await self._ack_trimmed()
        entries = [(_s(eid), fields) for eid, fields in entries if eid is not None and fields is not None]
        if not entries:
            return 0
        ids = [eid for eid, _ in entries]
        pending = await self.redis.xpending_range(
            self.stream,
            self.group,
            min=min(ids, key=_id_key),
            max=max(ids, key=_id_key),
            count=len(ids) + 50,
            consumername=self.name,
        )
        counts = {_s(p["message_id"]): int(p["times_delivered"]) for p in pending}
        for eid in ids:
            if eid not in counts:  # more of our entries in that range than asked for: ask for this one
                one = await self.redis.xpending_range(self.stream, self.group, min=eid, max=eid, count=1)
                counts[eid] = int(one[0]["times_delivered"]) if one else 1
        return await self._handle_many([(eid, fields, counts.get(eid, 1)) for eid, fields in entries])

    async def _handle_many(self, entries: list[tuple[Any, dict, int]]) -> int:
        async def one(eid: str, fields: dict, deliveries: int) -> None:
            async with self._sem:
                await self._handle(eid, fields, deliveries)

        todo = [(_s(eid), f, d) for eid, f, d in entries if _s(eid) not in self._in_flight]
        # Shielded: a shutdown never interrupts a handler half-way.
        await asyncio.shield(asyncio.gather(*(one(*e) for e in todo)))
        return len(todo)

    async def _handle(self, eid: str, fields: dict, deliveries: int) -> None:
        self._in_flight.add(eid)
        try:
            try:
                envelope = Envelope.from_fields(fields)
            except Exception as exc:  # noqa: BLE001 - an unparsable entry can never succeed
                await self._dead_letter(eid, fields, f"unparsable envelope: {type(exc).__name__}: {exc}", deliveries)
                return
            if deliveries > self.settings.poison_after:
                # Every consumer that took it died (e.g. the handler kills the process): stop the loop.
                error = f"gave up after {deliveries - 1} deliveries without an ack (consumer died?)"
                await self._dead_letter(eid, fields, error, deliveries)
                return
            try:
                payload = self.handler.payload(envelope)
                duplicate = payload is not None and await self.handler.run(self.record, envelope, payload)
            except Exception as exc:  # noqa: BLE001 - recorded, retried, dead-lettered at the end
                await self._failed(eid, fields, envelope, deliveries, exc)
                return
            # Only now, with the effects committed, is the entry acknowledged.
            await self.redis.xack(self.stream, self.group, eid)
            self._tries.pop(eid, None)
            if duplicate:
                log.info("event_duplicate_skipped", stream=self.stream, group=self.group, key=envelope.idempotency_key)
        finally:
            self._in_flight.discard(eid)

    async def _failed(self, eid: str, fields: dict, envelope: Envelope, deliveries: int, exc: Exception) -> None:
        """Retry later with backoff (an outage without counting the delivery), or dead-letter it."""
        error = f"{type(exc).__name__}: {exc}"
        log.warning(
            "handler_failed",
            stream=self.stream,
            group=self.group,
            entry_id=eid,
            event_type=envelope.type,
            deliveries=deliveries,
            error=error[:300],
            tenant_id=str(envelope.tenant_id or ""),
        )
        transient = is_transient(exc)
        if (deliveries >= self.settings.max_deliveries or isinstance(exc, PermanentError)) and not transient:
            await self._dead_letter(eid, fields, error, deliveries)
            return
        if len(self._tries) > 10_000:
            self._tries.clear()  # entries other consumers took over: forget them
        tries = self._tries[eid] = self._tries.get(eid, 0) + 1
        s = self.settings
        delay = min(s.retry_backoff_ms * 2 ** min(tries - 1, 20), s.claim_idle_ms) / 1000
        self._retry_at[eid] = (time.monotonic() + delay, deliveries if transient else None)

    async def _dead_letter(self, eid: str, fields: dict, error: str, deliveries: int) -> None:
        await dead_letter(self.redis, self.settings, eid, fields, error, deliveries)
        self._retry_at.pop(eid, None)
        self._tries.pop(eid, None)

    async def _ack_trimmed(self) -> None:
        """Entries trimmed from the stream while pending come back from a claim as nil, without their id
        (Redis 6.2): find them among ours and ack them, or they would stay pending forever."""
        pending = await self.redis.xpending_range(
            self.stream, self.group, min="-", max="+", count=100, consumername=self.name
        )
        gone = []
        for p in pending:
            eid = _s(p["message_id"])
            if eid not in self._in_flight and not await self.redis.xrange(self.stream, min=eid, max=eid, count=1):
                gone.append(eid)
        if gone:
            log.warning("consumer_entry_trimmed", stream=self.stream, group=self.group, ids=gone[:20])
            await self.redis.xack(self.stream, self.group, *gone)

    async def _forget_idle_consumers(self) -> None:
        """Remove members with nothing pending idle for long (dead workers); rejoin if a replica removed us that way
        (Redis 6.2 does not refresh the idle time on reads that find nothing: a quiet live consumer looks dead)."""
        member = False
        for c in await self.redis.xinfo_consumers(self.stream, self.group):
            name = _s(c["name"])
            if name == self.name:
                member = True
            elif int(c["pending"]) == 0 and int(c["idle"]) > self.settings.idle_consumer_ms:
                await self.redis.xgroup_delconsumer(self.stream, self.group, name)
        if not member:
            await self.redis.xgroup_createconsumer(self.stream, self.group, self.name)


def _id_key(eid: str) -> tuple[int, int]:
    ms, _, seq = eid.partition("-")
    return int(ms), int(seq or 0)
