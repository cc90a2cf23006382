"""StreamConsumer on the real servers: effect once per key, ack only after commit, retries, DLQ,
reclaim of what a SIGKILLed consumer process held, graceful shutdown, bounded concurrency."""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import uuid

import orjson
from pydantic import BaseModel
from sqlalchemy import func, select, text

from services.search.base import ProcessedEvent
from shared.events.consumer import StreamConsumer
from shared.events.contract import EventType, Stream
from shared.events.envelope import Envelope
from shared.events.handlers import TransactionalHandler
from tests.shared.events.support import any_event, consumer_on, effects, spawn
from tests.support.plugin import wait_for

STREAM = "test.consume.v1"  # a test stream, not a contract of ours


async def _publish(redis, key: str | None = None, stream: str = STREAM, **payload) -> Envelope:
    env = Envelope(type="test.happened.v1", idempotency_key=key or f"k-{uuid.uuid4()}", payload=payload)
    await redis.xadd(stream, env.to_fields())
    return env


async def _write_effect(envelope: Envelope, session, worker: str = "in-test", tag: str | None = None) -> None:
    await session.execute(
        text("INSERT INTO public.event_effect (key, worker, tag) VALUES (:k, :w, :t)"),
        {"k": envelope.idempotency_key, "w": worker, "t": tag},
    )


HAPPENED = any_event(STREAM, "test.happened.v1")


async def _effect_handler(envelope: Envelope, _payload, session) -> None:
    await _write_effect(envelope, session)


def _consumer(redis, sm, fn, accepts=None, **kw) -> StreamConsumer:
    opts = {"group": "g", "consumer_name": "c1", "block_ms": 50, "retry_backoff_ms": 20, "claim_idle_ms": 60_000}
    return consumer_on(redis, sm, TransactionalHandler(HAPPENED, fn, accepts=accepts), stream=STREAM, **(opts | kw))


async def _pending(redis, group: str = "g") -> int:
    return (await redis.xpending(STREAM, group))["pending"]


async def _processed(sm, key: str) -> int:
    async with sm() as s:
        return await s.scalar(
            select(func.count()).select_from(ProcessedEvent).where(ProcessedEvent.idempotency_key == key)
        )


async def _drain(consumer: StreamConsumer, until, timeout: float = 10.0) -> None:
    """Poll the consumer until `until()` holds."""

    async def done():
        await consumer.poll_once()
        return await until()

    await wait_for(done, timeout=timeout, interval=0)


async def test_effect_committed_then_acked_and_recorded(sm, redis):
    consumer = _consumer(redis, sm, _effect_handler)
    await consumer.ensure_group()
    env = await _publish(redis)
    assert await consumer.poll_once() == 1
    assert await effects(sm) == [(env.idempotency_key, "in-test")]
    assert await _pending(redis) == 0
    assert await _processed(sm, env.idempotency_key) == 1


async def test_same_idempotency_key_has_one_effect_per_group(sm, redis):
    calls = []

    async def handler(envelope, _payload, session):
        calls.append(envelope.id)
        await _write_effect(envelope, session)

    first = _consumer(redis, sm, handler)
    other_group = _consumer(redis, sm, handler, group="g2")
    await first.ensure_group()
    await other_group.ensure_group()
    a = await _publish(redis, key="same")
    b = await _publish(redis, key="same")  # a redelivery with a new event id: the key is what counts
    assert await first.poll_once() == 2
    assert await other_group.poll_once() == 2
    assert calls == [a.id, a.id]  # once per group, never for b
    assert b.id not in calls
    assert len(await effects(sm, "same")) == 2
    assert await _pending(redis) == 0 and await _pending(redis, "g2") == 0


async def test_failing_handler_is_retried_then_succeeds(sm, redis):
    calls = 0

    async def flaky(envelope, _payload, session):
        nonlocal calls
        calls += 1
        await _write_effect(envelope, session)  # rolled back on each failure
        if calls < 3:
            raise RuntimeError(f"transient failure {calls}")

    consumer = _consumer(redis, sm, flaky, max_deliveries=5)
    await consumer.ensure_group()
    env = await _publish(redis)
    await consumer.poll_once()
    assert calls == 1 and await _pending(redis) == 1  # failed: left pending, not acked
    await _drain(consumer, lambda: _ack_done(redis))
    assert calls == 3
    assert await effects(sm) == [(env.idempotency_key, "in-test")]
    assert await redis.xlen(f"{STREAM}.dlq") == 0


async def _ack_done(redis) -> bool:
    return await _pending(redis) == 0


