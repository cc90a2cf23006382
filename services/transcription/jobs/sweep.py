"""The runner's sweep: turns for jobs nobody is running (their worker died, or no event woke a worker for them),
and webhooks not yet delivered. Mixed into JobRunner, whose state it shares."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from services.transcription.jobs.repository import JobRepository
from shared.logging import get_logger

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from services.transcription.config import TranscriptionSettings
    from services.transcription.jobs.models import Job

log = get_logger("jobs")


class JobSweep:
    settings: TranscriptionSettings
    sessionmaker: async_sessionmaker[AsyncSession]
    _running: set[uuid.UUID]
    _tasks: set[asyncio.Task]
    _sweep_tasks: set[asyncio.Task]

    async def run_next(self) -> None: ...

    async def _webhook(self, job: Job) -> None: ...

    def _spawn_next(self) -> None:
        task = asyncio.create_task(self.run_next())
        for tasks in (self._tasks, self._sweep_tasks):
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    async def sweep_once(self) -> int:
        async with self.sessionmaker() as session:
            repo = JobRepository(session)
            stale = await repo.stale(self.settings.queued_grace_seconds)
            webhooks = await repo.webhooks_due(self.settings.webhook_max_attempts)
        # one turn per stale job, taken in the fair order; turns of earlier passes still waiting count against it
        for tenant_id, job_id in stale[len(self._sweep_tasks) :]:
            if job_id not in self._running:
                log.info("job_reclaimed", job_id=str(job_id), tenant_id=str(tenant_id))
                self._spawn_next()
        retry_after = timedelta(seconds=self.settings.sweep_interval_seconds)
        for job in webhooks:
            if job.finished_at and datetime.now(UTC) - job.finished_at >= retry_after * job.webhook_attempts:
                await self._webhook(job)
        return len(stale)

    async def run_sweeper(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.sweep_once()
            except Exception as exc:  # noqa: BLE001 - the sweep must outlive a database hiccup
                log.error("sweep_failed", error=f"{type(exc).__name__}: {exc}"[:300])
            try:
                await asyncio.wait_for(stop.wait(), timeout=self.settings.sweep_interval_seconds)
            except TimeoutError:
                pass

    async def drain(self) -> None:
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=30)
