"""StreamConsumer in raw mode (a handler on the transaction's asyncpg connection): the same guarantees as with a
session — effect and processed-event record in one transaction, a failing handler leaves neither, the after-commit
hook runs once the transaction is visible to others, a killed pooled connection is one uncounted retry."""

from __future__ import annotations

import uuid

from sqlalchemy import text

from shared.db import create_sessionmaker
from shared.events.consumer import StreamConsumer
from shared.events.envelope import Envelope
from shared.events.handlers import RawHandler
from shared.events.worker import create_worker_engine
from tests.shared.events.support import any_event, consumer_on, effects
from tests.support.plugin import wait_for

STREAM = "test.raw.v1"
INSERT_EFFECT = "INSERT INTO public.event_effect (key, worker) VALUES ($1, 'raw')"


def _consumer(redis, sm, fn, **kw) -> StreamConsumer:
    opts = {"group": "g", "consumer_name": "c1", "block_ms": 50, "retry_backoff_ms": 20, "claim_idle_ms": 60_000}
    return consumer_on(redis, sm, RawHandler(any_event(STREAM, "test.raw.v1"), fn), stream=STREAM, **(opts | kw))


async def _publish(redis, key: str | None = None) -> Envelope:
    env = Envelope(type="test.raw.v1", idempotency_key=key or f"k-{uuid.uuid4()}", payload={})
    await redis.xadd(STREAM, env.to_fields())
    return env


async def _processed(sm, key: str) -> int:
    async with sm() as s:
        return (
            await s.execute(text("SELECT count(*) FROM search.processed_event WHERE idempotency_key = :k"), {"k": key})
        ).scalar_one()


async def test_effect_once_and_the_hook_runs_after_commit(sm, redis):
    seen_in_hook = []

    async def handler(envelope, _payload, conn):
        await conn.execute(INSERT_EFFECT, envelope.idempotency_key)

        async def after(conn):
            seen_in_hook.append([k for k, _ in await effects(sm)])  # another connection: committed already

        return after

    consumer = _consumer(redis, sm, handler)
    await consumer.ensure_group()
    env = await _publish(redis)
    await _publish(redis, env.idempotency_key)  # a republished duplicate
    await wait_for(lambda: consumer.poll_once(), timeout=5, interval=0)
    while await consumer.poll_once():
        pass
    assert [k for k, _ in await effects(sm)] == [env.idempotency_key]
    assert seen_in_hook == [[env.idempotency_key]]  # once: the duplicate skipped the handler
    assert await _processed(sm, env.idempotency_key) == 1
    assert (await redis.xpending(STREAM, "g"))["pending"] == 0


async def test_a_failing_handler_leaves_no_effect_and_no_record(sm, redis):
    async def handler(envelope, _payload, conn):
        await conn.execute(INSERT_EFFECT, envelope.idempotency_key)
        raise RuntimeError("boom")

    consumer = _consumer(redis, sm, handler, max_deliveries=1)
    await consumer.ensure_group()
    env = await _publish(redis)
    assert await consumer.poll_once() == 1
    assert await effects(sm) == [] and await _processed(sm, env.idempotency_key) == 0
    assert await redis.xlen(f"{STREAM}.dlq") == 1


async def test_a_killed_pooled_connection_is_one_uncounted_retry(sm, redis, committed_db):
    async def handler(envelope, _payload, conn):
        await conn.execute(INSERT_EFFECT, envelope.idempotency_key)

    engine = create_worker_engine(committed_db, 1)
    try:
        consumer = _consumer(redis, create_sessionmaker(engine), handler, max_deliveries=1)
        await consumer.ensure_group()
        await _publish(redis, "raw-1")
        assert await consumer.poll_once() == 1
        async with engine.connect() as conn:  # the pooled connection the consumer used
            pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        async with sm() as s, s.begin():
            await s.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        await _publish(redis, "raw-2")

        async def done():
            await consumer.poll_once()
            return [k for k, _ in await effects(sm)] == ["raw-1", "raw-2"]

        await wait_for(done, timeout=10, interval=0)
        assert await redis.xlen(f"{STREAM}.dlq") == 0  # an outage, not counted toward the DLQ
        assert (await redis.xpending(STREAM, "g"))["pending"] == 0
    finally:
        await engine.dispose()
