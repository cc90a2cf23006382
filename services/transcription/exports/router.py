"""GET /api/v1/transcriptions/{id}/export?format=txt|srt|vtt|docx|json."""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from services.transcription.deps import JobServiceDep
from services.transcription.exports.formats import MEDIA_TYPES, RENDERERS, ExportFormat
from services.transcription.jobs.errors import JobNotReady
from shared.auth import ReadScope, TenantIdDep

router = APIRouter(prefix="/api/v1/transcriptions", tags=["transcriptions"])


@router.get(
    "/{job_id}/export",
    dependencies=[ReadScope],
    response_class=Response,
    responses={200: {"content": {v.split(";")[0]: {} for v in MEDIA_TYPES.values()}}, 409: {"description": "not done"}},
    summary="Download the transcript as a file",
)
async def export_transcription(
    job_id: uuid.UUID,
    service: JobServiceDep,
    tenant_id: TenantIdDep,
    format: Annotated[ExportFormat, Query()] = "txt",
) -> Response:
    transcript = await service.read(tenant_id, job_id, words=format == "json")
    if transcript.status != "completed":
        raise JobNotReady(f"transcription {job_id} is {transcript.status}; exports exist once it is completed")
    body = await asyncio.to_thread(RENDERERS[format], transcript)
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", (transcript.filename or str(job_id)).rsplit(".", 1)[0])[:80] or "transcript"
    return Response(
        content=body,
        media_type=MEDIA_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="{stem}.{format}"'},
    )
