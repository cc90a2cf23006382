"""Job rules for the API: create from an upload (commit + event), read, list, cancel."""

from __future__ import annotations

import asyncio
import uuid

from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from services.transcription.base import Outbox
from services.transcription.config import TranscriptionSettings
from services.transcription.jobs.audio import probe_duration
from services.transcription.jobs.errors import (
    AudioTooLong,
    JobNotFound,
    TenantSettingsUnavailable,
    WebhookSecretMissing,
    WebhookURLRefused,
)
from services.transcription.jobs.models import Job
from services.transcription.jobs.quotas import JobQuotas
from services.transcription.jobs.repository import JobRepository
from services.transcription.jobs.schemas import (
    SegmentRead,
    TranscriptionCreate,
    TranscriptionRead,
    TranscriptionSummary,
)
from services.transcription.jobs.storage import FileStore
from services.transcription.jobs.upload import UploadedAudio
from services.transcription.jobs.webhooks import WEBHOOK_SECRET_NAME
from services.transcription.tenants import TenantConfigs
from shared.egress import EgressGuard, EgressRefused
from shared.events.outbox import emit_event
from shared.events.transcription import TRANSCRIPTION_REQUESTED, TranscriptionRequested
from shared.pagination import Page, PageParams


def parse_fields(fields: dict[str, str]) -> TranscriptionCreate:
    """Form fields -> TranscriptionCreate; errors leave as the usual 422 with `errors[].loc` = ['body', name]."""
    data = {k: v for k, v in fields.items() if v != ""}
    try:
        return TranscriptionCreate.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(
            [{"loc": ("body", *e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        ) from None


class JobService:
    def __init__(
        self,
        session: AsyncSession,
        settings: TranscriptionSettings,
        store: FileStore,
        tenants: TenantConfigs,
        egress: EgressGuard,
    ) -> None:
        self.session = session
        self.settings = settings
        self.store = store
        self.tenants = tenants
        self.egress = egress
        self.jobs = JobRepository(session)
        self.quotas = JobQuotas(session, settings)

    async def check_webhook(self, tenant_id: uuid.UUID, url: str | None) -> None:
        """422 now for a URL we would refuse to call, or no secret to sign with (delivery checks the URL again)."""
        if url is None:
            return
        try:
            await self.egress.target(url)
        except EgressRefused as exc:
            raise _webhook_error(WebhookURLRefused, f"webhook_url refused: {exc}") from None
        tenant = await self.tenants.get(tenant_id)
        if not tenant.reachable:
            raise TenantSettingsUnavailable("tenant settings are unavailable; retry", headers={"Retry-After": "5"})
        if not tenant.secrets.get(WEBHOOK_SECRET_NAME):
            raise _webhook_error(
                WebhookSecretMissing,
                f"set the tenant secret {WEBHOOK_SECRET_NAME} first (PUT /api/v1/tenants/{tenant_id}/secrets/"
                f"{WEBHOOK_SECRET_NAME}): callbacks are signed with it",
            )

    async def create_from_upload(
        self, tenant_id: uuid.UUID, created_by: str, upload: UploadedAudio, request: TranscriptionCreate
    ) -> Job:
        duration = await asyncio.to_thread(probe_duration, upload.path)
        if duration is not None and duration > self.settings.max_duration_seconds:
            upload.path.unlink(missing_ok=True)
            raise AudioTooLong(
                f"the audio lasts {duration:.0f} s; the limit is {self.settings.max_duration_seconds:.0f} s"
            )
        try:  # the audio's duration counts against minutes per day now (the worker cannot run what it cannot read)
            await self.quotas.check(tenant_id, duration)
        except BaseException:
            upload.path.unlink(missing_ok=True)
            raise
        job_id = uuid.uuid4()
        key = self.store.key_for(tenant_id, job_id, upload.audio_type.extension)
        job = Job(
            id=job_id,
            tenant_id=tenant_id,
            created_by=created_by,
            source="api",
            status="queued",
            progress=0,
            engine=request.engine,
            requested_language=request.language,
            speakers_expected=request.speakers_expected,
            webhook_url=str(request.webhook_url) if request.webhook_url else None,
            filename=upload.filename,
            audio_format=upload.audio_type.format,
            content_type=upload.audio_type.content_type,
            size_bytes=upload.size,
            storage_key=key,
            duration_seconds=duration,
            speakers_available=False,
            notes=[],
            attempts=0,
            webhook_attempts=0,
        )
        await asyncio.to_thread(self.store.put, upload.path, key)
        try:
            await self.jobs.add(job)
            await emit_event(
                self.session,
                Outbox,
                TRANSCRIPTION_REQUESTED,
                TranscriptionRequested(job_id=job_id),
                idempotency_key=f"transcription.requested:{job_id}",
                tenant_id=tenant_id,
                exclude_none=True,
            )
        except BaseException:
            await asyncio.to_thread(self.store.delete, key)
            raise
        return job

    async def get(self, tenant_id: uuid.UUID, job_id: uuid.UUID) -> Job:
        job = await self.jobs.get(tenant_id, job_id)
        if job is None:
            raise JobNotFound(f"transcription {job_id} not found")
        return job

    async def read(self, tenant_id: uuid.UUID, job_id: uuid.UUID, *, words: bool = False) -> TranscriptionRead:
        job = await self.get(tenant_id, job_id)
        segments = await self.jobs.segments(tenant_id, job_id)
        return TranscriptionRead(
            **summary(job).model_dump(),
            segments=[
                SegmentRead(start=s.start, end=s.end, text=s.text, speaker=s.speaker, words=s.words if words else None)
                for s in segments
            ],
        )

    async def list(self, tenant_id: uuid.UUID, page: PageParams, status: str | None) -> Page[TranscriptionSummary]:
        found = await self.jobs.list(tenant_id, page, status)
        return Page[TranscriptionSummary](items=[summary(j) for j in found.rows], next_cursor=found.next_cursor)

    async def cancel(self, tenant_id: uuid.UUID, job_id: uuid.UUID) -> None:
        """Soft-delete: the job disappears; a running worker sees it at its next heartbeat and stops."""
        job = await self.jobs.soft_delete(tenant_id, job_id)
        if job is None:
            raise JobNotFound(f"transcription {job_id} not found")
        if job.status in ("queued", "processing"):
            await self.jobs.finish(job.id, None, status="failed", error="cancelled")
        await asyncio.to_thread(self.store.delete, job.storage_key)


def _webhook_error(cls: type[WebhookURLRefused] | type[WebhookSecretMissing], msg: str) -> Exception:
    return cls(msg, errors=[{"loc": ["body", "webhook_url"], "msg": msg}])


def summary(job: Job) -> TranscriptionSummary:
    return TranscriptionSummary(
        id=job.id,
        status=job.status,  # type: ignore[arg-type]
        progress=job.progress,
        engine=job.engine,
        language=job.language,
        duration_seconds=job.duration_seconds,
        text=job.text,
        error=job.error,
        filename=job.filename,
        format=job.audio_format,
        size_bytes=job.size_bytes,
        speakers_available=job.speakers_available,
        notes=list(job.notes or []),
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
    )
