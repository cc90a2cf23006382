"""StreamConsumer with an idempotent handler (one that keeps its own record, like the outbound delivery row): no
transaction of the consumer's is open while it runs, no `processed_event` row is written, the entry is acked only
after the handler returned; and a PermanentError goes to the DLQ at the first failure, in every mode."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from shared.events.consumer import PermanentError, StreamConsumer
from shared.events.envelope import Envelope
from shared.events.handlers import IdempotentHandler, RawHandler, TransactionalHandler
from shared.events.raw import raw_connection
from tests.shared.events.support import any_event, consumer_on, effects
from tests.support.plugin import wait_for

STREAM = "test.idem.v1"
# The handler's own record: one effect per key, a second delivery of the same key changes nothing.
INSERT_EFFECT = (
    "INSERT INTO public.event_effect (key, worker, tag) SELECT $1::text, 'idem', $1::text "
    "WHERE NOT EXISTS (SELECT 1 FROM public.event_effect WHERE tag = $1::text)"
)
OPEN_TRANSACTIONS = (
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
    "AND state LIKE 'idle in transaction%'"
)


KINDS = {"session": TransactionalHandler, "raw": RawHandler, "idempotent": IdempotentHandler}


def _consumer(redis, sm, fn, mode: str = "idempotent", **kw) -> StreamConsumer:
    opts = {"group": "g", "consumer_name": "c1", "block_ms": 50, "retry_backoff_ms": 20, "claim_idle_ms": 60_000}
    handler = KINDS[mode](any_event(STREAM, "test.idem.v1"), fn)
    return consumer_on(redis, sm, handler, stream=STREAM, **(opts | kw))


async def _publish(redis, key: str | None = None) -> Envelope:
    env = Envelope(type="test.idem.v1", idempotency_key=key or f"k-{uuid.uuid4()}", payload={})
    await redis.xadd(STREAM, env.to_fields())
    return env


async def _processed(sm, key: str) -> int:
    async with sm() as s:
        sql = text("SELECT count(*) FROM search.processed_event WHERE idempotency_key = :k")
        return (await s.execute(sql, {"k": key})).scalar_one()


async def test_no_transaction_no_record_and_the_handlers_own_record_dedupes(sm, redis):
    seen: list[tuple[str, int]] = []

    async def handler(envelope, _payload):
        async with raw_connection(sm, autocommit=True) as conn:
            # Nothing of the consumer's is open in a transaction while the handler works (waits on a provider).
            seen.append((envelope.idempotency_key, await conn.fetchval(OPEN_TRANSACTIONS)))
            await conn.execute(INSERT_EFFECT, envelope.idempotency_key)

    consumer = _consumer(redis, sm, handler)
    await consumer.ensure_group()
    env = await _publish(redis)
    await _publish(redis, env.idempotency_key)  # a republished duplicate: the handler's record decides
    await wait_for(lambda: consumer.poll_once(), timeout=5, interval=0)
    while await consumer.poll_once():
        pass
    assert seen == [(env.idempotency_key, 0), (env.idempotency_key, 0)]
    assert [k for k, _ in await effects(sm)] == [env.idempotency_key]
    assert await _processed(sm, env.idempotency_key) == 0
    assert (await redis.xpending(STREAM, "g"))["pending"] == 0


async def test_a_failing_idempotent_handler_stays_pending_and_is_retried(sm, redis):
    calls = []

    async def handler(envelope, _payload):
        calls.append(envelope.idempotency_key)
        if len(calls) == 1:
            raise RuntimeError("provider hiccup")
        async with raw_connection(sm, autocommit=True) as conn:
            await conn.execute(INSERT_EFFECT, envelope.idempotency_key)

    consumer = _consumer(redis, sm, handler)
    await consumer.ensure_group()
    env = await _publish(redis)
    assert await consumer.poll_once() == 1
    assert (await redis.xpending(STREAM, "g"))["pending"] == 1  # not acked after the failure

    async def done():
        await consumer.poll_once()
        return (await redis.xpending(STREAM, "g"))["pending"] == 0

    await wait_for(done, timeout=5, interval=0)
    assert calls == [env.idempotency_key] * 2
    assert [k for k, _ in await effects(sm)] == [env.idempotency_key]
    assert await redis.xlen(f"{STREAM}.dlq") == 0


@pytest.mark.parametrize("mode", ["session", "raw", "idempotent"])
async def test_a_permanent_error_is_dead_lettered_at_the_first_failure(sm, redis, mode):
    calls = []

    async def handler(envelope, _payload, *_conn):
        calls.append(envelope.idempotency_key)
        raise PermanentError("refused for good")

    consumer = _consumer(redis, sm, handler, mode, max_deliveries=5)
    await consumer.ensure_group()
    env = await _publish(redis)
    assert await consumer.poll_once() == 1
    ((_, dead),) = await redis.xrange(f"{STREAM}.dlq")
    assert dead[b"error"] == b"PermanentError: refused for good" and dead[b"attempts"] == b"1"
    assert calls == [env.idempotency_key]
    assert (await redis.xpending(STREAM, "g"))["pending"] == 0


def test_a_handler_takes_at_least_one_event_type():
    with pytest.raises(ValueError, match="at least one event type"):
        IdempotentHandler((), print)
