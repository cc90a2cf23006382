"""Knowledge documents: POST/GET /api/v1/documents, GET/DELETE /api/v1/documents/{id}."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, File, Response, UploadFile

from services.search.deps import SettingsDep
from services.search.documents.errors import DocumentTooLarge
from services.search.documents.schemas import DocumentRead
from services.search.documents.service import DocumentService
from shared.auth import ReadScope, TenantIdDep, WriteScope
from shared.db import SessionDep
from shared.pagination import Page, PageDep

router = APIRouter(prefix="/api/v1/documents", tags=["documents"])


@router.post(
    "",
    status_code=202,
    dependencies=[WriteScope],
    summary="Upload a knowledge document",
    responses={
        409: {"description": "the tenant's document count or bytes quota is used up (code quota_exceeded)"},
        413: {"description": "file too large"},
        415: {"description": "not a PDF, Word, text or Markdown file"},
    },
)
async def upload_document(
    session: SessionDep, tenant_id: TenantIdDep, settings: SettingsDep, file: UploadFile = File(...)
) -> DocumentRead:
    if file.size is not None and file.size > settings.max_document_bytes:
        raise DocumentTooLarge(f"the file is larger than {settings.max_document_bytes} bytes")
    content = await file.read(settings.max_document_bytes + 1)
    doc = await DocumentService(session, settings).upload(tenant_id, file.filename, content)
    return DocumentRead.of(doc)


@router.get("", dependencies=[ReadScope], summary="List documents, newest first")
async def list_documents(
    session: SessionDep, tenant_id: TenantIdDep, settings: SettingsDep, page: PageDep
) -> Page[DocumentRead]:
    found = await DocumentService(session, settings).page(tenant_id, page)
    return Page[DocumentRead](items=[DocumentRead.of(d) for d in found.rows], next_cursor=found.next_cursor)


@router.get("/{document_id}", dependencies=[ReadScope], summary="A document with its status and progress")
async def get_document(
    document_id: uuid.UUID, session: SessionDep, tenant_id: TenantIdDep, settings: SettingsDep
) -> DocumentRead:
    return DocumentRead.of(await DocumentService(session, settings).get(tenant_id, document_id))


@router.delete(
    "/{document_id}", status_code=204, dependencies=[WriteScope], summary="Delete a document and its passages"
)
async def delete_document(
    document_id: uuid.UUID, session: SessionDep, tenant_id: TenantIdDep, settings: SettingsDep
) -> Response:
    await DocumentService(session, settings).delete(tenant_id, document_id)
    return Response(status_code=204)
