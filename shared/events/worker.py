"""A service's worker process: its outbox relay plus its stream consumers, until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from dataclasses import dataclass
from datetime import timedelta

import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from shared.config import ServiceSettings
from shared.db import create_sessionmaker
from shared.events.consumer import StreamConsumer
from shared.events.consumer_settings import ConsumerSettings
from shared.events.handlers import Handler
from shared.events.relay import OutboxRelay
from shared.logging import configure_logging, get_logger

log = get_logger("worker")


@dataclass(frozen=True)
class ConsumerSpec:
    """One stream this service consumes, with its handler (a kind of shared/events/handlers.py); unset knobs come
    from the settings (EVENTS_*, ConsumerSettings.from_service)."""

    stream: str
    handler: Handler
    group: str | None = None  # default: the service name (one consumer group per service)
    max_deliveries: int | None = None
    claim_idle_ms: int | None = None
    retry_backoff_ms: int = 500
    batch: int = 10
    block_ms: int = 1_000
    concurrency: int = 1

    def __post_init__(self) -> None:
        if self.handler.streams != {self.stream}:
            raise ValueError(f"the handler's event types travel on {sorted(self.handler.streams)}, not {self.stream}")

    def consumer_settings(self, settings: ServiceSettings, consumer_name: str) -> ConsumerSettings:
        return ConsumerSettings.from_service(
            settings,
            self.stream,
            consumer_name,
            group=self.group,
            max_deliveries=self.max_deliveries,
            claim_idle_ms=self.claim_idle_ms,
            retry_backoff_ms=self.retry_backoff_ms,
            batch=self.batch,
            block_ms=self.block_ms,
            concurrency=self.concurrency,
        )


def create_worker_engine(database_url: str, pool_size: int) -> AsyncEngine:
    """A worker's engine, without the pre-ping (`SELECT 1` on every checkout: one round trip per transaction on the
    event path). A connection that died with Postgres fails its first statement instead, with
    `connection_invalidated` set: SQLAlchemy then recycles the whole pool, and consumers retry it as an outage
    (`is_transient`), relays and the flusher on their next pass."""
    return create_async_engine(database_url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=False)


def await_chain(task: asyncio.Task, limit: int = 40) -> list[str]:
    """Where a task is waiting: each coroutine of its await chain (file:line function), outermost first, then what
    the innermost awaits (a future, a sleep). `Task.get_stack()` gives only the outermost frame of a coroutine."""
    chain: list[str] = []
    obj = task.get_coro()
    while obj is not None and len(chain) < limit:
        frame = getattr(obj, "cr_frame", None) or getattr(obj, "gi_frame", None) or getattr(obj, "ag_frame", None)
        if frame is None:
            chain.append(repr(obj)[:200])
            break
        chain.append(f"{frame.f_code.co_filename}:{frame.f_lineno} {frame.f_code.co_name}")
        obj = getattr(obj, "cr_await", None) or getattr(obj, "gi_yieldfrom", None) or getattr(obj, "ag_await", None)
    return chain


def dump_tasks() -> None:
    """SIGUSR1: every asyncio task of this worker and where it waits, to stderr whatever the log level (`kill -USR1
    <pid>`; a worker that stopped making progress with an idle event loop shows which await never returned)."""
    lines = [f"worker {os.getpid()}: {len(asyncio.all_tasks())} tasks"]
    for task in sorted(asyncio.all_tasks(), key=lambda t: t.get_name())[:200]:
        lines.append(f"- {task.get_name()}:")
        lines += [f"    {frame}" for frame in await_chain(task)]
    sys.stderr.write("\n".join(lines) + "\n")
    sys.stderr.flush()


def consumer_name() -> str:
    """Unique per process, so a restarted worker never inherits a dead one's pending entries by name."""
    return f"{socket.gethostname()}-{os.getpid()}"


def build_consumers(
    settings: ServiceSettings, redis, sessionmaker, processed_model: type, specs: list[ConsumerSpec]
) -> list[StreamConsumer]:
    name = consumer_name()
    return [
        StreamConsumer(redis, sessionmaker, processed_model, spec.handler, spec.consumer_settings(settings, name))
        for spec in specs
    ]


async def run_worker(
    settings: ServiceSettings,
    outbox_model: type,
    processed_model: type,
    consumers: list[ConsumerSpec],
    *,
    stop: asyncio.Event | None = None,
    shutdown_timeout: float = 30.0,
) -> None:
    """Run the relay and the consumers until a signal (or `stop`); in-flight handlers finish before exit."""
    configure_logging(f"{settings.service_name}-worker", settings.log_level, settings.log_json)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
            signals.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):
            pass  # not the main thread: the caller's `stop` is the only way out
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        loop.add_signal_handler(signal.SIGUSR1, dump_tasks)
        signals.append(signal.SIGUSR1)
    block_s = max((c.block_ms for c in consumers), default=1_000) / 1000
    # One connection per handler that can be in flight, plus the relay (the pool may overflow to twice that).
    in_flight = 1 + sum(c.concurrency for c in consumers if c.handler.holds_connection)
    engine = create_worker_engine(settings.database_url, max(2, min(settings.db_pool_size, in_flight)))
    sessionmaker = create_sessionmaker(engine)
    redis = aioredis.from_url(settings.redis_url, socket_connect_timeout=2, socket_timeout=block_s + 10)
    relay = OutboxRelay(
        sessionmaker,
        redis,
        outbox_model,
        interval=settings.events_relay_interval_ms / 1000,
        stream_maxlen=settings.events_stream_maxlen,
        processed_model=processed_model,
        processed_retention=timedelta(hours=settings.events_processed_retention_hours),
    )
    runners = build_consumers(settings, redis, sessionmaker, processed_model, consumers)
    tasks = [asyncio.create_task(relay.run(stop), name="outbox-relay")]
    tasks += [asyncio.create_task(c.run(stop), name=f"consumer:{c.stream}") for c in runners]
    log.info("worker_started", streams=[c.stream for c in runners], consumer=consumer_name())
    try:
        await stop.wait()
        log.info("worker_stopping")
        done, pending = await asyncio.wait(tasks, timeout=shutdown_timeout)
        for task in pending:
            task.cancel()
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                log.error("worker_task_failed", task=task.get_name(), error=str(task.exception())[:300])
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await redis.aclose()
        await engine.dispose()
        for sig in signals:
            loop.remove_signal_handler(sig)
        log.info("worker_stopped")


async def stopping_together(stop: asyncio.Event, coro) -> None:
    """Run `coro` beside a worker's other halves: if it ends (or fails), `stop` tells the others to stop too."""
    try:
        await coro
    finally:
        stop.set()