async def test_after_max_deliveries_the_entry_is_dead_lettered_with_its_error(sm, redis):
    calls = 0

    async def broken(envelope, _payload, session):
        nonlocal calls
        calls += 1
        await _write_effect(envelope, session)
        raise ValueError(f"cannot handle order {envelope.payload['order']}")

    consumer = _consumer(redis, sm, broken, max_deliveries=3, consumer_name="worker-7")
    await consumer.ensure_group()
    env = await _publish(redis, order=42)
    await _drain(consumer, lambda: redis.xlen(f"{STREAM}.dlq"))
    assert calls == 3
    ((_, dead),) = await redis.xrange(f"{STREAM}.dlq")
    dead = {k.decode(): v.decode() for k, v in dead.items()}
    assert dead["error"] == "ValueError: cannot handle order 42"
    assert dead["attempts"] == "3" and dead["consumer"] == "worker-7" and dead["group"] == "g"
    assert dead["stream"] == STREAM
    assert Envelope.model_validate(orjson.loads(dead["envelope"])) == env
    assert await _pending(redis) == 0  # acked once dead-lettered
    assert await effects(sm) == [] and await _processed(sm, env.idempotency_key) == 0


async def test_unparsable_entry_goes_straight_to_the_dlq(sm, redis):
    calls = []

    async def handler(envelope, _payload, session):
        calls.append(envelope)

    consumer = _consumer(redis, sm, handler)
    await consumer.ensure_group()
    await redis.xadd(STREAM, {"envelope": "{not json"})
    await redis.xadd(STREAM, {"something": "else"})
    await consumer.poll_once()
    assert calls == []
    dead = [{k.decode(): v.decode() for k, v in f.items()} for _, f in await redis.xrange(f"{STREAM}.dlq")]
    assert [d["attempts"] for d in dead] == ["1", "1"]
    assert all(d["error"].startswith("unparsable envelope") for d in dead)
    assert dead[0]["envelope"] == "{not json" and orjson.loads(dead[1]["envelope"]) == {"something": "else"}
    assert await _pending(redis) == 0


async def test_nothing_is_acked_when_the_commit_fails(sm, redis):
    """The handler returns normally but its transaction cannot commit (deferred constraint): no ack."""
    returned = 0

    async def commit_fails(envelope, _payload, session):
        nonlocal returned
        await _write_effect(envelope, session, tag="dup")
        await _write_effect(envelope, session, tag="dup")  # violates the DEFERRED unique: fails at COMMIT
        returned += 1

    consumer = _consumer(redis, sm, commit_fails, max_deliveries=2)
    await consumer.ensure_group()
    env = await _publish(redis)
    await consumer.poll_once()
    assert returned == 1
    assert await _pending(redis) == 1  # the handler finished, the commit failed: still pending
    assert await effects(sm) == [] and await _processed(sm, env.idempotency_key) == 0
    await _drain(consumer, lambda: redis.xlen(f"{STREAM}.dlq"))
    assert returned == 2
    ((_, dead),) = await redis.xrange(f"{STREAM}.dlq")
    assert b"uq_event_effect_tag" in dead[b"error"]


async def test_entry_of_a_sigkilled_consumer_process_is_reclaimed_by_another(sm, redis, stack):
    env = await _publish(redis)
    dying = spawn(stack, "consume", STREAM, "g", "dying", "hang", "60000")
    rescuer = None
    try:
        assert dying.stdout.readline().strip() == "READY"
        assert dying.stdout.readline().strip() == f"IN_HANDLER {env.idempotency_key}"
        # Mid-handler: the effect is written but not committed, the entry is pending, owned by `dying`.
        (held,) = await redis.xpending_range(STREAM, "g", min="-", max="+", count=10)
        assert held["consumer"] == b"dying" and held["times_delivered"] == 1
        assert await effects(sm) == []
        dying.send_signal(signal.SIGKILL)
        assert dying.wait(10) == -signal.SIGKILL
        assert await _pending(redis) == 1 and await effects(sm) == []  # killed before commit => not acked

        rescuer = spawn(stack, "consume", STREAM, "g", "rescuer", "ok", "300")
        await wait_for(lambda: _ack_done(redis), timeout=20)
        assert await effects(sm) == [(env.idempotency_key, "rescuer")]  # handled once, by the other process
        assert await _processed(sm, env.idempotency_key) == 1
        assert rescuer.poll() is None
        rescuer.send_signal(signal.SIGTERM)  # graceful stop of a real consumer process
        out, _ = rescuer.communicate(timeout=10)
        assert rescuer.returncode == 0 and f"HANDLED {env.idempotency_key}" in out
    finally:
        for proc in (dying, rescuer):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(5)


