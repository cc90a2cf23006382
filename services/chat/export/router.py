"""GET /api/v1/threads/{id}/export?format=json|markdown|pdf."""

from __future__ import annotations

import uuid
from typing import Literal

from fastapi import APIRouter, Response

from services.chat.export.service import FORMATS, load_export, render
from services.chat.runtime import RuntimeDep
from shared.auth import ReadScope, TenantIdDep
from shared.db import SessionDep

router = APIRouter(prefix="/api/v1/threads", tags=["threads"])


@router.get(
    "/{thread_id}/export",
    dependencies=[ReadScope],
    response_class=Response,
    responses={200: {"content": {v[0]: {} for v in FORMATS.values()}}},
)
async def export_thread(
    thread_id: uuid.UUID,
    session: SessionDep,
    tenant_id: TenantIdDep,
    runtime: RuntimeDep,
    format: Literal["json", "markdown", "pdf"] = "json",
) -> Response:
    tenant = await runtime.tenants.get(tenant_id)
    export = await load_export(session, tenant_id, thread_id, tenant.name, runtime.settings.export_max_messages)
    media_type, ext = FORMATS[format]
    return Response(
        await render(export, format),
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="thread-{thread_id}.{ext}"'},
    )
