"""A worker process killed mid-job: after a restart the job completes, exactly once (real relay and consumer)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from services.transcription.models import Job, Outbox, Segment
from shared.events.envelope import Envelope
from shared.events.transcription import COMPLETED_STREAM
from tests.support.plugin import wait_for
from tests.transcription.conftest import MODEL_CACHE, ROOT
from tests.transcription.test_local_engine import upload


def start_worker(settings, log: Path) -> subprocess.Popen:
    env = os.environ | {
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "JWKS_JSON": settings.jwks_json,
        "AUTH_URL": "http://127.0.0.1:9",
        "TRANSCRIPTION_STORAGE_DIR": settings.storage_dir,
        "TRANSCRIPTION_MODEL_CACHE_DIR": str(MODEL_CACHE),
        "TRANSCRIPTION_LEASE_SECONDS": "3",
        "TRANSCRIPTION_SWEEP_INTERVAL_SECONDS": "0.5",
        "TRANSCRIPTION_PROGRESS_INTERVAL_SECONDS": "0.2",
        "EVENTS_RELAY_INTERVAL_MS": "50",
        "EVENTS_CLAIM_IDLE_MS": "1000",
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "services.transcription.worker"], cwd=ROOT, env=env, stdout=out, stderr=out
        )


async def job_row(database_url: str, job_id: uuid.UUID) -> Job:
    engine = create_async_engine(database_url)
    try:
        async with AsyncSession(engine) as session:
            return (await session.execute(select(Job).where(Job.id == job_id))).scalar_one()
    finally:
        await engine.dispose()


@pytest.mark.slow
async def test_killed_worker_job_completes_once_after_restart(
    transcription_client, auth, tenant, long_note, settings, committed_db, redis, tmp_path
):
    log = tmp_path / "worker.log"
    job_id = await upload(transcription_client, auth, long_note)
    first = start_worker(settings, log)
    second = None
    try:
        # Kill it while it is decoding (progress written, not finished).
        await wait_for(lambda: _processing_with_progress(committed_db, job_id), timeout=120, interval=0.1)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        row = await job_row(committed_db, job_id)
        assert row.status == "processing" and row.progress < 100, log.read_text()[-2000:]

        second = start_worker(settings, log)

        async def completed():
            return (await job_row(committed_db, job_id)).status == "completed"

        await wait_for(completed, timeout=180, interval=0.2)
        job = await job_row(committed_db, job_id)
        assert job.attempts == 2 and job.progress == 100
        assert "pizzas" in job.text.lower() and "credit card" in job.text.lower()

        engine = create_async_engine(committed_db)
        async with engine.connect() as conn:
            outbox = (
                await conn.execute(select(Outbox.payload).where(Outbox.stream == COMPLETED_STREAM))
            ).all()
            segments = (await conn.execute(select(Segment.idx).where(Segment.job_id == job_id))).all()
        await engine.dispose()
        assert len(outbox) == 1 and outbox[0].payload["job_id"] == str(job_id)
        assert sorted(s.idx for s in segments) == list(range(len(segments)))

        # The relay published exactly one completed event to the stream.
        async def published():
            return await redis.xlen(COMPLETED_STREAM)

        await wait_for(published, timeout=20)
        entries = await redis.xrange(COMPLETED_STREAM)
        assert [Envelope.from_fields(f).payload["job_id"] for _, f in entries] == [str(job_id)]
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)


async def _processing_with_progress(database_url: str, job_id: uuid.UUID) -> bool:
    job = await job_row(database_url, job_id)
    return job.status == "processing" and 0 < job.progress < 90
