"""Transcription worker: outbox relay, consumer of transcription.requested.v1, and the job sweep.

`python -m services.transcription.worker`
"""

from __future__ import annotations

import asyncio
import signal

import redis.asyncio as aioredis

from services.transcription.base import Outbox, ProcessedEvent
from services.transcription.config import TranscriptionSettings, get_settings
from services.transcription.engines import build_engines
from services.transcription.jobs.runner import JobRunner
from services.transcription.jobs.storage import FileStore
from services.transcription.tenants import tenant_configs
from shared.db import create_engine, create_sessionmaker
from shared.egress import Resolver, create_egress_client
from shared.events.transcription import REQUESTED_STREAM
from shared.events.worker import ConsumerSpec, run_worker
from shared.http import create_http_client
from shared.logging import get_logger
from shared.tenant_settings import watching_changes

log = get_logger("worker")


def build_runner(settings: TranscriptionSettings, sessionmaker, http, egress) -> JobRunner:
    return JobRunner(
        settings,
        sessionmaker,
        FileStore(settings.storage_dir),
        build_engines(settings),
        tenant_configs(settings, http),
        egress,
    )


async def run(
    settings: TranscriptionSettings | None = None, stop: asyncio.Event | None = None, resolver: Resolver | None = None
) -> None:
    """`resolver` replaces the system's for tenant URLs (tests feed it rebinding answers)."""
    settings = settings or get_settings()
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError, ValueError):
            pass
    engine = create_engine(settings.database_url, max(4, settings.max_concurrent_jobs * 2 + 2))
    http = create_http_client(timeout=30)
    egress = create_egress_client(settings.egress_policy(), resolver, timeout=30)
    runner = build_runner(settings, create_sessionmaker(engine), http, egress)
    if runner.settings.default_engine == "local":
        # Load the models before taking work, so the first job does not pay for them and a broken install shows now.
        try:
            await asyncio.to_thread(runner.engines["local"].warm_up)
        except Exception as exc:  # noqa: BLE001 - jobs will fail with the same readable reason
            log.error("local_model_unavailable", error=f"{type(exc).__name__}: {exc}"[:300])
    sweeper = asyncio.create_task(runner.run_sweeper(stop), name="job-sweep")
    spec = ConsumerSpec(
        stream=REQUESTED_STREAM, handler=runner.handler, concurrency=settings.max_concurrent_jobs
    )
    redis = aioredis.from_url(settings.redis_url, socket_connect_timeout=2, socket_timeout=15)
    try:
        async with watching_changes(redis, runner.tenants):
            await run_worker(settings, Outbox, ProcessedEvent, [spec], stop=stop)
    finally:
        stop.set()
        await asyncio.gather(sweeper, return_exceptions=True)
        await runner.drain()
        await redis.aclose()
        await http.aclose()
        await egress.aclose()
        await engine.dispose()


def main() -> None:
    asyncio.run(run())


if __name__ == "__main__":
    main()
