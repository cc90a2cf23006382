"""Event bus throughput and latency on embedded Postgres + Redis: outbox -> relay -> stream -> consumer.

`python bench/events_throughput.py [events]` starts its own servers in a temp dir, migrates the chat schema,
and prints: relay publish rate (one relay, batch 100), consumer rate (concurrency 1 and 8, a handler
that does one INSERT), and commit-to-handler latency with the relay polling every 200 ms and 20 ms.
Feeds docs/benchmarks/events.md.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import redis.asyncio as aioredis  # noqa: E402
from pydantic import BaseModel, ConfigDict  # noqa: E402
from sqlalchemy import text  # noqa: E402

from devtools.embedded import embedded_stack  # noqa: E402
from services.chat.base import Outbox, ProcessedEvent  # noqa: E402
from shared.db import create_engine, create_sessionmaker  # noqa: E402
from shared.events.consumer import StreamConsumer  # noqa: E402
from shared.events.consumer_settings import ConsumerSettings  # noqa: E402
from shared.events.contract import EventType, Stream  # noqa: E402
from shared.events.handlers import TransactionalHandler  # noqa: E402
from shared.events.outbox import emit  # noqa: E402
from shared.events.relay import OutboxRelay  # noqa: E402
from shared.migrations import upgrade_all  # noqa: E402


class BenchPayload(BaseModel):
    """The bench's events: any payload."""

    model_config = ConfigDict(extra="allow")


def bench_event(stream: str) -> EventType[BenchPayload]:
    return EventType(Stream(stream), "bench.v1", BenchPayload)


async def emit_many(sm, stream: str, n: int) -> None:
    for start in range(0, n, 100):
        async with sm() as s, s.begin():
            for i in range(start, min(start + 100, n)):
                await emit(
                    s,
                    Outbox,
                    stream=stream,
                    type="bench.v1",
                    idempotency_key=f"{stream}:{i}",
                    payload={"i": i, "text": "x" * 200},
                    tenant_id=uuid.uuid4(),
                )


async def consume_all(redis, sm, stream: str, n: int, concurrency: int) -> float:
    async def handler(envelope, _payload, session):
        await session.execute(text("INSERT INTO bench_effect (k) VALUES (:k)"), {"k": envelope.idempotency_key})

    settings = ConsumerSettings(
        stream=stream, group=f"g{concurrency}", consumer_name="b", batch=50, block_ms=100, concurrency=concurrency
    )
    consumer = StreamConsumer(redis, sm, ProcessedEvent, TransactionalHandler(bench_event(stream), handler), settings)
    await consumer.ensure_group()
    done = 0
    started = time.perf_counter()
    while done < n:
        done += await consumer.poll_once()
    return time.perf_counter() - started


async def latency(sm, redis, interval: float, samples: int = 30) -> dict[str, float]:
    stream = f"bench.latency.{interval}"
    seen: dict[str, float] = {}
    arrived = asyncio.Event()

    async def handler(envelope, _payload, session):
        seen[envelope.idempotency_key] = time.perf_counter()
        arrived.set()

    relay = OutboxRelay(sm, redis, Outbox, interval=interval)
    settings = ConsumerSettings(stream=stream, group="lat", consumer_name="b", block_ms=1000)
    consumer = StreamConsumer(redis, sm, ProcessedEvent, TransactionalHandler(bench_event(stream), handler), settings)
    await consumer.ensure_group()
    stop = asyncio.Event()
    tasks = [asyncio.create_task(relay.run(stop)), asyncio.create_task(consumer.run(stop))]
    results = []
    for i in range(samples):
        key = f"lat:{interval}:{i}"
        arrived.clear()
        async with sm() as s, s.begin():
            await emit(s, Outbox, stream=stream, type="bench.v1", idempotency_key=key, payload={})
        committed = time.perf_counter()
        await asyncio.wait_for(arrived.wait(), 10)
        results.append((seen[key] - committed) * 1000)
        await asyncio.sleep(0.037)  # land anywhere in the polling interval
    stop.set()
    await asyncio.gather(*tasks)
    return {"p50_ms": round(statistics.median(results), 1), "max_ms": round(max(results), 1)}


async def run(database_url: str, redis_url: str, n: int) -> dict:
    engine = create_engine(database_url, 10)
    sm = create_sessionmaker(engine)
    redis = aioredis.from_url(redis_url)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE IF NOT EXISTS bench_effect (id bigserial PRIMARY KEY, k text)"))
    await emit_many(sm, "bench.v1", n)
    relay = OutboxRelay(sm, redis, Outbox, batch=100)
    started = time.perf_counter()
    while await relay.publish_once():
        pass
    relay_s = time.perf_counter() - started
    c1 = await consume_all(redis, sm, "bench.v1", n, 1)
    c8 = await consume_all(redis, sm, "bench.v1", n, 8)
    result = {
        "events": n,
        "relay_events_per_s": round(n / relay_s),
        "consumer_events_per_s_concurrency_1": round(n / c1),
        "consumer_events_per_s_concurrency_8": round(n / c8),
        "latency_relay_interval_200ms": await latency(sm, redis, 0.2),
        "latency_relay_interval_20ms": await latency(sm, redis, 0.02),
    }
    await redis.aclose()
    await engine.dispose()
    return result


def main(n: int = 5000) -> dict:
    with tempfile.TemporaryDirectory() as tmp, embedded_stack(Path(tmp)) as (pg, rd):
        upgrade_all(pg.url, ("chat",))
        result = asyncio.run(run(pg.url, rd.url, n))
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000)
