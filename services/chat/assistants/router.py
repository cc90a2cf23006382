"""/api/v1/assistants."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from services.chat.assistants.schemas import AssistantCreate, AssistantRead, AssistantUpdate
from services.chat.assistants.service import AssistantService
from shared.auth import AdminScope, ReadScope, TenantIdDep
from shared.db import SessionDep
from shared.pagination import Page, PageDep

router = APIRouter(prefix="/api/v1/assistants", tags=["assistants"])


@router.post("", status_code=201, response_model=AssistantRead, dependencies=[AdminScope])
async def create_assistant(data: AssistantCreate, session: SessionDep, tenant_id: TenantIdDep) -> AssistantRead:
    return AssistantRead.model_validate(await AssistantService(session).create(tenant_id, data))


@router.get("", response_model=Page[AssistantRead], dependencies=[ReadScope])
async def list_assistants(session: SessionDep, tenant_id: TenantIdDep, page: PageDep) -> Page[AssistantRead]:
    return await AssistantService(session).list(tenant_id, page)


@router.get("/{assistant_id}", response_model=AssistantRead, dependencies=[ReadScope])
async def get_assistant(assistant_id: uuid.UUID, session: SessionDep, tenant_id: TenantIdDep) -> AssistantRead:
    return AssistantRead.model_validate(await AssistantService(session).get(tenant_id, assistant_id))


@router.patch("/{assistant_id}", response_model=AssistantRead, dependencies=[AdminScope])
async def update_assistant(
    assistant_id: uuid.UUID, data: AssistantUpdate, session: SessionDep, tenant_id: TenantIdDep
) -> AssistantRead:
    return AssistantRead.model_validate(await AssistantService(session).update(tenant_id, assistant_id, data))


@router.delete("/{assistant_id}", status_code=204, dependencies=[AdminScope])
async def delete_assistant(assistant_id: uuid.UUID, session: SessionDep, tenant_id: TenantIdDep) -> Response:
    await AssistantService(session).delete(tenant_id, assistant_id)
    return Response(status_code=204)
