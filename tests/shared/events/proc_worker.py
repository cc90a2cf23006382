"""A real separate process for the event-bus tests (run as a script, killed by the tests).

proc_worker.py relay-crash                       publish the outbox, then die by SIGKILL before marking
proc_worker.py consume STREAM GROUP NAME MODE IDLE_MS
    MODE=hang: the handler writes its effect (uncommitted), says IN_HANDLER, then waits to be killed
    MODE=ok:   the handler writes its effect; commits; acks
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import redis.asyncio as aioredis
from sqlalchemy import text

from services.search.base import Outbox
from shared.db import create_engine, create_sessionmaker
from shared.events.handlers import TransactionalHandler
from shared.events.relay import OutboxRelay
from tests.shared.events.support import any_event, consumer_on


class CrashingRelay(OutboxRelay):
    """Dies the hard way after XADD and before the rows are marked published."""

    async def _mark(self, session, rows, results):
        print(f"PUBLISHED {len(rows)}", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)


async def main(argv: list[str]) -> None:
    engine = create_engine(os.environ["DATABASE_URL"], 2)
    sm = create_sessionmaker(engine)
    redis = aioredis.from_url(os.environ["REDIS_URL"])
    if argv[0] == "relay-crash":
        await CrashingRelay(sm, redis, Outbox).publish_once()
        raise SystemExit("the relay should have been killed")
    _, stream, group, name, mode, idle_ms = argv

    async def handler(envelope, _payload, session) -> None:
        await session.execute(
            text("INSERT INTO public.event_effect (key, worker) VALUES (:k, :w)"),
            {"k": envelope.idempotency_key, "w": name},
        )
        await session.flush()
        if mode == "hang":
            print(f"IN_HANDLER {envelope.idempotency_key}", flush=True)
            await asyncio.sleep(3600)
        print(f"HANDLED {envelope.idempotency_key}", flush=True)

    consumer = consumer_on(
        redis,
        sm,
        TransactionalHandler(any_event(stream, "test.happened.v1"), handler),
        stream=stream,
        group=group,
        consumer_name=name,
        claim_idle_ms=int(idle_ms),
        block_ms=200,
    )
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, consumer.stop)
    await consumer.ensure_group()
    print("READY", flush=True)
    await consumer.run()
    await redis.aclose()
    await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
