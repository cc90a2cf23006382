"""GET /api/v1/messages/{message_id}/attachments/{position}: an attachment's bytes, for the console and API clients."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Response

from services.chat.attachments.service import AttachmentService
from shared.auth import ReadScope, TenantIdDep
from shared.db import SessionDep

router = APIRouter(prefix="/api/v1", tags=["threads"])


@router.get(
    "/messages/{message_id}/attachments/{position}",
    dependencies=[ReadScope],
    response_class=Response,
    responses={
        200: {"content": {"image/*": {}}, "description": "the image's bytes, with the type they proved"},
        404: {"description": "no such attachment on a live message of the caller's tenant"},
    },
)
async def get_attachment(
    message_id: uuid.UUID,
    position: Annotated[int, Path(ge=0, le=100)],
    session: SessionDep,
    tenant_id: TenantIdDep,
) -> Response:
    """Served with the stored, verified content type and `nosniff`: never rendered as anything but that image."""
    found = await AttachmentService(session).get(tenant_id, message_id, position)
    return Response(
        content=found.data,
        media_type=found.mime_type,
        headers={
            "X-Content-Type-Options": "nosniff",
            "Content-Disposition": f'inline; filename="{message_id}-{position}"',
            "Cache-Control": "private, max-age=3600",
            "ETag": f'"{found.sha256}"',
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )
