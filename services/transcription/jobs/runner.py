"""The worker side of jobs: claim with a lease, run the engine with bounded concurrency, store the result once.

The job row is the source of truth. A claim is an atomic UPDATE (queued, or processing with an expired lease);
an event is a turn, not an order: each one runs the next job in the fair order across tenants (claim_next), so
one tenant's backlog never makes the others wait behind it;
the runner renews the lease with each progress write; the result, the segments and `transcription.completed.v1`
commit in one transaction guarded by the lease owner. So a crashed worker's job is taken over after its lease
runs out (by the redelivered event or by the sweep) and completes exactly once.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.transcription.base import Outbox
from services.transcription.config import TranscriptionSettings
from services.transcription.engines.base import (
    Cancelled,
    Engine,
    EngineError,
    EngineRequest,
    Progress,
    Transcript,
)
from services.transcription.jobs.audio import ACCEPTED, CorruptAudio, check_integrity, probe_duration, sniff
from services.transcription.jobs.fetch import AudioUnavailable, fetch_audio
from services.transcription.jobs.models import Job
from services.transcription.jobs.repository import JobRepository
from services.transcription.jobs.storage import FileStore
from services.transcription.jobs.sweep import JobSweep
from services.transcription.jobs.webhooks import WEBHOOK_SECRET_NAME, deliver
from services.transcription.tenants import TenantConfig, TenantConfigs
from shared.events.envelope import Envelope
from shared.events.handlers import TransactionalHandler
from shared.events.outbox import emit_event
from shared.events.transcription import (
    TRANSCRIPTION_COMPLETED,
    TRANSCRIPTION_REQUESTED,
    TranscriptionCompleted,
    TranscriptionRequested,
)
from shared.logging import get_logger

log = get_logger("jobs")


class JobFailed(Exception):
    """A reason to fail the job with a message the user can read."""


class JobRunner(JobSweep):
    def __init__(
        self,
        settings: TranscriptionSettings,
        sessionmaker: async_sessionmaker[AsyncSession],
        store: FileStore,
        engines: dict[str, Engine],
        tenants: TenantConfigs,
        egress,
    ) -> None:
        self.settings = settings
        self.sessionmaker = sessionmaker
        self.store = store
        self.engines = engines
        self.tenants = tenants
        self.egress = egress  # httpx client of shared/egress.py: every URL here comes from a tenant
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.slots = asyncio.Semaphore(settings.max_concurrent_jobs)
        self._running: set[uuid.UUID] = set()
        self._tasks: set[asyncio.Task] = set()
        self._sweep_tasks: set[asyncio.Task] = set()

    # --- event entry point ---------------------------------------------------------------------------

    @property
    def handler(self) -> TransactionalHandler[TranscriptionRequested]:
        """The consumer of transcription.requested.v1 (shared/events/handlers.py)."""
        return TransactionalHandler(TRANSCRIPTION_REQUESTED, self.handle_requested)

    async def handle_requested(
        self, envelope: Envelope, request: TranscriptionRequested, session: AsyncSession
    ) -> None:
        if envelope.tenant_id is None:
            log.warning("transcription_request_without_tenant", event_id=str(envelope.id))
            return
        job_id = request.job_id or await self._job_from_event(envelope, request)
        if job_id is not None:
            await self.run_next()  # one event, one turn: the job it names may wait for a fairer one

    async def _job_from_event(self, envelope: Envelope, request: TranscriptionRequested) -> uuid.UUID | None:
        """A job for audio sent by another service (voice notes): created once per event idempotency key."""
        tenant_id = envelope.tenant_id
        assert tenant_id is not None
        key = envelope.idempotency_key
        async with self.sessionmaker() as session:
            existing = await JobRepository(session).get_by_request_key(tenant_id, key)
            if existing is not None:
                return existing.id
        job_id = uuid.uuid4()
        temp = self.store.temp_path()
        error = None
        size = 0
        audio_type = None
        try:
            size = await fetch_audio(self.egress, self.settings, request, temp)
            head = await asyncio.to_thread(_read_head, temp)
            audio_type = sniff(head)
            if audio_type is None:
                error = f"the audio is not a type we accept ({ACCEPTED})"
        except AudioUnavailable as exc:
            error = str(exc)
        storage_key = None
        if error is None and audio_type is not None:
            storage_key = self.store.key_for(tenant_id, job_id, audio_type.extension)
            await asyncio.to_thread(self.store.put, temp, storage_key)
        else:
            temp.unlink(missing_ok=True)
        job = Job(
            id=job_id,
            tenant_id=tenant_id,
            created_by=f"event:{envelope.type}",
            source="event",
            request_key=key,
            correlation=request.correlation,
            status="queued",
            progress=0,
            engine=request.engine,
            requested_language=request.language,
            speakers_expected=request.speakers_expected,
            filename=request.filename,
            audio_format=audio_type.format if audio_type else "unknown",
            content_type=audio_type.content_type if audio_type else "application/octet-stream",
            size_bytes=size,
            storage_key=storage_key,
            speakers_available=False,
            notes=[],
            attempts=0,
            webhook_attempts=0,
        )
        try:
            async with self.sessionmaker() as session:
                repo = JobRepository(session)
                await repo.add(job)
                if error is not None:
                    finished = await repo.finish(job_id, None, status="failed", error=error)
                    await self._emit_completed(session, finished)
                await session.commit()
        except IntegrityError:  # another worker created it first
            await asyncio.to_thread(self.store.delete, storage_key)
            async with self.sessionmaker() as session:
                existing = await JobRepository(session).get_by_request_key(tenant_id, key)
                return existing.id if existing else None
        return job_id if error is None else None

    # --- running a job -------------------------------------------------------------------------------

    async def run_next(self) -> None:
        """One turn: wait for a slot, then run the next job in the fair order across tenants (claim_next)."""
        await self._claim_and_run(lambda jobs: jobs.claim_next(self.owner, self.settings.lease_seconds))

    async def run_job(self, tenant_id: uuid.UUID, job_id: uuid.UUID) -> None:
        """Run one given job now (tests and tools); the worker itself takes jobs in turn with run_next."""
        await self._claim_and_run(lambda jobs: jobs.claim(tenant_id, job_id, self.owner, self.settings.lease_seconds))

    async def _claim_and_run(self, claim: Callable[[JobRepository], Awaitable[Job | None]]) -> None:
        async with self.slots:
            async with self.sessionmaker() as session:
                job = await claim(JobRepository(session))
                await session.commit()
            if job is None or job.id in self._running:
                return  # nothing claimable (done, cancelled, held), or ours already: its lease ran out, now renewed
            self._running.add(job.id)
            try:
                await self._run(job)
            finally:
                self._running.discard(job.id)

    async def _run(self, job: Job) -> None:
        s = self.settings
        job_id = job.id
        log.info("job_started", job_id=str(job_id), tenant_id=str(job.tenant_id), attempt=job.attempts)
        try:
            if job.attempts > s.max_attempts:
                raise JobFailed(f"gave up after {s.max_attempts} attempts (the worker stopped while transcribing)")
            transcript = await self._transcribe(job)
        except JobFailed as exc:
            await self._finish_failed(job, str(exc))
            return
        except (EngineError, CorruptAudio) as exc:
            await self._finish_failed(job, str(exc))
            return
        except Cancelled:
            log.info("job_cancelled", job_id=str(job_id))
            return
        except Exception as exc:  # noqa: BLE001 - retried by the sweep, then failed with the reason
            log.error("job_error", job_id=str(job_id), error=f"{type(exc).__name__}: {exc}"[:300], exc_info=exc)
            if job.attempts >= s.max_attempts:
                await self._finish_failed(job, f"transcription failed: {type(exc).__name__}")
            else:
                await self._release(job)
            return
        await self._finish_completed(job, transcript)

    async def _transcribe(self, job: Job) -> Transcript:
        s = self.settings
        if not job.storage_key:
            raise JobFailed("the audio file is gone")
        path = self.store.path(job.storage_key)
        if not path.exists():
            raise JobFailed("the audio file is gone")
        await asyncio.to_thread(check_integrity, path, job.audio_format)
        duration = await asyncio.to_thread(probe_duration, path)
        if duration is None:
            raise JobFailed("the audio could not be read: the file is damaged or not a supported format")
        if duration > s.max_duration_seconds:
            raise JobFailed(f"the audio lasts {duration:.0f} s; the limit is {s.max_duration_seconds:.0f} s")
        tenant = await self.tenants.get(job.tenant_id)
        engine_name = job.engine or tenant.engine or s.default_engine
        engine = self.engines.get(engine_name)
        if engine is None:
            raise JobFailed(f"unknown engine {engine_name!r}")
        job.engine = engine_name
        request = EngineRequest(
            audio_path=path,
            filename=job.filename or path.name,
            content_type=job.content_type.split(";")[0],
            language=job.requested_language,
            language_hint=tenant.locale,
            speakers_expected=job.speakers_expected,
            diarize=job.speakers_expected is not None,
            api_key=_api_key(engine_name, tenant),
        )
        progress = Progress()
        task = asyncio.create_task(engine.transcribe(request, progress))
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=s.progress_interval_seconds)
                if done:
                    return task.result()
                async with self.sessionmaker() as session:
                    held = await JobRepository(session).heartbeat(job.id, self.owner, progress.value, s.lease_seconds)
                    await session.commit()
                if held is None:  # cancelled via DELETE, or another worker took it over
                    progress.cancelled.set()
                    task.cancel()
                    raise Cancelled()
        finally:
            if not task.done():
                progress.cancelled.set()
                task.cancel()

    async def _finish_completed(self, job: Job, t: Transcript) -> None:
        rows: list[dict[str, Any]] = [
            {
                "idx": i,
                "start": round(seg.start, 3),
                "end": round(seg.end, 3),
                "text": seg.text,
                "speaker": seg.speaker,
                "words": [asdict(w) for w in seg.words] or None,
            }
            for i, seg in enumerate(t.segments)
        ]
        async with self.sessionmaker() as session:
            repo = JobRepository(session)
            done = await repo.finish(
                job.id,
                self.owner,
                status="completed",
                progress=100,
                engine=job.engine,
                text=t.text,
                language=t.language,
                duration_seconds=t.duration_seconds if t.duration_seconds is not None else job.duration_seconds,
                speakers_available=t.diarized,
                notes=t.notes,
                error=None,
            )
            if done is None:
                await session.rollback()
                log.info("job_result_dropped", job_id=str(job.id), reason="cancelled or taken over")
                return
            await repo.replace_segments(done, rows)
            await self._emit_completed(session, done)
            await session.commit()
        log.info("job_completed", job_id=str(job.id), engine=job.engine, duration=t.duration_seconds)
        await self._webhook(done)

    async def _finish_failed(self, job: Job, error: str) -> None:
        async with self.sessionmaker() as session:
            done = await JobRepository(session).finish(job.id, self.owner, status="failed", error=error[:2000])
            if done is None:
                await session.rollback()
                return
            await self._emit_completed(session, done)
            await session.commit()
        log.warning("job_failed", job_id=str(job.id), error=error[:300])
        await self._webhook(done)

    async def _release(self, job: Job) -> None:
        """Give the lease back at once so the sweep retries the job."""
        async with self.sessionmaker() as session:
            await JobRepository(session).heartbeat(job.id, self.owner, 0, -1)
            await session.commit()

    async def _emit_completed(self, session: AsyncSession, job: Job) -> None:
        payload = TranscriptionCompleted(
            job_id=job.id,
            status=job.status,  # type: ignore[arg-type]
            text=job.text,
            language=job.language,
            duration_seconds=job.duration_seconds,
            engine=job.engine,
            error=job.error,
            source=job.source,
            correlation=job.correlation or {},
        )
        await emit_event(
            session,
            Outbox,
            TRANSCRIPTION_COMPLETED,
            payload,
            idempotency_key=f"transcription.completed:{job.id}",
            tenant_id=job.tenant_id,
        )

    async def _webhook(self, job: Job) -> None:
        if not job.webhook_url:
            return
        s = self.settings
        secret = (await self.tenants.get(job.tenant_id)).secrets.get(WEBHOOK_SECRET_NAME)
        error = await deliver(self.egress, job, secret, s.webhook_timeout_seconds, s.webhook_max_response_bytes)
        async with self.sessionmaker() as session:
            await JobRepository(session).mark_webhook(job.id, delivered=error is None, error=error)
            await session.commit()
        if error:
            log.warning("webhook_failed", job_id=str(job.id), error=error)


def _read_head(path) -> bytes:
    with path.open("rb") as fh:
        return fh.read(64)


def _api_key(engine: str, tenant: TenantConfig) -> str | None:
    return tenant.secrets.get(f"{engine}_api_key") if engine != "local" else None