async def test_entry_delivered_too_often_without_ack_is_dead_lettered(sm, redis):
    """A poison entry that kills every consumer that takes it ends in the DLQ instead of looping forever."""
    calls = []

    async def handler(envelope, _payload, session):
        calls.append(envelope)

    await _consumer(redis, sm, handler).ensure_group()
    await _publish(redis)
    # Three consumers took it in turn and died before acking: delivered three times.
    await redis.xreadgroup("g", "dead-1", {STREAM: ">"}, count=1)
    for name in ("dead-2", "dead-3"):
        await redis.xclaim(STREAM, "g", name, min_idle_time=0, message_ids=await _pending_ids(redis))
    consumer = _consumer(redis, sm, handler, max_deliveries=1, claim_idle_ms=100)  # gives up after 3 x 1
    await asyncio.sleep(0.15)
    await _drain(consumer, lambda: redis.xlen(f"{STREAM}.dlq"))
    assert calls == []
    ((_, dead),) = await redis.xrange(f"{STREAM}.dlq")
    assert dead[b"attempts"] == b"4" and b"gave up after 3 deliveries without an ack" in dead[b"error"]
    assert await _pending(redis) == 0


async def _pending_ids(redis) -> list[bytes]:
    return [p["message_id"] for p in await redis.xpending_range(STREAM, "g", min="-", max="+", count=10)]


async def test_graceful_shutdown_finishes_the_in_flight_message(sm, redis):
    started = asyncio.Event()

    async def slow(envelope, _payload, session):
        started.set()
        await asyncio.sleep(0.5)
        await _write_effect(envelope, session)

    consumer = _consumer(redis, sm, slow, batch=1)
    await consumer.ensure_group()
    env = await _publish(redis)
    await _publish(redis)  # not started before the stop: stays for the next run
    task = asyncio.create_task(consumer.run())
    await asyncio.wait_for(started.wait(), 5)
    consumer.stop()
    await asyncio.wait_for(task, 5)
    assert await effects(sm) == [(env.idempotency_key, "in-test")]
    info = await redis.xinfo_groups(STREAM)
    assert info[0]["pending"] == 0 and info[0]["last-delivered-id"] == (await redis.xrange(STREAM))[0][0]


async def test_concurrency_runs_handlers_side_by_side(sm, redis):
    running = peak = 0

    async def handler(envelope, _payload, session):
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.1)
        await _write_effect(envelope, session)
        running -= 1

    consumer = _consumer(redis, sm, handler, concurrency=4, batch=8)
    await consumer.ensure_group()
    for _ in range(8):
        await _publish(redis)
    await _drain(consumer, lambda: _count_effects(sm, 8))
    assert peak == 4
    assert await _pending(redis) == 0


async def _count_effects(sm, n: int) -> bool:
    return len(await effects(sm)) == n


async def test_an_outage_is_retried_without_counting_toward_the_dlq(sm, redis):
    """While the database is unreachable the entry is retried but never dead-lettered; then it is handled."""
    from devtools.embedded import free_port
    from shared.db import create_engine, create_sessionmaker

    down = create_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/nowhere", 1)
    consumer = _consumer(
        redis, create_sessionmaker(down), _effect_handler, max_deliveries=2, retry_backoff_ms=10, claim_idle_ms=100
    )
    await consumer.ensure_group()
    env = await _publish(redis)
    for _ in range(30):  # many more attempts than max_deliveries
        await consumer.poll_once()
    assert consumer._tries  # it did fail and retry
    assert await redis.xlen(f"{STREAM}.dlq") == 0
    (held,) = await redis.xpending_range(STREAM, "g", min="-", max="+", count=10)
    assert held["times_delivered"] == 1  # the outage did not use up deliveries
    await down.dispose()

    consumer.record = dataclasses.replace(consumer.record, sessionmaker=sm)  # the database is back
    await _drain(consumer, lambda: _ack_done(redis))
    assert await effects(sm) == [(env.idempotency_key, "in-test")]


async def test_handler_transient_error_is_not_counted(sm, redis):
    from shared.events.consumer import TransientError

    calls = 0

    async def upstream_down(envelope, _payload, session):
        nonlocal calls
        calls += 1
        if calls <= 4:
            raise TransientError("provider unavailable")
        await _write_effect(envelope, session)

    consumer = _consumer(redis, sm, upstream_down, max_deliveries=2, retry_backoff_ms=5)
    await consumer.ensure_group()
    env = await _publish(redis)
    await _drain(consumer, lambda: _ack_done(redis))
    assert calls == 5 and await redis.xlen(f"{STREAM}.dlq") == 0
    assert await effects(sm) == [(env.idempotency_key, "in-test")]


