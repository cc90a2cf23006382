"""Outbox + relay on the real servers: rollback never publishes, commit publishes once even across a
relay killed between XADD and the mark, several relays never double-publish, streams stay bounded."""

from __future__ import annotations

import asyncio
import signal
import uuid

from sqlalchemy import func, select

from services.search.base import Outbox
from shared.events.envelope import Envelope
from shared.events.handlers import TransactionalHandler
from shared.events.outbox import OutboxEvent, emit, emit_many
from shared.events.relay import OutboxRelay
from tests.shared.events.support import any_event, consumer_on, effects, spawn
from tests.support.plugin import wait_for

STREAM = "test.events.v1"


async def _emit(sm, n: int = 1, stream: str = STREAM, key: str | None = None) -> list[Envelope]:
    async with sm() as s, s.begin():
        return [
            await emit(
                s,
                Outbox,
                stream=stream,
                type="test.happened.v1",
                idempotency_key=key or f"k-{uuid.uuid4()}",
                payload={"i": i},
                tenant_id=uuid.uuid4(),
            )
            for i in range(n)
        ]


async def _entries(redis, stream: str = STREAM) -> list[Envelope]:
    return [Envelope.from_fields(fields) for _, fields in await redis.xrange(stream)]


async def _unpublished(sm) -> int:
    async with sm() as s:
        return await s.scalar(select(func.count()).select_from(Outbox).where(Outbox.published_at.is_(None)))


async def test_rolled_back_event_is_never_published(sm, redis):
    relay = OutboxRelay(sm, redis, Outbox, interval=0.02)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        async with sm() as s:
            await s.begin()
            doomed = await emit(s, Outbox, stream=STREAM, type="t.v1", idempotency_key="doomed", payload={})
            await asyncio.sleep(0.3)  # the relay polls ~15 times while the transaction is open
            assert await redis.xlen(STREAM) == 0
            await s.rollback()
        (control,) = await _emit(sm, key="control")
        await wait_for(lambda: redis.xlen(STREAM), timeout=5)
        await asyncio.sleep(0.2)
    finally:
        stop.set()
        await task
    published = await _entries(redis)
    assert [e.id for e in published] == [control.id]
    assert doomed.id not in {e.id for e in published}


async def test_committed_event_published_and_marked_with_its_envelope(sm, redis):
    (env,) = await _emit(sm)
    assert await OutboxRelay(sm, redis, Outbox).publish_once() == 1
    assert await OutboxRelay(sm, redis, Outbox).publish_once() == 0
    (got,) = await _entries(redis)
    assert got == env  # id, type, tenant, occurred_at, key and payload survive the trip
    assert await _unpublished(sm) == 0


async def test_relay_killed_between_publish_and_mark_republishes_once_and_consumers_dedupe(sm, redis, stack):
    (env,) = await _emit(sm)
    proc = spawn(stack, "relay-crash")
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL, err
    assert "PUBLISHED 1" in out
    # The XADD happened, the mark did not: the row is still unpublished.
    assert [e.id for e in await _entries(redis)] == [env.id]
    assert await _unpublished(sm) == 1

    assert await OutboxRelay(sm, redis, Outbox).publish_once() == 1
    assert await _unpublished(sm) == 0
    assert await OutboxRelay(sm, redis, Outbox).publish_once() == 0
    # Published exactly once more: two copies of the same event on the stream, no third.
    assert [e.id for e in await _entries(redis)] == [env.id, env.id]

    calls = []

    async def handler(envelope, _payload, session):
        from sqlalchemy import text

        calls.append(envelope.id)
        await session.execute(
            text("INSERT INTO public.event_effect (key, worker) VALUES (:k, 'c')"), {"k": envelope.idempotency_key}
        )

    handler = TransactionalHandler(any_event(STREAM, "test.happened.v1"), handler)
    consumer = consumer_on(redis, sm, handler, stream=STREAM, group="g", consumer_name="c", block_ms=50)
    await consumer.ensure_group()
    assert await consumer.poll_once() == 2
    assert calls == [env.id]  # the duplicate skipped the handler
    assert await effects(sm) == [(env.idempotency_key, "c")]
    assert (await redis.xpending(STREAM, "g"))["pending"] == 0  # both copies acked


