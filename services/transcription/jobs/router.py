"""/api/v1/transcriptions: upload, list, read, cancel."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from services.transcription.deps import JobServiceDep, StoreDep
from services.transcription.jobs.schemas import JobStatus, TranscriptionQueued, TranscriptionRead, TranscriptionSummary
from services.transcription.jobs.service import parse_fields
from services.transcription.jobs.upload import receive_upload
from shared.auth import CurrentPrincipal, ReadScope, TenantIdDep, WriteScope
from shared.pagination import Page, PageDep

router = APIRouter(prefix="/api/v1/transcriptions", tags=["transcriptions"])

UPLOAD_FORM = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "mp3, wav, ogg/opus, m4a/aac, webm, flac",
                        },
                        "language": {"type": "string", "example": "pt-BR"},
                        "speakers_expected": {"type": "integer", "minimum": 1, "maximum": 20},
                        "engine": {"type": "string", "enum": ["local", "openai", "assemblyai"]},
                        "webhook_url": {"type": "string", "format": "uri"},
                    },
                }
            }
        },
    }
}


@router.post(
    "",
    status_code=202,
    response_model=TranscriptionQueued,
    dependencies=[WriteScope],
    openapi_extra=UPLOAD_FORM,
    responses={
        400: {"description": "not a multipart form, or no 'file' part"},
        413: {"description": "file or audio too large"},
        415: {"description": "not an accepted audio type"},
        422: {"description": "a form field is invalid; webhook_url refused or no webhook_secret tenant secret"},
        429: {"description": "a tenant quota (jobs in flight, minutes per day) is used up; see Retry-After"},
        503: {"description": "tenant settings unavailable (webhook_url given); retry"},
    },
    summary="Upload audio to transcribe",
)
async def create_transcription(
    request: Request, service: JobServiceDep, store: StoreDep, tenant_id: TenantIdDep, me: CurrentPrincipal
) -> TranscriptionQueued:
    await service.quotas.check(tenant_id, None, lock=False)
    upload = await receive_upload(request, store, service.settings.max_upload_bytes)
    try:
        fields = parse_fields(upload.fields)
        await service.check_webhook(tenant_id, str(fields.webhook_url) if fields.webhook_url else None)
    except Exception:
        upload.path.unlink(missing_ok=True)
        raise
    job = await service.create_from_upload(tenant_id, me.sub, upload, fields)
    return TranscriptionQueued(id=job.id, status="queued")


@router.get("", response_model=Page[TranscriptionSummary], dependencies=[ReadScope], summary="List transcriptions")
async def list_transcriptions(
    service: JobServiceDep,
    tenant_id: TenantIdDep,
    page: PageDep,
    status: Annotated[JobStatus | None, Query()] = None,
) -> Page[TranscriptionSummary]:
    return await service.list(tenant_id, page, status)


@router.get("/{job_id}", response_model=TranscriptionRead, dependencies=[ReadScope], summary="A transcription")
async def get_transcription(
    job_id: uuid.UUID,
    service: JobServiceDep,
    tenant_id: TenantIdDep,
    words: Annotated[bool, Query(description="include word timings")] = False,
) -> TranscriptionRead:
    return await service.read(tenant_id, job_id, words=words)


@router.delete("/{job_id}", status_code=204, dependencies=[WriteScope], summary="Cancel and delete a transcription")
async def delete_transcription(job_id: uuid.UUID, service: JobServiceDep, tenant_id: TenantIdDep) -> Response:
    await service.cancel(tenant_id, job_id)
    return Response(status_code=204)
