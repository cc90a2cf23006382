"""A service's real worker process (`python -m services.<name>.worker`) relays its outbox and stops on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

from services.auth.base import Outbox as AuthOutbox
from services.search.base import Outbox, ProcessedEvent
from shared.events.envelope import Envelope
from shared.events.handlers import TransactionalHandler
from shared.events.outbox import emit
from shared.events.worker import ConsumerSpec, run_worker
from tests.shared.events.support import ROOT, any_event, consumer_on, effects
from tests.support.plugin import wait_for


async def test_service_worker_process_relays_and_exits_cleanly_on_sigterm(sm, redis, stack):
    env = os.environ | {
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": stack.database_url,
        "REDIS_URL": stack.redis_url,
        "EVENTS_RELAY_INTERVAL_MS": "50",
        "SECRETS_KEY": "test-secrets-key",  # auth's worker also delivers (encrypted) mail
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.auth.worker"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        async with sm() as s, s.begin():
            sent = await emit(
                s, AuthOutbox, stream="test.worker.v1", type="t.v1", idempotency_key="w1", payload={"a": 1}
            )
        await wait_for(lambda: redis.xlen("test.worker.v1"), timeout=20)
        ((_, fields),) = await redis.xrange("test.worker.v1")
        assert Envelope.from_fields(fields) == sent
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=15)
        assert proc.returncode == 0, out
        assert "worker_stopped" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


async def test_run_worker_wires_relay_and_consumers(sm, redis, stack):
    """In-process: an event emitted in search's outbox is relayed and consumed by a ConsumerSpec handler."""
    from sqlalchemy import text

    async def handler(envelope, _payload, session):
        await session.execute(
            text("INSERT INTO public.event_effect (key, worker) VALUES (:k, 'spec')"), {"k": envelope.idempotency_key}
        )

    from services.search.config import SearchSettings

    settings = stack.settings(SearchSettings, events_relay_interval_ms=20)
    stop = asyncio.Event()
    spec = ConsumerSpec(
        stream="test.spec.v1", handler=TransactionalHandler(any_event("test.spec.v1", "t.v1"), handler), block_ms=100
    )
    task = asyncio.create_task(run_worker(settings, Outbox, ProcessedEvent, [spec], stop=stop))
    try:
        async with sm() as s, s.begin():
            await emit(s, Outbox, stream="test.spec.v1", type="t.v1", idempotency_key="spec-1", payload={})
        await wait_for(lambda: effects(sm, "spec-1"), timeout=10)
        await wait_for(lambda: _pending_zero(redis), timeout=5)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    assert await effects(sm) == [("spec-1", "spec")]
    assert [g["name"] for g in await redis.xinfo_groups("test.spec.v1")] == [b"search"]


async def _pending_zero(redis) -> bool:
    return (await redis.xpending("test.spec.v1", "search"))["pending"] == 0


async def test_worker_engine_without_pre_ping_recovers_from_killed_connections(sm, redis, committed_db):
    """No pre-ping on worker engines: a pooled connection killed under the consumer fails one delivery, which is
    retried as an outage (not counted toward the DLQ) on a fresh connection; the effect happens once."""
    from sqlalchemy import event, text

    from shared.db import create_sessionmaker
    from shared.events.worker import create_worker_engine

    async def handler(envelope, _payload, session):
        await session.execute(
            text("INSERT INTO public.event_effect (key, worker) VALUES (:k, 'no-ping')"),
            {"k": envelope.idempotency_key},
        )

    engine = create_worker_engine(committed_db, 2)
    disconnects = []
    event.listen(engine.sync_engine, "handle_error", lambda ctx: disconnects.append(ctx.is_disconnect))
    try:
        consumer = consumer_on(
            redis,
            create_sessionmaker(engine),
            TransactionalHandler(any_event("test.noping.v1", "t.v1"), handler),
            stream="test.noping.v1",
            group="g",
            consumer_name="c1",
            block_ms=50,
            retry_backoff_ms=20,
            max_deliveries=1,  # a counted failure would dead-letter at once
        )
        await consumer.ensure_group()
        first = Envelope(type="t.v1", idempotency_key="np-1", payload={})
        await redis.xadd("test.noping.v1", first.to_fields())
        assert await consumer.poll_once() == 1
        async with engine.connect() as conn:  # the pooled connection the consumer used
            pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        async with sm() as s, s.begin():
            await s.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        second = Envelope(type="t.v1", idempotency_key="np-2", payload={})
        await redis.xadd("test.noping.v1", second.to_fields())

        async def done():
            await consumer.poll_once()
            return [k for k, _ in await effects(sm)] == ["np-1", "np-2"]

        await wait_for(done, timeout=10, interval=0)
        assert disconnects == [True]  # the killed connection was really used, once, and seen as a disconnect
        assert await redis.xlen("test.noping.v1.dlq") == 0
        assert (await redis.xpending("test.noping.v1", "g"))["pending"] == 0
    finally:
        await engine.dispose()