async def test_pending_entry_trimmed_from_the_stream_is_acked_not_stuck(sm, redis):
    consumer = _consumer(redis, sm, _effect_handler, claim_idle_ms=100)
    await consumer.ensure_group()
    lost = await _publish(redis)
    kept = await _publish(redis)
    await redis.xreadgroup("g", "dead", {STREAM: ">"}, count=2)  # a consumer took both and died
    (lost_id, _), _ = await redis.xrange(STREAM)
    await redis.xdel(STREAM, lost_id)  # trimmed (MAXLEN) before anyone acked it
    await asyncio.sleep(0.15)
    await _drain(consumer, lambda: _ack_done(redis))
    assert await effects(sm) == [(kept.idempotency_key, "in-test")]
    assert await effects(sm, lost.idempotency_key) == []


async def test_entries_the_handler_does_not_accept_are_acked_without_a_transaction(sm, redis):
    calls = []

    async def handler(envelope, _payload, session):
        calls.append(envelope.payload["kind"])
        await _write_effect(envelope, session)

    consumer = _consumer(redis, sm, handler, accepts=lambda payload: payload.kind == "audio")
    await consumer.ensure_group()
    text_entry = await _publish(redis, kind="text")
    audio = await _publish(redis, kind="audio")
    odd = await _publish(redis)  # the predicate raises (no "kind"): the handler decides, as without `accepts`
    assert await consumer.poll_once() == 3
    assert calls == ["audio"]
    assert [k for k, _ in await effects(sm)] == [audio.idempotency_key]
    assert await _processed(sm, text_entry.idempotency_key) == 0  # nothing recorded for a skipped entry
    assert await _processed(sm, audio.idempotency_key) == 1
    assert await _processed(sm, odd.idempotency_key) == 0  # the handler raised KeyError: retried, not acked
    assert await _pending(redis) == 1


async def _member(redis, name: str) -> bool:
    return name in {c["name"].decode() for c in await redis.xinfo_consumers(STREAM, "g")}


async def test_a_running_consumer_is_a_group_member_before_anything_is_delivered_to_it(sm, redis):
    """Redis 6.2 lists a consumer in XINFO CONSUMERS only once an entry is delivered to it: a worker that starts
    after the traffic (the chaos test's last restart, after the Postgres crash) read and reclaimed in a loop and was
    never listed. It is a member from its start, and again after a replica's cleanup removed it."""
    earlier = _consumer(redis, sm, _effect_handler, consumer_name="earlier")
    await earlier.ensure_group()
    first = await _publish(redis)
    await _drain(earlier, lambda: _processed(sm, first.idempotency_key))  # the group has history, nothing new
    consumer = _consumer(redis, sm, _effect_handler, consumer_name="late", claim_idle_ms=100)
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:
        await wait_for(lambda: _member(redis, "late"), timeout=5)
        later = await _publish(redis)  # and it is the live consumer: what comes now reaches it
        await wait_for(lambda: _processed(sm, later.idempotency_key), timeout=5)
        # Removed as if idle for a day (Redis 6.2 does not refresh the idle time of reads that find nothing).
        await redis.xgroup_delconsumer(STREAM, "g", "late")
        await wait_for(lambda: _member(redis, "late"), timeout=5)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


class Counted(BaseModel):
    n: int


async def test_a_payload_its_contract_refuses_is_dead_lettered_at_once(sm, redis):
    """The handler gets the validated model; a payload the contract refuses never reaches it and goes to the DLQ at
    the first delivery (no retry can mend it), like an unparsable envelope; a type it does not take is just acked."""
    counted = EventType(Stream(STREAM), "test.counted.v1", Counted)
    got = []

    async def handler(envelope, payload, session):
        got.append(payload)
        await _write_effect(envelope, session)

    consumer = consumer_on(
        redis, sm, TransactionalHandler(counted, handler), stream=STREAM, group="g", consumer_name="c1", block_ms=50
    )
    await consumer.ensure_group()
    for env in (
        Envelope(type=counted, idempotency_key="bad", payload={"n": "many"}),
        Envelope(type=counted, idempotency_key="good", payload={"n": 7}),
        Envelope(type="test.other.v1", idempotency_key="other", payload={"n": "many"}),
    ):
        await redis.xadd(STREAM, env.to_fields())
    assert await consumer.poll_once() == 3
    assert got == [Counted(n=7)]
    ((_, dead),) = await redis.xrange(f"{STREAM}.dlq")
    assert dead[b"error"].startswith(b"InvalidPayload: test.counted.v1 payload refused: n: Input should be a valid")
    assert dead[b"attempts"] == b"1" and b'"idempotency_key":"bad"' in dead[b"envelope"]
    assert await _pending(redis) == 0
    assert [await _processed(sm, k) for k in ("bad", "good", "other")] == [0, 1, 0]
    assert await effects(sm) == [("good", "in-test")]