async def test_concurrent_relays_publish_each_row_once(sm, redis):
    envs = await _emit(sm, 300)
    relays = [OutboxRelay(sm, redis, Outbox, batch=25) for _ in range(4)]

    async def drain(relay):
        total = 0
        while n := await relay.publish_once():
            total += n
        return total

    counts = await asyncio.gather(*(drain(r) for r in relays))
    assert sum(counts) == 300
    assert sum(1 for c in counts if c) > 1  # the relays really shared the work
    ids = [e.id for e in await _entries(redis)]
    assert len(ids) == 300 and set(ids) == {e.id for e in envs}
    assert await _unpublished(sm) == 0


async def test_stream_length_stays_bounded(sm, redis):
    envs = await _emit(sm, 500)
    relay = OutboxRelay(sm, redis, Outbox, batch=100, stream_maxlen=100)
    while await relay.publish_once():
        pass
    length = await redis.xlen(STREAM)
    # MAXLEN ~ trims whole radix-tree nodes (100 entries each): never more than one node over the bound.
    assert 100 <= length <= 200, length
    ((_, newest),) = await redis.xrevrange(STREAM, count=1)
    assert Envelope.from_fields(newest).id == envs[-1].id  # the oldest were trimmed, not the newest


async def test_publish_error_is_recorded_and_does_not_block_other_rows(sm, redis):
    await redis.set("not.a.stream", "x")  # XADD to it fails with WRONGTYPE
    (bad,) = await _emit(sm, stream="not.a.stream")
    (good,) = await _emit(sm)
    assert await OutboxRelay(sm, redis, Outbox).publish_once() == 1
    assert [e.id for e in await _entries(redis)] == [good.id]
    async with sm() as s:
        row = await s.get(Outbox, bad.id)
    assert row.published_at is None and row.attempts == 1 and "WRONGTYPE" in row.last_error


async def test_commit_wakes_the_relay_without_waiting_for_the_poll(sm, redis):
    """emit() NOTIFYs inside the transaction; Postgres delivers it on commit, and the relay publishes at once."""
    import time

    relay = OutboxRelay(sm, redis, Outbox, interval=30)  # polling alone would take 30 s
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        await asyncio.sleep(0.5)  # listener connected; its first pass found nothing
        started = time.monotonic()
        (env,) = await _emit(sm)
        await wait_for(lambda: redis.xlen(STREAM), timeout=5)
        assert time.monotonic() - started < 2
        assert [e.id for e in await _entries(redis)] == [env.id]
    finally:
        stop.set()
        await task


async def test_emit_many_writes_every_event_in_one_statement_and_the_relay_publishes_them(sm, redis):
    events = [
        OutboxEvent(stream=STREAM, type="t.v1", idempotency_key=f"many-{i}", payload={"i": i}, tenant_id=uuid.uuid4())
        for i in range(2)
    ]
    async with sm() as s, s.begin():
        sent = await emit_many(s, Outbox, events)
    assert [e.idempotency_key for e in sent] == ["many-0", "many-1"]
    relay = OutboxRelay(sm, redis, Outbox, interval=5)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        await wait_for(lambda: _none_left(sm), timeout=5)
        assert sorted((e.idempotency_key, e.payload["i"]) for e in await _entries(redis)) == [
            ("many-0", 0),
            ("many-1", 1),
        ]
        assert {e.id for e in await _entries(redis)} == {e.id for e in sent}
    finally:
        stop.set()
        await task


async def _none_left(sm) -> bool:
    return await _unpublished(sm) == 0
