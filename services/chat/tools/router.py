"""/api/v1/assistants/{id}/tools: an assistant's tools, and a one-off "try it" call through the guarded path."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from services.chat.runtime import RuntimeDep
from services.chat.tools.kit import ToolKitDep
from services.chat.tools.runner import ToolRunner
from services.chat.tools.schemas import ToolCreate, ToolRead, ToolTest, ToolTestResult, ToolUpdate
from services.chat.tools.service import ToolService
from shared.auth import AdminScope, ReadScope, TenantIdDep
from shared.db import SessionDep
from shared.pagination import Page

router = APIRouter(prefix="/api/v1/assistants/{assistant_id}/tools", tags=["tools"])
_404 = {404: {"description": "no such assistant or tool in this tenant"}}
_422 = {422: {"description": "invalid JSON Schema, or a URL that does not resolve to an allowed address"}}
_409 = {409: {"description": "the assistant already has a tool of that name"}}


@router.post("", status_code=201, response_model=ToolRead, dependencies=[AdminScope], responses=_404 | _409 | _422)
async def create_tool(
    assistant_id: uuid.UUID, data: ToolCreate, session: SessionDep, tenant_id: TenantIdDep, kit: ToolKitDep
) -> ToolRead:
    return ToolRead.model_validate(await ToolService(session, kit).create(tenant_id, assistant_id, data))


@router.get("", response_model=Page[ToolRead], dependencies=[ReadScope], responses=_404)
async def list_tools(
    assistant_id: uuid.UUID, session: SessionDep, tenant_id: TenantIdDep, kit: ToolKitDep
) -> Page[ToolRead]:
    """At most 64 tools per assistant: one page."""
    tools = await ToolService(session, kit).list(tenant_id, assistant_id)
    return Page(items=[ToolRead.model_validate(t) for t in tools], next_cursor=None)


@router.get("/{tool_id}", response_model=ToolRead, dependencies=[ReadScope], responses=_404)
async def get_tool(
    assistant_id: uuid.UUID, tool_id: uuid.UUID, session: SessionDep, tenant_id: TenantIdDep, kit: ToolKitDep
) -> ToolRead:
    return ToolRead.model_validate(await ToolService(session, kit).get(tenant_id, assistant_id, tool_id))


@router.patch("/{tool_id}", response_model=ToolRead, dependencies=[AdminScope], responses=_404 | _409 | _422)
async def update_tool(
    assistant_id: uuid.UUID,
    tool_id: uuid.UUID,
    data: ToolUpdate,
    session: SessionDep,
    tenant_id: TenantIdDep,
    kit: ToolKitDep,
) -> ToolRead:
    return ToolRead.model_validate(await ToolService(session, kit).update(tenant_id, assistant_id, tool_id, data))


@router.delete("/{tool_id}", status_code=204, dependencies=[AdminScope], responses=_404)
async def delete_tool(
    assistant_id: uuid.UUID, tool_id: uuid.UUID, session: SessionDep, tenant_id: TenantIdDep, kit: ToolKitDep
) -> Response:
    await ToolService(session, kit).delete(tenant_id, assistant_id, tool_id)
    return Response(status_code=204)


@router.post("/{tool_id}/test", response_model=ToolTestResult, dependencies=[AdminScope], responses=_404)
async def test_tool(
    assistant_id: uuid.UUID,
    tool_id: uuid.UUID,
    data: ToolTest,
    tenant_id: TenantIdDep,
    runtime: RuntimeDep,
    kit: ToolKitDep,
) -> ToolTestResult:
    """Runs an HTTP tool once with `arguments` (validated, signed, egress-checked like the model's calls); nothing
    is stored. Built-ins are not run here: they act on a conversation."""
    async with runtime.sessionmaker() as session:
        spec = await ToolService(session, kit).spec(tenant_id, assistant_id, tool_id)
    outcome = await ToolRunner(runtime, kit).try_out(spec, data.arguments)
    return ToolTestResult(status=outcome.status, result=outcome.result, latency_ms=outcome.latency_ms)
